"""What a worker's plan does with other workers' payments, and how planning fails.

- A payment another live worker holds is skipped at planning, without reading it from
  Qondor: each payment is planned, read and changed by one worker.
- A journal failure inside `Reconciler.plan` (which plans in task groups) surfaces as the
  `JournalError` itself, never as an exception group.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection

import pytest

from qondor_invoicing.qondor import QondorClient
from qondor_invoicing.reconcile import (
    InMemoryFinanceSystem,
    JournalAction,
    JournalEntry,
    JournalError,
    MemoryJournal,
    Reconciler,
    StepKind,
)
from qondor_invoicing.testing import FakeQondor

FinanceFactory = Callable[[], Awaitable[InMemoryFinanceSystem]]


pytestmark = pytest.mark.anyio


async def test_payments_held_by_another_worker_are_skipped_unread(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    ids = [fake.add_invoice() for _ in range(4)]
    journal = MemoryJournal()
    other = Reconciler(qondor, finance=await accepting(), journal=journal, owner="other")
    me = Reconciler(qondor, finance=await accepting(), journal=journal, owner="me")
    # The other worker holds two payments, one of them with an intent in flight.
    lease = await journal.claim(str(ids[0]), "other", 60)
    assert lease is not None
    await journal.record_intent(
        str(ids[0]), JournalAction.BOOK, owner="other", invoice_id=ids[0], token=lease.token
    )
    assert await journal.claim(str(ids[1]), "other", 60) is not None
    before = len(fake.requests)
    plan = await me.plan()
    assert len(fake.requests) == before + 1  # the listing: nothing re-read
    kinds = {s.invoice_id: s.kind for s in plan.steps}
    assert kinds == {
        ids[0]: StepKind.SKIP,
        ids[1]: StepKind.SKIP,
        ids[2]: StepKind.BOOK,
        ids[3]: StepKind.BOOK,
    }
    assert all("another worker" in s.describe() for s in plan.skips)
    # The holder itself plans them as usual.
    assert {s.kind for s in (await other.plan()).steps} == {StepKind.BOOK}


class BrokenJournal(MemoryJournal):
    async def get(self, payment_key: str) -> JournalEntry | None:
        raise JournalError("the PostgreSQL journal stayed unavailable for 60 s")

    async def lookup(
        self, payment_keys: Collection[str], owner: str
    ) -> tuple[dict[str, JournalEntry], set[str]]:
        raise JournalError("the PostgreSQL journal stayed unavailable for 60 s")


async def test_journal_failure_in_plan_is_a_journal_error(
    fake: FakeQondor, qondor: QondorClient, accepting: FinanceFactory
) -> None:
    for _ in range(3):
        fake.add_invoice()
    reconciler = Reconciler(qondor, finance=await accepting(), journal=BrokenJournal())
    with pytest.raises(JournalError, match="stayed unavailable"):
        await reconciler.plan()
    with pytest.raises(JournalError, match="stayed unavailable"):
        await reconciler.run()
