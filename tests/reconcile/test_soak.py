"""Fault soak: 2,000 payments through a fake that fails often, killed 30 times, until done.

25 % of the requests fail: 5xx, 429, connection errors, applied changes whose answer is
lost, and garbled 2xx answers (truncated JSON after the change was applied, ``200
text/plain`` "Request blocked by policy" without applying it). SetAsFailed calls deferred by
them stay open for later runs. The first 30 runs are killed (cancelled) right after a
side effect picked from a seeded stream.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import date
from pathlib import Path

import anyio
import anyio.lowlevel
import httpx
import pytest

from qondor_invoicing import RetryPolicy
from qondor_invoicing.errors import APIError
from qondor_invoicing.qondor import InvoiceAction, InvoiceKind, InvoiceState, QondorClient
from qondor_invoicing.qondor.models import Invoice
from qondor_invoicing.qonto import QontoClient
from qondor_invoicing.reconcile.finance import InMemoryFinanceSystem
from qondor_invoicing.reconcile.journal import JournalOutcome, SqliteJournal
from qondor_invoicing.reconcile.reconciler import ReconcilePolicy, Reconciler
from qondor_invoicing.testing import FakeQondor, FakeQonto, Faults

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

PAYMENTS = 2000
KILLS = 30
POLICY = ReconcilePolicy(attempts=1)  # with few client retries: many steps are deferred


class Killer:
    """Kills (cancels) a run right after a side effect: a booking or an applied change."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.side_effects = 0
        self.kills = 0
        self._left = 0
        self._scope: anyio.CancelScope | None = None

    def arm(self, scope: anyio.CancelScope) -> None:
        self._scope = scope
        self._left = self.rng.randint(1, 100)

    async def side_effect(self) -> None:
        self.side_effects += 1
        if self._scope is None:
            return
        self._left -= 1
        if self._left == 0:
            self.kills += 1
            self._scope.cancel()
            self._scope = None
            await anyio.lowlevel.checkpoint()


class Finance(InMemoryFinanceSystem):
    killer: Killer

    async def book(self, invoice: Invoice, *, idempotency_key: str | None = None) -> str:
        reference = await super().book(invoice, idempotency_key=idempotency_key)
        await self.killer.side_effect()
        return reference


def _killable(fake: FakeQondor, killer: Killer) -> httpx.MockTransport:
    async def handle(request: httpx.Request) -> httpx.Response:
        before = len(fake.requests)
        try:
            return await fake.handle_async(request)
        finally:
            if any(r.applied for r in fake.requests[before:]):
                await killer.side_effect()

    return httpx.MockTransport(handle)


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
    killer = Killer(seed=30)
    finance = Finance(
        articles=["CONF-DAY"],
        vat_rates={"Conference": [25]},
        accounts={"CONF-DAY": "3000"},
        customers=[c for c in {_customer(fake, i) for i in fake.invoices} if c],
    )
    finance.killer = killer
    fake_qonto = FakeQonto(rate_limit=None)
    fake.faults = Faults(
        server_error_rate=0.10,
        rate_limited_rate=0.05,
        connection_error_rate=0.04,
        lost_response_rate=0.03,
        truncated_answer_rate=0.01,
        blocked_answer_rate=0.01,
        seed=20240210,
    )
    started = time.monotonic()
    async with (
        QondorClient(
            api_key="test-key",
            transport=_killable(fake, killer),
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
        runs, deferred = await _drain(reconciler, killer)
        assert await journal.unfinished() == []
        processing = time.monotonic() - started

        assert killer.kills == KILLS
        assert deferred > 20  # resuming after transient errors really happened
        faults = Counter(r.fault for r in fake.requests if r.fault)
        assert sum(faults.values()) > 0.2 * len(fake.requests)  # the faults really happened
        assert faults["truncated_answer"] > 20
        assert faults["blocked_answer"] > 20
        deferred_failures = [
            e
            for e in await journal.entries()
            if e.outcome is JournalOutcome.FAILED and e.attempts > 1
        ]
        assert deferred_failures  # failures deferred, then sent by a later run
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
        _booked_once(finance, valid)

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
        settle_runs, settle_deferred = await _drain(settler, None)
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
    _booked_once(finance, valid)
    print(
        f"soak: {PAYMENTS} payments ({len(valid)} valid, {len(invalid)} invalid), "
        f"{len(fake.requests)} Qondor requests ({dict(faults)}), "
        f"{len(finance.bookings)} bookings ({finance.book_calls.total()} book() calls), "
        f"{len(fake.requests_to('PUT', 'SetAsFailed'))} SetAsFailed sent for "
        f"{len(invalid)} failures ({len(deferred_failures)} deferred first), "
        f"{killer.kills} kills, processing {runs} runs ({deferred} deferred) in "
        f"{processing:.1f} s, {len(paid)} settled in {settle_runs} runs "
        f"({settle_deferred} deferred), {elapsed:.1f} s in all"
    )


def _booked_once(finance: InMemoryFinanceSystem, valid: list[int]) -> None:
    assert set(finance.bookings) == set(valid)
    assert len({b.reference for b in finance.bookings.values()}) == len(valid)
    # book() is idempotent by invoice id: a run killed between a booking and its journal
    # record asks again and gets the same reference.
    assert set(finance.book_calls) == set(valid)


async def _drain(reconciler: Reconciler, killer: Killer | None) -> tuple[int, int]:
    """Run until a plan has nothing to do; return (runs, deferred steps).

    The first `KILLS` runs are killed right after a side effect picked by ``killer``.
    """
    deferred = 0
    for runs in range(1, 61):
        try:
            plan = await reconciler.plan()
        except APIError:
            continue  # the queue itself could not be read this time: try again
        if not plan.steps and not plan.warnings:
            return runs, deferred
        with anyio.CancelScope() as scope:
            if killer is not None and killer.kills < KILLS:
                killer.arm(scope)
            report = await reconciler.apply(plan)
            deferred += len(report.deferred)
    pytest.fail("the work did not drain in 60 runs")


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
