"""Fault soak: 2,000 payments through a fake that fails often, until the queue is empty."""

from __future__ import annotations

import time
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from qondor_invoicing import RetryPolicy
from qondor_invoicing.errors import APIError
from qondor_invoicing.qondor import InvoiceAction, InvoiceKind, InvoiceState, QondorClient
from qondor_invoicing.qonto import QontoClient
from qondor_invoicing.reconcile.finance import InMemoryFinanceSystem
from qondor_invoicing.reconcile.journal import SqliteJournal
from qondor_invoicing.reconcile.reconciler import ReconcilePolicy, Reconciler
from qondor_invoicing.testing import FakeQondor, FakeQonto, Faults

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

PAYMENTS = 2000
POLICY = ReconcilePolicy(attempts=1)  # with few client retries: many steps are deferred


async def _no_sleep(seconds: float) -> None:
    return None


def _line(code: str) -> dict[str, object]:
    return {
        "description": f"Article {code}",
        "articleCode": code,
        "articleCategory": "Conference",
        "quantity": 1,
        "unitPrice": 795.0,
        "amountExclVat": 795.0,
        "vatRate": 25,
        "vatAmount": 198.75,
        "amountInclVat": 993.75,
        "accountCode": "3000",
    }


async def test_fault_soak(tmp_path: Path) -> None:
    fake = FakeQondor(rate_limit=None)
    kinds = [
        InvoiceKind.INVOICE_SPECIFICATION,
        InvoiceKind.CREDIT_CARD_PAYMENT,
        InvoiceKind.CREDIT_NOTE,
    ]
    valid: list[int] = []
    invalid: dict[int, str] = {}
    for n in range(PAYMENTS):
        if n % 10 == 0:
            # Invalid data (card payments excluded: by default they are never failed).
            kind = kinds[0] if n % 20 == 0 else kinds[2]
            code = f"GONE-{n}"
            invalid[fake.add_invoice(kind=kind, lines=[_line(code)])] = (
                f"Article code '{code}' not found in finance system"
            )
        else:
            valid.append(fake.add_invoice(kind=kinds[n % 3], lines=[_line("CONF-DAY")]))
    finance = InMemoryFinanceSystem(
        articles=["CONF-DAY"],
        vat_rates={"Conference": [25]},
        accounts={"CONF-DAY": "3000"},
        customers=[c for c in {_customer(fake, i) for i in fake.invoices} if c],
    )
    fake_qonto = FakeQonto(rate_limit=None)
    fake.faults = Faults(
        server_error_rate=0.10,
        rate_limited_rate=0.05,
        connection_error_rate=0.05,
        lost_response_rate=0.03,
        seed=20240210,
    )
    started = time.monotonic()
    async with (
        QondorClient(
            api_key="test-key",
            transport=fake.transport,
            rate_limit=None,
            sleep=_no_sleep,
            # Few retries, so that many payments are deferred and resumed by a later run.
            retry_policy=RetryPolicy(max_retries=1),
        ) as qondor,
        QontoClient(
            access_token="test-token",
            transport=fake_qonto.transport,
            rate_limit=None,
            sleep=_no_sleep,
            retry_policy=RetryPolicy(max_retries=1),
        ) as qonto,
        SqliteJournal(tmp_path / "soak.db", synchronous="NORMAL") as journal,
    ):
        # Phase 1: the queue.
        reconciler = Reconciler(
            qondor, finance=finance, journal=journal, concurrency=8, policy=POLICY
        )
        runs, deferred = await _drain(reconciler)
        assert await journal.unfinished() == []
        processing = time.monotonic() - started

        assert deferred > 20  # resuming after transient errors really happened
        assert sum(1 for r in fake.requests if r.fault) > 500  # the faults really happened
        assert len(fake.refused_requests) == 0
        for invoice_id in valid:
            stored = fake.invoices[invoice_id]
            assert stored.state is InvoiceState.PROCESSED, invoice_id
            assert [t.action for t in stored.history] == [InvoiceAction.SET_AS_PROCESSED]
            assert stored.external_reference == finance.bookings[invoice_id].reference
        for invoice_id, message in invalid.items():
            stored = fake.invoices[invoice_id]
            assert stored.state is InvoiceState.FAILED, invoice_id
            assert [t.action for t in stored.history] == [InvoiceAction.SET_AS_FAILED]
            assert stored.failure_message == message
        assert finance.book_calls == Counter(dict.fromkeys(valid, 1))
        references = [b.reference for b in finance.bookings.values()]
        assert len(set(references)) == len(valid)

        # Phase 2: half of the payments that can be settled are paid in Qonto.
        paid = [
            i for i in valid[::2] if fake.invoices[i].kind is not InvoiceKind.CREDIT_CARD_PAYMENT
        ]
        for invoice_id in paid:
            stored = fake.invoices[invoice_id]
            fake_qonto.add_supplier_invoice(
                invoice_number=stored.external_reference,
                status="paid",
                payment_date="2024-02-10",
                total_amount={"value": str(stored.payload["totalInclVat"]), "currency": "NOK"},
                is_credit_note=stored.kind is InvoiceKind.CREDIT_NOTE,
            )
        fake_qonto.faults = Faults(
            server_error_rate=0.10, rate_limited_rate=0.05, connection_error_rate=0.05, seed=7
        )
        settler = Reconciler(
            qondor, finance=finance, qonto=qonto, journal=journal, concurrency=8, policy=POLICY
        )
        settle_runs, settle_deferred = await _drain(settler)
        assert await journal.unfinished() == []
    elapsed = time.monotonic() - started

    assert len(fake.refused_requests) == 0
    assert len(fake_qonto.refused_requests) == 0
    for invoice_id in valid:
        stored = fake.invoices[invoice_id]
        if invoice_id in paid:
            assert stored.state is InvoiceState.PAID, invoice_id
            assert stored.paid_date == date(2024, 2, 10)
            assert [t.action for t in stored.history] == [
                InvoiceAction.SET_AS_PROCESSED,
                InvoiceAction.SET_AS_PAID,
            ]
        else:
            assert [t.action for t in stored.history] == [InvoiceAction.SET_AS_PROCESSED]
    assert finance.book_calls == Counter(dict.fromkeys(valid, 1))
    print(
        f"soak: {PAYMENTS} payments, {len(fake.requests)} Qondor requests, "
        f"processing {runs} runs ({deferred} deferred) in {processing:.1f} s, "
        f"{len(paid)} settled in {settle_runs} runs ({settle_deferred} deferred), "
        f"{elapsed:.1f} s in all"
    )


async def _drain(reconciler: Reconciler) -> tuple[int, int]:
    """Run until a plan has nothing to do; return (runs, deferred steps)."""
    deferred = 0
    for runs in range(1, 21):
        try:
            plan = await reconciler.plan()
        except APIError:
            continue  # the queue itself could not be read this time: try again
        if not plan.steps and not plan.warnings:
            return runs, deferred
        report = await reconciler.apply(plan)
        deferred += len(report.deferred)
    pytest.fail("the work did not drain in 20 runs")


def _customer(fake: FakeQondor, invoice_id: int) -> str | None:
    customer = fake.invoices[invoice_id].payload.get("customer")
    if isinstance(customer, dict):
        ref = (
            customer.get("externalReference")
            or customer.get("customerNumber")
            or customer.get("name")
        )
        return str(ref) if ref else None
    return None
