"""Incidental fields read from the decoded document on first access, with the types and
values of eager ones.

On a model with an ``extra`` field, the fast twin reads only the essential fields (and the
incidental ones that have no default of ``None``) when it structures a document. Its
``extra`` slot holds an `Unsplit`, the document itself; every incidental field's slot is
left unset. A data descriptor replacing the slot's (`LazyField`) reads the field's value
from the document the first time the attribute is read, builds it, and keeps it in the
slot. Everything that reads a field (``==``, ``hash``, ``repr``, pickling,
``attrs.evolve``, ``attrs.asdict``, unstructuring) goes through the attribute, so it only
ever sees built values.

A value that does not build follows the tolerant rule of every incidental field (see
`converter._keep_incidental`): the field keeps its default and the raw value moves to
``extra`` with a warning. Reading ``extra`` (`ExtraField`) splits it from the document (the
keys no field reads) and builds every pending field of the instance first, so ``extra``
always holds what an eager parse would have put there; the document is not referred to
after that.

Only the fast twin defers: the detailed converter, the strict twin and constructors store
built values in every slot (through the descriptors' ``__set__``, which write the slots).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
    """What the ``extra`` slot holds until read: the decoded document of the instance, and
    the keys that do not go to ``extra`` (those the fields read, and the keys the
    converter ignores: two converters of one class may ignore different keys)."""

    __slots__ = ("known", "raw")

    def __init__(self, raw: Mapping[str, Any], known: frozenset[str]) -> None:
        self.raw = raw
        self.known = known


class LazyField:
    """Replaces the slot descriptor of one incidental field; reads and builds the value
    from the instance's document when the unset slot is first read.

    ``names`` are the field's wire spellings in rank order (the first that is not null
    wins, as in the generated functions); ``wire`` is the canonical one.
    """

    __slots__ = ("build", "default", "member", "name", "names", "wire")

    def __init__(
        self, member: Any, name: str, wire: str, names: tuple[str, ...], default: Any
    ) -> None:
        self.member = member
        self.name = name
        self.wire = wire
        self.names = names
        self.default = default
        # (fast hook, detailed hook, type, keep_incidental, ExtraField, cls, naming)
        self.build: tuple[Any, ...] | None = None

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self.member
        try:
            return self.member.__get__(obj, owner)
        except AttributeError:
            pass  # not read yet (or an instance no converter made: the document says)
        assert self.build is not None  # set by install() before any instance defers
        return self.read(obj, self.build[4].document(obj))

    def __set__(self, obj: Any, value: Any) -> None:
        self.member.__set__(obj, value)

    def __delete__(self, obj: Any) -> None:
        self.member.__delete__(obj)

    def read(self, obj: Any, document: Mapping[str, Any]) -> Any:
        """Build this field of ``obj`` from ``document``, store it and return it."""
        assert self.build is not None
        fast, detailed, type_, keep_incidental, extra_field, cls, naming = self.build
        raw = None
        for name in self.names:
            raw = document.get(name)
            if raw is not None:
                break
        if raw is None:
            value = self.default
        else:
            try:
                value = fast(raw, type_)
            except Exception:
                # What the detailed lenient converter does with this field when eager:
                # parse it, or keep it as received in extra (with a warning) and use the
                # default. The slot is set first: splitting extra builds the other fields.
                self.member.__set__(obj, self.default)
                data = {self.wire: raw}
                extra = extra_field.split(obj)
                keep_incidental(cls, data, extra, {self.wire: (detailed, type_)}, naming)
                value = data.get(self.wire, self.default)
        self.member.__set__(obj, value)
        return value


class ExtraField:
    """Replaces the slot descriptor of ``extra`` on a class with lazy fields: reading it
    first splits it from the document (`Unsplit`) and builds the instance's pending
    fields (a value that does not build lands here)."""

    __slots__ = ("empty", "lazy", "member")

    def __init__(
        self,
        member: Any,
        lazy: tuple[LazyField, ...],
        empty: Callable[[], Any],
    ) -> None:
        self.member = member
        self.lazy = lazy
        self.empty = empty  # the field's default factory

    def document(self, obj: Any) -> Mapping[str, Any]:
        """The document ``obj`` was structured from, while its fields are pending."""
        value = self.member.__get__(obj)
        if type(value) is not Unsplit:
            # Every field is built once extra is split: an unset slot here is an instance
            # made without a converter (object.__new__), which has no value to read.
            raise AttributeError("attribute not set and no document to read it from")
        raw: Mapping[str, Any] = value.raw
        return raw

    def split(self, obj: Any) -> Any:
        """``obj``'s extra keys: on first call, split from its document, and every pending
        field built."""
        value = self.member.__get__(obj)
        if type(value) is Unsplit:
            document, known = value.raw, value.known
            if document.keys() <= known:
                value = self.empty()
            else:
                value = {k: x for k, x in document.items() if k not in known}
            self.member.__set__(obj, value)
            for field in self.lazy:
                try:
                    field.member.__get__(obj)
                except AttributeError:
                    field.read(obj, document)
        return value

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self.member
        return self.split(obj)

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
    fields: dict[str, tuple[str, tuple[str, ...], Any, Any, Any, Any]],
    extra_name: str,
    keep_incidental: Callable[..., None],
    naming: Any,
    *,
    empty: Callable[[], Any],
) -> None:
    """Make ``fields`` of ``cls`` lazy: ``{name: (wire, spellings, default, fast hook,
    detailed hook, type)}``, and its ``extra`` split on first read (``empty``: its default
    factory; the keys kept out of it come with each document, see `Unsplit`). Installing
    again (a new fast twin) replaces the hooks."""
    members = _MEMBERS.setdefault(cls, {})
    for name in (*fields, extra_name):
        if name not in members:
            members[name] = cls.__dict__[name]
    extra_field = cls.__dict__[extra_name]
    if not isinstance(extra_field, ExtraField):
        extra_field = ExtraField(members[extra_name], (), empty)
        setattr(cls, extra_name, extra_field)
    extra_field.empty = empty
    lazy = []
    for name, (wire, names, default, fast, detailed, type_) in fields.items():
        current = cls.__dict__[name]
        field = current if isinstance(current, LazyField) else None
        if field is None:
            field = LazyField(members[name], name, wire, names, default)
        field.names = names
        field.build = (fast, detailed, type_, keep_incidental, extra_field, cls, naming)
        if field is not current:
            setattr(cls, name, field)
        lazy.append(field)
    extra_field.lazy = tuple(lazy)
