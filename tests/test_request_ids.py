"""Every returned model carries its response's request id, outside its fields."""

from __future__ import annotations

import pickle
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import attrs
import httpx
import pytest
import respx

from qondor_invoicing import (
    Invoice,
    InvoiceKind,
    InvoiceState,
    QondorClient,
    QontoClient,
    SupplierInvoice,
    SupplierInvoiceStatus,
)
from qondor_invoicing.qonto.models import converter as qonto_converter
from qondor_invoicing.testing import FakeQondor, FakeQonto

pytestmark = pytest.mark.anyio

QONDOR = "https://qondor.azure-api.net/Prod/Invoicing/v1/"
QONTO = "https://thirdparty.qonto.com/v2/"
KEY = "qk-request-ids-5e1f0a"
TOKEN = "qonto-request-ids-7c2b"
SI_ID = "4d5418bb-bd0d-4df4-865c-c07afab8bb48"


def qondor_wire(invoice_id: int = 7, status: str = "Unprocessed") -> dict[str, Any]:
    return {"id": invoice_id, "invoiceTypeText": "InvoiceSpecification", "statusText": status}


def qonto_wire(status: str = "to_review", invoice_id: str = SI_ID) -> dict[str, Any]:
    return {"id": invoice_id, "status": status, "supplier_name": "Acme"}


def answer(body: Any, request_id: str, header: str = "apim-request-id") -> httpx.Response:
    return httpx.Response(200, json=body, headers={header: request_id})


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


async def test_qondor_get_and_list_carry_their_request_ids(api: respx.MockRouter) -> None:
    api.get(f"{QONDOR}Invoice/7").mock(return_value=answer(qondor_wire(), "get-1"))
    api.get(f"{QONDOR}Invoice/GetAllUnprocessedInvoices").mock(
        return_value=answer([qondor_wire(7), qondor_wire(8)], "list-1")
    )
    async with QondorClient(KEY, rate_limit=None) as qondor:
        invoice = await qondor.invoices.get(7)
        listing = await qondor.invoices.list_unprocessed()
    assert invoice._request_id == "get-1"
    assert listing._request_id == "list-1"
    assert [i._request_id for i in listing] == ["list-1", "list-1"]


async def test_qondor_state_change_carries_the_change_request_id(api: respx.MockRouter) -> None:
    api.get(f"{QONDOR}Invoice/7").mock(return_value=answer(qondor_wire(), "read-1"))
    api.put(f"{QONDOR}Invoice/SetAsProcessed").mock(
        return_value=httpx.Response(204, headers={"apim-request-id": "put-1"})
    )
    api.put(f"{QONDOR}Invoice/SetAsPaid").mock(
        return_value=answer(
            {**qondor_wire(status="Paid"), "paidDate": "2024-05-02"}, "put-2", "x-request-id"
        )
    )
    async with QondorClient(KEY, rate_limit=None) as qondor:
        # A bare id is read first: the result carries the change's id, not the read's.
        processed = await qondor.invoices.set_as_processed(7, external_reference="F-1")
        paid = await qondor.invoices.set_as_paid(processed, paid_date=date(2024, 5, 2))
    assert processed.state is InvoiceState.PROCESSED
    assert processed._request_id == "put-1"
    assert paid.state is InvoiceState.PAID
    assert paid._request_id == "put-2"


async def test_qonto_get_list_and_change_carry_their_request_ids(api: respx.MockRouter) -> None:
    api.get(f"{QONTO}supplier_invoices/{SI_ID}").mock(
        return_value=answer({"supplier_invoice": qonto_wire()}, "q-get", "x-request-id")
    )
    api.get(f"{QONTO}supplier_invoices").mock(
        return_value=answer(
            {"supplier_invoices": [qonto_wire()], "meta": {"current_page": 1, "next_page": None}},
            "q-list",
            "x-request-id",
        )
    )
    api.post(f"{QONTO}supplier_invoices/{SI_ID}/mark_as_paid").mock(
        return_value=answer({"supplier_invoice": qonto_wire("paid")}, "q-paid", "x-request-id")
    )
    async with QontoClient(access_token=TOKEN, rate_limit=None) as qonto:
        invoice = await qonto.supplier_invoices.get(SI_ID)
        page = await qonto.supplier_invoices.list()
        items = await qonto.supplier_invoices.list().to_list()
        paid = await qonto.supplier_invoices.mark_as_paid(SI_ID, payment_date=date(2024, 5, 2))
    assert invoice._request_id == "q-get"
    assert page._request_id == "q-list"
    assert [i._request_id for i in page.items] == ["q-list"]
    assert [i._request_id for i in items] == ["q-list"]
    assert paid.status == SupplierInvoiceStatus.PAID
    assert paid._request_id == "q-paid"


async def test_models_from_the_fakes_carry_the_fakes_request_ids() -> None:
    fake_qondor = FakeQondor(rate_limit=None)
    [first, second] = fake_qondor.seed(2)
    fake_qonto = FakeQonto(rate_limit=None)
    [si] = fake_qonto.seed(1)
    async with (
        QondorClient("test-key", transport=fake_qondor.transport, rate_limit=None) as qondor,
        QontoClient(access_token="test-token", transport=fake_qonto.transport) as qonto,
    ):
        one, two = await qondor.invoices.get(first), await qondor.invoices.get(second)
        listing = await qondor.invoices.list_unprocessed()
        supplier_invoice = await qonto.supplier_invoices.get(si)
        page = await qonto.supplier_invoices.list()
        created = await qonto.supplier_invoices.bulk_create([("a.pdf", b"%PDF-1.4 a")])
    ids = [
        one._request_id,
        two._request_id,
        listing._request_id,
        supplier_invoice._request_id,
        page._request_id,
        created._request_id,
    ]
    for request_id in ids:
        assert request_id is not None
        uuid.UUID(request_id)  # the fakes send uuids
    assert len(set(ids)) == len(ids)  # one per response
    assert created.created[0]._request_id == created._request_id


def test_the_request_id_is_not_part_of_the_model() -> None:
    from qondor_invoicing._request_id import set_request_id

    invoice = Invoice(id=7, kind=InvoiceKind.INVOICE_SPECIFICATION, state=InvoiceState.PAID)
    stamped = set_request_id(attrs.evolve(invoice), "req-secret-looking-1")
    assert stamped._request_id == "req-secret-looking-1"
    assert invoice._request_id is None
    assert stamped == invoice
    assert hash(stamped) == hash(invoice)
    assert repr(stamped) == repr(invoice)
    assert "req-secret" not in stamped._repr_html_()
    assert attrs.asdict(stamped) == attrs.asdict(invoice)
    assert "request_id" not in {f.name for f in attrs.fields(Invoice)}
    # A copy is a new model, not the response's.
    assert attrs.evolve(stamped)._request_id is None
    assert pickle.loads(pickle.dumps(stamped))._request_id is None

    supplier = set_request_id(SupplierInvoice(id=SI_ID, status="paid"), "req-2")
    plain = qonto_converter.unstructure(supplier)
    assert "req-2" not in repr(plain)
    assert supplier == SupplierInvoice(id=SI_ID, status="paid")
