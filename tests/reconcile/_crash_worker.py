"""A reconciler process for the crash test: ``python _crash_worker.py BASE_URL DB_PATH``.

Runs one reconciliation against a served FakeQondor with a `SqliteJournal` and a finance
system whose bookings live in the same SQLite file, so both survive SIGKILL. Prints
``ready`` once it is about to start working, and the report's summary when done.
"""

from __future__ import annotations

import sqlite3
import sys
import threading

import anyio
import anyio.lowlevel

from qondor_invoicing import QondorClient, Reconciler, RetryPolicy, SqliteJournal
from qondor_invoicing.qondor import Customer, Invoice, InvoiceLine

FINANCE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS fin_bookings (invoice_id INTEGER NOT NULL, reference TEXT)",
    "CREATE TABLE IF NOT EXISTS fin_calls (invoice_id INTEGER NOT NULL, reference_recorded TEXT)",
)


class SqliteFinance:
    """A finance system whose bookings persist in SQLite; ``book`` is idempotent.

    Every call to ``book`` is logged, together with the reference the reconciler's journal
    already held for the payment at that moment (which must never be set: booking again a
    payment whose reference was recorded is the double booking the journal prevents).
    """

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA busy_timeout=30000")
        self.lock = threading.Lock()
        for statement in FINANCE_SCHEMA:
            self.conn.execute(statement)

    def has_article(self, code: str) -> bool:
        return not code.startswith("GONE-")

    def vat_rates(self, category: str | None) -> list[int]:
        return [0, 12, 15, 25]

    def find_customer(self, customer: Customer) -> str | None:
        return customer.external_reference or customer.number or customer.name

    def account_for(self, line: InvoiceLine) -> str | None:
        return line.account_code or "3000"

    def _book(self, invoice: Invoice) -> str:
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                try:
                    row = self.conn.execute(
                        "SELECT external_reference FROM payments WHERE payment_key = ?",
                        (str(invoice.id),),
                    ).fetchone()
                except sqlite3.OperationalError:  # the journal has no table yet
                    row = None
                self.conn.execute(
                    "INSERT INTO fin_calls VALUES (?, ?)", (invoice.id, row[0] if row else None)
                )
                found = self.conn.execute(
                    "SELECT reference FROM fin_bookings WHERE invoice_id = ?", (invoice.id,)
                ).fetchone()
                if found is not None:
                    reference = str(found[0])
                else:
                    count = self.conn.execute("SELECT count(*) FROM fin_bookings").fetchone()[0]
                    reference = f"FIN-{count + 1:05d}"
                    self.conn.execute(
                        "INSERT INTO fin_bookings VALUES (?, ?)", (invoice.id, reference)
                    )
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            return reference

    async def book(self, invoice: Invoice, *, idempotency_key: str) -> str:
        return await anyio.to_thread.run_sync(self._book, invoice)


async def main(base_url: str, db_path: str) -> None:
    async def no_sleep(seconds: float) -> None:
        await anyio.lowlevel.checkpoint()

    async with (
        QondorClient(
            api_key="test-key",
            base_url=base_url,
            rate_limit=None,
            sleep=no_sleep,
            retry_policy=RetryPolicy(max_retries=2),
            timeout=10.0,
        ) as qondor,
        SqliteJournal(db_path, synchronous="NORMAL") as journal,
    ):
        finance = SqliteFinance(db_path)
        reconciler = Reconciler(qondor, finance=finance, journal=journal, concurrency=4)
        print("ready", flush=True)
        report = await reconciler.run()
        print(report.summary(), flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2])
