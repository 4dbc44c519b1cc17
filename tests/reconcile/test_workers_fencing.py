"""Fencing between worker processes: a slow book() keeps its claim, a frozen worker is fenced.

Real processes (``pg_worker.py``) on one PostgreSQL journal and a `FakeQondor` served over
HTTP, with a finance system whose ``book()`` is atomic by idempotency key and counts every
call with the calling process:

- ``book()`` slower than the lease: the heartbeat keeps each claim alive, so every payment
  gets exactly one ``book()`` call and nothing is taken over.
- Four workers each stop themselves with a real SIGSTOP at one point of a step (before and
  after ``book()``, before and after SetAsProcessed: just before the journal call that
  precedes or follows the side effect); the parent sends SIGCONT only once their lease
  expired and another worker finished the payment. The stale worker does nothing more on
  that payment: no ``book()`` call, no request to Qondor, and Qondor receives each change
  once. The same again with a
  replacement process started under the frozen worker's owner name while it is stopped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from qondor_invoicing.qondor import InvoiceKind, InvoiceState
from qondor_invoicing.testing import FakeQondor

psycopg = pytest.importorskip("psycopg", reason="needs psycopg (the postgres extra)")
from pg_worker import create_finance_tables  # noqa: E402
from psycopg import sql  # noqa: E402

pytest_plugins = ["conftest_pg"]
pytestmark = [pytest.mark.slow, pytest.mark.postgres]

WORKER = Path(__file__).with_name("pg_worker.py")
DEADLINE = 120.0
POINTS = (
    "book:check:1",  # before book()
    "book:record_reference:1",  # after book()
    "book:check:2",  # before SetAsProcessed
    "book:record_outcome:1",  # after SetAsProcessed
)
# The same around SetAsFailed is covered in process (test_fencing.py); here a worker set to
# stop at a FAIL step never reached it yet (left for later).


class Run:
    """Worker processes on one journal schema and one shared finance schema."""

    def __init__(self, url: str, dsn: str, schema: str, finance: str, tmp: Path) -> None:
        self.url, self.dsn, self.schema, self.finance, self.tmp = url, dsn, schema, finance, tmp
        self.procs: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    def start(self, owner: str, *extra: str, lease: float, concurrency: int = 4) -> Any:
        n = len(self.procs)
        log = self.tmp / f"{n}-{owner}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    str(WORKER),
                    f"--qondor={self.url}",
                    f"--dsn={self.dsn}",
                    f"--schema={self.schema}",
                    f"--finance-schema={self.finance}",
                    f"--owner={owner}",
                    f"--lease={lease}",
                    f"--deadline={DEADLINE}",
                    f"--concurrency={concurrency}",
                    f"--backend={('asyncio', 'trio')[n % 2]}",
                    f"--sent-log={self.tmp / f'{n}.sent'}",
                    *extra,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.procs.append((owner, proc, log))
        return proc

    def logs(self) -> str:
        return "\n".join(
            f"--- {owner}\n{log.read_text(errors='replace')[-2500:]}"
            for owner, _, log in self.procs
        )

    def wait(self) -> None:
        end = time.monotonic() + DEADLINE + 30
        for _, proc, _ in self.procs:
            proc.wait(timeout=max(1.0, end - time.monotonic()))
        codes = [proc.returncode for _, proc, _ in self.procs]
        assert codes == [0] * len(codes), self.logs()

    def kill(self) -> None:
        for _, proc, _ in self.procs:
            if proc.poll() is None:
                if _state(proc.pid) == "T":
                    os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
                proc.wait()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"


def _seed(fake: FakeQondor, count: int, invalid_every: int = 0) -> tuple[list[int], set[int]]:
    kinds = (InvoiceKind.INVOICE_SPECIFICATION, InvoiceKind.CREDIT_NOTE)
    queued = [fake.add_invoice(kind=kinds[n % 2]) for n in range(count)]
    invalid: set[int] = set()
    for n, invoice_id in enumerate(queued):
        if invalid_every and n % invalid_every == 3:
            fake.invoices[invoice_id].payload["lines"][0]["articleCode"] = f"GONE-{invoice_id}"
            invalid.add(invoice_id)
    return queued, invalid


def _check_qondor(fake: FakeQondor, queued: list[int], invalid: set[int]) -> int:
    """Every payment in its final state; returns how many received a change twice."""
    doubled = 0
    for invoice_id in queued:
        stored = fake.invoices[invoice_id]
        expected = InvoiceState.FAILED if invoice_id in invalid else InvoiceState.PROCESSED
        assert stored.state is expected, (invoice_id, stored.history)
        doubled += len(stored.history) > 1
    return doubled


def _calls(conn: Any, finance: Any) -> Counter[int]:
    rows = conn.execute(
        sql.SQL("SELECT invoice_id, count(*) FROM {}.book_calls GROUP BY 1").format(finance)
    ).fetchall()
    return Counter(dict(rows))


@pytest.fixture
def schemas(pg_dsn: str, pg_schema: str) -> Any:
    finance = pg_schema + "_fin"
    create_finance_tables(pg_dsn, finance)
    yield pg_schema, finance
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(finance)))


def test_book_slower_than_the_lease_is_called_once_per_payment(
    pg_dsn: str, schemas: tuple[str, str], tmp_path: Path
) -> None:
    schema, finance = schemas
    fake = FakeQondor(rate_limit=None)
    queued, _ = _seed(fake, 40)
    f, s = sql.Identifier(finance), sql.Identifier(schema)
    with fake.serve() as url, psycopg.connect(pg_dsn, autocommit=True) as conn:
        run = Run(url, pg_dsn, schema, finance, tmp_path)
        try:
            started = time.monotonic()
            for n in range(4):
                run.start(f"w{n}", "--book-seconds=6", lease=3.0, concurrency=8)
            run.wait()
            elapsed = time.monotonic() - started
        finally:
            run.kill()
        calls = _calls(conn, f)
        bookings = conn.execute(sql.SQL("SELECT count(*) FROM {}.bookings").format(f)).fetchone()
        takeovers = conn.execute(
            sql.SQL("SELECT count(*) FROM {}.events WHERE kind = 'takeover'").format(s)
        ).fetchone()
    doubled = _check_qondor(fake, queued, set())
    print(
        f"\n40 payments, 4 workers, lease 3 s, book() 6 s: {sum(calls.values())} book() calls "
        f"(max {max(calls.values())} per payment), {bookings[0]} bookings, "
        f"{takeovers[0]} takeovers, {doubled} payments changed twice, {elapsed:.1f} s"
    )
    assert calls == Counter(dict.fromkeys(queued, 1))
    assert bookings == (40,)
    assert takeovers == (0,)
    assert doubled == 0


@pytest.mark.parametrize("replacement", [False, True], ids=["stale", "stale+replacement"])
def test_frozen_workers_are_fenced_after_takeover(
    pg_dsn: str, schemas: tuple[str, str], tmp_path: Path, replacement: bool
) -> None:
    schema, finance = schemas
    fake = FakeQondor(rate_limit=None)
    queued, invalid = _seed(fake, 300, invalid_every=10)
    lease = 2.0
    f, s = sql.Identifier(finance), sql.Identifier(schema)
    resumed: dict[str, tuple[str, int, datetime, float]] = {}  # key -> point, pid, at, time
    with fake.serve() as url, psycopg.connect(pg_dsn, autocommit=True) as conn:
        run = Run(url, pg_dsn, schema, finance, tmp_path)
        try:
            # The victims work alone until each has stopped itself at its point (so the
            # queue cannot run dry first); then two healthy workers take their payments over.
            victims = {
                # One step in flight: the freeze point is the only thing the victim is
                # doing. With more, its other steps freeze wherever they are, some between
                # their fence check and their request, the one window no lease can close
                # (docs/workers.md, "What no lease can cover"): not what this test measures.
                run.start(f"v{n}", f"--freeze-at={point}", lease=lease, concurrency=1): (n, point)
                for n, point in enumerate(POINTS)
            }
            frozen: dict[int, str] = {}
            end = time.monotonic() + DEADLINE
            while len(resumed) < len(POINTS):
                assert time.monotonic() < end, f"not every worker froze:\n{run.logs()}"
                for proc, (n, _) in victims.items():
                    if proc.pid in frozen:
                        continue
                    if proc.poll() is not None:
                        pytest.fail(f"a worker exited before it froze:\n{run.logs()}")
                    log = (tmp_path / f"{n}-v{n}.log").read_text(errors="replace")
                    if "FROZEN " in log and _state(proc.pid) == "T":
                        frozen[proc.pid] = log.split("FROZEN ", 1)[1].split()[0]
                        if replacement:
                            run.start(f"v{n}", lease=lease)
                        if len(frozen) == len(POINTS):
                            for w in range(2):
                                run.start(f"w{w}", lease=lease)
                for proc, (_, point) in victims.items():
                    key = frozen.get(proc.pid)
                    if key is None or key in resumed or not _finished_by_another(conn, s, key):
                        continue
                    (now,) = conn.execute("SELECT clock_timestamp()").fetchone()
                    resumed[key] = (point, proc.pid, now, time.time())
                    os.kill(proc.pid, signal.SIGCONT)
                time.sleep(0.05)
            run.wait()
        finally:
            run.kill()
        calls = _calls(conn, f)
        late_calls = {
            key: conn.execute(
                sql.SQL(
                    "SELECT count(*) FROM {}.book_calls WHERE invoice_id = %s AND pid = %s "
                    "AND at > %s"
                ).format(f),
                (int(key), pid, at),
            ).fetchone()[0]
            for key, (_, pid, at, _) in resumed.items()
        }
        bookings = dict(
            conn.execute(sql.SQL("SELECT invoice_id, reference FROM {}.bookings").format(f))
        )
        events = {
            key: conn.execute(
                sql.SQL(
                    "SELECT kind, detail FROM {}.events WHERE payment_key = %s ORDER BY seq"
                ).format(s),
                (key,),
            ).fetchall()
            for key in resumed
        }
        taken_over = {
            int(k)
            for (k,) in conn.execute(
                sql.SQL(
                    "SELECT DISTINCT payment_key FROM {}.events WHERE kind = 'takeover'"
                ).format(s)
            )
        }
    # After SIGCONT the stale worker did nothing more to its payment: no book(), no request.
    late_requests = {
        key: [
            line
            for line in (tmp_path / f"{POINTS.index(point)}.sent").read_text().splitlines()
            if float(line.split()[0]) > wall and _about(line, int(key))
        ]
        for key, (point, _, _, wall) in resumed.items()
    }
    assert late_calls == dict.fromkeys(resumed, 0), late_calls
    assert late_requests == {key: [] for key in resumed}, late_requests
    # Qondor received each change once; one booking per valid payment.
    doubled = _check_qondor(fake, queued, invalid)
    assert sorted(bookings) == sorted(i for i in queued if i not in invalid)
    assert len(set(bookings.values())) == len(bookings)
    # book() was called again only for payments taken over; after book() the lease loss
    # left an orphan event naming the reference the successor got again.
    assert {i for i, n in calls.items() if n > 1} <= taken_over
    by_point = {point: key for key, (point, *_) in resumed.items()}
    orphaned = by_point["book:record_reference:1"]
    orphans = [d for kind, d in events[orphaned] if kind == "orphan"]
    assert len(orphans) == 1, events[orphaned]
    assert orphans[0].startswith(bookings[int(orphaned)] + ": ")
    for key in resumed:
        assert any(kind == "takeover" for kind, _ in events[key]), events[key]
    print(
        f"\n300 payments, 2 workers + 4 frozen{' + 4 replacements' if replacement else ''}: "
        f"{sum(calls.values())} book() calls for {len(bookings)} bookings "
        f"(repeated on {sum(n > 1 for n in calls.values())} payments, all taken over), "
        f"{doubled} payments changed twice; after SIGCONT: "
        f"{sum(late_calls.values())} book() calls and "
        f"{sum(map(len, late_requests.values()))} requests by the stale workers"
    )
    assert doubled == 0


def _about(line: str, invoice_id: int) -> bool:
    """Whether a line of a sent-log is a request about ``invoice_id``."""
    body = line.split(maxsplit=3)[3] if len(line.split(maxsplit=3)) > 3 else ""
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and invoice_id in data.values()


def _finished_by_another(conn: Any, schema: Any, key: str) -> bool:
    row = conn.execute(
        sql.SQL(
            "SELECT p.intent IS NULL AND p.outcome IS NOT NULL AND EXISTS ("
            " SELECT 1 FROM {s}.events e WHERE e.payment_key = p.payment_key"
            " AND e.kind = 'takeover') FROM {s}.payments p WHERE p.payment_key = %s"
        ).format(s=schema),
        (key,),
    ).fetchone()
    return bool(row and row[0])
