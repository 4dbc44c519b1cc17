"""Wire values: the parsers of decimals, dates and datetimes, open enums, wire names, and the
scalar structure hooks that refuse values of the wrong JSON type."""

from __future__ import annotations

import enum
import re
import sys
from datetime import date, datetime, timedelta, timezone
from decimal import Context, Decimal, Inexact, InvalidOperation
from typing import Any, Final, Literal

import attrs

__all__ = [
    "ESSENTIAL",
    "EXTRA_FIELD",
    "MAX_FRACTION_DIGITS",
    "MAX_INTEGER_DIGITS",
    "SHORTHAND_ATTRIBUTE",
    "Naming",
    "OpenStrEnum",
    "WireTypeError",
    "WireValueError",
    "array_items",
    "camel_case",
    "is_essential",
    "json_type",
    "parse_date",
    "parse_datetime",
    "parse_decimal",
    "wire_name",
]

Naming = Literal["camel", "snake"]
EXTRA_FIELD = "extra"
# A model attribute naming the field a bare string stands for (``"id"`` -> ``{"id": "..."}``).
SHORTHAND_ATTRIBUTE = "__wire_shorthand__"
_EXTRA_KEY = "\x00extra"  # cannot collide with a wire key from JSON text in practice
#: Field metadata marking an essential field (``attrs.field(metadata={ESSENTIAL: True})``):
#: it parses exactly or the record is refused. Every other field with a default is
#: incidental: the lenient converter keeps a value of unexpected shape in ``extra``.
ESSENTIAL = "essential"


def is_essential(field: attrs.Attribute[Any]) -> bool:
    """Whether a model field is essential: declared so, or without a default."""
    return bool(field.metadata.get(ESSENTIAL)) or field.default is attrs.NOTHING


class WireValueError(ValueError):
    """A wire value that has the right type but not a valid value (e.g. ``"twelve"``)."""


class WireTypeError(TypeError):
    """A wire value of the wrong JSON type (e.g. an object where a string belongs)."""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class OpenStrEnum(str, enum.Enum):
    """A string enum that keeps values it does not know instead of failing.

    ``Status("brand_new")`` returns a pseudo-member whose ``value`` is ``"brand_new"`` and
    whose ``is_known`` is ``False``; it compares equal to its string and is the same object
    every time for the same value.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        cache: dict[str, Any] = cls.__dict__.get("_unknown_members_", None) or {}
        if not cache:
            type.__setattr__(cls, "_unknown_members_", cache)
        member = cache.get(value)
        if member is None:
            member = str.__new__(cls, value)
            member._name_ = f"UNKNOWN[{value}]"
            member._value_ = value
            cache[value] = member
        return member

    @property
    def is_known(self) -> bool:
        """Whether this value is one the library knows (not a kept unknown value)."""
        return self._name_ in type(self).__members__

    def __str__(self) -> str:
        return str(self.value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}.{self._name_}: {self.value!r}>"


def camel_case(name: str) -> str:
    """Return a snake_case name in camelCase (``external_reference`` -> ``externalReference``)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def wire_name(field: attrs.Attribute[Any], naming: Naming) -> str:
    """Return the wire name of a model field: its ``wire`` metadata, else by ``naming``."""
    explicit = field.metadata.get("wire")
    if explicit is not None:
        return str(explicit)
    return camel_case(field.name) if naming == "camel" else field.name


def parse_decimal(value: Any) -> Decimal:
    """Return ``value`` as a `Decimal`; accepts Decimal, int and numeric strings and floats.

    Floats go through their shortest ``repr`` so that ``22.1`` becomes ``Decimal("22.1")``
    rather than its binary approximation. Booleans, non-finite values, strings with other
    than ASCII characters (digits of another script) and values beyond
    `MAX_INTEGER_DIGITS` integer digits or `MAX_FRACTION_DIGITS` decimals are refused.
    """
    kind = type(value)
    result: Decimal
    if kind is Decimal:
        # What decode_json makes of a JSON fraction (always finite): returned as it is
        # (else the path below says what is wrong).
        result = value
        if result.is_finite() and -MAX_FRACTION_DIGITS <= result.adjusted() < MAX_INTEGER_DIGITS:
            try:
                _exact_quantize(result, _QUANTUM)  # `_within_bounds`, inline
            except ArithmeticError:
                pass
            else:
                return result
    elif kind is int:
        cached = _INT_DECIMALS.get(value)
        if cached is not None:
            return cached
        result = Decimal(value)
        if -_INT_LIMIT < value < _INT_LIMIT:  # at most MAX_INTEGER_DIGITS digits
            if len(_INT_DECIMALS) < _MAX_INT_DECIMALS:
                _INT_DECIMALS[value] = result
            return result
    elif kind is float:
        result = Decimal(repr(value))
    elif isinstance(value, str):
        # Decimal() ignores surrounding whitespace itself, and accepts "1_000" and digits of
        # any script (Arabic-Indic, fullwidth); no API sends those, so they are treated as
        # corrupt (as the integer parser does).
        if "_" in value or not value.isascii():
            raise WireValueError(f"not a decimal number: {_short(value)}")
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise WireValueError(f"not a decimal number: {_short(value)}") from None
    elif isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise WireTypeError("expected a number, got a boolean")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    else:
        raise WireTypeError(f"expected a number or numeric string, got {type(value).__name__}")
    if not result.is_finite():
        raise WireValueError(f"not a finite number: {_short(value)}")
    if kind is str and len(value) <= 7 and "e" not in value and "E" not in value:
        return result  # at most 7 characters: within both bounds below
    return _bounded(result, value)


#: The most integer digits a wire decimal may have (amounts below 10**18).
MAX_INTEGER_DIGITS: Final = 18
#: The most digits after the decimal point a wire decimal may have.
MAX_FRACTION_DIGITS: Final = 6
_QUANTUM: Final = Decimal(1).scaleb(-MAX_FRACTION_DIGITS)
_INT_LIMIT: Final = 10**MAX_INTEGER_DIGITS
# Quantizing a value below 10**MAX_INTEGER_DIGITS to _QUANTUM in this context raises
# `Inexact` exactly when a digit other than a trailing zero would be lost (the result
# never needs more digits than the precision, so nothing else signals).
_EXACT_CONTEXT: Final = Context(
    prec=MAX_INTEGER_DIGITS + MAX_FRACTION_DIGITS + 4, traps=[Inexact, InvalidOperation]
)
_exact_quantize: Final = _EXACT_CONTEXT.quantize
# Integers seen and their Decimals (immutable, so shared): quantities, rates and whole
# amounts repeat. Only integers within the bound are kept, at most this many.
_INT_DECIMALS: dict[int, Decimal] = {}
_MAX_INT_DECIMALS: Final = 1024


def _within_bounds(result: Decimal) -> bool:
    """Whether a finite ``result`` has at most `MAX_INTEGER_DIGITS` digits before the point
    and at most `MAX_FRACTION_DIGITS` (not counting trailing zeros) after it."""
    if not -MAX_FRACTION_DIGITS <= result.adjusted() < MAX_INTEGER_DIGITS:
        return False
    try:
        _exact_quantize(result, _QUANTUM)  # one C call, no text
    except ArithmeticError:
        return False
    return True


def _bounded(result: Decimal, value: Any) -> Decimal:
    """``result`` when it has at most `MAX_INTEGER_DIGITS` digits before the point and
    `MAX_FRACTION_DIGITS` after it; such values add and subtract exactly in Python's
    default 28-digit decimal context, and no exponent can overflow it."""
    if result.adjusted() >= MAX_INTEGER_DIGITS:
        raise WireValueError(f"more than {MAX_INTEGER_DIGITS} integer digits: {_short(value)}")
    if type(value) is int or _within_bounds(result):
        return result
    raise WireValueError(
        f"more than {MAX_FRACTION_DIGITS} digits after the decimal point: {_short(value)}"
    )


def array_items(value: Any) -> Any:
    """``value`` when it is a JSON array (a list, or a tuple), else a `WireTypeError`:
    a string or an object iterates too, and would become a tuple of its characters or
    keys."""
    if isinstance(value, (list, tuple)):
        return value
    raise WireTypeError(f"expected an array, got {json_type(value)}")


_DATETIME_RE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d+))?)?"
    r"(?P<tz>Z|z|[+-]\d{2}(?::?\d{2})?)?)?$",
    re.ASCII,
)


# From 3.11 on, datetime.fromisoformat reads every form the regex above accepts (except a
# lower-case "z" and more than 6 fractional digits).
_FAST_ISOFORMAT: Final = sys.version_info >= (3, 11)
_date_fromisoformat: Final = date.fromisoformat
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)


def parse_datetime(value: Any) -> datetime:
    """Parse an ISO 8601 / RFC 3339 datetime in the forms both APIs use.

    Accepts ``Z`` or ``+hh:mm`` offsets, any number of fractional digits (truncated to
    microseconds), a space instead of ``T``, and naive values (kept naive). A date alone
    becomes midnight.
    """
    if type(value) is str and _FAST_ISOFORMAT and _is_common_shape(value):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass  # an out-of-range field: the path below says which
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise WireTypeError(f"expected an ISO 8601 datetime string, got {type(value).__name__}")
    text = value.strip()
    match = _DATETIME_RE.match(text)
    if match is None:
        raise WireValueError(f"not an ISO 8601 datetime: {_short(value)}")
    if _FAST_ISOFORMAT and (match["f"] is None or len(match["f"]) <= 6):
        # The regex decided the form; the C parser builds the value several times faster.
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass  # "z", or an out-of-range field: the slow path says which
    try:
        return _build_datetime(match)
    except ValueError as exc:
        raise WireValueError(f"not a valid datetime: {_short(value)} ({exc})") from None


def _is_common_shape(text: str) -> bool:
    """Whether ``text`` is ``YYYY-MM-DDTHH:MM:SS[.f]`` with ``Z`` or ``+hh:mm`` (1-6 digits
    of ``f``): the form both APIs send, which `_DATETIME_RE` accepts and
    ``datetime.fromisoformat`` reads alike. Checked without the regex, which costs more
    than the parse."""
    if (
        len(text) < 20
        or text[10] != "T"
        or text[4] != "-"
        or text[7] != "-"
        or text[13] != ":"
        or text[16] != ":"
    ):
        return False
    if text[-1] == "Z":
        zone = len(text) - 1
    elif text[-6] in "+-" and text[-3] == ":":
        zone = len(text) - 6
    else:
        return False
    if zone == 19:
        return True
    fraction = text[20:zone]
    return text[19] == "." and 0 < len(fraction) <= 6 and fraction.isascii() and fraction.isdigit()


def _build_datetime(match: re.Match[str]) -> datetime:
    day = date.fromisoformat(match["date"])
    fraction = (match["f"] or "0")[:6].ljust(6, "0")
    tz: timezone | None = None
    raw_tz = match["tz"]
    if raw_tz:
        if raw_tz in ("Z", "z"):
            tz = timezone.utc
        else:
            sign = -1 if raw_tz[0] == "-" else 1
            digits = raw_tz[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
            tz = timezone(sign * offset)
    return datetime(
        day.year,
        day.month,
        day.day,
        int(match["h"] or 0),
        int(match["m"] or 0),
        int(match["s"] or 0),
        int(fraction),
        tzinfo=tz,
    )


def parse_date(value: Any) -> date:
    """Parse ``YYYY-MM-DD``; a full datetime string gives its date part."""
    if type(value) is str and len(value) == 10 and value[4] == "-" and value[7] == "-":
        # The common shape: date.fromisoformat reads exactly the ASCII digits the regex
        # below requires at the other eight places (no week date has "-" at both).
        try:
            return _date_fromisoformat(value)
        except ValueError:
            pass  # not digits, or out of range: the path below says which
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise WireTypeError(f"expected a YYYY-MM-DD date string, got {type(value).__name__}")
    text = value.strip()
    if len(text) == 10:
        if _DATE_RE.match(text) is None:
            raise WireValueError(f"not a YYYY-MM-DD date: {_short(value)}")
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise WireValueError(f"not a valid date: {_short(value)}") from None
    return parse_datetime(text).date()


def _structure_enum(value: Any, cls: type[enum.Enum]) -> enum.Enum:
    if isinstance(value, cls):
        return value
    try:
        return cls(value)
    except ValueError:
        raise WireValueError(f"{_short(value)} is not a valid {cls.__name__}") from None


# cattrs' defaults call int(), str() and bool() on whatever arrives, so an object becomes
# the string "{'a': 1}", 12.7 becomes the id 12 and "false" becomes True. These refuse
# values of the wrong JSON type instead, and accept only the harmless conversions.
_INT_RE = re.compile(r"^\s*[+-]?\d+\s*$", re.ASCII)
# Longer integer strings would raise int()'s conversion-limit ValueError (4300 digits); no
# id or count comes near this.
_MAX_INT_TEXT: Final = 100


def _structure_int(value: Any, cls: Any) -> int:
    if cls is not int:
        result: int = _structure_subclass(value, cls)
        return result
    if type(value) is int:
        return value
    if isinstance(value, str) and _INT_RE.match(value):
        if len(value) > _MAX_INT_TEXT:
            raise WireValueError(
                f"an integer longer than {_MAX_INT_TEXT} characters: {_short(value)}"
            )
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    raise WireTypeError(f"expected an integer, got {_short(value)}")


def _structure_str(value: Any, cls: Any) -> str:
    if cls is not str:
        text: str = _structure_subclass(value, cls)
        return text
    if type(value) is str:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return str(value)
    raise WireTypeError(f"expected a string, got {type(value).__name__}")


def _structure_bool(value: Any, _: Any) -> bool:
    if value is True or value is False:
        return bool(value)
    raise WireTypeError(f"expected true or false, got {_short(value)}")


def _structure_subclass(value: Any, cls: Any) -> Any:
    # These hooks are registered for str and int, so they also receive their subclasses
    # (string and integer enums): those are built by calling the class.
    if isinstance(cls, type) and issubclass(cls, enum.Enum):
        return _structure_enum(value, cls)
    try:
        return cls(value)
    except (TypeError, ValueError) as exc:
        raise WireValueError(f"{_short(value)} is not a valid {cls.__name__}: {exc}") from None


def _structure_float(value: Any, _: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise WireValueError(f"not a number: {_short(value)}") from None
    raise WireTypeError(f"expected a number, got {type(value).__name__}")


def _structure_decimal(value: Any, _: Any) -> Decimal:
    return parse_decimal(value)


def _structure_datetime(value: Any, _: Any) -> datetime:
    return parse_datetime(value)


def _structure_date(value: Any, _: Any) -> date:
    return parse_date(value)


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    return type(value).__name__
