"""Raw-response variants: status, headers, elapsed time, retries taken, request id, model."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest
import respx

from qondor_invoicing import (
    APIResponse,
    IllegalTransitionError,
    Invoice,
    InvoiceState,
    QondorClient,
    QondorSyncClient,
    QontoClient,
    QontoSyncClient,
    SupplierInvoice,
    SupplierInvoiceStatus,
)
from qondor_invoicing.qondor import Invoices, InvoicesWithRawResponse
from qondor_invoicing.qonto import Page, SupplierInvoices, SupplierInvoicesWithRawResponse
from qondor_invoicing.sync import SyncInvoicesWithRawResponse, SyncSupplierInvoicesWithRawResponse
from qondor_invoicing.testing import FakeQondor, FakeQonto

pytestmark = pytest.mark.anyio

QONDOR = "https://qondor.azure-api.net/Prod/Invoicing/v1/"
QONTO = "https://thirdparty.qonto.com/v2/"
KEY = "qk-raw-responses-9d3e2b"
TOKEN = "qonto-raw-responses-4a7f"
SI_ID = "4d5418bb-bd0d-4df4-865c-c07afab8bb48"


class NoSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


def qondor_wire(status: str = "Unprocessed") -> dict[str, Any]:
    return {"id": 7, "invoiceTypeText": "InvoiceSpecification", "statusText": status}


async def test_qondor_get_after_a_503(api: respx.MockRouter) -> None:
    route = api.get(f"{QONDOR}Invoice/7")
    route.side_effect = [
        httpx.Response(503, json={"message": "busy"}, headers={"apim-request-id": "first"}),
        httpx.Response(
            200,
            json=qondor_wire(),
            # A gateway echoing the key must not hand it to the caller.
            headers={"apim-request-id": "second", "x-echo": f"key={KEY}"},
        ),
    ]
    sleep = NoSleep()
    async with QondorClient(KEY, rate_limit=None, sleep=sleep) as qondor:
        response = await qondor.invoices.with_raw_response.get(7)
    assert isinstance(response, APIResponse)
    assert response.status_code == 200
    assert response.retries_taken == 1
    assert response.attempts == 2
    assert len(sleep.calls) == 1
    assert response.request_id == "second"
    assert response.elapsed >= 0
    assert response.method == "GET"
    assert response.url == f"{QONDOR}Invoice/7"
    assert response.headers["apim-request-id"] == "second"
    assert KEY not in str(response.headers)
    assert KEY not in repr(response)
    invoice = response.parse()
    assert isinstance(invoice, Invoice)
    assert invoice.id == 7
    assert invoice._request_id == "second"
    assert response.data == qondor_wire()


async def test_qondor_state_change_and_list(api: respx.MockRouter) -> None:
    api.get(f"{QONDOR}Invoice/7").mock(
        return_value=httpx.Response(200, json=qondor_wire(), headers={"apim-request-id": "read"})
    )
    api.put(f"{QONDOR}Invoice/SetAsFailed").mock(
        return_value=httpx.Response(204, headers={"apim-request-id": "fail"})
    )
    api.get(f"{QONDOR}Invoice/GetAllUnprocessedInvoices").mock(
        return_value=httpx.Response(200, json=[qondor_wire()], headers={"apim-request-id": "all"})
    )
    async with QondorClient(KEY, rate_limit=None, sleep=NoSleep()) as qondor:
        listing = await qondor.invoices.with_raw_response.list_unprocessed()
        failed = await qondor.invoices.with_raw_response.set_as_failed(7, failure_message="no VAT")
        # Refusals are raised as by the plain method; nothing is sent.
        with pytest.raises(IllegalTransitionError):
            await qondor.invoices.with_raw_response.set_as_processed(failed.parse())
    assert listing.request_id == "all"
    assert [i.id for i in listing.parse()] == [7]
    # The change's answer, not the read that came first.
    assert (failed.status_code, failed.request_id, failed.method) == (204, "fail", "PUT")
    assert failed.parse().state is InvoiceState.FAILED
    assert failed.parse()._request_id == "fail"
    assert failed.data is None


async def test_qonto_list_get_and_change(api: respx.MockRouter) -> None:
    invoice = {"id": SI_ID, "status": "to_review"}
    api.get(f"{QONTO}supplier_invoices").mock(
        return_value=httpx.Response(
            200,
            json={"supplier_invoices": [invoice], "meta": {"current_page": 1, "next_page": None}},
            headers={"x-request-id": "list"},
        )
    )
    api.post(f"{QONTO}supplier_invoices/{SI_ID}/mark_as_paid").mock(
        return_value=httpx.Response(
            200,
            json={"supplier_invoice": {**invoice, "status": "paid"}},
            headers={"x-request-id": "paid"},
        )
    )
    async with QontoClient(access_token=TOKEN, rate_limit=None, sleep=NoSleep()) as qonto:
        page = await qonto.supplier_invoices.with_raw_response.list(per_page=10)
        [found] = page.parse().items
        paid = await qonto.supplier_invoices.with_raw_response.mark_as_paid(
            found, payment_date=date(2024, 5, 2)
        )
    assert isinstance(page.parse(), Page)
    assert (page.request_id, page.retries_taken) == ("list", 0)
    assert (paid.status_code, paid.request_id, paid.method) == (200, "paid", "POST")
    assert isinstance(paid.parse(), SupplierInvoice)
    assert paid.parse().status == SupplierInvoiceStatus.PAID
    assert TOKEN not in str(paid.headers)


def test_sync_clients_have_the_raw_variants() -> None:
    fake_qondor = FakeQondor(rate_limit=None)
    [invoice_id] = fake_qondor.seed(1)
    fake_qondor.faults.inject("server_error", method="GET")
    fake_qonto = FakeQonto(rate_limit=None)
    [si] = fake_qonto.seed(1)
    with (
        QondorSyncClient(
            "test-key", transport=fake_qondor.transport, rate_limit=None, sleep=NoSleep()
        ) as qondor,
        QontoSyncClient(access_token="test-token", transport=fake_qonto.transport) as qonto,
    ):
        got = qondor.invoices.with_raw_response.get(invoice_id)
        page = qonto.supplier_invoices.with_raw_response.list()
        one = qonto.supplier_invoices.with_raw_response.get(si)
    assert got.retries_taken == 1
    assert got.parse().id == invoice_id
    assert got.request_id is not None
    assert got.request_id == got.headers["apim-request-id"] == got.parse()._request_id
    assert [i.id for i in page.parse().items] == [si]
    assert page.request_id == page.headers["x-request-id"]
    assert one.parse().id == si
    assert one.request_id != page.request_id


@pytest.mark.parametrize(
    ("resource", "raw", "sync_raw"),
    [
        (Invoices, InvoicesWithRawResponse, SyncInvoicesWithRawResponse),
        (SupplierInvoices, SupplierInvoicesWithRawResponse, SyncSupplierInvoicesWithRawResponse),
    ],
)
def test_every_resource_method_has_its_raw_variant(
    resource: type, raw: type, sync_raw: type
) -> None:
    def public_methods(cls: type) -> set[str]:
        return {
            name
            for name, value in vars(cls).items()
            if not name.startswith("_")
            and (inspect.isfunction(value) or hasattr(value, "__get__"))
            and name != "with_raw_response"
            and not isinstance(value, property)
        }

    methods = public_methods(resource)
    assert methods
    assert public_methods(raw) == methods
    assert public_methods(sync_raw) == methods
    for name in methods:
        assert getattr(raw, name).__doc__ == getattr(resource, name).__doc__
