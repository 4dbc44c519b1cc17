"""One reconciler worker process, for the multi-worker test and benchmark.

Run as ``python pg_worker.py --qondor URL --dsn DSN --schema S --finance-schema F --owner W``.
It reconciles the Qondor queue served at ``URL`` (a ``FakeQondor.serve()`` in the parent
process, so every worker sees the same payments) with a `PostgresJournal`, until the queue
is empty, then exits 0 (3 if ``--deadline`` passes first).

The finance system's lookups are in memory (they accept every payment of the first queue
listing, except lines whose article code starts with ``GONE-``); its bookings are rows in
PostgreSQL, shared by every worker: ``book()`` is atomic by idempotency key across
processes (a unique constraint), and every call is counted in ``book_calls`` with the
calling process, so the parent can check that nothing was booked twice. ``--book-seconds``
makes each ``book()`` take that long (before its insert).

``--freeze-at ACTION:CALL:N`` makes the process stop itself with a real SIGSTOP just before
its Nth journal call ``CALL`` (``check``, ``record_reference``, ``record_outcome``) on the
first payment whose step records an ACTION intent (``book``, ``fail``): after printing
``FROZEN <payment key>``. The parent sends SIGCONT. ``--sent-log FILE`` appends a line
``<time> <method> <path> <body>`` for every request that changes a payment in Qondor, sent
at ``<time>`` (``time.time()``).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import threading
import time
from typing import Any

import anyio
import anyio.to_thread
import httpx
import psycopg
from psycopg import sql

from qondor_invoicing.qondor import Invoice, QondorClient
from qondor_invoicing.reconcile import (
    InMemoryFinanceSystem,
    JournalAction,
    JournalEntry,
    Lease,
    PostgresJournal,
    PostgresRateLimiter,
    ReconcilePolicy,
    Reconciler,
    StepStatus,
)

FINANCE_TABLES = (
    "CREATE SCHEMA {s}",
    "CREATE SEQUENCE {s}.refs",
    """CREATE TABLE {s}.bookings (
        idempotency_key text PRIMARY KEY,
        invoice_id      bigint NOT NULL UNIQUE,
        reference       text NOT NULL UNIQUE,
        owner           text NOT NULL,
        at              timestamptz NOT NULL DEFAULT clock_timestamp()
    )""",
    """CREATE TABLE {s}.book_calls (
        seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        invoice_id bigint NOT NULL,
        owner      text NOT NULL,
        pid        integer NOT NULL,
        at         timestamptz NOT NULL DEFAULT clock_timestamp()
    )""",
)


def create_finance_tables(dsn: str, schema: str) -> None:
    """Create the shared finance system's tables (in the parent, before the workers start)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in FINANCE_TABLES:
            conn.execute(sql.SQL(statement).format(s=sql.Identifier(schema)))


class SharedFinance(InMemoryFinanceSystem):
    """Lookups in memory; bookings in PostgreSQL, shared and counted across processes."""

    def attach(
        self,
        dsn: str,
        schema: str,
        owner: str,
        book_seconds: float = 0.0,
        latency: tuple[float, float] = (0.0, 0.0),
    ) -> None:
        self._dsn, self._schema, self._owner = dsn, sql.Identifier(schema), owner
        self._book_seconds = book_seconds
        self._latency = latency
        self._conn: psycopg.Connection[Any] | None = None
        self._mutex = threading.Lock()

    async def book(self, invoice: Invoice, *, idempotency_key: str) -> str:  # type: ignore[override]
        await anyio.to_thread.run_sync(self._call, invoice.id)
        if self._book_seconds:
            await anyio.sleep(self._book_seconds)  # the finance system's slow part
        if self._latency[1] > 0:  # a remote finance system's answer time
            await anyio.sleep(random.uniform(*self._latency))
        return await anyio.to_thread.run_sync(self._book, invoice.id, idempotency_key)

    def _execute(self, statement: str, params: tuple[Any, ...]) -> Any:
        with self._mutex:
            if self._conn is None or self._conn.closed or self._conn.broken:
                # A new connection after a server restart: book() fails until it is back,
                # and the reconciler defers the payment (its book() is idempotent).
                self._conn = psycopg.connect(self._dsn, autocommit=True)
            return self._conn.execute(sql.SQL(statement).format(s=self._schema), params)

    def _call(self, invoice_id: int) -> None:
        self._execute(
            "INSERT INTO {s}.book_calls (invoice_id, owner, pid) VALUES (%s, %s, %s)",
            (invoice_id, self._owner, os.getpid()),
        )

    def _book(self, invoice_id: int, key: str) -> str:
        # One statement: the unique key makes concurrent calls wait for the first and
        # return its booking.
        row = self._execute(
            "WITH new AS (INSERT INTO {s}.bookings (idempotency_key, invoice_id, reference, "
            "owner) VALUES (%s, %s, 'FIN-' || lpad(nextval('{s}.refs')::text, 6, '0'), %s) "
            "ON CONFLICT (idempotency_key) DO NOTHING RETURNING reference) "
            "SELECT reference FROM new UNION ALL "
            "SELECT reference FROM {s}.bookings WHERE idempotency_key = %s",
            (key, invoice_id, self._owner, key),
        ).fetchone()
        assert row is not None
        return str(row[0])


class FreezingJournal(PostgresJournal):
    """Stops its own process (SIGSTOP) just before one chosen journal call of one step.

    It stops between journal calls (it lets the calls in flight finish and holds new ones
    back first): a process stopped inside a journal transaction would hold its payment's
    lock until ``lock_timeout``, which is another test's subject.
    """

    _in_flight = 0
    _freezing = False

    def freeze_at(self, spec: str | None) -> None:
        self._spec: tuple[str, str, int] | None = None
        if spec:
            action, call, nth = spec.split(":")
            self._spec = (action, call, int(nth))
        self._actions: dict[str, str] = {}
        self._calls: dict[tuple[str, str], int] = {}

    async def _run(self, fn: Any) -> Any:
        while self._freezing:  # noqa: ASYNC110 - a test harness, polling is fine
            await anyio.sleep(0.005)
        self._in_flight += 1
        try:
            return await super()._run(fn)
        finally:
            self._in_flight -= 1

    async def _maybe_freeze(self, key: str, call: str) -> None:
        if self._spec is None or self._actions.get(key) != self._spec[0]:
            return
        n = self._calls[key, call] = self._calls.get((key, call), 0) + 1
        if (call, n) == self._spec[1:]:
            self._spec = None  # once
            self._freezing = True
            while self._in_flight:  # noqa: ASYNC110
                await anyio.sleep(0.005)
            print(f"FROZEN {key}", flush=True)
            os.kill(os.getpid(), signal.SIGSTOP)
            self._freezing = False

    async def record_intent(  # type: ignore[override]
        self, payment_key: str, action: JournalAction, **kwargs: Any
    ) -> JournalEntry:
        self._actions.setdefault(payment_key, action.value)
        return await super().record_intent(payment_key, action, **kwargs)

    async def check(self, lease: Lease, *, margin: float = 0.0) -> Lease:
        await self._maybe_freeze(lease.payment_key, "check")
        return await super().check(lease, margin=margin)

    async def record_reference(  # type: ignore[override]
        self, payment_key: str, external_reference: str, **kwargs: Any
    ) -> JournalEntry:
        await self._maybe_freeze(payment_key, "record_reference")
        return await super().record_reference(payment_key, external_reference, **kwargs)

    async def record_outcome(  # type: ignore[override]
        self, payment_key: str, outcome: Any, **kwargs: Any
    ) -> JournalEntry:
        await self._maybe_freeze(payment_key, "record_outcome")
        return await super().record_outcome(payment_key, outcome, **kwargs)


class SentLog(httpx.AsyncBaseTransport):
    """Writes down when each request that changes a payment is sent."""

    def __init__(self, path: str) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._file = open(path, "a", buffering=1)  # noqa: SIM115 - for the process's life

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            body = request.content.decode(errors="replace").replace("\n", " ")
            self._file.write(f"{time.time():.6f} {request.method} {request.url.path} {body}\n")
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        self._file.close()
        await self._inner.aclose()


async def work(args: argparse.Namespace) -> int:
    policy = ReconcilePolicy(lease_seconds=args.lease)
    started = time.monotonic()
    transport = SentLog(args.sent_log) if args.sent_log else None
    limiter = (
        PostgresRateLimiter(args.dsn, schema=args.schema, rate=args.shared_rate)
        if args.shared_rate
        else None
    )
    async with (
        QondorClient(
            api_key="test-key", base_url=args.qondor, rate_limit=limiter, transport=transport
        ) as qondor,
        FreezingJournal(args.dsn, schema=args.schema, pool_size=args.concurrency) as journal,
    ):
        journal.freeze_at(args.freeze_at)
        finance = SharedFinance.accepting(await qondor.invoices.list_unprocessed())
        finance.articles = {a for a in finance.articles if not a.startswith("GONE-")}
        finance.attach(
            args.dsn, args.finance_schema, args.owner, args.book_seconds, args.book_latency
        )
        reconciler = Reconciler(
            qondor,
            finance=finance,
            journal=journal,
            concurrency=args.concurrency,
            policy=policy,
            owner=args.owner,
        )
        runs = 0
        while True:
            if time.monotonic() - started > args.deadline:
                print(f"{args.owner}: deadline passed after {runs} runs", flush=True)
                return 3
            planning = time.monotonic()
            plan = await reconciler.plan()
            if not plan.steps:
                break
            planning = time.monotonic() - planning
            report = await reconciler.apply(plan)
            runs += 1
            print(f"{args.owner}: run {runs}: planned in {planning:.1f} s; {report.summary()}")
            if not any(r.status is StepStatus.DONE for r in report.results):
                await anyio.sleep(0.25)  # everything left is another worker's right now
    print(f"{args.owner}: queue empty after {runs} runs, {time.monotonic() - started:.1f} s")
    if limiter is not None:
        await limiter.aclose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--qondor", required=True, help="base URL of the served FakeQondor")
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--schema", required=True, help="the journal's schema")
    parser.add_argument("--finance-schema", required=True)
    parser.add_argument("--owner", required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--lease", type=float, default=2.5)
    parser.add_argument("--deadline", type=float, default=150.0)
    parser.add_argument(
        "--shared-rate",
        type=float,
        default=None,
        help="requests per second for all the workers (a PostgresRateLimiter); none by default",
    )
    parser.add_argument(
        "--book-latency",
        type=lambda text: tuple(float(x) for x in text.split(",")),
        default=(0.0, 0.0),
        help="MIN,MAX seconds each book() takes (uniformly drawn)",
    )
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--book-seconds", type=float, default=0.0)
    parser.add_argument("--freeze-at", help="ACTION:CALL:N, e.g. book:check:1")
    parser.add_argument("--sent-log", help="file listing the state changes sent")
    parser.add_argument(
        "--wait", action="store_true", help='print "ready", start on a line from stdin'
    )
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if args.wait:  # start-up (imports) is not part of a benchmark's time
        print("ready")
        sys.stdin.readline()
    return int(anyio.run(work, args, backend=args.backend))


if __name__ == "__main__":
    sys.exit(main())
