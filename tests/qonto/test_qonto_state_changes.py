"""State changes against FakeQonto: the status x action matrix, no-ops, lost answers."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from _qonto_kit import make_client, make_fake, posts

from qondor_invoicing import (
    APIConnectionError,
    BadRequestError,
    IllegalTransitionError,
    SupplierInvoice,
    SupplierInvoiceAction,
    SupplierInvoiceStatus,
    UnprocessableEntityError,
)
from qondor_invoicing.testing import FakeQonto

pytestmark = pytest.mark.anyio

S = SupplierInvoiceStatus
A = SupplierInvoiceAction
PAID_ON = date(2026, 3, 2)
STATUSES = [*S, S("in_ocr_queue")]


async def act(client: Any, action: A, invoice: Any) -> SupplierInvoice:
    resource = client.supplier_invoices
    if action is A.MARK_AS_PAID:
        result: SupplierInvoice = await resource.mark_as_paid(invoice, payment_date=PAID_ON)
    elif action is A.UNMARK_AS_PAID:
        result = await resource.unmark_as_paid(invoice)
    else:
        result = await resource.reject(invoice, declined_note="Duplicate of FA-2026-00017")
    return result


def expected_allowed(action: A, status: S) -> bool:
    if action is A.MARK_AS_PAID:
        return status in {
            S.TO_REVIEW,
            S.TO_APPROVE,
            S.PENDING,
            S.AWAITING_PAYMENT,
            S.TO_PAY,
            S.ARCHIVED,
            S.PAID,
        }
    if action is A.UNMARK_AS_PAID:
        return status is S.PAID
    return status in {S.TO_REVIEW, S.TO_APPROVE, S.AWAITING_PAYMENT}


@pytest.mark.parametrize("status", STATUSES, ids=str)
@pytest.mark.parametrize("action", list(A), ids=str)
@pytest.mark.parametrize("by", ["model", "id"])
async def test_status_action_matrix(status: S, action: A, by: str) -> None:
    fake = make_fake()
    invoice_id = fake.add_supplier_invoice(status=status.value, payment_date="2026-01-15")
    client = make_client(fake)
    target: Any = SupplierInvoice.from_wire(fake.wire(invoice_id)) if by == "model" else invoice_id
    gets_before = len(fake.requests_to("GET"))

    if expected_allowed(action, status):
        result = await act(client, action, target)
        assert posts(fake) == 1
        assert fake.refused_requests == []
        [transition] = fake.history
        assert transition.action is action
        assert result.status.value == fake.invoices[invoice_id]["status"]
        expected = {
            A.MARK_AS_PAID: S.PAID,
            A.UNMARK_AS_PAID: S.TO_REVIEW,
            A.REJECT: S.REJECTED,
        }[action]
        assert result.status is expected
    else:
        with pytest.raises(IllegalTransitionError) as info:
            await act(client, action, target)
        assert info.value.action is action
        assert info.value.state == status
        assert info.value.invoice_id == invoice_id
        # Nothing but the read of a bare id reached the fake.
        assert posts(fake) == 0
        assert fake.history == []
        assert fake.invoices[invoice_id]["status"] == status.value
    gets = len(fake.requests_to("GET")) - gets_before
    assert gets == (1 if by == "id" else 0)


async def test_mark_as_paid_sets_the_date_and_unmark_clears_it() -> None:
    fake = make_fake()
    invoice_id = fake.add_supplier_invoice(status="to_pay")
    client = make_client(fake)
    paid = await client.supplier_invoices.mark_as_paid(invoice_id, payment_date=PAID_ON)
    assert paid.payment_date == PAID_ON
    assert fake.invoices[invoice_id]["payment_date"] == "2026-03-02"
    back = await client.supplier_invoices.unmark_as_paid(paid)
    assert back.status is S.TO_REVIEW
    assert back.payment_date is None
    assert fake.invoices[invoice_id]["payment_date"] is None
    assert [(t.from_status, t.to_status) for t in fake.history] == [
        ("to_pay", "paid"),
        ("paid", "to_review"),
    ]


async def test_mark_as_paid_on_a_paid_invoice_is_a_no_op() -> None:
    fake = make_fake()
    invoice_id = fake.add_supplier_invoice(status="paid", payment_date="2026-01-15")
    before = fake.wire(invoice_id)
    client = make_client(fake)
    result = await client.supplier_invoices.mark_as_paid(invoice_id, payment_date=PAID_ON)
    assert result.payment_date == date(2026, 1, 15)
    assert fake.wire(invoice_id) == before
    [transition] = fake.history
    assert transition.from_status == transition.to_status == "paid"


async def test_credit_notes_can_be_marked_as_paid() -> None:
    # Qonto does not say credit notes are refused; the library does not refuse them.
    fake = make_fake()
    invoice_id = fake.add_supplier_invoice(status="to_review", is_credit_note=True)
    client = make_client(fake)
    result = await client.supplier_invoices.mark_as_paid(invoice_id, payment_date=PAID_ON)
    assert result.is_credit_note is True
    assert result.status is S.PAID


async def test_a_stale_model_is_refused_by_the_server_rules() -> None:
    fake = make_fake()
    invoice_id = fake.add_supplier_invoice(status="to_review")
    stale = SupplierInvoice.from_wire(fake.wire(invoice_id))
    fake.invoices[invoice_id]["status"] = "scheduled"  # changed in the Qonto app meanwhile
    client = make_client(fake)
    with pytest.raises(BadRequestError) as info:
        await client.supplier_invoices.mark_as_paid(stale, payment_date=PAID_ON)
    assert info.value.body.details[0].code == "invalid_status"
    assert len(fake.refused_requests) == 1
    assert fake.refused_requests[0].status == 400


async def test_french_e_invoice_rejected_without_reason_code_is_422() -> None:
    fake = make_fake()
    invoice_id = fake.add_supplier_invoice(status="to_review", is_einvoice=True)
    client = make_client(fake)
    with pytest.raises(UnprocessableEntityError) as info:
        await client.supplier_invoices.reject(invoice_id, declined_note="Duplicate")
    assert info.value.body.details[0].field == "/supplier_invoice/declined_reason_code"
    result = await client.supplier_invoices.reject(
        invoice_id, declined_note="Duplicate", declined_reason_code="DOUBLON"
    )
    assert result.status is S.REJECTED
    assert fake.invoices[invoice_id]["declined_reason_code"] == "DOUBLON"


# -- ambiguous failures -----------------------------------------------------------------------


@pytest.mark.parametrize("action", list(A), ids=str)
async def test_a_lost_answer_is_recovered_by_reading_not_by_sending_again(action: A) -> None:
    fake = make_fake()
    start = S.PAID if action is A.UNMARK_AS_PAID else S.TO_REVIEW
    invoice_id = fake.add_supplier_invoice(status=start.value)
    model = SupplierInvoice.from_wire(fake.wire(invoice_id))
    client = make_client(fake)
    fake.faults.inject("lost_response", method="POST")
    result = await act(client, action, model)
    assert posts(fake) == 1  # applied once, never repeated
    assert len(fake.history) == 1
    assert result.status.value == fake.invoices[invoice_id]["status"]
    [lost] = [r for r in fake.requests if r.fault == "lost_response"]
    assert lost.applied


async def test_a_server_error_before_applying_is_sent_again_after_a_read() -> None:
    fake = make_fake()
    invoice_id = fake.add_supplier_invoice(status="to_pay")
    model = SupplierInvoice.from_wire(fake.wire(invoice_id))
    client = make_client(fake)
    fake.faults.inject("server_error", method="POST")
    result = await client.supplier_invoices.mark_as_paid(model, payment_date=PAID_ON)
    assert result.status is S.PAID
    assert posts(fake) == 2
    assert len(fake.history) == 1
    assert [r.method for r in fake.requests] == ["POST", "GET", "POST"]


async def test_a_connection_that_never_opened_is_simply_retried() -> None:
    fake = make_fake()
    invoice_id = fake.add_supplier_invoice(status="to_pay")
    model = SupplierInvoice.from_wire(fake.wire(invoice_id))
    client = make_client(fake)
    fake.faults.inject("connection_error", times=2, method="POST")
    result = await client.supplier_invoices.mark_as_paid(model, payment_date=PAID_ON)
    assert result.status is S.PAID
    assert [r.method for r in fake.requests] == ["POST", "POST", "POST"]
    assert len(fake.history) == 1


async def test_connection_errors_beyond_the_budget_surface_with_request_sent_false() -> None:
    fake = make_fake()
    invoice_id = fake.add_supplier_invoice(status="to_pay")
    model = SupplierInvoice.from_wire(fake.wire(invoice_id))
    client = make_client(fake)
    fake.faults.inject("connection_error", times=10, method="POST")
    with pytest.raises(APIConnectionError) as info:
        await client.supplier_invoices.mark_as_paid(model, payment_date=PAID_ON)
    assert info.value.request_sent is False
    assert fake.history == []


async def test_random_faults_never_apply_a_change_twice() -> None:
    from qondor_invoicing.testing import Faults

    fake = make_fake(
        faults=Faults(
            server_error_rate=0.2, lost_response_rate=0.3, connection_error_rate=0.1, seed=7
        )
    )
    ids = [fake.add_supplier_invoice(status="to_pay") for _ in range(30)]
    client = make_client(fake)
    done = 0
    for invoice_id in ids:
        try:
            await client.supplier_invoices.mark_as_paid(invoice_id, payment_date=PAID_ON)
            done += 1
        except Exception:
            pass
    applied = [t for t in fake.history if t.from_status != t.to_status]
    assert len(applied) == len({t.invoice_id for t in applied})  # never twice
    assert done >= 20


def test_fake_is_exported() -> None:
    assert FakeQonto.__module__.startswith("qondor_invoicing.testing")
