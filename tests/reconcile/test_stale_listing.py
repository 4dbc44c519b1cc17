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
