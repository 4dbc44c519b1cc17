"""Ambiguous failures of state changes: applied exactly once, never blindly repeated."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
import respx
from _qondor_kit import (
    API_KEY,
    BASE,
    RESULTS,
    NoSleep,
    action_kwargs,
    gets,
    make_client,
    make_fake,
    method_for,
    puts,
)

from qondor_invoicing import (
    APIConnectionError,
    APITimeoutError,
    IllegalTransitionError,
    InternalServerError,
    Invoice,
    InvoiceAction,
    InvoiceKind,
    InvoiceState,
    QondorClient,
    RetryPolicy,
)
from qondor_invoicing.testing import Faults

pytestmark = pytest.mark.anyio

A, S, K = InvoiceAction, InvoiceState, InvoiceKind
START = {
    A.SET_AS_PROCESSED: S.UNPROCESSED,
    A.SET_AS_FAILED: S.UNPROCESSED,
    A.SET_AS_PAID: S.PROCESSED,
    A.SET_AS_UNPROCESSED: S.PROCESSED,
}


@pytest.mark.parametrize("by_id", [False, True], ids=["model", "bare-id"])
@pytest.mark.parametrize("action", list(A))
async def test_applied_but_response_lost_is_applied_exactly_once(action: A, by_id: bool) -> None:
    fake = make_fake()
    invoice_id = fake.add_invoice(kind=K.INVOICE_SPECIFICATION, state=START[action])
    fake.faults.inject("lost_response", method="PUT")
    async with make_client(fake) as qondor:
        target = invoice_id if by_id else qondor.parse_invoice(fake.wire(invoice_id))
        result = await method_for(qondor, action)(target, **action_kwargs(action))
    stored = fake.invoices[invoice_id]
    assert result.state is RESULTS[action] is stored.state
    assert len(stored.history) == 1
    assert puts(fake) == 1
    assert [r.fault for r in fake.requests_to("PUT")] == ["lost_response"]
    assert gets(fake) == (2 if by_id else 1)  # (the first read) + the re-read
    if action is A.SET_AS_PROCESSED:
        assert result.external_reference == stored.external_reference == "FIN-2024-00789"
    if action is A.SET_AS_PAID:
        assert result.paid_date == stored.paid_date == date(2024, 2, 10)


async def test_5xx_not_applied_is_sent_again() -> None:
    fake = make_fake()
    invoice_id = fake.add_invoice(state=S.UNPROCESSED)
    fake.faults.inject("server_error", method="PUT")
    sleep = NoSleep()
    async with make_client(fake, sleep=sleep) as qondor:
        result = await qondor.invoices.set_as_failed(invoice_id, failure_message="VAT 12% missing")
    assert result.state is S.FAILED
    assert puts(fake) == 2
    assert len(fake.invoices[invoice_id].history) == 1
    assert len(sleep.calls) == 1  # one backoff before sending again


async def test_resends_are_bounded_by_the_retry_policy() -> None:
    fake = make_fake()
    invoice_id = fake.add_invoice(state=S.UNPROCESSED)
    fake.faults.inject("server_error", times=10, method="PUT")
    policy = RetryPolicy(max_retries=2)
    async with make_client(fake, retry_policy=policy) as qondor:
        with pytest.raises(InternalServerError):
            await qondor.invoices.set_as_processed(invoice_id)
    assert puts(fake) == 3
    assert fake.invoices[invoice_id].state is S.UNPROCESSED


async def test_with_retries_disabled_the_outcome_is_still_checked() -> None:
    fake = make_fake()
    lost = fake.add_invoice(state=S.UNPROCESSED)
    failed = fake.add_invoice(state=S.UNPROCESSED)
    async with make_client(fake, retry_policy=RetryPolicy.disabled()) as qondor:
        fake.faults.inject("lost_response", method="PUT")
        assert (await qondor.invoices.set_as_processed(lost)).state is S.PROCESSED
        fake.faults.inject("server_error", method="PUT")
        with pytest.raises(InternalServerError):
            await qondor.invoices.set_as_processed(failed)
    assert len(fake.requests_to("PUT", "SetAsProcessed")) == 2
    assert fake.invoices[failed].state is S.UNPROCESSED


async def test_a_failed_re_read_raises_the_original_error() -> None:
    fake = make_fake()
    invoice_id = fake.add_invoice(state=S.UNPROCESSED)
    fake.faults.inject("lost_response", method="PUT")
    fake.faults.inject("server_error", times=4, method="GET")
    async with make_client(fake) as qondor:
        with pytest.raises(APITimeoutError) as info:
            await qondor.invoices.set_as_processed(invoice_id, external_reference="F-1")
    assert info.value.request_sent is True
    assert isinstance(info.value.__context__, InternalServerError)  # the re-read's failure
    # It was applied: the caller learns the outcome is unknown, and nothing is re-sent.
    assert puts(fake) == 1
    assert len(fake.invoices[invoice_id].history) == 1


async def test_a_connection_never_opened_is_retried_without_a_re_read() -> None:
    fake = make_fake()
    invoice_id = fake.add_invoice(state=S.PROCESSED)
    fake.faults.inject("connection_error", method="PUT")
    async with make_client(fake) as qondor:
        invoice = qondor.parse_invoice(fake.wire(invoice_id))
        result = await qondor.invoices.set_as_paid(invoice, paid_date=date(2024, 3, 1))
    assert result.state is S.PAID
    assert gets(fake) == 0
    assert [r.fault for r in fake.requests_to("PUT")] == ["connection_error", None]
    assert len(fake.invoices[invoice_id].history) == 1


async def test_a_change_by_someone_else_is_not_overwritten() -> None:
    invoice = Invoice(id=12345, kind=K.INVOICE_SPECIFICATION, state=S.UNPROCESSED)
    with respx.mock(base_url=BASE) as api:
        change = api.put("Invoice/SetAsProcessed").respond(502, text="Bad Gateway")
        api.get("Invoice/12345").respond(
            json={"id": 12345, "invoiceTypeText": "InvoiceSpecification", "statusText": "Failed"}
        )
        async with QondorClient(API_KEY, rate_limit=None, sleep=NoSleep()) as qondor:
            with pytest.raises(IllegalTransitionError, match="changed while") as info:
                await qondor.invoices.set_as_processed(invoice)
    assert info.value.state is S.FAILED
    assert isinstance(info.value.__cause__, InternalServerError)
    assert change.call_count == 1


async def test_another_reference_is_not_taken_for_ours() -> None:
    invoice = Invoice(id=12345, kind=K.INVOICE_SPECIFICATION, state=S.UNPROCESSED)
    seen = {"id": 12345, "invoiceTypeText": "InvoiceSpecification", "statusText": "Processed"}
    with respx.mock(base_url=BASE) as api:
        change = api.put("Invoice/SetAsProcessed")
        change.side_effect = [httpx.Response(500), httpx.Response(200)]
        api.get("Invoice/12345").respond(json={**seen, "externalReference": "SOMEONE-ELSE"})
        async with QondorClient(API_KEY, rate_limit=None, sleep=NoSleep()) as qondor:
            result = await qondor.invoices.set_as_processed(invoice, external_reference="FIN-7")
    # Not ours: sent again (SetAsProcessed on a processed payment is allowed), ours recorded.
    assert change.call_count == 2
    assert result.external_reference == "FIN-7"


async def test_an_unreadable_state_after_a_failure_is_not_guessed() -> None:
    invoice = Invoice(id=12345, kind=K.INVOICE_SPECIFICATION, state=S.UNPROCESSED)
    with respx.mock(base_url=BASE) as api:
        change = api.put("Invoice/SetAsProcessed").mock(
            side_effect=httpx.ReadTimeout("lost", request=None)
        )
        api.get("Invoice/12345").respond(json={"id": 12345, "status": 7})
        async with QondorClient(API_KEY, rate_limit=None, sleep=NoSleep()) as qondor:
            with pytest.raises(APIConnectionError):
                await qondor.invoices.set_as_processed(invoice)
    assert change.call_count == 1


async def test_many_payments_under_random_faults_are_each_applied_once() -> None:
    faults = Faults(
        server_error_rate=0.2,
        lost_response_rate=0.3,
        connection_error_rate=0.1,
        methods={"PUT"},
        seed=11,
    )
    fake = make_fake(faults=faults)
    ids = fake.seed(40, random_seed=5)
    policy = RetryPolicy(max_retries=8)
    results: dict[int, Invoice] = {}
    async with make_client(fake, retry_policy=policy) as qondor:
        for invoice in await qondor.invoices.list_unprocessed():
            results[invoice.id] = await qondor.invoices.set_as_processed(
                invoice, external_reference=f"FIN-{invoice.id}"
            )
    assert results, "the seed has unprocessed payments"
    faulted = [r for r in fake.requests_to("PUT") if r.fault is not None]
    assert any(r.fault == "lost_response" for r in faulted)
    assert any(r.fault == "server_error" for r in faulted)
    for invoice_id in ids:
        stored = fake.invoices[invoice_id]
        if invoice_id in results:
            assert len(stored.history) == 1, invoice_id
            assert stored.state is results[invoice_id].state is S.PROCESSED
            assert stored.external_reference == f"FIN-{invoice_id}"
        else:
            assert stored.history == []
    assert fake.refused_requests == []


async def test_over_real_http_a_dropped_connection_is_resolved_by_a_re_read() -> None:
    fake = make_fake()
    invoice_id = fake.add_invoice(kind=K.CREDIT_NOTE, state=S.UNPROCESSED)
    fake.faults.inject("lost_response", method="PUT")
    with fake.serve() as url:
        async with QondorClient(
            fake.api_key, base_url=url, rate_limit=None, sleep=NoSleep(), timeout=10.0
        ) as qondor:
            result = await qondor.invoices.set_as_failed(
                invoice_id, failure_message="Customer 'Acme Corp' (ref: CUST-999) not found"
            )
    assert result.state is S.FAILED
    assert len(fake.invoices[invoice_id].history) == 1
    assert puts(fake) == 1


@pytest.mark.parametrize(
    ("before", "seen", "resent"),
    [
        # The payload does not carry the reference: the change of state decides.
        (S.UNPROCESSED, {}, False),
        # It carries it, as null: ours was not recorded.
        (S.UNPROCESSED, {"externalReference": None}, True),
        # It carries ours.
        (S.UNPROCESSED, {"externalReference": "FIN-7"}, False),
        (S.PROCESSED, {"externalReference": "FIN-7"}, False),
        # Already processed and nothing shows ours: unknown, and repeating it is harmless.
        (S.PROCESSED, {}, True),
        (S.PROCESSED, {"externalReference": "FIN-OLD"}, True),
    ],
)
async def test_what_counts_as_applied(before: S, seen: dict[str, str | None], resent: bool) -> None:
    invoice = Invoice(id=12345, kind=K.INVOICE_SPECIFICATION, state=before)
    payload = {"id": 12345, "invoiceTypeText": "InvoiceSpecification", "statusText": "Processed"}
    with respx.mock(base_url=BASE) as api:
        change = api.put("Invoice/SetAsProcessed")
        change.side_effect = [httpx.Response(503), httpx.Response(200)]
        api.get("Invoice/12345").respond(json={**payload, **seen})
        async with QondorClient(API_KEY, rate_limit=None, sleep=NoSleep()) as qondor:
            result = await qondor.invoices.set_as_processed(invoice, external_reference="FIN-7")
    assert change.call_count == (2 if resent else 1)
    assert result.state is S.PROCESSED
    assert result.external_reference == "FIN-7"
