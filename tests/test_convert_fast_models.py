"""The converters' fast path agrees with the detailed one on the real models.

`structure` answers from the fast twin (generated functions) when it succeeds and asks the
detailed cattrs converter only to describe a failure, so the twin must never accept what the
detailed converter refuses, nor build anything different. `tests/test_convert.py` checks this
on small test models; this checks it on `SupplierInvoice` and Qondor's `Invoice`, whose
shapes (nested objects, tuples of objects, money hooks, open enums, attrs converters) are
what the fast path was written for.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qondor_invoicing.qondor._wire import WIRE_ALIASES, invoice_fields
from qondor_invoicing.qondor.client import _CONVERTER as QONDOR_CONVERTER
from qondor_invoicing.qondor.models import Customer, Invoice, InvoiceKind, InvoiceLine, InvoiceState
from qondor_invoicing.qonto.models import SupplierInvoice
from qondor_invoicing.qonto.models import converter as qonto_converter
from qondor_invoicing.testing import FakeQondor

SEED: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "bench" / "supplier_invoice.json").read_text()
)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def outcome(converter: Any, data: Any, cls: Any) -> tuple[bool, Any, Any]:
    try:
        result = converter.structure(data, cls)
    except Exception:
        return False, None, None
    # Read every field, nested ones included: lazily built ones log as they are built.
    attrs.asdict(result)
    return True, result, getattr(result, "extra", None)


class Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def agree(converter: Any, wire: Any, cls: Any) -> None:
    """The fast twin never accepts what the detailed converter refuses nor builds anything
    different. Where the detailed converter keeps an incidental value of unexpected shape in
    ``extra`` (and logs it), the fast twin either fails (and defers to it) or, for an
    incidental field it builds on first access, does the same when the field (or ``extra``)
    is first read (`outcome` reads them all): same model, same log."""
    logger = logging.getLogger("qondor_invoicing")
    fast_log, detailed_log = Warnings(), Warnings()
    logger.addHandler(fast_log)
    try:
        fast = outcome(converter.fast(), wire, cls)
    finally:
        logger.removeHandler(fast_log)
    logger.addHandler(detailed_log)
    try:
        detailed = outcome(converter, wire, cls)
    finally:
        logger.removeHandler(detailed_log)
    if fast[0] or not detailed[0]:
        assert fast == detailed, (fast, detailed)
        if fast[0]:  # (a refused record may have logged an incidental field first)
            # The same warnings (lazily read fields log when first read, in their order).
            assert sorted(fast_log.messages) == sorted(detailed_log.messages)
    else:
        assert detailed_log.messages, detailed


def qondor_payload() -> dict[str, Any]:
    fake = FakeQondor(rate_limit=None)
    [first, *_] = fake.seed(5, random_seed=3)
    data = invoice_fields(
        fake.wire(first),
        InvoiceKind.INVOICE_SPECIFICATION,
        InvoiceState.UNPROCESSED,
        frozenset({"invoiceType", "status"}),
    )
    data["raw"] = {}
    return data


QONDOR = qondor_payload()


def nested_paths(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path of a JSON document (into objects and arrays)."""
    paths = [path] if path else []
    if isinstance(data, dict):
        for key, value in data.items():
            paths += nested_paths(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            paths += nested_paths(value, (*path, index))
    return paths


def replaced(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    data = copy.deepcopy(data)
    target = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return data


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(nested_paths(SEED)), value=ANY_JSON)
def test_supplier_invoice_fast_path_agrees(path: tuple[Any, ...], value: Any) -> None:
    agree(qonto_converter, replaced(SEED, path, value), SupplierInvoice)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from([p for p in nested_paths(QONDOR) if p[0] not in ("kind", "state")]),
    value=ANY_JSON,
)
def test_qondor_invoice_fast_path_agrees(path: tuple[Any, ...], value: Any) -> None:
    agree(QONDOR_CONVERTER, replaced(QONDOR, path, value), Invoice)


def respelled(draw: st.DrawFn, data: dict[str, Any], cls: type) -> dict[str, Any]:
    """``data`` with each aliased key under one of its spellings (nested models too), at
    times with another spelling beside it (null, or any value)."""
    table = WIRE_ALIASES[cls]
    result: dict[str, Any] = {}
    for key, value in data.items():
        if key == "customer" and isinstance(value, dict):
            value = respelled(draw, value, Customer)
        elif key == "lines" and isinstance(value, list):
            value = [respelled(draw, v, InvoiceLine) if isinstance(v, dict) else v for v in value]
        names = table.get(key)
        if names is None:
            result[key] = value
            continue
        result[draw(st.sampled_from(names))] = value
        if draw(st.integers(0, 3)) == 0:
            result.setdefault(draw(st.sampled_from(names)), draw(st.none() | ANY_JSON))
    return result


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_qondor_invoice_fast_path_agrees_under_any_spelling(data: st.DataObject) -> None:
    wire = data.draw(st.builds(lambda: None).flatmap(lambda _: st.just(QONDOR)))
    path = data.draw(
        st.sampled_from([p for p in nested_paths(QONDOR) if p[0] not in ("kind", "state")])
    )
    if data.draw(st.booleans()):
        wire = replaced(wire, path, data.draw(ANY_JSON))
    agree(QONDOR_CONVERTER, respelled(data.draw, copy.deepcopy(wire), Invoice), Invoice)


@given(extra=st.dictionaries(st.text(min_size=1, max_size=8), ANY_JSON, max_size=4))
@settings(max_examples=100)
def test_unknown_keys_land_in_extra_on_both_paths(extra: dict[str, Any]) -> None:
    wire = {**extra, **SEED}
    fast = qonto_converter.fast().structure(wire, SupplierInvoice)
    detailed = qonto_converter.structure(wire, SupplierInvoice)
    assert fast == detailed
    assert fast.extra == detailed.extra == {k: v for k, v in extra.items() if k not in SEED}


def test_a_list_of_invoices_and_missing_optionals() -> None:
    bare = {"id": "x", "status": "brand_new"}
    data = [SEED, bare, {**SEED, "taxes": None, "total_amount": None}]
    fast = qonto_converter.fast().structure(data, tuple[SupplierInvoice, ...])
    assert fast == qonto_converter.structure(data, tuple[SupplierInvoice, ...])
    assert fast[1].status.value == "brand_new"
    assert not fast[1].status.is_known
    assert fast[2].taxes is None
