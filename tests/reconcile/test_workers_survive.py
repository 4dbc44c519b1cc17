"""Four reconciler processes survive their database: a restart and terminated backends.

A throwaway PostgreSQL server of its own (it is restarted) holds the journal and a finance
system whose bookings are shared. While 4 ``pg_worker.py`` processes drain the queue of a
`FakeQondor` served over HTTP, every client connection is terminated
(``pg_terminate_backend``), the server is restarted (``pg_ctl restart -m fast``), and the
connections are terminated again. No worker exits; every payment is booked once and
changed once in Qondor; nothing is left open in the journal.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from qondor_invoicing.qondor import InvoiceKind, InvoiceState
from qondor_invoicing.reconcile import PostgresJournal
from qondor_invoicing.testing import FakeQondor, Faults

psycopg = pytest.importorskip("psycopg", reason="needs psycopg (the postgres extra)")
from conftest_pg import DSN_ENV, ServerUnavailable, TempPostgres, unavailable  # noqa: E402
from pg_worker import create_finance_tables  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

WORKER = Path(__file__).with_name("pg_worker.py")
PAYMENTS = 400
WORKERS = 4
SCHEMA, FINANCE = "journal", "finance"


def _terminate_all(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchone()
    return int(row[0]) if row else 0


def _wait_for(done: Callable[[], int], target: int, procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 120
    while done() < target:
        assert all(p.poll() is None for p in procs), "a worker exited"
        assert time.monotonic() < deadline, f"only {done()} payments done"
        time.sleep(0.05)


def test_workers_survive_restart_and_terminated_backends(tmp_path: Path) -> None:
    if os.environ.get(DSN_ENV):
        pytest.skip("restarts its own server: runs only with the throwaway one")
    try:
        server = TempPostgres()
        dsn = server.start()
    except ServerUnavailable as exc:
        unavailable(str(exc))
    fake = FakeQondor(rate_limit=None, faults=Faults(latency=0.05))
    kinds = (InvoiceKind.INVOICE_SPECIFICATION, InvoiceKind.CREDIT_NOTE)
    queued = [fake.add_invoice(kind=kinds[n % 2]) for n in range(PAYMENTS)]
    procs: list[subprocess.Popen[bytes]] = []
    logs = [tmp_path / f"w{n}.log" for n in range(WORKERS)]

    def done() -> int:
        with fake.lock:
            return sum(1 for i in queued if fake.invoices[i].state is InvoiceState.PROCESSED)

    try:
        create_finance_tables(dsn, FINANCE)
        anyio.run(_touch, dsn)
        with fake.serve() as url:
            for n in range(WORKERS):
                with logs[n].open("wb") as log:
                    procs.append(
                        subprocess.Popen(
                            [
                                sys.executable,
                                str(WORKER),
                                f"--qondor={url}",
                                f"--dsn={dsn}",
                                f"--schema={SCHEMA}",
                                f"--finance-schema={FINANCE}",
                                f"--owner=w{n}",
                                "--concurrency=4",
                                "--lease=20",
                                "--deadline=240",
                                f"--backend={('asyncio', 'trio')[n % 2]}",
                            ],
                            stdout=log,
                            stderr=subprocess.STDOUT,
                        )
                    )
            _wait_for(done, PAYMENTS // 5, procs)
            terminated = _terminate_all(dsn)
            _wait_for(done, PAYMENTS * 2 // 5, procs)
            restart = ("-m", "fast", "-l", str(server.log), "-w", "restart")
            server._run(server.pg_ctl, "-D", str(server.data), *restart)
            _wait_for(done, PAYMENTS * 3 // 5, procs)
            terminated_again = _terminate_all(dsn)
            for proc in procs:
                proc.wait(timeout=240)
        outputs = "\n".join(p.read_text(errors="replace")[-2000:] for p in logs)
        assert [p.returncode for p in procs] == [0] * WORKERS, outputs
        assert terminated > 0
        assert terminated_again > 0
        with psycopg.connect(dsn, autocommit=True) as conn:
            bookings = dict(conn.execute(f"SELECT invoice_id, reference FROM {FINANCE}.bookings"))
            (open_,) = conn.execute(  # type: ignore[misc]
                f"SELECT count(*) FROM {SCHEMA}.payments WHERE intent IS NOT NULL"
            ).fetchone()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        server.stop()
    # Nothing lost: every payment processed, with its booking's reference; nothing doubled:
    # one booking and one state change each; nothing left open in the journal.
    assert sorted(bookings) == sorted(queued)
    for invoice_id in queued:
        stored = fake.invoices[invoice_id]
        assert stored.state is InvoiceState.PROCESSED
        assert stored.external_reference == bookings[invoice_id]
        assert len(stored.history) == 1, stored.history
    assert open_ == 0
    print(
        f"\nterminated {terminated} then {terminated_again} backends, restarted once: "
        f"{len(fake.requests)} Qondor requests for {PAYMENTS} payments"
    )


async def _touch(dsn: str) -> None:
    async with PostgresJournal(dsn, schema=SCHEMA) as journal:
        await journal.unfinished()
