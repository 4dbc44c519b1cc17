from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from qondor_invoicing.qondor import QondorClient
from qondor_invoicing.reconcile.finance import InMemoryFinanceSystem
from qondor_invoicing.testing import FakeQondor


async def _no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
def fake() -> FakeQondor:
    return FakeQondor(rate_limit=None)


@pytest.fixture
async def qondor(fake: FakeQondor) -> AsyncIterator[QondorClient]:
    async with QondorClient(
        api_key="test-key", transport=fake.transport, rate_limit=None, sleep=_no_sleep
    ) as client:
        yield client


FinanceFactory = Callable[[], Awaitable[InMemoryFinanceSystem]]


@pytest.fixture
def accepting(qondor: QondorClient) -> FinanceFactory:
    """A finance system that accepts every payment currently in the queue."""

    async def make() -> InMemoryFinanceSystem:
        return InMemoryFinanceSystem.accepting(await qondor.invoices.list_unprocessed())

    return make
