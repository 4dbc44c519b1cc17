"""A queue listing read before another worker finished a payment must not act on it again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from qondor_invoicing import InvoiceKind, InvoiceState, QondorClient
from qondor_invoicing.reconcile import InMemoryFinanceSystem, MemoryJournal, Reconciler
from qondor_invoicing.testing import FakeQondor

FinanceFactory = Callable[[], Awaitable[InMemoryFinanceSystem]]

pytestmark = pytest.mark.anyio


async def test_closed_entry_and_processed_in_qondor_is_not_planned_again(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    payment = fake.add_invoice(kind=InvoiceKind.INVOICE_SPECIFICATION)
    finance = await accepting()
    journal = MemoryJournal()
    stale_queue = await qondor.invoices.list_unprocessed()

    first = await Reconciler(qondor, finance=finance, journal=journal).run()
    assert [r.external_reference for r in first.results] == ["FIN-00001"]
    assert fake.invoices[payment].state is InvoiceState.PROCESSED
    puts = len(fake.requests_to("PUT"))

    # Another worker's view: the queue as it was before the first run finished.
    async def stale() -> list:  # type: ignore[type-arg]
        return list(stale_queue)

    qondor.invoices.list_unprocessed = stale  # type: ignore[method-assign]
    plan = await Reconciler(qondor, finance=finance, journal=journal).plan()
    assert len(plan) == 0
    assert len(fake.requests_to("PUT")) == puts
    assert finance.book_calls[payment] == 1


async def test_closed_entry_but_returned_to_the_queue_is_booked_again(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    payment = fake.add_invoice(kind=InvoiceKind.INVOICE_SPECIFICATION)
    finance = await accepting()
    journal = MemoryJournal()
    await Reconciler(qondor, finance=finance, journal=journal).run()
    # A person returns it to the queue (the guide's admin recovery).
    await qondor.invoices.set_as_unprocessed(payment)

    plan = await Reconciler(qondor, finance=finance, journal=journal).plan()
    assert [s.kind.value for s in plan] == ["book"]
    report = await Reconciler(qondor, finance=finance, journal=journal).apply(plan)
    assert [r.status.value for r in report.results] == ["done"]
    assert fake.invoices[payment].state is InvoiceState.PROCESSED


async def test_open_booking_applied_in_qondor_but_listed_stale_is_closed_not_resent(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    # A worker booked the payment and sent SetAsProcessed, which Qondor applied, then died
    # before recording the outcome. A survivor lists the queue from before that change.
    from qondor_invoicing.reconcile import Close, JournalAction

    payment = fake.add_invoice(kind=InvoiceKind.INVOICE_SPECIFICATION)
    finance = await accepting()
    stale_queue = await qondor.invoices.list_unprocessed()
    journal = MemoryJournal()
    key = str(payment)
    assert await journal.claim(key, "dead", 30.0)
    await journal.record_intent(key, JournalAction.BOOK, owner="dead", invoice_id=payment)
    await journal.record_reference(key, "FIN-77", owner="dead")
    await qondor.invoices.set_as_processed(payment, external_reference="FIN-77")
    await journal.release(key, "dead")  # as when its lease expires
    puts = len(fake.requests_to("PUT"))

    async def stale() -> list:  # type: ignore[type-arg]
        return list(stale_queue)

    qondor.invoices.list_unprocessed = stale  # type: ignore[method-assign]
    reconciler = Reconciler(qondor, finance=finance, journal=journal)
    plan = await reconciler.plan()
    assert [type(s) for s in plan] == [Close]
    await reconciler.apply(plan)
    assert len(fake.requests_to("PUT")) == puts
    assert finance.book_calls[payment] == 0
    entry = await journal.get(key)
    assert entry is not None
    assert entry.intent is None
    assert entry.external_reference == "FIN-77"
