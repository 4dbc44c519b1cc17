"""Several reconciler workers under Qondor's rate limit: 1, 2, 4 and 8 processes.

Each contender drains the same queue (a fresh FakeQondor seeded alike, served over HTTP, 100
ms per request as a remote API answers, and Qondor's own limit of 10 requests per second
enforced by the fake with 429 answers) with N worker processes (``tests/reconcile/
pg_worker.py``: a `Reconciler` with ``concurrency=4``, its own `PostgresJournal`, one
`PostgresRateLimiter` at 10 requests per second shared by all of them, and a finance system
whose ``book()`` takes 50 to 500 ms and whose bookings are shared in PostgreSQL). The time
is from the moment the (already started) processes are told to go until the last one has
found the queue empty. Reported: time to drain, payments per second, the Qondor requests
per second achieved against the limit of 10, requests per payment (the workers' start-up
listing of the queue for their finance system left out), and 429 answers.

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
WORKERS = (1, 2, 4, 8)
RATE = 10.0  # Qondor's limit, requests per second per key
LATENCY = 0.100  # seconds per Qondor request
BOOK = (0.050, 0.500)  # seconds per book(), uniformly drawn
KINDS = (InvoiceKind.INVOICE_SPECIFICATION, InvoiceKind.CREDIT_NOTE)


def run_once(dsn: str, workers: int, payments: int, tag: str) -> dict[str, Any]:
    """Drain a fresh queue of ``payments`` with ``workers`` processes; return figures."""
    fake = FakeQondor(rate_limit=(int(RATE), 1.0), faults=Faults(latency=LATENCY))
    queued = [fake.add_invoice(kind=KINDS[n % 2]) for n in range(payments)]
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
                        "--concurrency=4",
                        "--lease=60",
                        "--deadline=900",
                        f"--shared-rate={RATE}",
                        f"--book-latency={BOOK[0]},{BOOK[1]}",
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
        if any(fake.invoices[i].state is not InvoiceState.PROCESSED for i in queued):
            raise RuntimeError("the queue was not drained")
        requests = len(fake.requests)
        return {
            "seconds": seconds,
            "requests": requests,
            "per_payment": (requests - workers) / payments,
            "rate": requests / seconds,
            "429": sum(1 for r in fake.requests if r.status == 429),
            "changed_twice": sum(1 for i in queued if len(fake.invoices[i].history) > 1),
        }
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for name in (schema, finance):
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name))
                )


def main() -> None:
    args = c.parse_args(__doc__.splitlines()[0])
    payments = 20 if args.quick else 200
    rounds = args.rounds or 1
    contenders = WORKERS[:2] if args.quick else WORKERS
    env = c.print_header("Several reconciler workers (PostgreSQL)", "bench_workers.py", args.quick)
    print(
        f"{payments} payments per run; Qondor {LATENCY * 1000:.0f} ms per request, limited to "
        f"{RATE:g} requests/s (429 above); book() {BOOK[0] * 1000:.0f}-{BOOK[1] * 1000:.0f} "
        f"ms; one PostgresRateLimiter at {RATE:g}/s shared by the workers; concurrency 4 "
        f"per worker; {rounds} round(s), median. Wall time from telling the started worker "
        "processes to go until the last one exits.\n"
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
        for r in range(rounds):
            for w in c.rotated(list(contenders), r):
                results.setdefault(str(w), []).append(run_once(dsn, w, payments, f"{w}w{r}"))
                c.flush()
    finally:
        if server is not None:
            server.stop()

    rows = []
    for w in contenders:
        runs = results[str(w)]
        secs = c.median(x["seconds"] for x in runs)
        rate = c.median(x["rate"] for x in runs)
        rows.append(
            [
                str(w),
                f"{secs:.1f}",
                f"{payments / secs:.2f}",
                f"{rate:.2f} ({rate / RATE:.0%})",
                f"{c.median(x['per_payment'] for x in runs):.3f}",
                max(x["429"] for x in runs),
                max(x["changed_twice"] for x in runs),
            ]
        )
    print(
        c.table(
            [
                "workers",
                "time to drain (s)",
                "payments/s",
                "Qondor requests/s (of the limit)",
                "requests per payment",
                "429s",
                "changed twice",
            ],
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
