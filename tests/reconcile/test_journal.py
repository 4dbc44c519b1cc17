"""The journal's invariants, on every backend."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import anyio
import pytest

from qondor_invoicing import ConfigurationError, InvalidInputError
from qondor_invoicing.reconcile.journal import (
    Journal,
    JournalAction,
    JournalConflictError,
    JournalError,
    JournalEventKind,
    JournalLockedError,
    JournalOutcome,
    LeaseLostError,
    MemoryJournal,
    SqliteJournal,
)

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "sqlite"])
async def journal(
    request: pytest.FixtureRequest, tmp_path: Path, clock: Clock
) -> AsyncIterator[Journal]:
    if request.param == "memory":
        async with MemoryJournal(clock=clock) as j:
            yield j
    else:
        async with SqliteJournal(tmp_path / "journal.db", clock=clock) as sj:
            yield sj


async def test_implements_protocol(journal: Journal) -> None:
    assert isinstance(journal, Journal)


async def test_book_cycle(journal: Journal) -> None:
    assert await journal.claim("1", "w1", 60)
    entry = await journal.record_intent(
        "1", JournalAction.BOOK, owner="w1", invoice_id=1, kind="InvoiceSpecification"
    )
    assert entry.unfinished
    assert entry.intent is JournalAction.BOOK
    assert [e.payment_key for e in await journal.unfinished()] == ["1"]
    entry = await journal.record_reference("1", "FIN-1", owner="w1")
    assert entry.external_reference == "FIN-1"
    # The same reference again is a no-op, not a conflict.
    await journal.record_reference("1", "FIN-1", owner="w1")
    entry = await journal.record_outcome("1", JournalOutcome.PROCESSED, owner="w1", invoice_id=1)
    await journal.release("1", "w1")
    assert not entry.unfinished
    assert entry.outcome is JournalOutcome.PROCESSED
    assert entry.external_reference == "FIN-1"
    assert entry.kind == "InvoiceSpecification"
    assert await journal.unfinished() == []
    processed = await journal.entries(outcome=JournalOutcome.PROCESSED)
    assert [e.payment_key for e in processed] == ["1"]
    assert await journal.entries(outcome=JournalOutcome.FAILED) == []
    kinds = [e.kind for e in await journal.history("1")]
    assert kinds == [
        JournalEventKind.INTENT,
        JournalEventKind.REFERENCE,
        JournalEventKind.REFERENCE,
        JournalEventKind.OUTCOME,
    ]
    assert await journal.get("1") == entry


async def test_reference_is_write_once(journal: Journal) -> None:
    await journal.claim("1", "w1", 60)
    await journal.record_intent("1", JournalAction.BOOK, owner="w1", invoice_id=1)
    await journal.record_reference("1", "FIN-1", owner="w1")
    with pytest.raises(JournalConflictError, match="idempotent"):
        await journal.record_reference("1", "FIN-2", owner="w1")
    # Resuming the same BOOK intent keeps the reference.
    entry = await journal.record_intent("1", JournalAction.BOOK, owner="w1", invoice_id=1)
    assert entry.external_reference == "FIN-1"
    assert entry.attempts == 2
    with pytest.raises(JournalConflictError, match="is recorded"):
        await journal.record_outcome(
            "1", JournalOutcome.PROCESSED, owner="w1", invoice_id=1, external_reference="X"
        )
    assert (await journal.get("1")).external_reference == "FIN-1"  # type: ignore[union-attr]


async def test_booked_payment_cannot_be_failed(journal: Journal) -> None:
    await journal.claim("1", "w1", 60)
    await journal.record_intent("1", JournalAction.BOOK, owner="w1", invoice_id=1)
    await journal.record_reference("1", "FIN-1", owner="w1")
    with pytest.raises(JournalConflictError, match="cannot be set as failed"):
        await journal.record_intent(
            "1", JournalAction.FAIL, owner="w1", invoice_id=1, failure_message="nope"
        )
    with pytest.raises(JournalConflictError, match="cannot settle"):
        await journal.record_intent("1", JournalAction.SETTLE, owner="w1", invoice_id=1)


async def test_processed_needs_a_reference(journal: Journal) -> None:
    await journal.claim("1", "w1", 60)
    await journal.record_intent("1", JournalAction.BOOK, owner="w1", invoice_id=1)
    with pytest.raises(JournalConflictError, match="needs an external reference"):
        await journal.record_outcome("1", JournalOutcome.PROCESSED, owner="w1", invoice_id=1)
    # Closing from Qondor's state (crash after SetAsProcessed) supplies it.
    entry = await journal.record_outcome(
        "1", JournalOutcome.PROCESSED, owner="w1", invoice_id=1, external_reference="FIN-9"
    )
    assert entry.external_reference == "FIN-9"


async def test_outcome_must_match_intent(journal: Journal) -> None:
    await journal.claim("1", "w1", 60)
    await journal.record_intent(
        "1", JournalAction.FAIL, owner="w1", invoice_id=1, failure_message="bad"
    )
    with pytest.raises(JournalConflictError, match="does not close"):
        await journal.record_outcome("1", JournalOutcome.PAID, owner="w1", invoice_id=1)
    entry = await journal.record_outcome("1", JournalOutcome.FAILED, owner="w1", invoice_id=1)
    assert entry.failure_message == "bad"


async def test_fail_needs_a_message(journal: Journal) -> None:
    await journal.claim("1", "w1", 60)
    with pytest.raises(JournalConflictError, match="needs a message"):
        await journal.record_intent("1", JournalAction.FAIL, owner="w1", invoice_id=1)
    assert await journal.get("1") is None


async def test_settle_cycle_keeps_reference_and_evidence(journal: Journal) -> None:
    await journal.claim("1", "w1", 60)
    await journal.record_intent("1", JournalAction.BOOK, owner="w1", invoice_id=1)
    await journal.record_reference("1", "FIN-1", owner="w1")
    await journal.record_outcome("1", JournalOutcome.PROCESSED, owner="w1", invoice_id=1)
    entry = await journal.record_intent(
        "1",
        JournalAction.SETTLE,
        owner="w1",
        invoice_id=1,
        paid_date=date(2024, 2, 10),
        evidence="si-1",
    )
    assert entry.external_reference == "FIN-1"
    entry = await journal.record_outcome("1", JournalOutcome.PAID, owner="w1", invoice_id=1)
    assert (entry.paid_date, entry.evidence, entry.outcome) == (
        date(2024, 2, 10),
        "si-1",
        JournalOutcome.PAID,
    )


async def test_new_book_cycle_starts_without_reference(journal: Journal) -> None:
    # A payment an administrator returned to the queue is booked again from scratch.
    await journal.claim("1", "w1", 60)
    await journal.record_intent("1", JournalAction.BOOK, owner="w1", invoice_id=1)
    await journal.record_reference("1", "FIN-1", owner="w1")
    await journal.record_outcome("1", JournalOutcome.PROCESSED, owner="w1", invoice_id=1)
    entry = await journal.record_intent("1", JournalAction.BOOK, owner="w1", invoice_id=1)
    assert entry.external_reference is None
    details = [e.detail for e in await journal.history("1")]
    assert "FIN-1" in details


async def test_errors_keep_the_intent_open(journal: Journal) -> None:
    await journal.claim("1", "w1", 60)
    with pytest.raises(JournalConflictError, match="never seen"):
        await journal.record_error("1", "boom", owner="w1")
    await journal.record_intent("1", JournalAction.BOOK, owner="w1", invoice_id=1)
    entry = await journal.record_error("1", "finance system down", owner="w1")
    assert entry.unfinished
    assert entry.last_error == "finance system down"
    assert (await journal.unfinished())[0].last_error == "finance system down"


async def test_claims_are_exclusive_and_leased(journal: Journal, clock: Clock) -> None:
    assert await journal.claim("1", "w1", 10)
    assert not await journal.claim("1", "w2", 10)
    assert await journal.claim("1", "w1", 10)  # renewal
    clock.now += 9
    assert not await journal.claim("1", "w2", 10)
    clock.now += 2
    assert await journal.claim("1", "w2", 10)  # takeover after expiry
    assert [e.kind for e in await journal.history("1")] == [JournalEventKind.TAKEOVER]
    assert not await journal.claim("1", "w1", 10)
    await journal.release("1", "w1")  # not the holder: nothing happens
    assert not await journal.claim("1", "w1", 10)
    await journal.release("1", "w2")
    assert await journal.claim("1", "w1", 10)
    with pytest.raises(ValueError, match="lease_seconds"):
        await journal.claim("1", "w1", 0)


async def test_writes_are_fenced(journal: Journal, clock: Clock) -> None:
    with pytest.raises(LeaseLostError, match="not claimed"):
        await journal.record_intent("1", JournalAction.BOOK, owner="w1", invoice_id=1)
    await journal.claim("1", "w1", 10)
    await journal.record_intent("1", JournalAction.BOOK, owner="w1", invoice_id=1)
    clock.now += 20
    # A lapsed lease nobody took over still counts as held.
    await journal.record_reference("1", "FIN-1", owner="w1")
    assert await journal.claim("1", "w2", 10)
    with pytest.raises(LeaseLostError, match="held by 'w2'") as info:
        await journal.record_outcome("1", JournalOutcome.PROCESSED, owner="w1", invoice_id=1)
    assert info.value.holder == "w2"
    entry = await journal.get("1")
    assert entry is not None
    assert entry.unfinished
    # The successor resumes with the reference its predecessor recorded.
    entry = await journal.record_intent("1", JournalAction.BOOK, owner="w2", invoice_id=1)
    assert entry.external_reference == "FIN-1"


async def test_concurrent_claims_one_winner(journal: Journal) -> None:
    winners: list[str] = []

    async def worker(name: str) -> None:
        if await journal.claim("1", name, 60):
            winners.append(name)

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(worker, f"w{i}")
    assert len(winners) == 1


@pytest.mark.parametrize(
    "options",
    [{"synchronous": "OFF"}, {"busy_timeout": -1}, {"busy_timeout": float("nan")}],
    ids=["synchronous", "negative", "nan"],
)
def test_sqlite_options_are_checked(tmp_path: Path, options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        SqliteJournal(tmp_path / "j.db", **options)  # type: ignore[arg-type]


def test_an_empty_sqlite_path_is_refused() -> None:
    # SQLite would open a temporary file, deleted on close: nothing would survive the run.
    with pytest.raises(ConfigurationError, match="MemoryJournal"):
        SqliteJournal("")


@pytest.mark.parametrize("where", ["directory", "missing folder", "not a database"])
async def test_a_file_that_cannot_hold_the_journal_is_a_journal_error(
    tmp_path: Path, clock: Clock, where: str
) -> None:
    path = {
        "directory": tmp_path,
        "missing folder": tmp_path / "missing" / "j.db",
        "not a database": tmp_path / "notes.txt",
    }[where]
    if where == "not a database":
        path.write_bytes(b"these are not the rows you are looking for\n" * 100)
    journal = SqliteJournal(path, exclusive=where != "directory", clock=clock)
    with pytest.raises(JournalError, match="cannot open the journal") as caught:
        await journal.claim("7", "w1", 60)
    assert isinstance(caught.value.__cause__, (OSError, sqlite3.Error))
    journal.close()


async def test_a_sqlite_failure_during_a_call_is_a_journal_error(
    tmp_path: Path, clock: Clock
) -> None:
    async with SqliteJournal(tmp_path / "j.db", clock=clock) as j:
        await j.claim("7", "w1", 60)
        with sqlite3.connect(tmp_path / "j.db") as other:  # someone drops a table under it
            other.execute("DROP TABLE events")
        with pytest.raises(JournalError, match="OperationalError"):
            await j.record_intent("7", JournalAction.BOOK, owner="w1", invoice_id=7)


async def test_sqlite_survives_reopen(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "j.db"
    async with SqliteJournal(path, clock=clock) as j:
        await j.claim("7", "w1", 60)
        await j.record_intent("7", JournalAction.BOOK, owner="w1", invoice_id=7)
        await j.record_reference("7", "FIN-7", owner="w1")
    # A new process (same file) sees the open intent and its reference, and the dead
    # owner's claim is gone because the exclusive lock proves the owner is gone.
    async with SqliteJournal(path, clock=clock) as j:
        (entry,) = await j.unfinished()
        assert (entry.invoice_id, entry.intent, entry.external_reference) == (
            7,
            JournalAction.BOOK,
            "FIN-7",
        )
        assert await j.claim("7", "w2", 60)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


async def test_sqlite_shared_mode_keeps_claims(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "j.db"
    async with SqliteJournal(path, exclusive=False, clock=clock) as a:
        assert await a.claim("7", "w1", 60)
        async with SqliteJournal(path, exclusive=False, clock=clock) as b:
            assert not await b.claim("7", "w2", 60)
            clock.now += 61
            assert await b.claim("7", "w2", 60)


async def test_sqlite_exclusive_lock(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with SqliteJournal(path) as j:
        await j.get("x")
        other = SqliteJournal(path)
        with pytest.raises(JournalLockedError, match="another process"):
            await other.get("x")
    # Released on close.
    async with SqliteJournal(path) as j:
        assert await j.get("x") is None


async def test_sqlite_closed(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path / "j.db")
    await j.aclose()
    await j.aclose()
    with pytest.raises(Exception, match="is closed"):
        await j.get("x")


async def test_sqlite_refuses_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(Exception, match="newer version"):
        async with SqliteJournal(path):
            pass
    # The failed open released its lock.
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=0")
    conn.close()
    async with SqliteJournal(path) as j:
        assert await j.unfinished() == []


def test_sqlite_rejects_bad_synchronous(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SqliteJournal(tmp_path / "j.db", synchronous="OFF")


# -- fencing tokens ---------------------------------------------------------------------------


async def test_fencing_tokens_grow_and_fence_every_write(journal: Journal, clock: Clock) -> None:
    first = await journal.claim("1", "w1", 10)
    assert first is not None
    renewed = await journal.claim("1", "w1", 10)
    assert renewed is not None
    assert renewed.token == first.token
    other = await journal.claim("2", "w1", 10)
    assert other is not None
    assert other.token > first.token
    clock.now += 11
    taken = await journal.claim("1", "w2", 10)
    assert taken is not None
    assert taken.token > other.token
    (event,) = await journal.history("1")
    assert event.detail == f"lease of 'w1' expired (token {first.token} -> {taken.token})"
    # The old holder: every fenced call refused.
    with pytest.raises(LeaseLostError, match="held by 'w2'"):
        await journal.record_intent(
            "1", JournalAction.BOOK, owner="w1", invoice_id=1, token=first.token
        )
    for call in (journal.check(first), journal.renew(first, 10)):
        with pytest.raises(LeaseLostError):
            await call
    # The new one: its token is current; a wrong token is refused, even under its own name.
    await journal.record_intent(
        "1", JournalAction.BOOK, owner="w2", invoice_id=1, token=taken.token
    )
    with pytest.raises(LeaseLostError, match="no longer current"):
        await journal.record_reference("1", "FIN-1", owner="w2", token=taken.token - 1)
    await journal.release("1", "w2", token=taken.token - 1)  # not this claim: kept
    assert await journal.claim("1", "w3", 10) is None
    await journal.release("1", "w2", token=taken.token)
    again = await journal.claim("1", "w2", 10)
    assert again is not None
    assert again.token > taken.token
    with pytest.raises(LeaseLostError, match="no longer current"):
        await journal.record_error("1", "late", owner="w2", token=taken.token)
    entry = await journal.get("1")
    assert entry is not None
    assert entry.external_reference is None
    assert entry.last_error is None


async def test_check_wants_a_safety_margin_and_renew_restores_it(
    journal: Journal, clock: Clock
) -> None:
    lease = await journal.claim("1", "w1", 10)
    assert lease is not None
    assert (await journal.check(lease, margin=5)).expires_at == lease.expires_at
    clock.now += 6
    with pytest.raises(LeaseLostError, match="less than the safety margin") as info:
        await journal.check(lease, margin=5)
    assert info.value.holder == "w1"
    renewed = await journal.renew(lease, 10)
    assert (renewed.token, renewed.expires_at) == (lease.token, clock.now + 10)
    await journal.check(renewed, margin=5)
    # A lapsed lease nobody took over: renewing it is safe (the token is still current).
    clock.now += 30
    with pytest.raises(LeaseLostError):
        await journal.check(renewed)
    renewed = await journal.renew(renewed, 10)
    await journal.check(renewed, margin=9)
    with pytest.raises(ValueError, match="lease_seconds"):
        await journal.renew(renewed, 0)


async def test_orphan_is_an_event_and_changes_nothing(journal: Journal) -> None:
    await journal.record_orphan("5", "FIN-9", owner="w1", detail="lease lost after book()")
    (event,) = await journal.history("5")
    assert (event.kind, event.owner, event.action) == (
        JournalEventKind.ORPHAN,
        "w1",
        JournalAction.BOOK,
    )
    assert event.detail == "FIN-9: lease lost after book()"
    assert await journal.get("5") is None


async def check_incarnations(a: Journal, b: Journal, clock: Clock) -> None:
    """Two journal objects on one store are two holders, even under one owner name."""
    lease = await a.claim("1", "w", 10)
    assert lease is not None
    assert await b.claim("1", "w", 10) is None
    with pytest.raises(LeaseLostError, match="another process named 'w'"):
        await b.record_intent("1", JournalAction.BOOK, owner="w", invoice_id=1)
    await b.release("1", "w")  # not b's claim: kept
    assert await b.claim("1", "w", 10) is None
    clock.now += 11
    successor = await b.claim("1", "w", 10)
    assert successor is not None
    assert successor.token > lease.token
    for call in (
        a.record_intent("1", JournalAction.BOOK, owner="w", invoice_id=1),
        a.check(lease),
        a.renew(lease, 10),
    ):
        with pytest.raises(LeaseLostError):
            await call
    await a.release("1", "w", token=lease.token)
    assert await a.claim("1", "w", 10) is None  # still b's
    await b.record_intent("1", JournalAction.BOOK, owner="w", invoice_id=1, token=successor.token)


async def test_sqlite_processes_are_incarnations(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "j.db"
    async with (
        SqliteJournal(path, exclusive=False, clock=clock) as a,
        SqliteJournal(path, exclusive=False, clock=clock) as b,
    ):
        await check_incarnations(a, b, clock)


async def test_sqlite_version_1_file_is_migrated(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE claims (payment_key TEXT PRIMARY KEY, owner TEXT NOT NULL, "
        "expires_at REAL NOT NULL)"
    )
    conn.execute("INSERT INTO claims VALUES ('1', 'w', ?)", (clock.now + 10,))
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    async with SqliteJournal(path, exclusive=False, clock=clock) as j:
        assert await j.claim("1", "w", 10) is None  # an old process's claim: not ours
        clock.now += 11
        lease = await j.claim("1", "w", 10)
        assert lease is not None
        assert lease.token == 1
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    conn.close()


async def _old_and_new_payments(journal: Journal, clock: Clock) -> None:
    """Payment 1 failed and 2 started failing 100 days ago; 3 is being booked now."""
    for key in ("1", "2"):
        assert await journal.claim(key, "w1", 60)
        await journal.record_intent(
            key, JournalAction.FAIL, owner="w1", invoice_id=int(key), failure_message=f"Jane {key}"
        )
        await journal.record_error(key, f"server named Jane {key}", owner="w1")
    await journal.record_outcome("1", JournalOutcome.FAILED, owner="w1", invoice_id=1)
    await journal.record_error("1", "late error naming Jane 1", owner="w1")
    clock.now += 100 * 86400
    assert await journal.claim("3", "w1", 60)
    await journal.record_intent("3", JournalAction.BOOK, owner="w1", invoice_id=3)
    await journal.record_error("3", "timeout naming Mary", owner="w1")


async def test_prune_forgets_old_personal_data(journal: Journal, clock: Clock) -> None:
    await _old_and_new_payments(journal, clock)
    prune = journal.prune  # type: ignore[attr-defined]
    with pytest.raises(InvalidInputError, match="older_than"):
        await prune(older_than=timedelta(days=-1))
    with pytest.raises(InvalidInputError, match="timedelta"):
        await prune(older_than=90)  # days? seconds? refused, nothing pruned
    # 4 events of payment 1, 2 of payment 2, and entry 1's messages.
    assert await prune(older_than=timedelta(days=90)) == 7
    old = await journal.get("1")
    assert old is not None
    assert (old.outcome, old.failure_message, old.last_error) == (JournalOutcome.FAILED, None, None)
    assert await journal.history("1") == []
    # An open intent keeps what the reconciler needs to finish it; only its history goes.
    unfinished = await journal.get("2")
    assert unfinished is not None
    assert unfinished.intent is JournalAction.FAIL
    assert unfinished.failure_message == "Jane 2"
    assert await journal.history("2") == []
    recent = await journal.get("3")
    assert recent is not None
    assert recent.last_error == "timeout naming Mary"
    assert len(await journal.history("3")) == 2
    assert await prune(older_than=timedelta(days=90)) == 0


async def test_sqlite_prune_leaves_nothing_in_the_files(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "journal.db"
    async with SqliteJournal(path, clock=clock) as journal:
        await _old_and_new_payments(journal, clock)
        assert b"Jane 1" in _contents(tmp_path)
        await journal.prune(older_than=timedelta(days=90))
        contents = _contents(tmp_path)
    assert b"Jane 1" not in contents
    assert b"Mary" in contents


def _contents(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()))


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
async def test_sqlite_files_are_private_whatever_the_umask(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "journal.db"
    old = os.umask(0)
    try:
        async with SqliteJournal(path, clock=clock) as journal:
            assert await journal.claim("1", "w1", 60)
            await journal.record_intent(
                "1",
                JournalAction.FAIL,
                owner="w1",
                invoice_id=1,
                failure_message="Customer Jane Doe: IBAN closed",
            )
            modes = _modes(tmp_path)
    finally:
        os.umask(old)
    files = ["journal.db", "journal.db-shm", "journal.db-wal", "journal.db.lock"]
    assert modes == dict.fromkeys(files, 0o600)


def _modes(directory: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in sorted(directory.iterdir())}


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
async def test_sqlite_keeps_the_mode_of_an_existing_file(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "journal.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    async with SqliteJournal(path, clock=clock) as journal:
        assert await journal.claim("1", "w1", 60)
    assert _modes(tmp_path)["journal.db"] == 0o640
