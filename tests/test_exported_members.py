"""Like httpx's test: ``__all__`` lists every public name, sorted, and each one exists.

Also: every type a public signature mentions can be imported from a public module, so a
user never needs to import from an underscored one.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
import typing
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

import qondor_invoicing

PUBLIC_MODULES = [
    "qondor_invoicing",
    "qondor_invoicing.errors",
    "qondor_invoicing.qondor",
    "qondor_invoicing.qonto",
    "qondor_invoicing.reconcile",
    "qondor_invoicing.sync",
    "qondor_invoicing.testing",
]


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_all_is_sorted_and_complete(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = module.__all__
    assert exported == sorted(exported), "__all__ must be sorted"
    assert len(set(exported)) == len(exported), "__all__ has duplicates"
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("qondor_invoicing")
        and not isinstance(value, type(importlib))
    }
    assert public <= set(exported), f"public names missing from __all__: {public - set(exported)}"
    for name in exported:
        assert hasattr(module, name), name


def _is_private(module_name: str) -> bool:
    return any(part.startswith("_") for part in module_name.split("."))


def _exported() -> dict[int, str]:
    names: dict[int, str] = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            names.setdefault(id(getattr(module, name)), f"{module_name}.{name}")
    return names


def _package_classes() -> dict[str, list[type]]:
    """Every class defined in the package, by name (imports every module first)."""
    for info in pkgutil.walk_packages(qondor_invoicing.__path__, "qondor_invoicing."):
        if info.name.split(".")[-1] == "__main__":
            continue
        try:
            importlib.import_module(info.name)
        except ImportError:  # an optional extra that is not installed
            continue
    classes: dict[str, list[type]] = {}
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("qondor_invoicing"):
            for value in vars(module).values():
                if isinstance(value, type) and value.__module__ == module_name:
                    classes.setdefault(value.__name__, []).append(value)
    return classes


def _types_in(annotation: Any) -> Iterator[type]:
    if isinstance(annotation, type):
        yield annotation
    origin = typing.get_origin(annotation)
    if isinstance(origin, type):
        yield origin
    for arg in typing.get_args(annotation):
        for item in arg if isinstance(arg, (list, tuple)) else (arg,):
            yield from _types_in(item)


def _public_callables(obj: Any) -> Iterator[Any]:
    """The functions whose signatures a user of ``obj`` sees."""
    if inspect.isfunction(obj):
        yield obj
        return
    if not isinstance(obj, type):
        return  # constants, type aliases
    yield obj.__init__
    if attrs.has(obj):
        yield obj  # the attribute annotations
    for name in dir(obj):
        if name.startswith("_"):
            continue
        member = inspect.getattr_static(obj, name)
        if isinstance(member, property):
            member = member.fget
        elif isinstance(member, (classmethod, staticmethod)):
            member = member.__func__
        if inspect.isfunction(member) and member.__module__.startswith("qondor_invoicing"):
            yield member


def _referenced_classes(target: Any, classes: dict[str, list[type]]) -> set[type]:
    try:
        hints = typing.get_type_hints(target)
    except Exception:
        # Annotations that do not evaluate at runtime (names imported for type checking
        # only, quoted forward references inside unions): read them as text instead.
        raw = getattr(target, "__annotations__", {})
        found: set[type] = set()
        for key, text in raw.items():
            if key.startswith("_"):
                continue
            for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", str(text)):
                found.update(classes.get(word, ()))
        return found
    return {
        cls for key, hint in hints.items() if not key.startswith("_") for cls in _types_in(hint)
    }


def test_public_signatures_use_only_publicly_importable_types() -> None:
    exported = _exported()
    classes = _package_classes()
    objects = {
        id(getattr(importlib.import_module(m), n)): getattr(importlib.import_module(m), n)
        for m in PUBLIC_MODULES
        for n in importlib.import_module(m).__all__
    }
    missing: dict[str, set[str]] = {}
    for object_id, obj in objects.items():
        for target in _public_callables(obj):
            for cls in _referenced_classes(target, classes):
                if (
                    cls.__module__.startswith("qondor_invoicing")
                    and _is_private(cls.__module__)
                    and id(cls) not in exported
                ):
                    where = f"{exported[object_id]} ({getattr(target, '__qualname__', target)})"
                    missing.setdefault(f"{cls.__module__}.{cls.__qualname__}", set()).add(where)
    assert not missing, (
        "types in public signatures that only private modules export (re-export them from "
        f"a public module): {missing}"
    )


def test_the_check_above_can_fail() -> None:
    from qondor_invoicing._http import HTTPCore

    def uses_a_private_type(core: HTTPCore) -> None: ...

    found = _referenced_classes(uses_a_private_type, _package_classes())
    assert HTTPCore in found
    assert id(HTTPCore) not in _exported()
