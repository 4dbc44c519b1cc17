"""The sync clients: from plain threads, inside a running event loop, across asyncio.run()."""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from qondor_invoicing import (
    ConfigurationError,
    IllegalTransitionError,
    InMemoryFinanceSystem,
    InvoiceKind,
    InvoiceState,
    QondorClient,
    QontoClient,
)
from qondor_invoicing.errors import EventLoopError
from qondor_invoicing.qondor.client import Invoices
from qondor_invoicing.qonto.client import SupplierInvoices
from qondor_invoicing.reconcile import MemoryJournal, Reconciler
from qondor_invoicing.sync import (
    QondorSyncClient,
    QontoSyncClient,
    SyncInvoices,
    SyncPaginator,
    SyncReconciler,
    SyncSupplierInvoices,
)
from qondor_invoicing.sync._bridge import _Loop
from qondor_invoicing.testing import FakeQondor, FakeQonto


@pytest.fixture
def fake() -> FakeQondor:
    fake = FakeQondor(rate_limit=None)
    fake.seed(12, random_seed=3)
    return fake


@pytest.fixture
def qondor(fake: FakeQondor) -> Iterator[QondorSyncClient]:
    with QondorSyncClient(api_key="test-key", transport=fake.transport, rate_limit=None) as c:
        yield c


def unprocessed(fake: FakeQondor) -> list[int]:
    return sorted(i for i, s in fake.invoices.items() if s.state is InvoiceState.UNPROCESSED)


def test_every_async_method_has_a_blocking_twin_with_its_parameters() -> None:
    pairs = [(Invoices, SyncInvoices), (SupplierInvoices, SyncSupplierInvoices)]
    pairs.append((Reconciler, SyncReconciler))
    for async_cls, sync_cls in pairs:
        public = [
            name
            for name, member in vars(async_cls).items()
            if not name.startswith("_")
            and callable(member)
            and (inspect.iscoroutinefunction(member) or name == "list")
        ]
        assert public
        for name in public:
            twin = getattr(sync_cls, name, None)
            assert twin is not None, f"{sync_cls.__name__}.{name} is missing"
            assert twin._method is getattr(async_cls, name)
            assert twin.__doc__ == getattr(async_cls, name).__doc__


def test_constructor_takes_the_async_clients_arguments() -> None:
    with pytest.raises(ConfigurationError, match="QONDOR_API_KEY"):
        QondorSyncClient(api_key=None)
    with pytest.raises(ConfigurationError, match="environment"):
        QondorSyncClient(api_key="k", environment="staging")
    assert _Loop._current is None or _Loop._current.users == 0


def test_calls_from_plain_threads(fake: FakeQondor, qondor: QondorSyncClient) -> None:
    ids = unprocessed(fake)
    errors: list[BaseException] = []

    def work(invoice_id: int) -> None:
        try:
            invoice = qondor.invoices.get(invoice_id)
            if invoice.kind is InvoiceKind.CREDIT_CARD_PAYMENT:
                qondor.invoices.set_as_failed(invoice, failure_message="no such card")
            else:
                qondor.invoices.set_as_processed(invoice, external_reference=f"FIN-{invoice_id}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert unprocessed(fake) == []
    assert qondor.invoices.list_unprocessed() == []
    assert fake.refused_requests == []


def test_typed_errors_cross_the_bridge(fake: FakeQondor, qondor: QondorSyncClient) -> None:
    card = fake.add_invoice(kind=InvoiceKind.CREDIT_CARD_PAYMENT, state=InvoiceState.PROCESSED)
    with pytest.raises(IllegalTransitionError, match="credit card payments"):
        qondor.invoices.set_as_paid(card, paid_date=date(2024, 2, 10))
    assert fake.requests_to("PUT", "SetAsPaid") == []


@pytest.mark.anyio
async def test_inside_a_running_event_loop(fake: FakeQondor, qondor: QondorSyncClient) -> None:
    # A Jupyter cell, or sync code called from async code: the call blocks this loop
    # while the background loop does the work.
    queue = qondor.invoices.list_unprocessed()
    assert [inv.id for inv in queue] == unprocessed(fake)
    assert qondor.invoices.get(queue[0].id).id == queue[0].id


def test_across_several_asyncio_run_calls(fake: FakeQondor, qondor: QondorSyncClient) -> None:
    async def handler(invoice_id: int) -> InvoiceState:
        return qondor.invoices.get(invoice_id).state

    for invoice_id in unprocessed(fake)[:3]:
        assert asyncio.run(handler(invoice_id)) is InvoiceState.UNPROCESSED


def test_an_async_client_on_a_second_event_loop_names_the_fix(fake: FakeQondor) -> None:
    client = QondorClient(api_key="test-key", transport=fake.transport, rate_limit=None)

    async def handler() -> int:
        return len(await client.invoices.list_unprocessed())

    assert asyncio.run(handler()) == len(unprocessed(fake))
    with pytest.raises(EventLoopError, match="QondorSyncClient") as caught:
        asyncio.run(handler())
    assert "async with QondorClient(" in str(caught.value)
    assert len(fake.requests) == 1  # nothing was sent from the second loop


def test_pagination_iterates_every_page() -> None:
    fake = FakeQonto(default_per_page=25)
    ids = set(fake.seed(130))
    with QontoSyncClient(access_token="test-token", transport=fake.transport) as qonto:
        paginator = qonto.supplier_invoices.list(per_page=50)
        assert isinstance(paginator, SyncPaginator)
        assert "SyncPaginator" in repr(paginator)
        assert {si.id for si in paginator} == ids
        assert len(paginator.first_page().items) == 50
        assert [len(p.items) for p in paginator.pages()] == [50, 50, 30]
        assert len(paginator.to_list(limit=60)) == 60
        one = qonto.supplier_invoices.get(sorted(ids)[0])
        assert one.id == sorted(ids)[0]


def test_sync_reconciler(fake: FakeQondor, qondor: QondorSyncClient) -> None:
    fake_qonto = FakeQonto()
    with QontoSyncClient(access_token="test-token", transport=fake_qonto.transport) as qonto:
        finance = InMemoryFinanceSystem.accepting(qondor.invoices.list_unprocessed())
        reconciler = SyncReconciler(qondor, finance=finance, qonto=qonto, journal=MemoryJournal())
        plan = reconciler.plan()
        assert len(plan.steps) == len(unprocessed(fake)) > 0
        report = reconciler.apply(plan)
        assert report.ok
        assert unprocessed(fake) == []
        assert reconciler.run(dry_run=True).results == ()


def test_sync_reconciler_closes_and_lets_go_of_the_loop(fake: FakeQondor) -> None:
    qondor = QondorSyncClient(api_key="test-key", transport=fake.transport)
    loop = qondor._bridge.loop
    finance = InMemoryFinanceSystem.accepting(qondor.invoices.list_unprocessed())
    with SyncReconciler(qondor, finance=finance, journal=MemoryJournal()) as reconciler:
        assert "SyncReconciler of" in repr(reconciler)
        assert reconciler.run().ok
    with pytest.raises(RuntimeError, match="SyncReconciler is closed"):
        reconciler.plan()
    reconciler.close()  # again: nothing happens
    assert loop._thread.is_alive()  # the client is the caller's: still open
    assert qondor.invoices.list_unprocessed() == []
    qondor.close()
    assert not loop._thread.is_alive()


def test_close_stops_the_background_loop(fake: FakeQondor) -> None:
    first = QondorSyncClient(api_key="test-key", transport=fake.transport)
    second = QondorSyncClient(api_key="test-key", transport=fake.transport)
    loop = first._bridge.loop
    assert second._bridge.loop is loop
    first.close()
    assert loop._thread.is_alive()
    assert second.invoices.list_unprocessed()
    second.close()
    assert not loop._thread.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        second.invoices.list_unprocessed()
    assert QontoClient  # the async clients stay importable next to the sync ones


FORKED = """
import multiprocessing as mp
from qondor_invoicing import QondorSyncClient
from qondor_invoicing.testing import FakeQondor

fake = FakeQondor(rate_limit=None)
fake.seed(5)
client = QondorSyncClient(api_key="test-key", transport=fake.transport, rate_limit=None)
assert len(client.invoices.list_unprocessed()) == 5


def child(queue):
    invoice = client.invoices.get(12345)
    queue.put([len(client.invoices.list_unprocessed()), invoice.id])


if __name__ == "__main__":
    context = mp.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=child, args=(queue,))
    process.start()
    print(queue.get(timeout=60))
    process.join(60)
    assert process.exitcode == 0
    assert len(client.invoices.list_unprocessed()) == 5
    client.close()
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork (Celery's prefork pool)")
def test_a_forked_child_gets_its_own_loop_and_pool(tmp_path: Path) -> None:
    script = tmp_path / "forked.py"
    script.write_text(FORKED, encoding="utf-8")
    src = str(Path(__file__).parents[1] / "src")
    done = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, "PYTHONPATH": src},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[5, 12345]"
