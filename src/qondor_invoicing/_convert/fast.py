"""The fast twin: structure functions generated per model, and hooks resolved once.

cattrs' generated functions call a hook per field, and the hook of ``X | None`` looks the
hook of ``X`` up again on every value. These resolve every hook once, test ``None`` and
the exact JSON types inline, and call the parsers directly. They only serve the happy
path: whatever they raise, `structure` asks the detailed converter what is wrong.
"""

from __future__ import annotations

import collections.abc
import enum
import types
import typing
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import attrs
import cattrs

from . import lazy
from .aliases import Aliases, Ignored, field_spellings, ignored_keys
from .wire import (
    EXTRA_FIELD,
    SHORTHAND_ATTRIBUTE,
    Naming,
    WireTypeError,
    _structure_bool,
    _structure_date,
    _structure_datetime,
    _structure_decimal,
    _structure_enum,
    _structure_int,
    _structure_str,
    array_items,
    is_essential,
    json_type,
    parse_date,
    parse_datetime,
    parse_decimal,
    wire_name,
)

__all__ = ["add_fast_hooks", "returns_unchanged", "skippable_converter"]

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


# Hooks that return a member of the enum they are asked for unchanged (the str and int
# ones hand enums, which subclass str or int, to the enum hook).
_ENUM_HOOKS = (_structure_enum, _structure_str, _structure_int)


def _unchanged_type(hook: Any, type_: Any) -> type | None:
    """``type_`` when ``hook`` returns values of exactly that type unchanged, else ``None``
    (no value's type is ``None``, so ``type(v) is None`` never holds)."""
    if _IDENTITY_FOR.get(hook) is type_:
        return type_
    if isinstance(type_, enum.EnumMeta) and hook in _ENUM_HOOKS:
        return type_
    return None


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


def add_fast_hooks(
    conv: cattrs.Converter,
    naming: Naming | None,
    strict: bool,
    *,
    aliases: Aliases | None = None,
    ignored: Ignored | None = None,
    detailed: cattrs.Converter | None = None,
    keep_incidental: Callable[..., None] | None = None,
) -> None:
    """Register the fast twin's hooks on ``conv``.

    Models read their fields under the spellings of ``aliases`` and keep the keys of
    ``ignored`` out of ``extra`` (see `aliases`). With
    ``detailed`` (the lenient converter ``conv`` is the twin of) and its
    ``keep_incidental``, incidental fields holding models are built on first access
    (see `lazy`).
    """
    deferral = (detailed, keep_incidental) if detailed is not None and keep_incidental else None

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
            items = value if type(value) is list else array_items(value)
            return tuple([hook(item, inner) for item in items])

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
            key_types = frozenset({exact_key})

            def structure_mapping(value: Any, _: Any) -> Any:
                if type(value) is dict and key_types.issuperset(map(type, value)):
                    return value.copy()  # every key kept as it is: copied in C
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
            lambda cls: _fast_model_hook(cls, conv, naming, deferral, aliases, ignored),
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
    enum_values = hook is _structure_enum and isinstance(value_type, enum.EnumMeta)
    if enum_values:
        # Known values by one dict lookup (what Enum.__new__ tries first); others, and
        # members that are falsy, through the hook.
        namespace[f"_vm{i}"] = value_type._value2member_map_
        convert = f"(_vm{i}.get(v) or {convert})"
    exact = _unchanged_type(hook, value_type)
    if exact is not None:
        namespace[f"_e{i}"] = exact
        return f"type(v) is not _e{i}", convert
    if hook is _structure_bool:
        return "v is not True and v is not False", convert
    if enum_values:
        return "", convert
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
        # A string or an object is refused (never split into characters or keys).
        namespace["_array"] = array_items
        return "", f"tuple([{each} for x in (v if type(v) is list else _array(v))])"
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


def _read_later(field: attrs.Attribute[Any]) -> bool:
    """Whether an incidental field (optional, default ``None``) is read from the document
    when first accessed rather than when the model is structured (see `lazy`)."""
    if field.name == EXTRA_FIELD or field.default is not None or is_essential(field):
        return False
    return _optional_arg(field.type) is not None


def _fast_model_hook(
    cls: type[Any],
    conv: cattrs.Converter,
    naming: Naming,
    deferral: tuple[cattrs.Converter, Callable[..., None]] | None = None,
    aliases: Aliases | None = None,
    ignored: Ignored | None = None,
) -> Callable[[Any, Any], Any]:
    """Generate a function structuring a wire object into the attrs class ``cls``.

    It gives the same result as cattrs' generated function plus the ``extra`` split of
    `make_converter` for every input that both accept. Each field becomes a local and the
    class is called with keywords (no intermediate dict); a value of exactly the type a
    hook would return unchanged (a ``str`` for ``str``) skips the hook. A field with
    aliases is looked up under each spelling in rank order until one is not null (null
    and missing are alike for it, as after the detailed converter's renaming). Ignored
    keys count as known: they never land in ``extra``.
    """
    attrs.resolve_types(cls)
    spellings = field_spellings(cls, naming, aliases)
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
    known: set[str] = set(ignored_keys(cls, naming, aliases, ignored))
    extra: str | None = None  # the local holding the ``extra`` field
    extra_factory: Callable[[], Any] = dict  # what an empty ``extra`` is
    fields = attrs.fields(cls)
    direct = _settable_directly(cls, fields)
    deferred: dict[str, tuple[str, tuple[str, ...], Any, Any, Any, Any]] = {}
    can_defer = (
        deferral is not None
        and direct
        and any(f.name == EXTRA_FIELD for f in fields)
        and lazy.can_install(cls, naming)
    )
    for i, field in enumerate(fields):
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
        wire = wire_name(field, naming)
        names = spellings.get(wire)
        if can_defer and _read_later(field):
            # Not read now: the field's descriptor reads it on first access (see `lazy`).
            assert deferral is not None
            known.update(names or (wire,))
            deferred[field.name] = (
                wire,
                tuple(names or (wire,)),
                None,
                conv.get_structure_hook(field.type),
                deferral[0].get_structure_hook(field.type),
                field.type,
            )
            continue
        arguments.append(f"{field.alias}=a{i}")
        slots.append(f"    _s{i}(self, a{i})")
        if direct:
            namespace[f"_s{i}"] = lazy.member_setter(cls, field.name)
        if field.name == EXTRA_FIELD:
            extra = f"a{i}"
            extra_expr = default_expr or "{}"
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                extra_factory = default.factory
            continue
        known.update(names or (wire,))
        inner = _optional_arg(field.type)
        value_type = inner if inner is not None else field.type
        test, convert = _conversion(i, conv.get_structure_hook(value_type), value_type, namespace)
        if inner is not None:
            test = f"v is not None and {test}" if test else "v is not None"
        if names is not None:
            # Null and missing alike: the default, or a missing required field.
            lines += _lookup(names)
            absent = default_expr or f"_missing({wire!r})"
            namespace["_missing"] = _missing
            if inner is not None and default is None:
                lines.append(f"    a{i} = {convert} if {test} else v")
            elif test:
                lines.append(f"    a{i} = {absent} if v is None else {convert} if {test} else v")
            else:
                lines.append(f"    a{i} = {absent} if v is None else {convert}")
        elif not default_expr:
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
    if extra is not None and deferred:
        # Split when ``extra`` is first read (see `lazy.ExtraField`).
        namespace["_Unsplit"] = lazy.Unsplit
        namespace["_known"] = frozenset(known)
        lines.append(f"    {extra} = _Unsplit(o, _known)")
    elif extra is not None:
        namespace["_known"] = frozenset(known)
        lines += [
            "    if o.keys() <= _known:",
            f"        {extra} = {extra_expr}",
            "    else:",
            f"        {extra} = {{k: x for k, x in o.items() if k not in _known}}",
        ]
    if direct:
        # What the generated __init__ would do, without binding keywords or converting
        # values that are already converted: each slot written by its own descriptor.
        namespace["_new"] = object.__new__
        lines += ["    self = _new(_cls)", *slots, "    return self"]
    else:
        lines.append(f"    return _cls({', '.join(arguments)})")
    if deferred:
        assert deferral is not None
        lazy.install(
            cls,
            deferred,
            EXTRA_FIELD,
            deferral[1],
            naming,
            empty=extra_factory,
        )
    exec(compile("\n".join(lines), f"<fast structure {cls.__qualname__}>", "exec"), namespace)
    function: Callable[[Any, Any], Any] = namespace["structure"]
    return function


def _lookup(names: Sequence[str]) -> list[str]:
    """Lines setting ``v`` to the value of the first of ``names`` that is not null."""
    lines = [f"    v = o.get({names[0]!r})"]
    for depth, name in enumerate(names[1:]):
        indent = "    " * (depth + 1)
        lines += [f"{indent}if v is None:", f"{indent}    v = o.get({name!r})"]
    return lines


def _missing(wire: str) -> Any:
    raise KeyError(wire)


def _not_an_object(value: Any) -> None:
    raise WireTypeError(f"expected an object, got {json_type(value)}")
