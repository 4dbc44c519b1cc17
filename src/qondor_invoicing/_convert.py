"""cattrs converters: a lenient one for responses and a strict twin for tests.

Models are attrs classes with snake_case attributes; wire names are decided here (camelCase
for Qondor, snake_case for Qonto), never in the models. A model that declares an ``extra``
field receives every wire key it does not know there, so nothing the server sends is lost.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from .errors import ResponseValidationError

__all__ = [
    "EXTRA_FIELD",
    "Naming",
    "OpenStrEnum",
    "camel_case",
    "make_converter",
    "parse_date",
    "parse_datetime",
    "parse_decimal",
    "structure",
    "wire_name",
]

T = TypeVar("T")
Naming = Literal["camel", "snake"]
EXTRA_FIELD = "extra"
_EXTRA_KEY = "\x00extra"  # cannot collide with a wire key from JSON text in practice


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
    rather than its binary approximation. Booleans and non-finite values are refused.
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise TypeError("expected a number, got a boolean")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip()
        # Decimal() accepts "1_000"; no API sends that, so it is treated as corrupt.
        if "_" in text:
            raise ValueError(f"not a decimal number: {value!r}")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"not a decimal number: {value!r}") from None
    else:
        raise TypeError(f"expected a number or numeric string, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result


_DATETIME_RE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d+))?)?"
    r"(?P<tz>Z|z|[+-]\d{2}(?::?\d{2})?)?)?$"
)


def parse_datetime(value: Any) -> datetime:
    """Parse an ISO 8601 / RFC 3339 datetime in the forms both APIs use.

    Accepts ``Z`` or ``+hh:mm`` offsets, any number of fractional digits (truncated to
    microseconds), a space instead of ``T``, and naive values (kept naive). A date alone
    becomes midnight.
    """
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 datetime string, got {type(value).__name__}")
    match = _DATETIME_RE.match(value.strip())
    if match is None:
        raise ValueError(f"not an ISO 8601 datetime: {value!r}")
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
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected a YYYY-MM-DD date string, got {type(value).__name__}")
    text = value.strip()
    if len(text) == 10:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not a YYYY-MM-DD date: {value!r}") from None
    return parse_datetime(text).date()


def _structure_enum(value: Any, cls: type[enum.Enum]) -> enum.Enum:
    if isinstance(value, cls):
        return value
    try:
        return cls(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a valid {cls.__name__}") from None


def make_converter(
    naming: Naming,
    *,
    strict: bool = False,
    configure: Callable[[cattrs.Converter], None] | None = None,
) -> cattrs.Converter:
    """Build a converter for one API.

    Args:
        naming: How attribute names map to wire names (``"camel"`` or ``"snake"``);
            a field's ``metadata={"wire": "..."}`` overrides it.
        strict: The strict twin: unknown keys raise (``forbid_extra_keys``) instead of
            landing in the model's ``extra`` field. For tests that catch schema drift.
        configure: Registers API-specific hooks (e.g. Qonto's money objects).

    Returns:
        The converter.
    """
    conv = cattrs.Converter(forbid_extra_keys=strict, detailed_validation=True)
    conv.register_structure_hook(Decimal, lambda v, _: parse_decimal(v))
    conv.register_unstructure_hook(Decimal, str)
    conv.register_structure_hook(datetime, lambda v, _: parse_datetime(v))
    conv.register_unstructure_hook(datetime, lambda v: v.isoformat())
    conv.register_structure_hook(date, lambda v, _: parse_date(v))
    conv.register_unstructure_hook(date, lambda v: v.isoformat())
    conv.register_structure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), _structure_enum
    )
    conv.register_unstructure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), lambda v: v.value
    )

    def structure_factory(cls: type[Any]) -> Callable[[Any, Any], Any]:
        fields = attrs.fields(cls)
        has_extra = any(f.name == EXTRA_FIELD for f in fields)
        overrides: dict[str, Any] = {}
        known: set[str] = set()
        for f in fields:
            if f.name == EXTRA_FIELD:
                overrides[f.name] = override(rename=_EXTRA_KEY, struct_hook=lambda v, _: v)
                continue
            name = wire_name(f, naming)
            known.add(name)
            overrides[f.name] = override(rename=name)
        base = make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=strict, **overrides)
        if strict or not has_extra:
            return base
        known_keys = frozenset(known)

        def structure_keeping_extras(data: Any, cl: Any) -> Any:
            if isinstance(data, Mapping) and not data.keys() <= known_keys:
                split = {k: v for k, v in data.items() if k in known_keys}
                split[_EXTRA_KEY] = {k: v for k, v in data.items() if k not in known_keys}
                data = split
            return base(data, cl)

        return structure_keeping_extras

    def unstructure_factory(cls: type[Any]) -> Callable[[Any], Any]:
        fields = attrs.fields(cls)
        overrides: dict[str, Any] = {}
        has_extra = False
        for f in fields:
            if f.name == EXTRA_FIELD:
                has_extra = True
                overrides[f.name] = override(omit=True)
            else:
                overrides[f.name] = override(rename=wire_name(f, naming))
        base = make_dict_unstructure_fn(cls, conv, **overrides)
        if not has_extra:
            return base

        def unstructure_with_extras(obj: Any) -> Any:
            data = base(obj)
            extra = getattr(obj, EXTRA_FIELD)
            if extra:
                return {**extra, **data}
            return data

        return unstructure_with_extras

    conv.register_structure_hook_factory(attrs.has, structure_factory)
    conv.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    if configure is not None:
        configure(conv)
    return conv


def structure(
    converter: cattrs.Converter,
    data: Any,
    cls: type[T],
    *,
    body: str = "",
    method: str | None = None,
    url: str | None = None,
    what: str | None = None,
) -> T:
    """Structure ``data`` into ``cls``, turning every failure into `ResponseValidationError`.

    Args:
        converter: The converter to use.
        data: The decoded JSON.
        cls: The model class.
        body: The raw body, kept on the error.
        method: The request method, for the error message.
        url: The request URL, for the error message.
        what: What was expected, for the error message (defaults to the class name).

    Returns:
        The model.

    Raises:
        ResponseValidationError: With one readable line per problem and its JSON path.
    """
    try:
        return converter.structure(data, cls)
    except cattrs.BaseValidationError as exc:
        errors = cattrs.transform_error(exc, path="$")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        errors = [f"{type(exc).__name__}: {exc} @ $"]
    name = what or getattr(cls, "__name__", str(cls))
    where = f" from {method} {url}" if method and url else ""
    raise ResponseValidationError(
        f"response{where} is not a valid {name}",
        errors=errors,
        body=body,
        method=method,
        url=url,
    )
