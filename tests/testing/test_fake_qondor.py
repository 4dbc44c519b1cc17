"""FakeQondor on the wire: routes, Qondor/APIM error bodies, rate limit, seed data, faults."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any

import anyio
import httpx
import pytest

from qondor_invoicing import (
    AuthenticationError,
    InvoiceAction,
    InvoiceKind,
    InvoiceState,
    QondorClient,
    RateLimitError,
    RetryPolicy,
)
from qondor_invoicing.testing import FakeQondor, Faults, InvoiceTransition

pytestmark = pytest.mark.anyio

K, S, A = InvoiceKind, InvoiceState, InvoiceAction
KEY = "fake-key-0123456789"
ROOT = "https://qondor.azure-api.net/Prod/Invoicing/v1/"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> FakeQondor:
    return FakeQondor(KEY, rate_limit=None)


@pytest.fixture
async def http(fake: FakeQondor) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Ocp-Apim-Subscription-Key": KEY}
    async with httpx.AsyncClient(
        transport=fake.transport, base_url=ROOT, headers=headers
    ) as client:
        yield client


async def put(http: httpx.AsyncClient, action: str, body: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await http.put(
        f"Invoice/{action}", content=content, headers={"content-type": "application/json"}
    )


# -- routes and state --------------------------------------------------------------------


async def test_queue_get_and_state_changes(fake: FakeQondor, http: httpx.AsyncClient) -> None:
    first = fake.add_invoice(kind=K.INVOICE_SPECIFICATION)
    card = fake.add_invoice(kind=K.CREDIT_CARD_PAYMENT, state=S.PROCESSED)
    queue = (await http.get("Invoice/GetAllUnprocessedInvoices")).json()
    assert [item["id"] for item in queue] == [first]
    assert queue[0] == fake.wire(first)
    one = await http.get(f"Invoice/{card}")
    assert one.json()["statusText"] == "Processed"
    assert one.json()["invoiceTypeText"] == "CreditCardPayment"
    assert one.headers["apim-request-id"]

    response = await put(http, "SetAsProcessed", {"invoiceId": first, "externalReference": "F-1"})
    assert (response.status_code, response.content) == (200, b"")
    response = await put(http, "SetAsPaid", {"invoiceId": first, "paidDate": "2024-02-10"})
    assert response.status_code == 200
    stored = fake.invoices[first]
    assert (stored.state, stored.external_reference, stored.paid_date) == (
        S.PAID,
        "F-1",
        date(2024, 2, 10),
    )
    assert stored.history == [
        InvoiceTransition(
            action=A.SET_AS_PROCESSED,
            from_state=S.UNPROCESSED,
            to_state=S.PROCESSED,
            body={"invoiceId": first, "externalReference": "F-1"},
        ),
        InvoiceTransition(
            action=A.SET_AS_PAID,
            from_state=S.PROCESSED,
            to_state=S.PAID,
            body={"invoiceId": first, "paidDate": "2024-02-10"},
        ),
    ]
    wire = fake.wire(first)
    assert (wire["status"], wire["statusText"], wire["paidDate"]) == (3, "Paid", "2024-02-10")
    assert [r.applied for r in fake.requests] == [False, False, True, True]


async def test_json_names_bind_case_insensitively(
    fake: FakeQondor, http: httpx.AsyncClient
) -> None:
    invoice_id = fake.add_invoice()
    response = await put(http, "SetAsFailed", {"InvoiceId": invoice_id, "FailureMessage": "VAT"})
    assert response.status_code == 200
    assert fake.invoices[invoice_id].failure_message == "VAT"


async def test_put_response_can_be_the_invoice() -> None:
    fake = FakeQondor(KEY, rate_limit=None, put_response="invoice")
    invoice_id = fake.add_invoice()
    async with QondorClient(KEY, transport=fake.transport, rate_limit=None) as qondor:
        result = await qondor.invoices.set_as_failed(invoice_id, failure_message="No customer")
    assert result.raw == fake.wire(invoice_id)
    assert result.failure_message == "No customer"


async def test_the_fake_serves_over_http() -> None:
    fake = FakeQondor(KEY, rate_limit=None)
    ids = fake.seed(5)
    with fake.serve() as url:
        async with QondorClient(KEY, base_url=url, rate_limit=None, timeout=10.0) as qondor:
            queue = await qondor.invoices.list_unprocessed()
            await qondor.invoices.set_as_processed(queue[0], external_reference="FIN-1")
    assert {i.id for i in queue} <= set(ids)
    assert fake.invoices[queue[0].id].state is S.PROCESSED
    assert fake.requests[0].path == "/Invoice/GetAllUnprocessedInvoices"


# -- errors in Qondor's shapes -----------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "reason"),
    [({}, "missing"), ({"Ocp-Apim-Subscription-Key": "wrong-key"}, "invalid")],
)
async def test_401_from_api_management(
    fake: FakeQondor, headers: dict[str, str], reason: str
) -> None:
    async with httpx.AsyncClient(transport=fake.transport, base_url=ROOT) as http:
        response = await http.get("Invoice/GetAllUnprocessedInvoices", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["statusCode"] == 401
    assert body["message"].startswith(f"Access denied due to {reason} subscription key.")
    assert "AzureApiManagementKey" in response.headers["WWW-Authenticate"]


async def test_a_wrong_key_through_the_client(fake: FakeQondor) -> None:
    async with QondorClient("not-the-key", transport=fake.transport, rate_limit=None) as q:
        with pytest.raises(AuthenticationError, match="invalid subscription key"):
            await q.invoices.list_unprocessed()


async def test_404s(fake: FakeQondor, http: httpx.AsyncClient) -> None:
    missing = await http.get("Invoice/999")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["title"] == "Not Found"
    assert missing.json()["traceId"].startswith("00-")
    changed = await put(http, "SetAsProcessed", {"invoiceId": 999})
    assert changed.status_code == 404
    # Not a route at all (the id route only takes integers): API Management's 404.
    for path in ("Invoice/abc", "Invoice/SetAsProcessed", "Invoices/1"):
        response = await http.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"statusCode": 404, "message": "Resource not found"}


@pytest.mark.parametrize(
    ("action", "body", "key"),
    [
        ("SetAsFailed", {"invoiceId": "ID", "failureMessage": ""}, "FailureMessage"),
        ("SetAsFailed", {"invoiceId": "ID", "failureMessage": "   "}, "FailureMessage"),
        ("SetAsFailed", {"invoiceId": "ID"}, "FailureMessage"),
        ("SetAsFailed", {"invoiceId": "ID", "failureMessage": "x" * 2001}, "FailureMessage"),
        ("SetAsProcessed", {"externalReference": "F-1"}, "InvoiceId"),
        ("SetAsProcessed", {"invoiceId": None}, "InvoiceId"),
        ("SetAsProcessed", {"invoiceId": "12345"}, "$.invoiceId"),
        ("SetAsProcessed", {"invoiceId": True}, "$.invoiceId"),
        ("SetAsProcessed", {"invoiceId": "ID", "externalReference": 5}, "$.externalReference"),
        ("SetAsPaid", {"invoiceId": "ID"}, "PaidDate"),
        ("SetAsPaid", {"invoiceId": "ID", "paidDate": "10.02.2024"}, "$.paidDate"),
        ("SetAsUnprocessed", [1, 2], "$"),
        ("SetAsUnprocessed", b"", ""),
        ("SetAsUnprocessed", b"{invoiceId: 1", "$"),
    ],
)
async def test_validation_errors_are_problem_details(
    fake: FakeQondor, http: httpx.AsyncClient, action: str, body: Any, key: str
) -> None:
    invoice_id = fake.add_invoice(state=S.PROCESSED if action == "SetAsPaid" else S.UNPROCESSED)
    if isinstance(body, dict) and body.get("invoiceId") == "ID":
        body = {**body, "invoiceId": invoice_id}
    response = await put(http, action, body)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["title"] == "One or more validation errors occurred."
    assert problem["status"] == 400
    assert list(problem["errors"]) == [key]
    assert fake.invoices[invoice_id].history == []
    assert fake.requests[-1].refused is False  # a bad request, not a refused transition


async def test_illegal_transitions_are_refused_and_recorded(
    fake: FakeQondor, http: httpx.AsyncClient
) -> None:
    card = fake.add_invoice(kind=K.CREDIT_CARD_PAYMENT, state=S.PROCESSED)
    response = await put(http, "SetAsPaid", {"invoiceId": card, "paidDate": "2024-02-10"})
    assert response.status_code == 400
    problem = response.json()
    assert problem["type"].endswith("rfc7231#section-6.5.1")
    assert problem["errors"]["InvoiceId"] == [
        f"Invoice {card} cannot be set as paid: "
        "credit card payments cannot be manually set as paid."
    ]
    assert fake.invoices[card].state is S.PROCESSED
    assert [r.refused for r in fake.refused_requests] == [True]
    assert fake.refused_requests[0].status == 400


async def test_the_rate_limit_answers_429_like_api_management() -> None:
    clock = Clock()
    fake = FakeQondor(KEY, clock=clock)  # 10 requests per second, as Qondor
    fake.add_invoice()
    async with httpx.AsyncClient(
        transport=fake.transport, base_url=ROOT, headers={"Ocp-Apim-Subscription-Key": KEY}
    ) as http:
        statuses = []
        for _ in range(12):
            clock.now += 0.01
            statuses.append((await http.get("Invoice/GetAllUnprocessedInvoices")).status_code)
        assert statuses == [200] * 10 + [429] * 2
        limited = await http.get("Invoice/GetAllUnprocessedInvoices")
        assert limited.json() == {
            "statusCode": 429,
            "message": "Rate limit is exceeded. Try again in 1 seconds.",
        }
        assert limited.headers["Retry-After"] == "1"
        clock.now += 1.0
        assert (await http.get("Invoice/GetAllUnprocessedInvoices")).status_code == 200


async def test_the_client_rides_out_the_rate_limit(no_sleep: Any) -> None:
    """With its own limiter off, a client meets the fake's 429s and waits as told."""
    clock = Clock()

    async def sleep(seconds: float) -> None:
        await no_sleep(seconds)
        clock.now += seconds

    fake = FakeQondor(KEY, clock=clock)  # the clock only moves when the client sleeps
    invoice_id = fake.add_invoice()
    async with QondorClient(KEY, transport=fake.transport, rate_limit=None, sleep=sleep) as q:
        for _ in range(25):
            await q.invoices.get(invoice_id)
    statuses = [r.status for r in fake.requests]
    assert statuses.count(200) == 25
    assert statuses.count(429) == 2
    assert no_sleep.calls == [1.0, 1.0]
    clock.now += 5.0
    retries_off = QondorClient(
        KEY, transport=fake.transport, rate_limit=None, retry_policy=RetryPolicy.disabled()
    )
    async with retries_off as q:
        for _ in range(10):
            await q.invoices.get(invoice_id)
        with pytest.raises(RateLimitError) as info:
            await q.invoices.get(invoice_id)
    assert info.value.retry_after == 1.0
    assert info.value.body.format == "apim"


# -- seed data ---------------------------------------------------------------------------


def test_seed_is_realistic_and_reproducible() -> None:
    fake = FakeQondor(KEY)
    ids = fake.seed(60, random_seed=7)
    assert len(ids) == len(set(ids)) == 60
    again = FakeQondor(KEY)
    assert [again.wire(i) for i in again.seed(60, random_seed=7)] == [fake.wire(i) for i in ids]
    other = FakeQondor(KEY)
    assert [other.wire(i) for i in other.seed(60, random_seed=8)] != [fake.wire(i) for i in ids]

    stored = [fake.invoices[i] for i in ids]
    assert [s.kind for s in stored[:3]] == [
        K.INVOICE_SPECIFICATION,
        K.CREDIT_CARD_PAYMENT,
        K.CREDIT_NOTE,
    ]
    assert {s.kind for s in stored} == {
        K.INVOICE_SPECIFICATION,
        K.CREDIT_CARD_PAYMENT,
        K.CREDIT_NOTE,
    }
    assert {s.state for s in stored} == set(S)
    assert not any(s.kind is K.CREDIT_CARD_PAYMENT and s.state is S.PAID for s in stored)
    for s in stored:
        wire = fake.wire(s.id)
        assert wire["currency"] == "NOK"
        assert wire["currencyCode"] == 578
        assert wire["lines"]
        total = Decimal(0)
        for line in wire["lines"]:
            assert isinstance(line["amountInclVat"], (int, float))  # JSON numbers
            assert line["vatRate"] in (25, 15, 12, 0)
            assert line["articleCode"].isupper()
            excl, vat = Decimal(repr(line["amountExclVat"])), Decimal(repr(line["vatAmount"]))
            assert Decimal(repr(line["amountInclVat"])) == excl + vat
            assert vat == (excl * line["vatRate"] / 100).quantize(Decimal("0.01"))
            total += Decimal(repr(line["amountInclVat"]))
        assert Decimal(repr(wire["totalInclVat"])) == total
        if s.state is S.PROCESSED or s.state is S.PAID:
            assert s.external_reference
        if s.state is S.FAILED:
            assert s.failure_message
        if s.state is S.PAID:
            assert s.paid_date is not None
        if s.kind is K.CREDIT_NOTE:
            original = fake.invoices[wire["creditedInvoiceId"]]
            assert original.kind is K.INVOICE_SPECIFICATION
            assert wire["totalInclVat"] < 0
            assert wire["customer"] == original.payload["customer"]
        else:
            assert wire["creditedInvoiceId"] is None
            assert wire["totalInclVat"] > 0
        if s.kind is K.INVOICE_SPECIFICATION:
            assert wire["customer"]["customerNumber"].isdigit()
            assert wire["customer"]["name"]
    codes = {line["articleCode"] for i in ids for line in fake.wire(i)["lines"]}
    assert {"ROOM-DLX", "CONF-DAY"} <= codes


def test_add_invoice_overrides() -> None:
    fake = FakeQondor(KEY)
    lines = [
        {"articleCode": "X-1", "amountExclVat": 100, "vatAmount": 25, "amountInclVat": 125},
        {"articleCode": "X-2", "amountExclVat": 10.5, "vatAmount": 0, "amountInclVat": 10.5},
    ]
    invoice_id = fake.add_invoice(
        kind=K.CREDIT_NOTE,
        state=S.PAID,
        id=777,
        paid_date="2024-03-01",
        external_reference="FIN-9",
        lines=lines,
        creditedInvoiceId=12345,
        invoiceTypeText="Kreditnota",
        status=99,  # controlled by the stored state, never overridden
    )
    assert invoice_id == 777
    wire = fake.wire(777)
    assert wire["lines"] == lines
    assert (wire["totalExclVat"], wire["totalVat"], wire["totalInclVat"]) == (110.5, 25.0, 135.5)
    assert wire["invoiceTypeText"] == "Kreditnota"
    assert (wire["status"], wire["paidDate"], wire["externalReference"]) == (
        3,
        "2024-03-01",
        "FIN-9",
    )
    with pytest.raises(ValueError, match="already exists"):
        fake.add_invoice(id=777)
    with pytest.raises(ValueError, match="positive integer"):
        fake.add_invoice(id=0)
    assert fake.add_invoice() != 777


async def test_an_unknown_kind_on_the_wire(fake: FakeQondor) -> None:
    invoice_id = fake.add_invoice(kind=K.UNKNOWN, state=S.PROCESSED)
    async with QondorClient(KEY, transport=fake.transport, rate_limit=None) as qondor:
        invoice = await qondor.invoices.get(invoice_id)
    assert invoice.kind is K.UNKNOWN
    assert fake.wire(invoice_id)["invoiceTypeText"] == "GiftCard"


# -- faults ------------------------------------------------------------------------------


async def test_fault_knobs(http: httpx.AsyncClient, fake: FakeQondor) -> None:
    invoice_id = fake.add_invoice()
    fake.faults.inject("server_error")
    response = await http.get(f"Invoice/{invoice_id}")
    assert response.status_code == 503
    assert response.json()["statusCode"] == 503
    fake.faults.inject("rate_limited")
    response = await http.get(f"Invoice/{invoice_id}")
    assert (response.status_code, response.headers["Retry-After"]) == (429, "0")
    fake.faults.inject("connection_error")
    with pytest.raises(httpx.ConnectError):
        await http.get(f"Invoice/{invoice_id}")
    fake.faults.inject("lost_response", method="PUT")
    with pytest.raises(httpx.ReadTimeout):
        await put(http, "SetAsProcessed", {"invoiceId": invoice_id})
    assert fake.invoices[invoice_id].state is S.PROCESSED  # applied, answer lost
    assert [r.fault for r in fake.requests] == [
        "server_error",
        "rate_limited",
        "connection_error",
        "lost_response",
    ]


async def test_latency_and_rates() -> None:
    fake = FakeQondor(KEY, rate_limit=None, faults=Faults(latency=0.01, server_error_rate=1.0))
    invoice_id = fake.add_invoice()
    async with httpx.AsyncClient(
        transport=fake.transport, base_url=ROOT, headers={"Ocp-Apim-Subscription-Key": KEY}
    ) as http:
        started = anyio.current_time()
        response = await http.get(f"Invoice/{invoice_id}")
        assert anyio.current_time() - started >= 0.01
    assert response.status_code == 503
