"""Requests per payment with 1, 2 and 4 reconciler processes on one PostgresJournal.

Qondor allows 10 requests per second and 100,000 per day, so the requests a payment costs
bound a day's work. Each worker skips, without reading it, a payment another live worker
holds, and claims never wait: 4 workers must spend at most 1.05 times the requests per
payment of one worker (a count ratio; nothing here depends on the machine's speed).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qondor_invoicing.qondor import InvoiceKind, InvoiceState
from qondor_invoicing.testing import FakeQondor

psycopg = pytest.importorskip("psycopg", reason="needs psycopg (the postgres extra)")
from pg_worker import create_finance_tables  # noqa: E402
from psycopg import sql  # noqa: E402

pytest_plugins = ["conftest_pg"]
pytestmark = [pytest.mark.slow, pytest.mark.postgres]

WORKER = Path(__file__).with_name("pg_worker.py")
PAYMENTS = 600


def _drain(dsn: str, schema: str, workers: int) -> float:
    fake = FakeQondor(rate_limit=None)
    kinds = (InvoiceKind.INVOICE_SPECIFICATION, InvoiceKind.CREDIT_NOTE)
    queued = [fake.add_invoice(kind=kinds[n % 2]) for n in range(PAYMENTS)]
    journal, finance = f"{schema}_{workers}", f"{schema}_{workers}_fin"
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
                        f"--schema={journal}",
                        f"--finance-schema={finance}",
                        f"--owner=w{n}",
                        "--concurrency=4",
                        "--lease=30",
                        "--deadline=300",
                        f"--backend={('asyncio', 'trio')[n % 2]}",
                    ],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
                for n in range(workers)
            ]
            outputs = [p.communicate(timeout=400)[0].decode(errors="replace") for p in procs]
        assert [p.returncode for p in procs] == [0] * workers, "\n".join(outputs)[-5000:]
        assert all(fake.invoices[i].state is InvoiceState.PROCESSED for i in queued)
        assert all(len(fake.invoices[i].history) == 1 for i in queued)
        # The finance system's listing in each worker is one more request per worker.
        return (len(fake.requests) - workers) / PAYMENTS
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for name in (journal, finance):
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name))
                )


def test_requests_per_payment_do_not_grow_with_workers(pg_dsn: str, pg_schema: str) -> None:
    per_payment = {n: _drain(pg_dsn, pg_schema, n) for n in (1, 2, 4)}
    print(f"\nQondor requests per payment: {per_payment}")
    assert per_payment[1] < 1.05
    assert per_payment[2] <= 1.05 * per_payment[1]
    assert per_payment[4] <= 1.05 * per_payment[1]
