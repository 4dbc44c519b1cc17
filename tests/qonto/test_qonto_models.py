"""SupplierInvoice parsing: the seed object, both matched_transactions shapes, drift, strictness."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from _qonto_kit import SEED_FILE, SEED_OBJECT, wire
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qondor_invoicing import (
    MatchedTransaction,
    Money,
    ResponseValidationError,
    SupplierInvoice,
    SupplierInvoiceAction,
    SupplierInvoiceStatus,
)
from qondor_invoicing.qonto.models import converter, strict_converter

S = SupplierInvoiceStatus
A = SupplierInvoiceAction


def test_seed_object_parses_strictly_with_every_field_typed() -> None:
    si = SupplierInvoice.from_wire(SEED_OBJECT, strict=True)
    assert si.id == "4d5418bb-bd0d-4df4-865c-c07afab8bb48"
    assert si.status is S.TO_REVIEW
    assert si.total_amount == Money(Decimal("22.10"), "EUR")
    assert si.total_amount_excluding_taxes == Money(Decimal("18.42"), "EUR")
    assert si.total_tax_amount == Money(Decimal("3.68"), "EUR")
    assert si.payable_amount == Money(Decimal("22.10"), "EUR")
    assert isinstance(si.total_amount.amount, Decimal)
    assert si.taxes is not None
    assert si.taxes[0].tax_rate == Decimal("0.20")
    assert si.taxes[0].tax_amount == Money(Decimal("3.68"), "EUR")
    assert si.created_at == datetime(2022, 3, 4, 17, 58, 30, tzinfo=timezone(timedelta(hours=2)))
    assert si.issue_date == si.due_date == si.payment_date == date(2022, 3, 1)
    assert si.matched_transactions == (
        MatchedTransaction(
            transaction_id="4d5418bb-bd0d-4df4-865c-c07afab8bb48",
            subject_id="4d5418bb-bd0d-4df4-865c-c07afab8bb48",
            subject_type="transfer",
        ),
    )
    assert si.matched_transactions_ids == ("4d5418bb-bd0d-4df4-865c-c07afab8bb48",)
    assert si.available_actions is not None
    assert si.available_actions.pay is True
    assert si.available_actions.reasons_for("pay") == ("is_credit_note",)
    assert si.available_actions.reasons_for("approve") == ()
    events = si.einvoicing_lifecycle_events
    assert events is not None
    assert events[0].timestamp == datetime(2024, 12, 4, 11, 5, 16, 449700, tzinfo=timezone.utc)
    assert events[0].status_code == 200
    assert si.meta is not None
    assert si.meta.connector == "grover"
    assert si.approval_workflow is not None
    assert si.approval_workflow.approver_ids == ("3c90c3cc-0d44-4b50-8888-8dd25736052a",)
    assert si.related_invoices is not None
    assert si.related_invoices[0].total_amount == Money(Decimal("22.10"), "EUR")
    assert si.suggested_transactions is not None
    assert si.suggested_transactions[0].score == Decimal("0.8")
    assert si.request_transfer is not None
    assert si.is_credit_note is False
    assert si.extra == {}


def test_kit_copy_of_the_seed_matches_the_reference_document() -> None:
    if not SEED_FILE.exists():
        pytest.skip("reference seed document not available")
    text = SEED_FILE.read_text()
    start = text.index("\n{\n") + 1
    document, _ = json.JSONDecoder().raw_decode(text[start:])
    assert document == SEED_OBJECT


def test_every_seed_field_is_a_model_field() -> None:
    # Nothing of the documented object is left to `extra`: each key has a typed home.
    fields = {a.name for a in SupplierInvoice.__attrs_attrs__}
    assert set(SEED_OBJECT) <= fields


def test_older_shape_of_matched_transactions_is_a_list_of_ids() -> None:
    si = SupplierInvoice.from_wire(wire(matched_transactions=["t-1", "t-2"]), strict=True)
    assert si.matched_transactions == (
        MatchedTransaction(transaction_id="t-1"),
        MatchedTransaction(transaction_id="t-2"),
    )


def test_null_collections_and_nullable_items_are_kept_as_none() -> None:
    si = SupplierInvoice.from_wire(
        wire(
            matched_transactions=None,
            taxes=None,
            suggested_transactions=None,
            transfer_ids=[None, "tr-1"],
            total_amount_excluding_taxes=None,
            request_transfer=None,
        )
    )
    assert si.matched_transactions is None
    assert si.taxes is None
    assert si.transfer_ids == (None, "tr-1")
    assert si.total_amount_excluding_taxes is None


def test_minimal_object_needs_only_id_and_status() -> None:
    si = SupplierInvoice.from_wire({"id": "x", "status": "paid"}, strict=True)
    assert si == SupplierInvoice(id="x", status=S.PAID)
    assert si.total_amount is None


@pytest.mark.parametrize("missing", ["id", "status"])
def test_id_and_status_are_required(missing: str) -> None:
    data = {"id": "x", "status": "paid"}
    del data[missing]
    with pytest.raises(ResponseValidationError, match=missing):
        SupplierInvoice.from_wire(data)


def test_unknown_status_is_kept_and_refused_by_every_rule() -> None:
    si = SupplierInvoice.from_wire(wire(status="pending_ocr"))
    assert si.status == "pending_ocr"
    assert not si.status.is_known
    assert si.status is S("pending_ocr")
    assert si.allowed_actions() == frozenset()
    assert not si.can(A.MARK_AS_PAID)


def test_unknown_fields_land_in_extra_and_survive_a_round_trip() -> None:
    data = wire(tin_number="FR123", brand_new={"nested": [1, 2]})
    si = SupplierInvoice.from_wire(data)
    assert si.extra == {"tin_number": "FR123", "brand_new": {"nested": [1, 2]}}
    assert si.to_wire()["brand_new"] == {"nested": [1, 2]}
    assert SupplierInvoice.from_wire(si.to_wire()) == si
    assert "extra_keys=('tin_number', 'brand_new')" in repr(si)


def test_strict_converter_flags_extra_keys_at_every_level() -> None:
    with pytest.raises(ResponseValidationError, match=r"brand_new"):
        SupplierInvoice.from_wire(wire(brand_new=1), strict=True)
    nested = wire()
    nested["available_actions"]["approve"] = True
    with pytest.raises(ResponseValidationError, match=r"available_actions"):
        SupplierInvoice.from_wire(nested, strict=True)
    money = wire(total_amount={"value": "1.00", "currency": "EUR", "cents": 100})
    with pytest.raises(ResponseValidationError, match=r"total_amount"):
        SupplierInvoice.from_wire(money, strict=True)
    # The lenient converter keeps them instead.
    lenient = SupplierInvoice.from_wire(nested)
    assert lenient.available_actions is not None
    assert lenient.available_actions.extra == {"approve": True}


@pytest.mark.parametrize(
    "amount",
    [
        {"value": "abc", "currency": "EUR"},
        {"value": "1.00"},
        {"currency": "EUR"},
        {"value": "1.00", "currency": ""},
        "22.10",
        {"value": "NaN", "currency": "EUR"},
    ],
)
def test_malformed_money_is_a_validation_error_with_its_path(amount: Any) -> None:
    with pytest.raises(ResponseValidationError, match=r"\$\.total_amount") as info:
        SupplierInvoice.from_wire(wire(total_amount=amount))
    assert info.value.errors


def test_money_is_decimal_even_when_the_wire_sends_a_number() -> None:
    si = SupplierInvoice.from_wire(wire(total_amount={"value": 22.1, "currency": "EUR"}))
    assert si.total_amount == Money(Decimal("22.1"), "EUR")


def test_construction_by_keyword_and_status_from_a_string() -> None:
    si = SupplierInvoice(id="a", status="to_pay", invoice_number="FA-1")
    assert si.status is S.TO_PAY
    assert si.can(A.MARK_AS_PAID)
    assert not si.can(A.REJECT)
    with pytest.raises(TypeError):
        SupplierInvoice("a", "paid")  # type: ignore[misc]


def test_repr_shows_only_fields_that_carry_something() -> None:
    text = repr(SupplierInvoice(id="a", status=S.PAID, invoice_number="FA-1"))
    assert text == (
        "SupplierInvoice(invoice_number='FA-1', status=<SupplierInvoiceStatus.PAID: 'paid'>, "
        "id='a')"
    )


def test_to_wire_writes_money_as_strings() -> None:
    si = SupplierInvoice(id="a", status=S.PAID, total_amount=Money("22.10", "EUR"))
    data = si.to_wire()
    assert data["total_amount"] == {"value": "22.10", "currency": "EUR"}
    assert data["status"] == "paid"
    json.dumps(data)  # plain JSON


# -- hypothesis: variants of the seed object ---------------------------------------------------

_OPTIONAL = sorted(set(SEED_OBJECT) - {"id", "status"})
_statuses = st.one_of(
    st.sampled_from([s.value for s in S]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=20),
)
_json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=10), st.floats(allow_nan=False)
)
_json = st.recursive(
    _json_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
_extra_keys = st.dictionaries(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(
        lambda k: k not in SEED_OBJECT and k != "extra"
    ),
    _json,
    max_size=4,
)
_amounts = st.decimals(
    min_value=Decimal("-1000000"), max_value=Decimal("1000000"), places=2, allow_nan=False
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    drop=st.sets(st.sampled_from(_OPTIONAL)),
    nulls=st.sets(st.sampled_from(_OPTIONAL)),
    status=_statuses,
    extra=_extra_keys,
    amount=_amounts,
    shape=st.sampled_from(["objects", "ids", "null", "empty"]),
)
def test_variants_of_the_seed_object_parse(
    drop: set[str],
    nulls: set[str],
    status: str,
    extra: dict[str, Any],
    amount: Decimal,
    shape: str,
) -> None:
    data = wire(status=status, total_amount={"value": str(amount), "currency": "EUR"})
    data["matched_transactions"] = {
        "objects": SEED_OBJECT["matched_transactions"],
        "ids": ["a", "b"],
        "null": None,
        "empty": [],
    }[shape]
    for key in nulls:
        data[key] = None
    for key in drop:
        data.pop(key, None)
    data.update(extra)

    si = SupplierInvoice.from_wire(data)

    assert si.id == data["id"]
    assert si.status.value == status
    assert si.status.is_known == (status in {s.value for s in S})
    assert si.extra == extra
    for key in drop:
        assert getattr(si, key) is None
    for key in nulls - drop:
        assert getattr(si, key) is None
    if "total_amount" not in drop | nulls:
        assert si.total_amount == Money(amount, "EUR")
    # The strict twin accepts exactly the variants without unknown keys.
    if extra:
        with pytest.raises(ResponseValidationError):
            SupplierInvoice.from_wire(data, strict=True)
    else:
        assert SupplierInvoice.from_wire(data, strict=True) == si
    # What the model writes back parses into the same model.
    assert converter.structure(si.to_wire(), SupplierInvoice) == si
    if not extra:
        assert strict_converter.structure(si.to_wire(), SupplierInvoice) == si
