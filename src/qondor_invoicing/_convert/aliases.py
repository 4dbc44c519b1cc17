"""Wire aliases: a model field read under any of several spellings, best first.

An API whose schema is not published (Qondor's) may send one field under several names.
`make_converter` takes, per model class, a table ``{wire name: (spelling, ...)}``: the
spellings of the field, in rank order, its wire name among them. Both converters read a
field from the best-ranked spelling present with a non-null value; every spelling present
is consumed (not kept in ``extra``), a null one included; a field none of whose spellings
has a value keeps its default. The fast twin generates the lookups (`fast`); the detailed
converter renames the payload's keys to wire names first (`renamed`), so that its error
paths name the wire name (``$.invoiceNumber``) whatever spelling arrived.

``make_converter`` also takes keys to ignore per class: keys another reader consumes (a
resolver's), which land neither in a field nor in ``extra``. A key a field is read from
is never ignored.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import attrs

from .wire import EXTRA_FIELD, Naming, wire_name

__all__ = [
    "AliasIndex",
    "Aliases",
    "Ignored",
    "alias_index",
    "field_spellings",
    "ignored_keys",
    "renamed",
]

Aliases = Mapping[type, Mapping[str, Sequence[str]]]
"""Per model class: a field's wire name -> every spelling it is read under, best first."""

Ignored = Mapping[type, Collection[str]]
"""Per model class: keys read elsewhere, kept neither in a field nor in ``extra``."""

AliasIndex = dict[str, tuple[str, int]]
"""Each spelling -> (the wire name it stands for, its rank among that field's spellings)."""


def field_spellings(
    cls: type[Any], naming: Naming, aliases: Aliases | None
) -> dict[str, tuple[str, ...]]:
    """The spellings of the fields of ``cls`` that have aliases, by wire name (checked).

    Raises:
        ValueError: A table entry that is not a field's wire name, a field whose own wire
            name is not among its spellings, or a spelling claimed twice (by two fields,
            or by a field and another field's wire name).
    """
    table = aliases.get(cls) if aliases else None
    if not table:
        return {}
    wires = {wire_name(f, naming) for f in attrs.fields(cls) if f.init and f.name != EXTRA_FIELD}
    result: dict[str, tuple[str, ...]] = {}
    owner: dict[str, str] = {}
    for wire, names in table.items():
        spellings = (names,) if isinstance(names, str) else tuple(names)
        where = f"{cls.__qualname__} alias {wire!r}"
        if wire not in wires:
            raise ValueError(f"{where}: not the wire name of a field")
        if wire not in spellings:
            raise ValueError(f"{where}: the wire name must be one of its spellings")
        for name in spellings:
            if name in owner or (name != wire and name in wires):
                raise ValueError(f"{where}: the spelling {name!r} is claimed twice")
            owner[name] = wire
        result[wire] = spellings
    return result


def ignored_keys(
    cls: type[Any], naming: Naming, aliases: Aliases | None, ignored: Ignored | None
) -> frozenset[str]:
    """The keys of ``ignored[cls]`` that no field of ``cls`` is read from."""
    keys = ignored.get(cls) if ignored else None
    if not keys:
        return frozenset()
    read = {wire_name(f, naming) for f in attrs.fields(cls) if f.init and f.name != EXTRA_FIELD}
    for names in field_spellings(cls, naming, aliases).values():
        read.update(names)
    return frozenset(keys) - read


def alias_index(spellings: Mapping[str, tuple[str, ...]]) -> AliasIndex:
    """Each spelling -> (wire name, rank among that field's spellings)."""
    return {
        name: (wire, rank) for wire, names in spellings.items() for rank, name in enumerate(names)
    }


def renamed(data: Mapping[str, Any], index: AliasIndex) -> dict[str, Any]:
    """``data`` with each aliased field under its wire name (the best-ranked non-null
    spelling wins; null spellings are dropped) and every other key kept as it is.

    No spelling is another field's wire name (`field_spellings` checks it), so a kept key
    never collides with a renamed one.
    """
    result: dict[str, Any] = {}
    ranks: dict[str, int] = {}
    for key, value in data.items():
        hit = index.get(key)
        if hit is None:
            result[key] = value
        elif value is not None:
            wire, rank = hit
            best = ranks.get(wire)
            if best is None or rank < best:
                ranks[wire] = rank
                result[wire] = value
    return result
