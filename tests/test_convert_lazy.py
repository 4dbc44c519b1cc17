"""Incidental fields are read from the document on first access, and nothing else shows it.

The fast twin reads only the essential fields when it structures a supplier invoice; the
others (``taxes``, ``meta``, ``due_date``, ``supplier_name``...) are read from the decoded
document and built when the attribute is first read (`qondor_invoicing._convert.lazy`).
These check that every way of reading a model sees built values of the public types, and
that a value of unexpected shape follows the incidental rule (default kept, raw value in
``extra``, a warning) whether ``extra`` or the field is read first.
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
    for name in (*LAZY, "supplier_name", "file_name", "is_einvoice", "attachment_category"):
        slot = type(invoice).__dict__[name].member
        with pytest.raises(AttributeError):
            slot.__get__(invoice)  # not read from the document yet
    # Essential fields are read, and checked, when the model is structured.
    for name in ("id", "status", "invoice_number", "total_amount", "payment_date"):
        assert type(type(invoice).__dict__[name]).__name__ == "member_descriptor", name
    assert invoice.supplier_name == "McDonald's"
    assert invoice.is_einvoice is False
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


def test_a_string_where_an_array_belongs_is_never_split_into_characters(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, "qondor_invoicing"):
        invoice = parsed({**SEED, "taxes": "20 %", "transfer_ids": "4d5418bb"})
        assert messages(caplog) == []  # read on first access
        assert invoice.taxes is None
        assert invoice.transfer_ids is None
        assert len(messages(caplog)) == 2
    assert invoice.extra["taxes"] == "20 %"
    assert invoice.extra["transfer_ids"] == "4d5418bb"


def test_an_instance_made_without_a_converter_still_has_no_value() -> None:
    # object.__new__ bypasses every converter: an unset field is an AttributeError, as
    # on any slotted class, not a crash of the descriptor.
    bare = object.__new__(SupplierInvoice)
    with pytest.raises(AttributeError):
        bare.supplier_name  # noqa: B018
    with pytest.raises(AttributeError):
        bare.extra  # noqa: B018
