"""Whatever text reaches the reconciler, the journal and the logs get it without credentials."""

from __future__ import annotations

import logging
from urllib.parse import quote

import pytest

from qondor_invoicing.qondor import Invoice, QondorClient
from qondor_invoicing.reconcile import (
    InMemoryFinanceSystem,
    MemoryJournal,
    Reconciler,
    StepStatus,
)
from qondor_invoicing.testing import FakeQondor

pytestmark = pytest.mark.anyio

KEY = "qdr-Key/7f3a+9c1e5b"


async def _no_sleep(seconds: float) -> None:
    return None


class LeakyFinance(InMemoryFinanceSystem):
    """Books nothing: its error quotes the upstream's answer, credential included."""

    async def book(self, invoice: Invoice, *, idempotency_key: str | None = None) -> str:
        raise RuntimeError(f'upstream answered 500 for key {KEY} ("{KEY}", {quote(KEY, safe="")})')


async def test_journal_and_logs_get_no_credential_from_a_finance_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeQondor(api_key=KEY, rate_limit=None)
    fake.seed(3)
    journal = MemoryJournal()
    async with QondorClient(api_key=KEY, transport=fake.transport, sleep=_no_sleep) as qondor:
        finance = LeakyFinance.accepting(await qondor.invoices.list_unprocessed())
        report = await Reconciler(qondor, finance=finance, journal=journal).run()
    deferred = [r for r in report.results if r.status is StepStatus.DEFERRED]
    assert deferred
    stored = []
    for entry in await journal.unfinished():
        stored.append(entry.last_error or "")
        stored += [event.detail or "" for event in await journal.history(entry.payment_key)]
    text = "\n".join([*stored, *(r.detail or "" for r in deferred)])
    text += "\n".join(record.getMessage() for record in caplog.records)
    assert "upstream answered 500 for key **********" in text
    for form in (KEY, quote(KEY, safe=""), KEY.replace("/", "\\/")):
        assert form not in text
