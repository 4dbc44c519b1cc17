"""Incidental fields holding models, dates or datetimes are built on first access, and
nothing else shows it.

The fast twin keeps the JSON of ``taxes``, ``matched_transactions``, ``meta``, ``due_date``,
``created_at``... as received and builds it when the attribute is first read
(`qondor_invoicing._convert.lazy`). These check that every way of reading a model sees
built values of the public types, and that a value of unexpected shape follows the
incidental rule (default kept, raw value in ``extra``, a warning) whether ``extra`` or the
field is read first.
"""

from __future__ import annotations

import copy
import json
import logging
import pickle
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest

from qondor_invoicing.qonto import SupplierInvoice
from qondor_invoicing.qonto.models import (
    EInvoicingLifecycleEvent,
    MatchedTransaction,
    SupplierInvoiceMeta,
    SupplierInvoiceTax,
    converter,
)

SEED: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "bench" / "supplier_invoice.json").read_text()
)
LAZY = (
    "taxes",
    "matched_transactions",
    "einvoicing_lifecycle_events",
    "related_invoices",
    "suggested_transactions",
    "request_transfer",
    "meta",
    "available_actions",
    "approval_workflow",
    "issue_date",
    "due_date",
    "scheduled_date",
    "created_at",
    "updated_at",
    "analyzed_at",
)


def parsed(data: dict[str, Any] = SEED) -> SupplierInvoice:
    return SupplierInvoice.from_wire(copy.deepcopy(data))


def eager(data: dict[str, Any] = SEED) -> SupplierInvoice:
    # The detailed converter builds every field at once.
    return converter.structure(copy.deepcopy(data), SupplierInvoice)


def test_the_incidental_nested_fields_are_deferred() -> None:
    invoice = parsed()
    for name in LAZY:
        slot = type(invoice).__dict__[name].member
        assert type(slot.__get__(invoice)) in (list, dict, str), name
    assert type(invoice.taxes) is tuple
    assert invoice.due_date == date(2022, 3, 1)
    assert invoice.created_at == datetime(
        2022, 3, 4, 17, 58, 30, tzinfo=timezone(timedelta(hours=2))
    )
    assert type(SupplierInvoice.__dict__["due_date"].member.__get__(invoice)) is date
    assert type(invoice.taxes[0]) is SupplierInvoiceTax
    assert type(invoice.matched_transactions[0]) is MatchedTransaction  # type: ignore[index]
    assert type(invoice.einvoicing_lifecycle_events[0]) is EInvoicingLifecycleEvent  # type: ignore[index]
    assert type(invoice.meta) is SupplierInvoiceMeta
    # Built once: the same objects on every read.
    assert invoice.taxes is invoice.taxes
    assert invoice.meta is invoice.meta


def test_essential_fields_are_checked_at_parse_time() -> None:
    assert type(SupplierInvoice.__dict__["total_amount"]).__name__ == "member_descriptor"
    with pytest.raises(Exception, match="total_amount"):
        parsed({**SEED, "total_amount": {"value": "twelve", "currency": "EUR"}})


@pytest.mark.parametrize(
    "read",
    [
        lambda m: m == eager(),
        lambda m: repr(m) == repr(eager()),
        lambda m: attrs.asdict(m) == attrs.asdict(eager()),
        lambda m: converter.unstructure(m) == converter.unstructure(eager()),
        lambda m: pickle.loads(pickle.dumps(m)) == eager(),
        lambda m: copy.copy(m) == eager(),
        lambda m: attrs.evolve(m, id=m.id) == eager(),
        lambda m: m.to_wire() == eager().to_wire(),
    ],
    ids=["eq", "repr", "asdict", "unstructure", "pickle", "copy", "evolve", "to_wire"],
)
def test_every_way_of_reading_sees_built_values(read: Any) -> None:
    assert read(parsed())


def test_the_class_attributes_still_describe_slots() -> None:
    for name in LAZY:
        assert type(getattr(SupplierInvoice, name)).__name__ == "member_descriptor"
    assert [f.name for f in attrs.fields(SupplierInvoice)][-1] == "extra"


BAD = {
    **SEED,
    "taxes": [{"tax_rate": "abc"}],
    "related_invoices": [1, 2],
    "einvoicing_lifecycle_events": [None],
    "due_date": "2022-02-30",
    "created_at": "yesterday",
    "brand_new_field": {"x": 1},
}


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return sorted(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


@pytest.mark.parametrize("first", ["extra", "field"])
def test_a_value_of_unexpected_shape_follows_the_incidental_rule(
    first: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "qondor_invoicing"):
        reference = eager(BAD)
        expected_log = messages(caplog)
        caplog.clear()
        invoice = parsed(BAD)
        assert messages(caplog) == []  # nothing built yet
        slot = SupplierInvoice.__dict__["extra"].member.__get__(invoice)
        assert type(slot).__name__ == "Unsplit"  # not split from the document yet
        if first == "extra":
            assert invoice.extra == reference.extra
        else:
            assert invoice.related_invoices is None
            assert invoice.einvoicing_lifecycle_events is None
            assert invoice.taxes == reference.taxes
            assert invoice.due_date is None
            assert invoice.created_at is None
        assert invoice == reference
        assert invoice.extra == reference.extra
        assert set(reference.extra) == {
            "related_invoices",
            "einvoicing_lifecycle_events",
            "due_date",
            "created_at",
            "brand_new_field",
        }
        assert invoice.extra["created_at"] == "yesterday"
        assert invoice.taxes is not None
        assert invoice.taxes[0].extra == {"tax_rate": "abc"}
        assert messages(caplog) == expected_log


def test_a_string_where_an_array_belongs_is_refused_at_parse_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Not deferred (only an array is): the detailed converter keeps it in extra at once.
    with caplog.at_level(logging.WARNING, "qondor_invoicing"):
        invoice = parsed({**SEED, "taxes": "20 %"})
        assert messages(caplog)
    assert invoice.taxes is None
    assert invoice.extra["taxes"] == "20 %"
