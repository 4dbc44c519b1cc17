"""Every state change's request id is kept in the journal's outcome events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from qondor_invoicing.qondor import QondorClient
from qondor_invoicing.qonto import QontoClient
from qondor_invoicing.reconcile import (
    InMemoryFinanceSystem,
    Journal,
    JournalEvent,
    JournalEventKind,
    JournalOutcome,
    MemoryJournal,
    Reconciler,
    SqliteJournal,
)
from qondor_invoicing.testing import FakeQondor, FakeQonto

pytestmark = pytest.mark.anyio


async def _no_sleep(seconds: float) -> None:
    return None


@pytest.fixture(params=["memory", "sqlite"])
async def journal(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Journal]:
    made: Journal = (
        MemoryJournal() if request.param == "memory" else SqliteJournal(tmp_path / "j.sqlite")
    )
    try:
        yield made
    finally:
        await made.aclose()


async def test_outcome_events_keep_the_state_changes_request_ids(journal: Journal) -> None:
    fake = FakeQondor(rate_limit=None)
    fake_qonto = FakeQonto(rate_limit=None)
    answered: dict[tuple[str, str], str] = {}  # (endpoint, invoice id) -> its request id

    async def recording(request: httpx.Request) -> httpx.Response:
        response = await fake.handle_async(request)
        if request.method == "PUT" and response.is_success:
            invoice_id = str(json.loads(request.content)["invoiceId"])
            answered[request.url.path.rsplit("/", 1)[1], invoice_id] = response.headers[
                "apim-request-id"
            ]
        return response

    good, bad = str(fake.add_invoice()), str(fake.add_invoice())
    async with (
        QondorClient(
            "test-key", transport=httpx.MockTransport(recording), rate_limit=None, sleep=_no_sleep
        ) as qondor,
        QontoClient(
            access_token="test-token", transport=fake_qonto.transport, sleep=_no_sleep
        ) as qonto,
    ):
        queue = await qondor.invoices.list_unprocessed()
        # Only the good one's articles and customer are known: the other one fails.
        finance = InMemoryFinanceSystem.accepting([i for i in queue if str(i.id) == good])
        reconciler = Reconciler(qondor, finance=finance, qonto=qonto, journal=journal)
        assert len((await reconciler.run()).done) == 2
        stored = fake.invoices[int(good)]
        total = Decimal(str(stored.payload["totalInclVat"]))
        fake_qonto.add_supplier_invoice(
            invoice_number=stored.external_reference,
            status="paid",
            total_amount={"value": str(abs(total)), "currency": "NOK"},
            payment_date="2024-02-10",
        )
        assert len((await reconciler.run()).done) == 1  # settled
        good_history = await journal.history(good)
        bad_history = await journal.history(bad)

    def outcomes(history: Sequence[JournalEvent]) -> dict[JournalOutcome | None, str | None]:
        return {e.outcome: e.detail for e in history if e.kind is JournalEventKind.OUTCOME}

    assert outcomes(good_history) == {
        JournalOutcome.PROCESSED: f"request id {answered['SetAsProcessed', good]}",
        JournalOutcome.PAID: f"request id {answered['SetAsPaid', good]}",
    }
    assert outcomes(bad_history) == {
        JournalOutcome.FAILED: f"request id {answered['SetAsFailed', bad]}",
    }
    assert len(set(answered.values())) == 3
