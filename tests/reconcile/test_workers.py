"""Contention: 4 reconciler processes on 2,000 payments, one killed mid-run, one PostgresJournal.

The parent serves a FakeQondor over HTTP (every worker sees the same payments), creates a
shared finance system in PostgreSQL (bookings idempotent by invoice id, every ``book()`` call
counted) and starts four ``pg_worker.py`` processes. Once a quarter of the payments are done
it kills one worker with SIGKILL while it holds claims. The three others must finish
everything: each payment booked once and changed once in Qondor, the dead worker's claims
taken over once their lease expired, and nothing left open in the journal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest

from qondor_invoicing.qondor import InvoiceAction, InvoiceKind, InvoiceState
from qondor_invoicing.reconcile import JournalEventKind, JournalOutcome, PostgresJournal
from qondor_invoicing.testing import FakeQondor

psycopg = pytest.importorskip("psycopg", reason="needs psycopg (the postgres extra)")
from pg_worker import create_finance_tables  # noqa: E402
from psycopg import sql  # noqa: E402

pytest_plugins = ["conftest_pg"]
pytestmark = [pytest.mark.slow, pytest.mark.postgres]

WORKER = Path(__file__).with_name("pg_worker.py")
PAYMENTS = 2000
WORKERS = 4
LEASE = 3.0
KILL_AFTER = PAYMENTS // 4
DEADLINE = 150.0


def _seed(fake: FakeQondor) -> tuple[list[int], set[int]]:
    kinds = (
        InvoiceKind.INVOICE_SPECIFICATION,
        InvoiceKind.CREDIT_CARD_PAYMENT,
        InvoiceKind.CREDIT_NOTE,
    )
    queued = [fake.add_invoice(kind=kinds[n % 3]) for n in range(PAYMENTS)]
    # One in twenty cannot be booked (not card payments: those are never set as failed).
    invalid: set[int] = set()
    for n, invoice_id in enumerate(queued):
        stored = fake.invoices[invoice_id]
        if n % 20 == 7 and stored.kind is not InvoiceKind.CREDIT_CARD_PAYMENT:
            stored.payload["lines"][0]["articleCode"] = f"GONE-{invoice_id}"
            invalid.add(invoice_id)
    return queued, invalid


def test_four_workers_one_killed(pg_dsn: str, pg_schema: str, tmp_path: Path) -> None:
    fake = FakeQondor(rate_limit=None)
    queued, invalid = _seed(fake)
    assert len(queued) == PAYMENTS
    finance_schema = pg_schema + "_fin"
    create_finance_tables(pg_dsn, finance_schema)
    s, f = sql.Identifier(pg_schema), sql.Identifier(finance_schema)
    procs: list[subprocess.Popen[bytes]] = []
    logs = [tmp_path / f"w{n}.log" for n in range(WORKERS)]
    started = time.monotonic()
    try:
        with fake.serve() as url, psycopg.connect(pg_dsn, autocommit=True) as conn:
            # The journal's schema exists before the workers race to read it.
            anyio.run(_touch, pg_dsn, pg_schema)
            for n in range(WORKERS):
                with logs[n].open("wb") as log:
                    procs.append(
                        subprocess.Popen(
                            [
                                sys.executable,
                                str(WORKER),
                                f"--qondor={url}",
                                f"--dsn={pg_dsn}",
                                f"--schema={pg_schema}",
                                f"--finance-schema={finance_schema}",
                                f"--owner=w{n}",
                                f"--lease={LEASE}",
                                f"--deadline={DEADLINE}",
                                "--concurrency=8",
                                f"--backend={('asyncio', 'trio')[n % 2]}",
                            ],
                            stdout=log,
                            stderr=subprocess.STDOUT,
                        )
                    )
            victim = procs[0]
            abandoned = _kill_mid_run(conn, s, victim, procs, logs)
            killed_at = time.monotonic() - started
            for proc in procs[1:]:
                proc.wait(timeout=max(1.0, DEADLINE + 30 - (time.monotonic() - started)))
            elapsed = time.monotonic() - started

            bookings = dict(
                conn.execute(sql.SQL("SELECT invoice_id, reference FROM {}.bookings").format(f))
            )
            calls = Counter(
                dict(
                    conn.execute(
                        sql.SQL("SELECT invoice_id, count(*) FROM {}.book_calls GROUP BY 1").format(
                            f
                        )
                    ).fetchall()
                )
            )
            takeovers = conn.execute(
                sql.SQL(
                    "SELECT payment_key, owner, detail FROM {}.events WHERE kind = 'takeover'"
                ).format(s)
            ).fetchall()
        logs_text = "\n".join(p.read_text(errors="replace")[-3000:] for p in logs)
        assert victim.returncode == -signal.SIGKILL
        assert [p.returncode for p in procs[1:]] == [0] * (WORKERS - 1), logs_text
        history = anyio.run(_histories, pg_dsn, pg_schema, [str(i) for i in queued])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        with psycopg.connect(pg_dsn, autocommit=True) as cleanup:
            cleanup.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(f))

    valid = [i for i in queued if i not in invalid]
    # Qondor: every payment ends in the right state; booked ones with their booking's reference.
    assert fake.refused_requests == []
    repeated: dict[int, int] = {}
    for invoice_id in queued:
        stored = fake.invoices[invoice_id]
        if invoice_id in invalid:
            action, state = InvoiceAction.SET_AS_FAILED, InvoiceState.FAILED
            assert f"GONE-{invoice_id}" in (stored.failure_message or "")
        else:
            action, state = InvoiceAction.SET_AS_PROCESSED, InvoiceState.PROCESSED
            assert stored.external_reference == bookings[invoice_id]
        assert stored.state is state, invoice_id
        assert stored.history, invoice_id
        first = stored.history[0]
        assert first.action is action
        # Never two different changes: at most the same one again (see the end of the test).
        for again in stored.history[1:]:
            assert (again.action, again.body) == (first.action, first.body), stored.history
            assert again.from_state is again.to_state is state
        if len(stored.history) > 1:
            repeated[invoice_id] = len(stored.history)
    # The finance system: one booking per valid payment, none for the others.
    assert sorted(bookings) == sorted(valid)
    assert len(set(bookings.values())) == len(valid)
    # book() was called again only where a worker took a payment over (the window between
    # book() returning and the reference being recorded, which book()'s idempotency closes).
    taken_over = {int(key) for key, _, _ in takeovers}
    booked_again = {i for i, n in calls.items() if n > 1}
    assert booked_again <= taken_over, (booked_again, taken_over)

    # The journal: nothing open, every payment closed with the right outcome.
    for invoice_id in queued:
        outcomes = [e for e in history[str(invoice_id)] if e.kind is JournalEventKind.OUTCOME]
        expected = JournalOutcome.FAILED if invoice_id in invalid else JournalOutcome.PROCESSED
        assert outcomes, invoice_id
        assert outcomes[-1].outcome is expected

    # The takeover: every payment the dead worker was working on (an intent in flight, or
    # claimed with nothing recorded yet) was taken over by a survivor once the lease
    # expired, and finished by a survivor after that.
    open_at_kill = [i for i, still_open in abandoned.items() if still_open]
    assert open_at_kill, abandoned
    for invoice_id in open_at_kill:
        events = history[str(invoice_id)]
        taken = [
            n
            for n, e in enumerate(events)
            if e.kind is JournalEventKind.TAKEOVER
            and (e.detail or "").startswith("lease of 'w0' expired")
        ]
        assert taken, events
        assert events[taken[0]].owner != "w0"
        closing = [e for e in events[taken[0] + 1 :] if e.kind is JournalEventKind.OUTCOME]
        assert closing, events
        assert closing[-1].owner != "w0"
    done_by = Counter(
        [e.owner for i in queued for e in history[str(i)] if e.kind is JournalEventKind.OUTCOME]
    )
    print(
        f"\n{PAYMENTS} payments, {WORKERS} workers, w0 killed at {killed_at:.1f} s holding "
        f"{len(abandoned)} claims ({len(open_at_kill)} in flight, taken over and finished by "
        f"others); all done in "
        f"{elapsed:.1f} s; outcomes by worker {dict(sorted(done_by.items()))}; "
        f"{len(takeovers)} takeovers {dict(Counter(d for _, _, d in takeovers))}; "
        f"{sum(calls.values()) - len(valid)} repeated book() calls; "
        f"{len(fake.requests)} Qondor requests; {len(repeated)} payments changed twice"
    )
    # Qondor received each change once, including for the payments the dead worker held
    # (a resumed intent re-reads the payment before sending anything).
    assert not repeated, f"payments changed twice: {repeated}"


async def _touch(dsn: str, schema: str) -> None:
    async with PostgresJournal(dsn, schema=schema) as journal:
        await journal.unfinished()


async def _histories(dsn: str, schema: str, keys: list[str]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    async with PostgresJournal(dsn, schema=schema) as journal:
        assert await journal.unfinished() == []
        for key in keys:
            out[key] = list(await journal.history(key))
    return out


def _kill_mid_run(
    conn: Any,
    schema: Any,
    victim: subprocess.Popen[bytes],
    procs: list[subprocess.Popen[bytes]],
    logs: list[Path],
) -> dict[int, bool]:
    """SIGKILL ``victim`` mid-step once enough is done; return its claims (key -> open)."""
    deadline = time.monotonic() + DEADLINE
    count = sql.SQL(
        "SELECT (SELECT count(*) FROM {s}.events WHERE kind = 'outcome'), "
        "(SELECT count(*) FROM {s}.events WHERE kind = 'outcome' AND owner = 'w0'), "
        "(SELECT count(*) FROM {s}.claims c JOIN {s}.payments p USING (payment_key) "
        " WHERE c.owner = 'w0' AND p.intent IS NOT NULL)"
    ).format(s=schema)
    while True:
        done, done_by_victim, open_held = conn.execute(count).fetchone()
        if done >= KILL_AFTER and done_by_victim >= KILL_AFTER // WORKERS // 2 and open_held:
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait()
            break
        for proc, log in zip(procs, logs, strict=True):
            if proc.poll() is not None:
                pytest.fail(f"a worker exited early:\n{log.read_text(errors='replace')[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"only {done} payments done before the deadline")
        time.sleep(0.01)
    # The dead worker's claims, and whether the payment was still open then (an intent in
    # flight, or nothing recorded yet) or already closed (a claim taken from a stale plan).
    return {
        int(key): still_open
        for key, still_open in conn.execute(
            sql.SQL(
                "SELECT c.payment_key, p.payment_key IS NULL OR p.intent IS NOT NULL "
                "FROM {s}.claims c LEFT JOIN {s}.payments p USING (payment_key) "
                "WHERE c.owner = 'w0'"
            ).format(s=schema)
        )
    }
