"""Incidental nested fields built on first access, with the types and values of eager ones.

The fast twin stores the decoded JSON of an incidental field holding models (a JSON array
for ``tuple[Model, ...] | None``, an object for ``Model | None``) in the field's slot as
received, and a data descriptor replacing the slot's builds the value the first time the
attribute is read, then keeps it in the slot. Everything that reads a field (``==``,
``hash``, ``repr``, pickling, ``attrs.evolve``, ``attrs.asdict``, unstructuring) goes
through the attribute, so it only ever sees built values; the raw value is never returned.

A value that does not build follows the tolerant rule of every incidental field (see
`converter._keep_incidental`): the field keeps its default and the raw value moves to
``extra`` with a warning. Reading ``extra`` first builds every pending field of the
instance, so ``extra`` always holds what an eager parse would have put there.

On a class with lazy fields, ``extra`` itself is split from the decoded object (the keys no
field reads) when first read: the slot holds an `Unsplit` until then.

Only the fast twin defers: the detailed converter, the strict twin and constructors store
built values (through the descriptor's ``__set__``, which writes the slot).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["ExtraField", "LazyField", "Unsplit", "can_install", "install", "member_setter"]

# The slot descriptors (``member_descriptor``) of the classes whose attributes were
# replaced, by class and field name: the generated code writes slots through them.
_MEMBERS: dict[type[Any], dict[str, Any]] = {}


def member_setter(cls: type[Any], name: str) -> Callable[[Any, Any], None]:
    """The C function that writes slot ``name`` of ``cls``'s instances, bypassing any
    descriptor installed here."""
    member = _MEMBERS.get(cls, {}).get(name) or cls.__dict__[name]
    setter: Callable[[Any, Any], None] = member.__set__
    return setter


class Unsplit:
    """What the ``extra`` slot holds until read: the decoded object it is split from."""

    __slots__ = ("raw",)

    def __init__(self, raw: Any) -> None:
        self.raw = raw


class LazyField:
    """Replaces the slot descriptor of one incidental field; builds the value when read.

    ``raw_type`` is the JSON type deferred (``list`` for tuples, ``dict`` for models,
    ``str`` for dates and datetimes): built values never have it (tuples, models, dates
    or ``None``).
    """

    __slots__ = ("build", "default", "member", "name", "raw_type", "wire")

    def __init__(self, member: Any, name: str, wire: str, raw_type: type, default: Any) -> None:
        self.member = member
        self.name = name
        self.wire = wire
        self.raw_type = raw_type
        self.default = default
        # (fast hook, detailed hook, type, keep_incidental, ExtraField, cls, naming)
        self.build: tuple[Any, ...] | None = None

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self.member
        value = self.member.__get__(obj, owner)
        if type(value) is self.raw_type:
            value = self._resolve(obj, value)
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        self.member.__set__(obj, value)

    def __delete__(self, obj: Any) -> None:
        self.member.__delete__(obj)

    def _resolve(self, obj: Any, raw: Any) -> Any:
        assert self.build is not None  # set by install() before any instance defers
        fast, detailed, type_, keep_incidental, extra_field, cls, naming = self.build
        try:
            value = fast(raw, type_)
        except Exception:
            # What the detailed lenient converter does with this field when eager: parse
            # it, or keep it as received in extra (with a warning) and use the default.
            data = {self.wire: raw}
            extra = extra_field.split(obj)
            keep_incidental(cls, data, extra, {self.wire: (detailed, type_)}, naming)
            value = data.get(self.wire, self.default)
        self.member.__set__(obj, value)
        return value


class ExtraField:
    """Replaces the slot descriptor of ``extra`` on a class with lazy fields: reading it
    first splits it from the decoded object (`Unsplit`), then builds the instance's
    pending fields (a value that does not build lands here)."""

    __slots__ = ("empty", "known", "lazy", "member")

    def __init__(
        self,
        member: Any,
        lazy: tuple[LazyField, ...],
        known: frozenset[str],
        empty: Callable[[], Any],
    ) -> None:
        self.member = member
        self.lazy = lazy
        self.known = known  # every key a field reads
        self.empty = empty  # the field's default factory

    def split(self, obj: Any) -> Any:
        """``obj``'s extra keys, split from its decoded object if not done yet (pending
        fields not built)."""
        value = self.member.__get__(obj)
        if type(value) is Unsplit:
            raw, known = value.raw, self.known
            if raw.keys() <= known:
                value = self.empty()
            else:
                value = {k: x for k, x in raw.items() if k not in known}
            self.member.__set__(obj, value)
        return value

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self.member
        self.split(obj)
        for field in self.lazy:
            field.__get__(obj, owner)
        return self.member.__get__(obj, owner)

    def __set__(self, obj: Any, value: Any) -> None:
        self.member.__set__(obj, value)

    def __delete__(self, obj: Any) -> None:
        self.member.__delete__(obj)


def can_install(cls: type[Any], naming: Any) -> bool:
    """Whether fields of ``cls`` may be made lazy for a converter of ``naming``: not when
    another naming's converter already did (the wire names would differ)."""
    for value in cls.__dict__.values():
        if isinstance(value, LazyField) and value.build is not None and value.build[6] != naming:
            return False
    return True


def install(
    cls: type[Any],
    fields: dict[str, tuple[str, type, Any, Any, Any, Any]],
    extra_name: str,
    keep_incidental: Callable[..., None],
    naming: Any,
    *,
    known: frozenset[str],
    empty: Callable[[], Any],
) -> None:
    """Make ``fields`` of ``cls`` lazy: ``{name: (wire, raw_type, default, fast hook,
    detailed hook, type)}``, and its ``extra`` split on first read (``known``: the keys
    the fields read; ``empty``: its default factory). Installing again (a new fast twin)
    replaces the hooks."""
    members = _MEMBERS.setdefault(cls, {})
    for name in (*fields, extra_name):
        if name not in members:
            members[name] = cls.__dict__[name]
    extra_field = cls.__dict__[extra_name]
    if not isinstance(extra_field, ExtraField):
        extra_field = ExtraField(members[extra_name], (), known, empty)
        setattr(cls, extra_name, extra_field)
    extra_field.known = known
    extra_field.empty = empty
    lazy = []
    for name, (wire, raw_type, default, fast, detailed, type_) in fields.items():
        current = cls.__dict__[name]
        field = current if isinstance(current, LazyField) else None
        if field is None:
            field = LazyField(members[name], name, wire, raw_type, default)
        field.build = (fast, detailed, type_, keep_incidental, extra_field, cls, naming)
        if field is not current:
            setattr(cls, name, field)
        lazy.append(field)
    extra_field.lazy = tuple(lazy)
