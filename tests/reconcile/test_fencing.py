"""Fencing and heartbeats in process, on an injected clock: no sleeps, no timing luck.

A worker's step is frozen (every journal call it makes waits, the heartbeat's too, as in a
stopped process) at a point before or after one of its side effects; the clock moves past
the lease; a successor takes the payment over and finishes it; then the frozen worker
resumes. It must do nothing more: no ``book()``, no request to Qondor, no journal write
(its step ends as handed over), and after ``book()`` it leaves an orphan event and a
warning. The same with a successor that reuses the frozen worker's owner name.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from anyio import wait_all_tasks_blocked

from qondor_invoicing.qondor import QondorClient
from qondor_invoicing.reconcile import (
    JournalEventKind,
    Lease,
    MemoryJournal,
    ReconcilePolicy,
    Reconciler,
    SqliteJournal,
    StepStatus,
)
from qondor_invoicing.reconcile.finance import InMemoryFinanceSystem
from qondor_invoicing.testing import FakeQondor

pytestmark = pytest.mark.anyio

LEASE = 60.0


class ManualClock:
    """Wall clock and sleep for the journal and the heartbeat; moves only when told."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self._sleepers: list[tuple[float, anyio.Event]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        event = anyio.Event()
        self._sleepers.append((self.now + seconds, event))
        await event.wait()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [e for at, e in self._sleepers if at <= self.now]
        self._sleepers = [(at, e) for at, e in self._sleepers if at > self.now]
        for event in due:
            event.set()


class FreezableJournal(SqliteJournal):
    """Before its Nth call of one method, every call waits until `thaw` (a stopped process)."""

    def __init__(self, path: Path, clock: ManualClock, freeze: tuple[str, int] | None) -> None:
        super().__init__(path, exclusive=False, clock=clock)
        self.freeze_at = freeze
        self.calls: dict[str, int] = {}
        self.frozen = anyio.Event()
        self.thaw = anyio.Event()

    async def _gate(self, name: str) -> None:
        self.calls[name] = n = self.calls.get(name, 0) + 1
        if self.freeze_at == (name, n):
            self.frozen.set()
        if self.frozen.is_set():
            await self.thaw.wait()

    async def check(self, lease: Lease, *, margin: float = 0.0) -> Lease:
        await self._gate("check")
        return await super().check(lease, margin=margin)

    async def renew(self, lease: Lease, lease_seconds: float) -> Lease:
        await self._gate("renew")
        return await super().renew(lease, lease_seconds)

    async def record_reference(self, *args: Any, **kwargs: Any) -> Any:
        await self._gate("record_reference")
        return await super().record_reference(*args, **kwargs)

    async def record_outcome(self, *args: Any, **kwargs: Any) -> Any:
        await self._gate("record_outcome")
        return await super().record_outcome(*args, **kwargs)


POINTS = {
    "before book()": (True, ("check", 1)),
    "after book()": (True, ("record_reference", 1)),
    "before SetAsProcessed": (True, ("check", 2)),
    "after SetAsProcessed": (True, ("record_outcome", 1)),
    "before SetAsFailed": (False, ("check", 1)),
    "after SetAsFailed": (False, ("record_outcome", 1)),
}


@pytest.mark.parametrize("same_owner", [False, True], ids=["other-owner", "same-owner"])
@pytest.mark.parametrize("point", list(POINTS))
async def test_a_frozen_worker_does_nothing_after_its_takeover(
    fake: FakeQondor,
    qondor: QondorClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    point: str,
    same_owner: bool,
) -> None:
    valid, freeze = POINTS[point]
    payment = fake.add_invoice()
    finance = InMemoryFinanceSystem.accepting(await qondor.invoices.list_unprocessed())
    if not valid:
        finance.articles.clear()
    clock = ManualClock()
    policy = ReconcilePolicy(lease_seconds=LEASE)
    path = tmp_path / "journal.db"
    caplog.set_level(logging.WARNING, logger="qondor_invoicing.reconcile")
    async with (
        FreezableJournal(path, clock, freeze) as stale_journal,
        FreezableJournal(path, clock, None) as successor_journal,
    ):
        stale = Reconciler(
            qondor,
            finance=finance,
            journal=stale_journal,
            policy=policy,
            owner="w" if same_owner else "a",
            sleep=clock.sleep,
        )
        successor = Reconciler(
            qondor,
            finance=finance,
            journal=successor_journal,
            policy=policy,
            owner="w" if same_owner else "b",
            sleep=clock.sleep,
        )
        reports: list[Any] = []
        async with anyio.create_task_group() as tg:

            async def run_stale() -> None:
                reports.append(await stale.run())

            tg.start_soon(run_stale)
            with anyio.fail_after(30):  # a guard against a hang, not a timing assumption
                await stale_journal.frozen.wait()
            # The successor cannot take the payment while the lease lasts...
            early = await successor.run()
            assert [r.status for r in early] == [StepStatus.SKIPPED]
            clock.advance(LEASE + 1)
            # ...and finishes it once the lease expired.
            late = await successor.run()
            assert [r.status for r in late] == [StepStatus.DONE], late
            book_calls = sum(finance.book_calls.values())
            changes = list(fake.invoices[payment].history)
            requests = len(fake.requests)
            stale_journal.thaw.set()
        (report,) = reports
        (result,) = report.results
        assert result.status is StepStatus.HANDED_OVER, result
        assert report.handed_over == (result,)
        # Nothing more from the stale worker: no booking, no request, no journal write.
        assert sum(finance.book_calls.values()) == book_calls
        assert fake.invoices[payment].history == changes
        assert len(changes) == 1
        assert len(fake.requests) == requests
        history = await successor_journal.history(str(payment))
        takeover = [e.kind for e in history].index(JournalEventKind.TAKEOVER)
        after = [e.kind for e in history[takeover + 1 :] if e.kind is not JournalEventKind.ORPHAN]
        assert JournalEventKind.OUTCOME in after
        entry = await successor_journal.get(str(payment))
        assert entry is not None
        assert entry.intent is None
        orphans = [e for e in history if e.kind is JournalEventKind.ORPHAN]
        if point == "after book()":
            # book() ran twice with one key: one booking, and the loss is on record.
            (booking,) = finance.bookings.values()
            assert finance.book_calls[payment] == 2
            assert len(orphans) == 1
            assert (orphans[0].detail or "").startswith(booking.reference + ": ")
            assert booking.reference in result.detail
            assert any(
                booking.reference in r.getMessage() and r.levelno == logging.WARNING
                for r in caplog.records
            )
        else:
            assert orphans == []
            assert finance.book_calls[payment] == (1 if valid else 0)


class SlowFinance(InMemoryFinanceSystem):
    """book() waits until the test lets it finish."""

    entered: anyio.Event
    finish: anyio.Event

    async def book(self, invoice: Any, *, idempotency_key: str | None = None) -> str:
        self.entered.set()
        await self.finish.wait()
        return await super().book(invoice, idempotency_key=idempotency_key)


async def test_a_slow_book_keeps_its_claim_through_the_heartbeat(
    fake: FakeQondor, qondor: QondorClient
) -> None:
    payment = fake.add_invoice()
    finance = SlowFinance.accepting(await qondor.invoices.list_unprocessed())
    finance.entered, finance.finish = anyio.Event(), anyio.Event()
    clock = ManualClock()
    journal = MemoryJournal(clock=clock)
    policy = ReconcilePolicy(lease_seconds=LEASE)
    worker = Reconciler(
        qondor, finance=finance, journal=journal, policy=policy, owner="a", sleep=clock.sleep
    )
    other = Reconciler(
        qondor, finance=finance, journal=journal, policy=policy, owner="b", sleep=clock.sleep
    )
    reports: list[Any] = []
    async with anyio.create_task_group() as tg:

        async def run() -> None:
            reports.append(await worker.run())

        tg.start_soon(run)
        await finance.entered.wait()
        await wait_all_tasks_blocked()  # the heartbeat is waiting for the clock
        for _ in range(10):  # 10 heartbeat intervals: five leases
            clock.advance(LEASE / 3)
            await wait_all_tasks_blocked()
            with anyio.fail_after(30):  # a guard against a hang (a takeover would book)
                assert [r.status for r in await other.run()] == [StepStatus.SKIPPED]
        finance.finish.set()
    ((result,),) = [r.results for r in reports]
    assert result.status is StepStatus.DONE
    assert finance.book_calls[payment] == 1
    history = await journal.history(str(payment))
    assert JournalEventKind.TAKEOVER not in [e.kind for e in history]


async def test_a_refused_renewal_stops_the_step_before_its_next_side_effect(
    fake: FakeQondor, qondor: QondorClient, caplog: pytest.LogCaptureFixture
) -> None:
    # The heartbeat learns first that the claim is gone (it is not frozen); book() was in
    # flight, so it finishes, but SetAsProcessed is never sent.
    payment = fake.add_invoice()
    finance = SlowFinance.accepting(await qondor.invoices.list_unprocessed())
    finance.entered, finance.finish = anyio.Event(), anyio.Event()
    clock = ManualClock()
    journal = MemoryJournal(clock=clock)
    worker = Reconciler(
        qondor,
        finance=finance,
        journal=journal,
        policy=ReconcilePolicy(lease_seconds=LEASE),
        owner="a",
        sleep=clock.sleep,
    )
    reports: list[Any] = []
    async with anyio.create_task_group() as tg:

        async def run() -> None:
            reports.append(await worker.run())

        tg.start_soon(run)
        await finance.entered.wait()
        await wait_all_tasks_blocked()  # the heartbeat is waiting for the clock
        await journal.release(str(payment), "a")  # e.g. an operator released it
        assert await journal.claim(str(payment), "b", LEASE) is not None
        clock.advance(LEASE / 3)
        await wait_all_tasks_blocked()
        finance.finish.set()
    ((result,),) = [r.results for r in reports]
    assert result.status is StepStatus.HANDED_OVER
    assert fake.requests_to("PUT") == []
    assert fake.invoices[payment].history == []
    assert any("lease lost while working" in r.getMessage() for r in caplog.records)
