"""cattrs converters: a lenient one for responses and a strict twin for tests.

Models are attrs classes with snake_case attributes; wire names are decided here (camelCase
for Qondor, snake_case for Qonto), never in the models. A model that declares an ``extra``
field receives every wire key it does not know there, so nothing the server sends is lost.
"""

from __future__ import annotations

import collections.abc
import enum
import functools
import re
import sys
import types
import typing
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal, TypeVar

import attrs
import cattrs
from cattrs.errors import (
    ClassValidationError,
    IterableValidationError,
    StructureHandlerNotFoundError,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.v import format_exception

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
# A model attribute naming the field a bare string stands for (``"id"`` -> ``{"id": "..."}``).
SHORTHAND_ATTRIBUTE = "__wire_shorthand__"
_EXTRA_KEY = "\x00extra"  # cannot collide with a wire key from JSON text in practice


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
    rather than its binary approximation. Booleans and non-finite values are refused.
    """
    kind = type(value)
    if kind is str:
        # Decimal() ignores surrounding whitespace itself, and accepts "1_000"; no API
        # sends that, so it is treated as corrupt.
        if "_" in value:
            raise WireValueError(f"not a decimal number: {_short(value)}")
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise WireValueError(f"not a decimal number: {_short(value)}") from None
    elif kind is float:
        result = Decimal(repr(value))
    elif kind is int:
        result = Decimal(value)
    elif isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise WireTypeError("expected a number, got a boolean")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip()
        # Decimal() accepts "1_000"; no API sends that, so it is treated as corrupt.
        if "_" in text:
            raise WireValueError(f"not a decimal number: {_short(value)}")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise WireValueError(f"not a decimal number: {_short(value)}") from None
    else:
        raise WireTypeError(f"expected a number or numeric string, got {type(value).__name__}")
    if not result.is_finite():
        raise WireValueError(f"not a finite number: {_short(value)}")
    return result


_DATETIME_RE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d+))?)?"
    r"(?P<tz>Z|z|[+-]\d{2}(?::?\d{2})?)?)?$",
    re.ASCII,
)


# From 3.11 on, datetime.fromisoformat reads every form the regex above accepts (except a
# lower-case "z" and more than 6 fractional digits).
_FAST_ISOFORMAT: Final = sys.version_info >= (3, 11)
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


def _structure_int(value: Any, cls: Any) -> int:
    if cls is not int:
        result: int = _structure_subclass(value, cls)
        return result
    if type(value) is int:
        return value
    if isinstance(value, str) and _INT_RE.match(value):
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


class _Converter(cattrs.Converter):
    """A cattrs converter that knows its naming and keeps a fast twin.

    It validates in detail (every problem, with its path). `structure` first tries the
    twin without detailed validation, which is faster, and asks this one only to
    describe a failure. Registering a hook drops the twin, so the two never disagree.
    """

    naming: Naming | None = None
    strict: bool = False
    _fast: cattrs.Converter | None = None

    def fast(self) -> cattrs.Converter:
        """Return a copy of this converter without detailed validation (made on first use).

        The copy also structures models with functions generated by `_fast_model_hook`,
        and optionals and homogeneous tuples with hooks resolved once (cattrs dispatches
        on every value), which makes it several times faster than cattrs' own.
        """
        fast = self._fast
        if fast is None:
            fast = self.copy(detailed_validation=False)
            _add_fast_hooks(fast, self.naming, self.strict)
            self._fast = fast
        return fast

    def register_structure_hook(self, *args: Any, **kwargs: Any) -> Any:
        self._fast = None
        return super().register_structure_hook(*args, **kwargs)

    def register_structure_hook_func(self, *args: Any, **kwargs: Any) -> Any:
        self._fast = None
        return super().register_structure_hook_func(*args, **kwargs)

    def register_structure_hook_factory(self, *args: Any, **kwargs: Any) -> Any:
        self._fast = None
        return super().register_structure_hook_factory(*args, **kwargs)


def _structure_decimal(value: Any, _: Any) -> Decimal:
    return parse_decimal(value)


def _structure_datetime(value: Any, _: Any) -> datetime:
    return parse_datetime(value)


def _structure_date(value: Any, _: Any) -> date:
    return parse_date(value)


# -- the fast twin's hooks -------------------------------------------------------------------
#
# cattrs' generated functions call a hook per field, and the hook of ``X | None`` looks the
# hook of ``X`` up again on every value. These resolve every hook once, test ``None`` and
# the exact JSON types inline, and call the parsers directly. They only serve the happy
# path: whatever they raise, `structure` asks the detailed converter what is wrong.

# Hooks that return their input unchanged when it has exactly this type.
_IDENTITY_FOR: dict[Any, type] = {_structure_str: str, _structure_int: int}

H = TypeVar("H", bound=Callable[[Any, Any], Any])
H1 = TypeVar("H1", bound=Callable[[Any], Any])


def returns_unchanged(exact: type) -> Callable[[H], H]:
    """Declare that a structure hook returns a value of exactly type ``exact`` unchanged.

    The fast twin then skips calling it for such values (an API's own ``str`` hook that
    also accepts numbers still costs nothing for the strings it is given).
    """

    def mark(hook: H) -> H:
        _IDENTITY_FOR[hook] = exact
        return hook

    return mark


# Hooks that only call a one-argument parser.
_PARSERS: dict[Any, Callable[[Any], Any]] = {
    _structure_decimal: parse_decimal,
    _structure_datetime: parse_datetime,
    _structure_date: parse_date,
}
_MISSING = object()
# The tuple hooks of the fast twin -> (item hook, item type), so that models inline them.
_FAST_TUPLES: weakref.WeakKeyDictionary[Any, tuple[Any, Any]] = weakref.WeakKeyDictionary()


def _unchanged_type(hook: Any, type_: Any) -> type | None:
    """``type_`` when ``hook`` returns values of exactly that type unchanged, else ``None``
    (no value's type is ``None``, so ``type(v) is None`` never holds)."""
    return type_ if _IDENTITY_FOR.get(hook) is type_ else None


def _optional_arg(type_: Any) -> Any:
    """``X`` for ``X | None`` (``Optional[X]``), else ``None``."""
    if typing.get_origin(type_) not in (typing.Union, types.UnionType):
        return None
    args = typing.get_args(type_)
    if len(args) != 2 or type(None) not in args:
        return None
    return args[0] if args[1] is type(None) else args[1]


def _homogeneous_tuple_arg(type_: Any) -> Any:
    """``X`` for ``tuple[X, ...]``, else ``None``."""
    if typing.get_origin(type_) is not tuple:
        return None
    args = typing.get_args(type_)
    return args[0] if len(args) == 2 and args[1] is Ellipsis else None


def _add_fast_hooks(conv: cattrs.Converter, naming: Naming | None, strict: bool) -> None:
    def optional_hook(type_: Any) -> Callable[[Any, Any], Any]:
        inner = _optional_arg(type_)
        hook = conv.get_structure_hook(inner)

        def structure_optional(value: Any, _: Any) -> Any:
            return None if value is None else hook(value, inner)

        return structure_optional

    def tuple_hook(type_: Any) -> Callable[[Any, Any], Any]:
        inner = _homogeneous_tuple_arg(type_)
        hook = conv.get_structure_hook(inner)

        def structure_tuple(value: Any, _: Any) -> Any:
            return tuple([hook(item, inner) for item in value])

        _FAST_TUPLES[structure_tuple] = (hook, inner)
        return structure_tuple

    def mapping_hook(type_: Any) -> Callable[[Any, Any], Any]:
        args = _mapping_args(type_)
        assert args is not None  # the predicate below matched
        key_type, value_type = args
        key_hook = conv.get_structure_hook(key_type)
        value_hook = conv.get_structure_hook(value_type)

        exact_key = _unchanged_type(key_hook, key_type)
        if value_type is Any:

            def structure_mapping(value: Any, _: Any) -> Any:
                return {
                    k if type(k) is exact_key else key_hook(k, key_type): v
                    for k, v in value.items()
                }

            return structure_mapping

        def structure_values(value: Any, _: Any) -> Any:
            return {
                k if type(k) is exact_key else key_hook(k, key_type): value_hook(v, value_type)
                for k, v in value.items()
            }

        return structure_values

    conv.register_structure_hook_factory(lambda t: _optional_arg(t) is not None, optional_hook)
    conv.register_structure_hook_factory(
        lambda t: _homogeneous_tuple_arg(t) is not None, tuple_hook
    )
    conv.register_structure_hook_factory(lambda t: _mapping_args(t) is not None, mapping_hook)
    if naming is not None and not strict:
        # The strict twin keeps cattrs' functions: it serves tests, not throughput.
        conv.register_structure_hook_factory(
            lambda t: isinstance(t, type) and attrs.has(t) and not getattr(t, "__parameters__", ()),
            lambda cls: _fast_model_hook(cls, conv, naming),
        )


def _mapping_args(type_: Any) -> tuple[Any, Any] | None:
    """``(K, V)`` for ``Mapping[K, V]`` / ``dict[K, V]``, else ``None``."""
    if typing.get_origin(type_) not in (dict, Mapping, collections.abc.Mapping):
        return None
    args = typing.get_args(type_)
    return (args[0], args[1]) if len(args) == 2 else None


def _conversion(i: int, hook: Any, value_type: Any, namespace: dict[str, Any]) -> tuple[str, str]:
    """The test that a present, non-null value needs converting, and the conversion.

    Returns ``(test, expression)`` where ``test`` is ``""`` when every value goes through
    ``expression`` (which reads the value from ``v``).
    """
    namespace[f"_h{i}"] = hook
    namespace[f"_t{i}"] = value_type
    parser = _PARSERS.get(hook)
    if parser is not None:
        namespace[f"_p{i}"] = parser
        convert = f"_p{i}(v)"
    else:
        convert = f"_h{i}(v, _t{i})"
    exact = _unchanged_type(hook, value_type)
    if exact is not None:
        namespace[f"_e{i}"] = exact
        return f"type(v) is not _e{i}", convert
    if hook is _structure_bool:
        return "v is not True and v is not False", convert
    item = _FAST_TUPLES.get(hook)
    if item is not None:
        # A tuple of items: one comprehension, each item's hook resolved once.
        item_hook, item_type = item
        namespace[f"_ih{i}"] = item_hook
        namespace[f"_it{i}"] = item_type
        item_exact = _unchanged_type(item_hook, item_type)
        if item_exact is not None:
            namespace[f"_ie{i}"] = item_exact
            each = f"x if type(x) is _ie{i} else _ih{i}(x, _it{i})"
        else:
            each = f"_ih{i}(x, _it{i})"
        return "", f"tuple([{each} for x in v])"
    return "", convert


# Field converters the fast twin may skip: each returns the values the fast twin's hooks
# produce unchanged (or an equal fresh copy of a fresh dict).
_SKIPPABLE_CONVERTERS: set[Any] = {tuple}


def skippable_converter(converter: H1) -> H1:
    """Declare that a field converter returns parsed values unchanged.

    A model whose fields have only such converters (and no validators) is built by the
    fast twin without calling its ``__init__``: the values are already what the converter
    would return. Use it for normalising converters such as ``Decimal | None`` ones.
    """
    _SKIPPABLE_CONVERTERS.add(converter)
    return converter


def _settable_directly(cls: type[Any], fields: Sequence[attrs.Attribute[Any]]) -> bool:
    """Whether setting every field's slot is exactly what ``cls(...)`` would do with
    values the fast twin produced."""
    slots = set(cls.__dict__.get("__slots__", ("__dict__",))) - {"__weakref__"}
    if slots != {f.name for f in fields}:
        return False  # not slotted, inherited fields, or a cached hash to initialise
    if hasattr(cls, "__attrs_pre_init__") or hasattr(cls, "__attrs_post_init__"):
        return False
    for f in fields:
        if not f.init or f.validator is not None:
            return False
        converter = f.converter
        if converter is None or converter in _SKIPPABLE_CONVERTERS:
            continue
        target = _optional_arg(f.type) or f.type
        if not (converter is target and isinstance(target, type) and issubclass(target, enum.Enum)):
            return False  # an enum class converts its own members to themselves
    return True


def _fast_model_hook(
    cls: type[Any], conv: cattrs.Converter, naming: Naming
) -> Callable[[Any, Any], Any]:
    """Generate a function structuring a wire object into the attrs class ``cls``.

    It gives the same result as cattrs' generated function plus the ``extra`` split of
    `make_converter` for every input that both accept. Each field becomes a local and the
    class is called with keywords (no intermediate dict); a value of exactly the type a
    hook would return unchanged (a ``str`` for ``str``) skips the hook.
    """
    attrs.resolve_types(cls)
    namespace: dict[str, Any] = {
        "_cls": cls,
        "_MISSING": _MISSING,
        "_Mapping": Mapping,
        "_not_an_object": _not_an_object,
    }
    lines = ["def structure(o, _=None):"]
    shorthand = getattr(cls, SHORTHAND_ATTRIBUTE, None)
    if shorthand is not None:
        lines += ["    if isinstance(o, str):", f"        return _cls({shorthand}=o)"]
    lines += [
        "    if type(o) is not dict and not isinstance(o, _Mapping):",
        "        _not_an_object(o)",
    ]
    arguments: list[str] = []
    slots: list[str] = []
    known: set[str] = set()
    extra: str | None = None  # the local holding the ``extra`` field
    for i, field in enumerate(attrs.fields(cls)):
        if not field.init:
            continue
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            if default.takes_self:
                raise TypeError(f"{cls.__qualname__}.{field.name}: takes_self factories")
            namespace[f"_f{i}"] = default.factory
            default_expr = f"_f{i}()"
        elif default is not attrs.NOTHING:
            namespace[f"_d{i}"] = default
            default_expr = f"_d{i}"
        else:
            default_expr = ""
        arguments.append(f"{field.alias}=a{i}")
        slots.append(f"    _set(self, {field.name!r}, a{i})")
        if field.name == EXTRA_FIELD:
            extra = f"a{i}"
            extra_expr = default_expr or "{}"
            continue
        wire = wire_name(field, naming)
        known.add(wire)
        inner = _optional_arg(field.type)
        value_type = inner if inner is not None else field.type
        test, convert = _conversion(i, conv.get_structure_hook(value_type), value_type, namespace)
        if inner is not None:
            test = f"v is not None and {test}" if test else "v is not None"
        if not default_expr:
            lines.append(f"    v = o[{wire!r}]")
            lines.append(
                f"    a{i} = {convert} if {test} else v" if test else f"    a{i} = {convert}"
            )
        elif inner is not None and default is None:
            # Missing and null both give None: one lookup, one test.
            lines.append(f"    v = o.get({wire!r})")
            lines.append(f"    a{i} = {convert} if {test} else v")
        else:
            lines.append(f"    v = o.get({wire!r}, _MISSING)")
            lines.append("    if v is _MISSING:")
            lines.append(f"        a{i} = {default_expr}")
            if test:
                lines.append(f"    elif {test}:")
                lines.append(f"        a{i} = {convert}")
                lines.append("    else:")
                lines.append(f"        a{i} = v")
            else:
                lines.append("    else:")
                lines.append(f"        a{i} = {convert}")
    if extra is not None:
        namespace["_known"] = frozenset(known)
        lines += [
            "    if o.keys() <= _known:",
            f"        {extra} = {extra_expr}",
            "    else:",
            f"        {extra} = {{k: x for k, x in o.items() if k not in _known}}",
        ]
    if _settable_directly(cls, attrs.fields(cls)):
        # What the generated __init__ would do, without binding keywords or converting
        # values that are already converted.
        namespace["_new"] = object.__new__
        namespace["_set"] = object.__setattr__
        lines += ["    self = _new(_cls)", *slots, "    return self"]
    else:
        lines.append(f"    return _cls({', '.join(arguments)})")
    exec(compile("\n".join(lines), f"<fast structure {cls.__qualname__}>", "exec"), namespace)
    function: Callable[[Any, Any], Any] = namespace["structure"]
    return function


def _not_an_object(value: Any) -> None:
    raise WireTypeError(f"expected an object, got {_json_type(value)}")


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
    conv = _Converter(forbid_extra_keys=strict, detailed_validation=True)
    conv.naming = naming
    conv.strict = strict
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(Decimal, _structure_decimal)
    conv.register_unstructure_hook(Decimal, str)
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_unstructure_hook(datetime, lambda v: v.isoformat())
    conv.register_structure_hook(date, _structure_date)
    conv.register_unstructure_hook(date, lambda v: v.isoformat())
    conv.register_structure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), _structure_enum
    )
    # Open enums are str subclasses, and cattrs dispatches subclasses to a hook registered
    # for str first: these registrations are more specific, so they hold even when an API's
    # ``configure`` registers its own str or int hook.
    conv.register_structure_hook(OpenStrEnum, _structure_enum)
    conv.register_structure_hook(enum.IntEnum, _structure_enum)
    conv.register_unstructure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), lambda v: v.value
    )

    # Factories take the converter they build for, so that the fast twin (a copy) builds
    # functions without detailed validation.
    def structure_factory(cls: type[Any], converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
        objects = structure_objects(cls, converter)
        shorthand = getattr(cls, SHORTHAND_ATTRIBUTE, None)
        if shorthand is None:
            return objects

        def structure_shorthand(data: Any, cl: Any) -> Any:
            if isinstance(data, str):
                return cls(**{shorthand: data})
            return objects(data, cl)

        return structure_shorthand

    def structure_objects(cls: type[Any], converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
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
        base = make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=strict, **overrides)
        if strict or not has_extra:

            def structure_object(data: Any, cl: Any) -> Any:
                if type(data) is not dict and not isinstance(data, Mapping):
                    raise WireTypeError(f"expected an object, got {_json_type(data)}")
                return base(data, cl)

            return structure_object
        known_keys = frozenset(known)

        def structure_keeping_extras(data: Any, cl: Any) -> Any:
            if type(data) is not dict and not isinstance(data, Mapping):
                raise WireTypeError(f"expected an object, got {_json_type(data)}")
            if not data.keys() <= known_keys:
                split = {k: v for k, v in data.items() if k in known_keys}
                split[_EXTRA_KEY] = {k: v for k, v in data.items() if k not in known_keys}
                data = split
            return base(data, cl)

        return structure_keeping_extras

    def unstructure_factory(cls: type[Any], converter: cattrs.Converter) -> Callable[[Any], Any]:
        fields = attrs.fields(cls)
        overrides: dict[str, Any] = {}
        has_extra = False
        for f in fields:
            if f.name == EXTRA_FIELD:
                has_extra = True
                overrides[f.name] = override(omit=True)
            else:
                overrides[f.name] = override(rename=wire_name(f, naming))
        base = make_dict_unstructure_fn(cls, converter, **overrides)
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
    if isinstance(converter, _Converter):
        try:
            return converter.fast().structure(data, cls)
        except Exception:
            pass  # the detailed converter below says what is wrong
    try:
        return converter.structure(data, cls)
    except StructureHandlerNotFoundError:
        raise  # a model the converter cannot handle: a bug, not a bad response
    except cattrs.BaseValidationError as exc:
        errors = _describe(exc, "$", getattr(converter, "naming", None))
    except Exception as exc:
        # A hook outside a model (a bare list or Decimal), or an unexpected failure in one:
        # whatever the body, the caller gets a ResponseValidationError.
        errors = [f"{_format(exc, cls)} @ $"]
    name = what or getattr(cls, "__name__", str(cls))
    where = f" from {method} {url}" if method and url else ""
    raise ResponseValidationError(
        f"response{where} is not a valid {name}",
        errors=errors,
        body=body,
        method=method,
        url=url,
    )


def _json_type(value: Any) -> str:
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


def _format(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, (WireValueError, WireTypeError)):
        return str(exc)  # already says what was expected and what arrived
    if isinstance(exc, KeyError):
        return "required field missing"
    return format_exception(exc, type_)


@functools.lru_cache(maxsize=512)
def _wire_names(cls: type[Any], naming: Naming) -> Mapping[str, str]:
    if not attrs.has(cls):
        return {}
    return {f.name: wire_name(f, naming) for f in attrs.fields(cls)}


def _describe(exc: BaseException, path: str, naming: Naming | None) -> list[str]:
    """Like ``cattrs.transform_error``, with wire names (``$.totalAmount``) in the paths."""
    errors: list[str] = []
    if isinstance(exc, IterableValidationError):
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            sub_path = f"{path}[{note.index!r}]"
            if isinstance(sub, (ClassValidationError, IterableValidationError)):
                errors.extend(_describe(sub, sub_path, naming))
            else:
                errors.append(f"{_format(sub, note.type)} @ {sub_path}")
        errors.extend(f"{_format(sub, None)} @ {path}" for sub in without)
    elif isinstance(exc, ClassValidationError):
        names = _wire_names(exc.cl, naming) if naming is not None else {}
        with_class_notes, without = exc.group_exceptions()
        for sub, class_note in with_class_notes:
            sub_path = f"{path}.{names.get(class_note.name, class_note.name)}"
            if isinstance(sub, (ClassValidationError, IterableValidationError)):
                errors.extend(_describe(sub, sub_path, naming))
            else:
                errors.append(f"{_format(sub, class_note.type)} @ {sub_path}")
        errors.extend(f"{_format(sub, None)} @ {path}" for sub in without)
    else:
        errors.append(f"{_format(exc, None)} @ {path}")
    return errors
