"""Several reconciler workers: throughput with 1, 2 and 4 worker processes on one PostgresJournal.

Each contender reconciles the same queue (a fresh FakeQondor seeded alike, served over HTTP
with a fixed latency per request, as a remote API would answer) with N worker processes
(``tests/reconcile/pg_worker.py``: a `Reconciler` with its own `PostgresJournal` and a
finance system whose bookings are shared in PostgreSQL), started at once; the time is from
the moment the (already started) processes are told to go until the last one has found
the queue empty. Rounds interleave the
contenders so that a noisy neighbour slows all of them alike. Each worker runs the
Reconciler's default ``concurrency=4``; one more contender is a single worker with
``concurrency=16``, as many payments in flight as four workers. Two latencies: 20 ms (the
fake on a fast network) and 100 ms (closer to a remote API's answers).

PostgreSQL: ``QONDOR_BENCH_PG_DSN`` (or ``QONDOR_TEST_PG_DSN``) if set, otherwise a
throwaway server (``fsync`` on) started for the run, as the tests do.

Run: ``python bench/bench_workers.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "reconcile"))

import _common as c
import psycopg
from conftest_pg import ServerUnavailable, TempPostgres, in_ci
from pg_worker import create_finance_tables
from psycopg import sql

from qondor_invoicing.qondor import InvoiceKind, InvoiceState
from qondor_invoicing.testing import FakeQondor, Faults

WORKER = c.REPO / "tests" / "reconcile" / "pg_worker.py"
#: (worker processes, Reconciler concurrency per worker)
CONTENDERS = ((1, 4), (2, 4), (4, 4), (1, 16))
LATENCIES = (0.020, 0.100)
KINDS = (
    InvoiceKind.INVOICE_SPECIFICATION,
    InvoiceKind.CREDIT_CARD_PAYMENT,
    InvoiceKind.CREDIT_NOTE,
)


def run_once(
    dsn: str, workers: int, concurrency: int, latency: float, payments: int, tag: str
) -> dict[str, Any]:
    """Reconcile a fresh queue of ``payments`` with ``workers`` processes; return figures."""
    fake = FakeQondor(rate_limit=None, faults=Faults(latency=latency))
    queued = [fake.add_invoice(kind=KINDS[n % 3]) for n in range(payments)]
    schema, finance = f"bench_{tag}", f"bench_{tag}_fin"
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in (schema, finance):
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
    create_finance_tables(dsn, finance)
    try:
        with fake.serve() as url:
            procs = [
                subprocess.Popen(
                    [
                        sys.executable,
                        str(WORKER),
                        f"--qondor={url}",
                        f"--dsn={dsn}",
                        f"--schema={schema}",
                        f"--finance-schema={finance}",
                        f"--owner=w{n}",
                        f"--concurrency={concurrency}",
                        "--lease=30",
                        "--deadline=600",
                        "--wait",
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
                for n in range(workers)
            ]
            for proc in procs:  # every process has imported everything
                assert proc.stdout is not None
                if proc.stdout.readline().strip() != b"ready":
                    raise RuntimeError(f"a worker did not start: {proc.communicate()[0]!r}")
            t0 = time.perf_counter()
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write(b"go\n")
                proc.stdin.flush()
            outputs = [p.communicate()[0].decode(errors="replace") for p in procs]
            seconds = time.perf_counter() - t0
        for proc, out in zip(procs, outputs, strict=True):
            if proc.returncode != 0:
                raise RuntimeError(f"a worker failed ({proc.returncode}):\n{out[-3000:]}")
        states = [fake.invoices[i].state for i in queued]
        if any(s is InvoiceState.UNPROCESSED for s in states):
            raise RuntimeError("the queue was not drained")
        with psycopg.connect(dsn, autocommit=True) as conn:
            (bookings,) = conn.execute(  # type: ignore[misc]
                sql.SQL("SELECT count(*) FROM {}.bookings").format(sql.Identifier(finance))
            ).fetchone()
        twice = sum(1 for i in queued if len(fake.invoices[i].history) > 1)
        return {
            "seconds": seconds,
            "bookings": bookings,
            "changed_twice": twice,
            "requests": len(fake.requests),
        }
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for name in (schema, finance):
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name))
                )


def main() -> None:
    args = c.parse_args(__doc__.splitlines()[0])
    payments = 20 if args.quick else 600
    rounds = args.rounds or (1 if args.quick else 3)
    latencies = LATENCIES[:1] if args.quick else LATENCIES
    env = c.print_header("Several reconciler workers (PostgreSQL)", "bench_workers.py", args.quick)
    print(
        f"{payments} payments per run, no rate limit, {rounds} rounds; median of the rounds. "
        "Wall time from telling the started worker processes to go until the last one exits "
        "(connecting, planning and the final empty plan included).\n"
    )
    dsn = os.environ.get("QONDOR_BENCH_PG_DSN") or os.environ.get("QONDOR_TEST_PG_DSN")
    server = None
    if not dsn:
        try:
            server = TempPostgres(durable=True)
            dsn = server.start()
        except ServerUnavailable as exc:
            # Like the tests: outside CI a missing server is not this benchmark's failure.
            print(f"no PostgreSQL server, nothing measured: {exc}")
            sys.exit(1 if in_ci() else 0)
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        with psycopg.connect(dsn) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        kind = " (throwaway, fsync on)" if server else ""
        print(f"- PostgreSQL {version[0] if version else '?'}{kind}")
        print()
        names = [f"{w}x{k}@{lat}" for lat in latencies for w, k in CONTENDERS]
        for r in range(rounds):
            for name in c.rotated(names, r):
                spec, lat = name.split("@")
                w, k = (int(x) for x in spec.split("x"))
                tag = f"{w}w{k}c{int(float(lat) * 1000)}ms{r}"
                results.setdefault(name, []).append(run_once(dsn, w, k, float(lat), payments, tag))
                c.flush()
    finally:
        if server is not None:
            server.stop()

    for lat in latencies:
        base = c.median(x["seconds"] for x in results[f"1x4@{lat}"])
        rows = []
        for w, k in CONTENDERS:
            runs = results[f"{w}x{k}@{lat}"]
            secs = c.median(x["seconds"] for x in runs)
            rows.append(
                [
                    f"{w} x concurrency {k}",
                    f"{secs:.2f}",
                    f"{payments / secs:.0f}",
                    f"{base / secs:.2f}x",
                    max(x["changed_twice"] for x in runs),
                ]
            )
        print(f"## {lat * 1000:.0f} ms per Qondor request\n")
        print(
            c.table(
                ["workers", "wall time (s)", "payments/s", "vs 1 worker", "changed twice (max)"],
                rows,
            )
        )
        print()
    c.write_json(
        args.json,
        {"environment": env, "payments": payments, "rounds": rounds, "results": results},
    )


if __name__ == "__main__":
    main()
