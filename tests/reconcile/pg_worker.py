"""One reconciler worker process, for the multi-worker test and benchmark.

Run as ``python pg_worker.py --qondor URL --dsn DSN --schema S --finance-schema F --owner W``.
It reconciles the Qondor queue served at ``URL`` (a ``FakeQondor.serve()`` in the parent
process, so every worker sees the same payments) with a `PostgresJournal`, until the queue
is empty, then exits 0 (3 if ``--deadline`` passes first).

The finance system's lookups are in memory (they accept every payment of the first queue
listing, except lines whose article code starts with ``GONE-``); its bookings are rows in
PostgreSQL, shared by every worker: ``book()`` is idempotent by invoice id across
processes, and every call is counted in ``book_calls``, so the parent can check that
nothing was booked twice.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any

import anyio
import anyio.to_thread
import psycopg
from psycopg import sql

from qondor_invoicing.qondor import Invoice, QondorClient
from qondor_invoicing.reconcile import (
    InMemoryFinanceSystem,
    PostgresJournal,
    ReconcilePolicy,
    Reconciler,
    StepStatus,
)

FINANCE_TABLES = (
    "CREATE SCHEMA {s}",
    "CREATE SEQUENCE {s}.refs",
    """CREATE TABLE {s}.bookings (
        invoice_id bigint PRIMARY KEY,
        reference  text NOT NULL UNIQUE,
        owner      text NOT NULL,
        at         timestamptz NOT NULL DEFAULT clock_timestamp()
    )""",
    """CREATE TABLE {s}.book_calls (
        seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        invoice_id bigint NOT NULL,
        owner      text NOT NULL,
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

    def attach(self, dsn: str, schema: str, owner: str) -> None:
        self._dsn, self._schema, self._owner = dsn, sql.Identifier(schema), owner
        self._conn: psycopg.Connection[Any] | None = None
        self._mutex = threading.Lock()

    async def book(self, invoice: Invoice) -> str:
        return await anyio.to_thread.run_sync(self._book, invoice.id)

    def _book(self, invoice_id: int) -> str:
        with self._mutex:
            if self._conn is None:
                self._conn = psycopg.connect(self._dsn, autocommit=True)
            conn, s = self._conn, self._schema
            with conn.transaction():
                conn.execute(
                    sql.SQL("INSERT INTO {}.book_calls (invoice_id, owner) VALUES (%s, %s)").format(
                        s
                    ),
                    (invoice_id, self._owner),
                )
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {s}.bookings (invoice_id, reference, owner) "
                        "VALUES (%s, 'FIN-' || lpad(nextval('{s}.refs')::text, 6, '0'), %s) "
                        "ON CONFLICT (invoice_id) DO NOTHING"
                    ).format(s=s),
                    (invoice_id, self._owner),
                )
                row = conn.execute(
                    sql.SQL("SELECT reference FROM {}.bookings WHERE invoice_id = %s").format(s),
                    (invoice_id,),
                ).fetchone()
            assert row is not None
            return str(row[0])


async def work(args: argparse.Namespace) -> int:
    policy = ReconcilePolicy(lease_seconds=args.lease)
    started = time.monotonic()
    async with (
        QondorClient(api_key="test-key", base_url=args.qondor, rate_limit=None) as qondor,
        PostgresJournal(args.dsn, schema=args.schema, pool_size=args.concurrency) as journal,
    ):
        finance = SharedFinance.accepting(await qondor.invoices.list_unprocessed())
        finance.articles = {a for a in finance.articles if not a.startswith("GONE-")}
        finance.attach(args.dsn, args.finance_schema, args.owner)
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
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
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
