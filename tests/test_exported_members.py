"""Like httpx's test: ``__all__`` lists every public name, sorted, and each one exists."""

from __future__ import annotations

import importlib

import pytest

PUBLIC_MODULES = [
    "qondor_invoicing",
    "qondor_invoicing.errors",
    "qondor_invoicing.qondor",
    "qondor_invoicing.qonto",
    "qondor_invoicing.reconcile",
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
