"""A finance system whose book() is atomic by idempotency key, on PostgreSQL.

Run it against a test database: FINANCE_DSN="postgresql://..." python postgres_finance.py
"""

import os
from decimal import Decimal

import anyio
import psycopg

from qondor_invoicing import Customer, Invoice, InvoiceKind, InvoiceLine, InvoiceState
from qondor_invoicing.testing import check_finance_system

SCHEMA = """
CREATE SEQUENCE IF NOT EXISTS booking_numbers;
CREATE TABLE IF NOT EXISTS bookings (
    idempotency_key text PRIMARY KEY,  -- the unique constraint that makes book() atomic
    reference text NOT NULL UNIQUE,
    invoice_id bigint NOT NULL,
    amount numeric,
    booked_at timestamptz NOT NULL DEFAULT now()
);
"""


class PostgresFinance:
    """The reconciler's FinanceSystem; the lookups are minimal, book() is the point."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SCHEMA)

    def has_article(self, code: str) -> bool:
        return True

    def vat_rates(self, category: str | None) -> list[Decimal]:
        return [Decimal("25")]

    def find_customer(self, customer: Customer) -> str | None:
        return "C-1"

    def account_for(self, line: InvoiceLine) -> str | None:
        return "3000"

    async def book(self, invoice: Invoice, *, idempotency_key: str) -> str:
        # psycopg's sync API in a worker thread: works under asyncio and trio alike.
        return await anyio.to_thread.run_sync(self._book, invoice, idempotency_key)

    def _book(self, invoice: Invoice, key: str) -> str:
        total = invoice.total()
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            # A concurrent insert with the same key waits for the first one to commit, then
            # does nothing; the SELECT then reads the booking the first one made.
            row = conn.execute(
                "INSERT INTO bookings (idempotency_key, reference, invoice_id, amount)"
                " VALUES (%s, 'FIN-' || nextval('booking_numbers'), %s, %s)"
                " ON CONFLICT (idempotency_key) DO NOTHING RETURNING reference",
                (key, invoice.id, total.amount if total else None),
            ).fetchone()
            if row is None:
                row = conn.execute(
                    "SELECT reference FROM bookings WHERE idempotency_key = %s", (key,)
                ).fetchone()
            assert row is not None
            return str(row[0])

    def count_bookings(self) -> int:
        with psycopg.connect(self.dsn) as conn:
            row = conn.execute("SELECT count(*) FROM bookings").fetchone()
            return int(row[0]) if row else 0


async def main() -> None:
    dsn = os.environ["FINANCE_DSN"]
    finance = PostgresFinance(dsn)
    invoice = Invoice(
        id=4711,
        kind=InvoiceKind.INVOICE_SPECIFICATION,
        state=InvoiceState.UNPROCESSED,
    )
    reference = await check_finance_system(
        finance,
        invoice,
        bookings=finance.count_bookings,
        restart=lambda: PostgresFinance(dsn),  # as a restarted worker process would
    )
    print("conforms; booked once as", reference)


if __name__ == "__main__":
    anyio.run(main)
