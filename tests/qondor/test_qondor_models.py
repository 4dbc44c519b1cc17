"""Reading Qondor payloads: kind/state resolution, tolerant parsing, the models themselves."""

from __future__ import annotations

import pickle
from datetime import date
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qondor_invoicing import (
    Customer,
    Invoice,
    InvoiceAction,
    InvoiceKind,
    InvoiceLine,
    InvoiceResolver,
    InvoiceState,
    Money,
    QondorClient,
    ResponseValidationError,
)
from qondor_invoicing._convert import make_converter, structure
from qondor_invoicing.qondor._wire import WIRE_ALIASES, ignored_keys, invoice_fields
from qondor_invoicing.qondor.resolve import DEFAULT_RESOLVER
from qondor_invoicing.testing import FakeQondor

K, S = InvoiceKind, InvoiceState
CLIENT = QondorClient("k" * 24)
resolve = InvoiceResolver()


# -- kind and state ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        ({"invoiceType": 1, "invoiceTypeText": "InvoiceSpecification"}, K.INVOICE_SPECIFICATION),
        ({"invoiceType": 2, "invoiceTypeText": "CreditCardPayment"}, K.CREDIT_CARD_PAYMENT),
        ({"invoiceType": 3, "invoiceTypeText": "CreditNote"}, K.CREDIT_NOTE),
        ({"type": "invoice_specification"}, K.INVOICE_SPECIFICATION),
        ({"type": "INVOICE_SPECIFICATION"}, K.INVOICE_SPECIFICATION),
        ({"kind": "Invoice specification"}, K.INVOICE_SPECIFICATION),
        ({"paymentType": "Credit card payment"}, K.CREDIT_CARD_PAYMENT),
        ({"paymentType": "credit-card-payment"}, K.CREDIT_CARD_PAYMENT),
        ({"invoiceKind": "CardPayment"}, K.CREDIT_CARD_PAYMENT),
        ({"invoiceType": "CreditNote"}, K.CREDIT_NOTE),
        ({"type": "credit_note"}, K.CREDIT_NOTE),
        ({"paymentType": 5, "paymentTypeName": "Credit note"}, K.CREDIT_NOTE),
        ({"invoiceType": {"id": 3, "name": "CreditNote"}}, K.CREDIT_NOTE),
        ({"isCreditNote": True}, K.CREDIT_NOTE),
        # An unrecognised ``type`` does not hide a recognised ``invoiceType``.
        ({"type": "Standard", "paymentKind": "CreditNote"}, K.CREDIT_NOTE),
        # Integers alone are never guessed.
        ({"invoiceType": 2}, K.UNKNOWN),
        ({"invoiceType": 9, "invoiceTypeText": "GiftCard"}, K.UNKNOWN),
        ({"isCreditNote": False}, K.UNKNOWN),
        ({}, K.UNKNOWN),
    ],
)
def test_kind_encodings(payload: dict[str, Any], kind: K) -> None:
    assert resolve.kind(payload) is kind


@pytest.mark.parametrize(
    ("payload", "state"),
    [
        ({"status": 0, "statusText": "Unprocessed"}, S.UNPROCESSED),
        ({"status": 1, "statusText": "Processed"}, S.PROCESSED),
        ({"status": 2, "statusText": "Failed"}, S.FAILED),
        ({"status": 3, "statusText": "Paid"}, S.PAID),
        ({"status": "PAID"}, S.PAID),
        ({"state": "processed"}, S.PROCESSED),
        ({"invoiceStatus": "Not processed"}, S.UNPROCESSED),
        ({"invoiceStatus": "not_processed"}, S.UNPROCESSED),
        ({"processingStatus": {"value": 2, "name": "Failed"}}, S.FAILED),
    ],
)
def test_state_encodings(payload: dict[str, Any], state: S) -> None:
    assert resolve.state(payload) is state


@pytest.mark.parametrize(
    ("payload", "raw"),
    [
        ({"status": 7}, "7"),
        ({"status": 7, "statusText": "Archived"}, "Archived"),
        ({}, "not reported"),
        # A card PSP status is something else entirely and never read as a state.
        ({"paymentStatus": "Paid"}, "not reported"),
    ],
)
def test_unreadable_state_is_kept_as_unknown(payload: dict[str, Any], raw: str) -> None:
    state = resolve.state(payload)
    assert not state.is_known
    assert state.value == raw
    assert isinstance(state, InvoiceState)


def test_codes_given_by_the_user_win() -> None:
    mine = InvoiceResolver(
        kind_codes={1: K.INVOICE_SPECIFICATION, 2: K.CREDIT_CARD_PAYMENT, 3: K.CREDIT_NOTE},
        state_codes={0: S.UNPROCESSED, 1: S.PROCESSED, 2: S.FAILED, 3: S.PAID},
    )
    assert mine({"invoiceType": 2, "status": 3}) == (K.CREDIT_CARD_PAYMENT, S.PAID)
    assert mine({"invoiceType": "3", "status": "1"}) == (K.CREDIT_NOTE, S.PROCESSED)
    assert mine({"kind": {"id": 1}, "state": {"code": 2}}) == (K.INVOICE_SPECIFICATION, S.FAILED)
    # Names still work alongside the codes.
    assert mine({"type": "CreditNote", "status": "Paid"}) == (K.CREDIT_NOTE, S.PAID)
    custom_fields = InvoiceResolver(kind_fields=("art",), state_fields=("fase",))
    assert custom_fields({"art": "CreditNote", "fase": "Processed"}) == (K.CREDIT_NOTE, S.PROCESSED)
    assert custom_fields({"type": "CreditNote"})[0] is K.UNKNOWN
    names = InvoiceResolver(
        kind_names={"Kreditnota": K.CREDIT_NOTE}, state_names={"Betalt": S.PAID}
    )
    assert names({"type": "KREDITNOTA", "status": "betalt"}) == (K.CREDIT_NOTE, S.PAID)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
field_names = st.sampled_from(
    [*DEFAULT_RESOLVER.consumed_keys(), "id", "lines", "customer", "currency", "totalInclVat"]
) | st.text(max_size=10)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(field_names, json_values, max_size=8))
def test_resolver_never_crashes(payload: dict[str, Any]) -> None:
    kind, state = resolve(payload)
    assert isinstance(kind, InvoiceKind)
    assert isinstance(state, InvoiceState)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(field_names, json_values, max_size=8), st.integers(1, 10**9))
def test_parsing_fails_only_with_response_validation_error(
    payload: dict[str, Any], invoice_id: int
) -> None:
    payload["id"] = invoice_id
    errors: tuple[str, ...] = ()
    try:
        invoice = CLIENT.parse_invoice(payload)
    except ResponseValidationError as exc:
        errors = exc.errors
        assert errors, "a validation error always says what is wrong"
    if not errors:
        assert invoice.id == invoice_id
        assert invoice.raw == payload


# -- parsing -----------------------------------------------------------------------------


def test_fake_payloads_have_no_field_the_library_does_not_know() -> None:
    """The strict twin of the converter catches drift between the fake and the parser."""
    fake = FakeQondor()
    keys = DEFAULT_RESOLVER.consumed_keys()
    strict = make_converter(
        "camel", strict=True, aliases=WIRE_ALIASES, ignored={Invoice: ignored_keys(keys)}
    )
    for invoice_id in fake.seed(30, random_seed=3):
        payload = fake.wire(invoice_id)
        kind, state = DEFAULT_RESOLVER(payload)
        data = invoice_fields(payload, kind, state, keys)
        strict_invoice = structure(strict, data, Invoice)
        invoice = CLIENT.parse_invoice(payload)
        assert invoice == strict_invoice
        assert invoice.extra == {}
        assert invoice.customer is not None
        assert invoice.customer.extra == {}
        assert all(line.extra == {} for line in invoice.lines)
        assert invoice.kind is fake.invoices[invoice_id].kind
        assert invoice.state is fake.invoices[invoice_id].state


def test_full_payload_is_read_into_typed_fields() -> None:
    payload = {
        "id": 12345,
        "invoiceType": 1,
        "invoiceTypeText": "InvoiceSpecification",
        "status": 1,
        "statusText": "Processed",
        "invoiceNumber": 112345,
        "projectId": 4711,
        "projectNo": "P-2024-0042",
        "customer": {
            "id": 301,
            "customerNumber": 10045,
            "name": "Acme Corp AS",
            "externalReference": "CUST-999",
            "organisationNumber": "987654321",
            "vatNumber": "NO987654321MVA",
            "invoiceEmail": "invoice@acme.no",
            "segment": "Pharma",
        },
        "currency": "nok",
        "totalExclVat": 3780.0,
        "totalVat": 453.6,
        "totalInclVat": 4233.6,
        "issueDate": "2024-02-01T00:00:00",
        "dueDate": "2024-02-15",
        "paidDate": None,
        "externalReference": "FIN-2024-00789",
        "lines": [
            {
                "description": "Deluxe double room",
                "artNo": "ROOM-DLX",
                "category": "Accommodation",
                "quantity": 2,
                "unitPrice": 1890,
                "amountExclVat": 3780.0,
                "vatPercentage": 12,
                "vatAmount": 453.6,
                "amountInclVat": 4233.6,
                "accountCode": 3020,
                "vatPercentageFee": 0,
            }
        ],
        "purchaseOrderNumber": "PO-77",
    }
    inv = CLIENT.parse_invoice(payload)
    assert (inv.id, inv.kind, inv.state) == (12345, K.INVOICE_SPECIFICATION, S.PROCESSED)
    assert inv.invoice_number == "112345"
    assert (inv.project_id, inv.project_number) == (4711, "P-2024-0042")
    assert inv.customer == Customer(
        id=301,
        number="10045",
        name="Acme Corp AS",
        external_reference="CUST-999",
        organisation_number="987654321",
        vat_number="NO987654321MVA",
        email="invoice@acme.no",
        extra={"segment": "Pharma"},
    )
    assert inv.currency == "NOK"
    # JSON numbers become the Decimal they print as, never a binary approximation.
    assert inv.total_incl_vat == Decimal("4233.6")
    assert str(inv.total_vat) == "453.6"
    assert inv.total() == Money("4233.6", "NOK")
    assert inv.issue_date == date(2024, 2, 1)
    assert inv.due_date == date(2024, 2, 15)
    assert inv.paid_date is None
    assert inv.external_reference == "FIN-2024-00789"
    (line,) = inv.lines
    assert line == InvoiceLine(
        description="Deluxe double room",
        article_code="ROOM-DLX",
        article_category="Accommodation",
        quantity=Decimal(2),
        unit_price=Decimal(1890),
        amount_excl_vat=Decimal("3780.0"),
        vat_rate=Decimal(12),
        vat_amount=Decimal("453.6"),
        amount_incl_vat=Decimal("4233.6"),
        account_code="3020",
        extra={"vatPercentageFee": 0},
    )
    assert inv.extra == {"purchaseOrderNumber": "PO-77"}
    assert inv.raw == payload
    assert inv.allowed_actions() == {
        InvoiceAction.SET_AS_PROCESSED,
        InvoiceAction.SET_AS_PAID,
        InvoiceAction.SET_AS_UNPROCESSED,
    }


def test_alternative_spellings_flat_customer_and_numeric_currency() -> None:
    inv = CLIENT.parse_invoice(
        {
            "invoiceId": "77",
            "type": "CreditNote",
            "state": "Unprocessed",
            "invoiceNo": "CN-1",
            "customerId": 9,
            "customerNo": "10046",
            "customerName": "Nordlys Konferanse AS",
            "invoiceCurrencyCode": 578,
            "totalAmount": -1000,
            "originalInvoiceId": 12345,
            "invoiceLines": [{"text": "Kayak", "articleNumber": "ACT-KAYAK", "vatPercent": 25}],
        }
    )
    assert inv.id == 77
    assert inv.kind is K.CREDIT_NOTE
    assert inv.invoice_number == "CN-1"
    assert inv.customer == Customer(id=9, number="10046", name="Nordlys Konferanse AS")
    assert inv.currency == "NOK"
    assert inv.total_incl_vat == Decimal(-1000)
    assert inv.credited_invoice_id == 12345
    assert inv.lines[0].article_code == "ACT-KAYAK"
    assert inv.lines[0].vat_rate == Decimal(25)
    assert inv.extra == {}


def test_unknown_kind_and_state_never_crash_a_parse() -> None:
    inv = CLIENT.parse_invoice({"id": 5, "invoiceType": 42, "status": 9, "statusText": "Archived"})
    assert inv.kind is K.UNKNOWN
    assert not inv.state.is_known
    assert inv.state.value == "Archived"
    assert inv.allowed_actions() == frozenset()
    assert inv.allowed_actions(strict=False) == frozenset()


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"id": True}, "$.id"),
        ({"id": 1.5}, "$.id"),
        ({"id": "abc"}, "$.id"),
        ({}, "id"),
        # The path names the field by its wire name or by its attribute name.
        ({"id": 1, "totalInclVat": "a lot"}, "$.totalInclVat|$.total_incl_vat"),
        ({"id": 1, "paidDate": "next week"}, "$.paidDate|$.paid_date"),
        ({"id": 1, "lines": [{"quantity": "two"}]}, "$.lines[0].quantity"),
        ({"id": 1, "customer": {"name": {"first": "Kari"}}}, "$.customer.name"),
    ],
)
def test_wrong_types_raise_with_a_path(payload: dict[str, Any], where: str) -> None:
    with pytest.raises(ResponseValidationError) as info:
        CLIENT.parse_invoice(payload)
    paths = where.split("|")
    assert any(p in e for e in info.value.errors for p in paths), info.value.errors


@pytest.mark.parametrize("payload", [None, [], "12345", 12345])
def test_a_non_object_is_not_an_invoice(payload: Any) -> None:
    with pytest.raises(ResponseValidationError, match="expected a Qondor invoice object"):
        CLIENT.parse_invoice(payload)


def test_queue_items_are_unprocessed_whatever_they_say(caplog: pytest.LogCaptureFixture) -> None:
    inv = CLIENT.parse_invoice({"id": 1, "status": "Processed"}, unprocessed=True)
    assert inv.state is S.UNPROCESSED
    assert "treating it as unprocessed" in caplog.text
    assert CLIENT.parse_invoice({"id": 2}, unprocessed=True).state is S.UNPROCESSED


def test_a_custom_resolver_function() -> None:
    def mine(payload: Any) -> tuple[InvoiceKind, InvoiceState]:
        return K.CREDIT_NOTE, S.PAID if payload.get("betalt") else S.PROCESSED

    client = QondorClient("k" * 24, resolver=mine)
    assert client.parse_invoice({"id": 1, "betalt": True}).state is S.PAID
    assert client.parse_invoice({"id": 1}).kind is K.CREDIT_NOTE

    def broken(payload: Any) -> Any:
        return "credit_note", "paid"

    with pytest.raises(TypeError, match="must return"):
        QondorClient("k" * 24, resolver=broken).parse_invoice({"id": 1})


# -- the models --------------------------------------------------------------------------


def test_models_construct_by_keyword_with_only_id_kind_and_state() -> None:
    inv = Invoice(id=1, kind=K.INVOICE_SPECIFICATION, state=S.UNPROCESSED)
    assert inv.lines == ()
    assert inv.raw == {}
    assert inv.total() is None
    with pytest.raises(TypeError):
        Invoice(1, K.INVOICE_SPECIFICATION, S.UNPROCESSED)  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        inv.state = S.PAID  # type: ignore[misc]


def test_amounts_refuse_floats_and_keep_decimals() -> None:
    with pytest.raises(TypeError, match="float"):
        Invoice(id=1, kind=K.UNKNOWN, state=S.PAID, total_incl_vat=10.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float"):
        InvoiceLine(vat_rate=12.0)  # type: ignore[arg-type]
    line = InvoiceLine(amount_excl_vat="100.10", quantity=3)  # type: ignore[arg-type]
    assert line.amount_excl_vat == Decimal("100.10")
    assert line.quantity == Decimal(3)


def test_models_hash_compare_and_pickle() -> None:
    a = CLIENT.parse_invoice({"id": 1, "status": "Paid", "foo": [1]})
    b = CLIENT.parse_invoice({"id": 1, "status": "Paid", "foo": [1], "ignored": None} | {})
    assert hash(a) == hash(a)
    assert a == attrs.evolve(a, raw={"something": "else"})  # raw is not part of equality
    assert a != b  # ``extra`` is
    assert pickle.loads(pickle.dumps(a)) == a
    assert {a}  # hashable despite the mappings inside


def test_action_endpoints() -> None:
    assert [a.endpoint for a in InvoiceAction] == [
        "SetAsProcessed",
        "SetAsFailed",
        "SetAsPaid",
        "SetAsUnprocessed",
    ]
    assert str(InvoiceAction.SET_AS_PAID) == "set_as_paid"
    assert str(K.CREDIT_NOTE) == "credit_note"
