"""QondorClient on the wire (respx): configuration, exact requests, error mapping, redaction."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import anyio
import httpx
import pytest
import respx
from _qondor_kit import API_KEY, BASE, NoSleep

from qondor_invoicing import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    IllegalTransitionError,
    InternalServerError,
    InvalidInputError,
    Invoice,
    InvoiceKind,
    InvoiceState,
    NotFoundError,
    QondorClient,
    RateLimitError,
    ResponseValidationError,
    RetryPolicy,
)
from qondor_invoicing.qondor import MAX_EXTERNAL_REFERENCE_LENGTH, MAX_FAILURE_MESSAGE_LENGTH
from qondor_invoicing.testing import FakeQondor

pytestmark = pytest.mark.anyio

K, S = InvoiceKind, InvoiceState
OBO = "eyJhbGciOiJIUzI1NiJ9.obo-token-payload.c2lnbmF0dXJl"
UNPROCESSED = Invoice(id=12345, kind=K.INVOICE_SPECIFICATION, state=S.UNPROCESSED)
PROCESSED = Invoice(id=12345, kind=K.INVOICE_SPECIFICATION, state=S.PROCESSED)


def wire(invoice_id: int = 12345, status: str = "Unprocessed", **extra: Any) -> dict[str, Any]:
    return {
        "id": invoice_id,
        "invoiceType": 1,
        "invoiceTypeText": "InvoiceSpecification",
        "status": 0,
        "statusText": status,
        **extra,
    }


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
def client() -> QondorClient:
    return QondorClient(API_KEY, rate_limit=None, sleep=NoSleep())


# -- configuration -----------------------------------------------------------------------


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QONDOR_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="QONDOR_API_KEY"):
        QondorClient()


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_key_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("QONDOR_API_KEY", value)
    with pytest.raises(ConfigurationError, match="QONDOR_API_KEY variable is empty"):
        QondorClient()
    with pytest.raises(ConfigurationError, match="api_key is empty"):
        QondorClient(value)


async def test_key_from_the_environment_is_sent(
    monkeypatch: pytest.MonkeyPatch, api: respx.MockRouter
) -> None:
    monkeypatch.setenv("QONDOR_API_KEY", API_KEY)
    route = api.get("Invoice/GetAllUnprocessedInvoices").respond(json=[])
    async with QondorClient(rate_limit=None) as qondor:
        assert await qondor.invoices.list_unprocessed() == []
    assert route.calls.last.request.headers["Ocp-Apim-Subscription-Key"] == API_KEY


async def test_an_explicit_key_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, api: respx.MockRouter
) -> None:
    monkeypatch.setenv("QONDOR_API_KEY", "from-the-environment")
    route = api.get("Invoice/GetAllUnprocessedInvoices").respond(json=[])
    async with QondorClient(API_KEY, rate_limit=None) as qondor:
        await qondor.invoices.list_unprocessed()
    assert route.calls.last.request.headers["Ocp-Apim-Subscription-Key"] == API_KEY


@pytest.mark.parametrize(
    ("environment", "url"),
    [
        ("prod", "https://qondor.azure-api.net/Prod/Invoicing/v1/"),
        ("test", "https://qondor.azure-api.net/Test/Invoicing/v1/"),
        ("dev", "https://qondor.azure-api.net/Dev/Invoicing/v1/"),
        ("Prod", "https://qondor.azure-api.net/Prod/Invoicing/v1/"),
        (" TEST ", "https://qondor.azure-api.net/Test/Invoicing/v1/"),
    ],
)
def test_environments(environment: str, url: str) -> None:
    client = QondorClient(API_KEY, environment=environment)
    assert client.base_url == url
    assert client.environment == environment.strip().lower()


def test_unknown_environment_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigurationError) as info:
        QondorClient(API_KEY, environment="staging")
    assert "'staging'" in str(info.value)
    assert "'prod', 'test', 'dev'" in str(info.value)


async def test_base_url_overrides_the_environment() -> None:
    with respx.mock(base_url="http://localhost:8080/qondor/") as router:
        route = router.get("Invoice/7").respond(json=wire(7))
        async with QondorClient(
            API_KEY, environment="dev", base_url="http://localhost:8080/qondor", rate_limit=None
        ) as qondor:
            assert qondor.environment is None
            assert qondor.base_url == "http://localhost:8080/qondor/"
            assert (await qondor.invoices.get(7)).id == 7
    assert route.called


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("qondor.azure-api.net/Prod", "absolute http"),
        ("ftp://qondor.azure-api.net/", "absolute http"),
        ("https://user:pw@qondor.azure-api.net/Prod/Invoicing/v1/", "credentials"),
    ],
)
def test_bad_base_url(base_url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        QondorClient(API_KEY, base_url=base_url)


def test_bad_rules_or_resolver_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="RuleTable"):
        QondorClient(API_KEY, rules={"SET_AS_PAID": "always"})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="callable"):
        QondorClient(API_KEY, resolver="status")  # type: ignore[arg-type]


def test_with_options_rebinds_the_invoices_resource() -> None:
    client = QondorClient(API_KEY)
    copy = client.with_options(timeout=5.0, max_retries=0)
    assert copy.invoices._client is copy
    assert client.invoices._client is client
    assert copy.retry_policy.max_retries == 0
    assert copy.rules is client.rules
    assert copy.strict is client.strict


# -- exact requests ----------------------------------------------------------------------


def sent(route: respx.Route) -> tuple[str, str, Any, httpx.Headers]:
    request = route.calls.last.request
    return request.method, str(request.url), json.loads(request.content), request.headers


async def test_set_as_processed_body(client: QondorClient, api: respx.MockRouter) -> None:
    route = api.put("Invoice/SetAsProcessed").respond(200)
    result = await client.invoices.set_as_processed(
        UNPROCESSED, external_reference="  FIN-2024-00789 "
    )
    method, url, body, headers = sent(route)
    assert (method, url) == ("PUT", BASE + "Invoice/SetAsProcessed")
    assert body == {"invoiceId": 12345, "externalReference": "FIN-2024-00789"}
    assert headers["content-type"] == "application/json"
    assert headers["Ocp-Apim-Subscription-Key"] == API_KEY
    assert "X-OnBehalfOf-Token" not in headers
    assert result.state is S.PROCESSED
    assert result.external_reference == "FIN-2024-00789"


async def test_set_as_processed_without_reference(
    client: QondorClient, api: respx.MockRouter
) -> None:
    route = api.put("Invoice/SetAsProcessed").respond(204)
    await client.invoices.set_as_processed(UNPROCESSED)
    assert sent(route)[2] == {"invoiceId": 12345}


async def test_set_as_failed_body(client: QondorClient, api: respx.MockRouter) -> None:
    route = api.put("Invoice/SetAsFailed").respond(200)
    result = await client.invoices.set_as_failed(
        UNPROCESSED, failure_message="\n Article code 'CONF-ROOM-DLX' not found in finance system "
    )
    method, url, body, _ = sent(route)
    assert (method, url) == ("PUT", BASE + "Invoice/SetAsFailed")
    assert body == {
        "invoiceId": 12345,
        "failureMessage": "Article code 'CONF-ROOM-DLX' not found in finance system",
    }
    assert result.state is S.FAILED
    assert result.failure_message == "Article code 'CONF-ROOM-DLX' not found in finance system"


async def test_set_as_paid_body(client: QondorClient, api: respx.MockRouter) -> None:
    route = api.put("Invoice/SetAsPaid").respond(200)
    result = await client.invoices.set_as_paid(PROCESSED, paid_date=date(2024, 2, 10))
    method, url, body, _ = sent(route)
    assert (method, url) == ("PUT", BASE + "Invoice/SetAsPaid")
    assert body == {"invoiceId": 12345, "paidDate": "2024-02-10"}
    assert (result.state, result.paid_date) == (S.PAID, date(2024, 2, 10))


async def test_set_as_unprocessed_body(client: QondorClient, api: respx.MockRouter) -> None:
    route = api.put("Invoice/SetAsUnprocessed").respond(200)
    result = await client.invoices.set_as_unprocessed(PROCESSED)
    method, url, body, _ = sent(route)
    assert (method, url) == ("PUT", BASE + "Invoice/SetAsUnprocessed")
    assert body == {"invoiceId": 12345}
    assert result.state is S.UNPROCESSED


async def test_on_behalf_of_token_is_sent(api: respx.MockRouter) -> None:
    route = api.get("Invoice/12345").respond(json=wire())
    async with QondorClient(API_KEY, on_behalf_of_token=OBO, rate_limit=None) as qondor:
        await qondor.invoices.get(12345)
    headers = route.calls.last.request.headers
    assert headers["X-OnBehalfOf-Token"] == OBO
    assert headers["Ocp-Apim-Subscription-Key"] == API_KEY


async def test_user_headers_never_replace_the_key(api: respx.MockRouter) -> None:
    route = api.get("Invoice/12345").respond(json=wire())
    headers = {"Ocp-Apim-Subscription-Key": "other", "X-Integration": "tripletex-sync"}
    async with QondorClient(API_KEY, headers=headers, rate_limit=None) as qondor:
        await qondor.invoices.get(12345)
    sent_headers = route.calls.last.request.headers
    assert sent_headers["Ocp-Apim-Subscription-Key"] == API_KEY
    assert sent_headers["X-Integration"] == "tripletex-sync"


async def test_bare_id_is_read_before_the_change(
    client: QondorClient, api: respx.MockRouter
) -> None:
    read = api.get("Invoice/12345").respond(json=wire(status="Processed"))
    change = api.put("Invoice/SetAsPaid").respond(200)
    result = await client.invoices.set_as_paid(12345, paid_date=date(2024, 2, 10))
    assert read.call_count == 1
    assert change.call_count == 1
    assert api.calls[0].request.method == "GET"  # read first, then change
    assert result.state is S.PAID


async def test_bare_id_refused_after_the_read(client: QondorClient, api: respx.MockRouter) -> None:
    api.get("Invoice/12345").respond(json=wire(status="Failed"))
    change = api.put("Invoice/SetAsProcessed").respond(200)
    with pytest.raises(IllegalTransitionError) as info:
        await client.invoices.set_as_processed(12345)
    assert info.value.state is S.FAILED
    assert info.value.invoice_id == 12345
    assert not change.called


async def test_list_and_get_urls(client: QondorClient, api: respx.MockRouter) -> None:
    listing = api.get("Invoice/GetAllUnprocessedInvoices").respond(json=[wire(1), wire(2)])
    one = api.get("Invoice/2").respond(json=wire(2, status="Processed"))
    queue = await client.invoices.list_unprocessed()
    assert [i.id for i in queue] == [1, 2]
    assert all(i.state is S.UNPROCESSED for i in queue)
    assert (await client.invoices.get(2)).state is S.PROCESSED
    assert str(listing.calls.last.request.url) == BASE + "Invoice/GetAllUnprocessedInvoices"
    assert str(one.calls.last.request.url) == BASE + "Invoice/2"


# -- responses of the state changes (undocumented) -----------------------------------------


async def test_an_invoice_in_the_put_response_is_used(
    client: QondorClient, api: respx.MockRouter
) -> None:
    api.put("Invoice/SetAsProcessed").respond(
        json=wire(status="Processed", externalReference="FIN-9", invoiceNumber="A-1")
    )
    result = await client.invoices.set_as_processed(UNPROCESSED, external_reference="FIN-9")
    assert result.state is S.PROCESSED
    assert result.invoice_number == "A-1"
    assert result.raw["invoiceNumber"] == "A-1"


@pytest.mark.parametrize("response", [httpx.Response(200), httpx.Response(204)])
async def test_an_empty_put_response_is_evidence_and_evolves_the_input(
    client: QondorClient, api: respx.MockRouter, response: httpx.Response
) -> None:
    # Qondor documents no body for its PUTs: an empty 2xx is the documented success.
    api.put("Invoice/SetAsProcessed").mock(return_value=response)
    get = api.get("Invoice/12345").respond(json=wire())
    invoice = Invoice(
        id=12345, kind=K.CREDIT_NOTE, state=S.UNPROCESSED, invoice_number="CN-7", raw={"a": 1}
    )
    result = await client.invoices.set_as_processed(invoice, external_reference="FIN-9")
    assert result == Invoice(
        id=12345,
        kind=K.CREDIT_NOTE,
        state=S.PROCESSED,
        invoice_number="CN-7",
        external_reference="FIN-9",
    )
    assert result.raw == {"a": 1}
    assert not get.called


GARBLED_2XX = [
    httpx.Response(200, json=True),
    httpx.Response(200, json={"invoiceId": 12345, "externalReference": "FIN-9"}),  # no state
    httpx.Response(200, json={"id": 999, "status": "Paid"}),  # not this invoice
    httpx.Response(200, json=wire(status="Unprocessed")),  # not in the new state
    httpx.Response(200, json=wire(status="Processed", externalReference="FIN-1")),  # not ours
    httpx.Response(200, text="OK", headers={"content-type": "text/plain"}),
    httpx.Response(200, text="Request blocked by policy", headers={"content-type": "text/plain"}),
    httpx.Response(
        200, text='{"id": 12345, "statusTe', headers={"content-type": "application/json"}
    ),
    httpx.Response(200, text='"Invoice 12345 set as processed"'),
]
GARBLED_IDS = [
    "true",
    "no-state",
    "other-id",
    "old-state",
    "other-reference",
    "text-ok",
    "blocked",
    "truncated",
    "json-string",
]


@pytest.mark.parametrize("response", GARBLED_2XX, ids=GARBLED_IDS)
async def test_a_put_response_without_evidence_is_confirmed_by_reading_back(
    client: QondorClient, api: respx.MockRouter, response: httpx.Response
) -> None:
    put = api.put("Invoice/SetAsProcessed").mock(return_value=response)
    get = api.get("Invoice/12345").respond(
        json=wire(status="Processed", externalReference="FIN-9", invoiceNumber="A-1")
    )
    result = await client.invoices.set_as_processed(UNPROCESSED, external_reference="FIN-9")
    assert (result.state, result.external_reference) == (S.PROCESSED, "FIN-9")
    assert result.invoice_number == "A-1"  # the read-back is the evidence
    assert (put.call_count, get.call_count) == (1, 1)


@pytest.mark.parametrize("response", GARBLED_2XX, ids=GARBLED_IDS)
async def test_a_put_response_without_evidence_never_becomes_a_result(
    client: QondorClient, api: respx.MockRouter, response: httpx.Response
) -> None:
    put = api.put("Invoice/SetAsFailed").mock(return_value=response)
    # Read back not applied: sent again within the retry policy, then the doubt surfaces.
    get = api.get("Invoice/12345").respond(json=wire(status="Unprocessed"))
    retry_once = client.with_options(max_retries=1)
    with pytest.raises(ResponseValidationError) as info:
        await retry_once.invoices.set_as_failed(UNPROCESSED, failure_message="no")
    assert info.value.status_code == 200
    assert (put.call_count, get.call_count) == (2, 2)
    # The read-back cannot tell (it fails): the outcome is unknown, the doubt is raised.
    get.respond(503)
    with pytest.raises(ResponseValidationError):
        await retry_once.invoices.set_as_failed(UNPROCESSED, failure_message="no")
    # Someone else moved it meanwhile: a refusal, not a resend.
    put.reset()
    get.respond(json=wire(status="Processed", externalReference="X"))
    with pytest.raises(IllegalTransitionError, match="while the request was in doubt"):
        await retry_once.invoices.set_as_failed(UNPROCESSED, failure_message="no")
    assert put.call_count == 1


async def test_an_html_200_is_an_error(client: QondorClient, api: respx.MockRouter) -> None:
    page = "<!DOCTYPE html><html><body>Qondor developer portal - sign in</body></html>"
    api.get("Invoice/GetAllUnprocessedInvoices").respond(
        200, text=page, headers={"content-type": "text/html"}
    )
    api.get("Invoice/12345").respond(200, text=page, headers={"content-type": "text/html"})
    put = api.put("Invoice/SetAsProcessed").respond(
        200, text=page, headers={"content-type": "text/html"}
    )
    with pytest.raises(ResponseValidationError, match="wrong base_url") as info:
        await client.invoices.list_unprocessed()
    assert info.value.body == page
    # A 2xx that is no evidence: read back, which fails too: the outcome stays unknown.
    with pytest.raises(ResponseValidationError, match="text/html"):
        await client.invoices.set_as_processed(UNPROCESSED)
    assert put.call_count == 1


@pytest.mark.parametrize("body", [{"id": 1}, "invoices", 3, {"count": 2, "next": None}], ids=repr)
async def test_a_list_that_is_not_a_list(
    client: QondorClient, api: respx.MockRouter, body: Any
) -> None:
    api.get("Invoice/GetAllUnprocessedInvoices").respond(json=body)
    with pytest.raises(ResponseValidationError, match="where a list of invoices was expected"):
        await client.invoices.list_unprocessed()


async def test_list_envelopes_and_empty_bodies(client: QondorClient, api: respx.MockRouter) -> None:
    route = api.get("Invoice/GetAllUnprocessedInvoices")
    route.respond(json={"items": [wire(3)]})
    assert [i.id for i in await client.invoices.list_unprocessed()] == [3]
    route.respond(204)
    assert await client.invoices.list_unprocessed() == []


async def test_a_bad_item_names_its_index(client: QondorClient, api: respx.MockRouter) -> None:
    api.get("Invoice/GetAllUnprocessedInvoices").respond(
        json=[wire(1), wire(2, totalInclVat="lots")]
    )
    with pytest.raises(ResponseValidationError, match="item 1") as info:
        await client.invoices.list_unprocessed()
    paths = ("$[1].totalInclVat", "$[1].total_incl_vat")  # wire or attribute name
    assert any(p in e for e in info.value.errors for p in paths), info.value.errors


async def test_get_refuses_another_invoice(client: QondorClient, api: respx.MockRouter) -> None:
    api.get("Invoice/5").respond(json=wire(6))
    with pytest.raises(ResponseValidationError, match="answered with invoice 6, not 5"):
        await client.invoices.get(5)
    api.get("Invoice/8").respond(json={"statusText": "Paid"})
    assert (await client.invoices.get(8)).id == 8  # an id-less payload is the one asked for


# -- error mapping -----------------------------------------------------------------------


async def test_problem_details_400(client: QondorClient, api: respx.MockRouter) -> None:
    api.put("Invoice/SetAsFailed").respond(
        400,
        json={
            "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
            "title": "One or more validation errors occurred.",
            "status": 400,
            "errors": {"FailureMessage": ["'Failure Message' must not be empty."]},
            "traceId": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
        },
        headers={"content-type": "application/problem+json; charset=utf-8"},
    )
    with pytest.raises(BadRequestError) as info:
        await client.invoices.set_as_failed(UNPROCESSED, failure_message="x")
    error = info.value
    assert error.status_code == 400
    assert error.body.format == "problem_details"
    assert error.body.details[0].field == "FailureMessage"
    assert error.request_id == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
    assert "'Failure Message' must not be empty." in str(error)
    assert error.method == "PUT"
    assert error.url == BASE + "Invoice/SetAsFailed"


async def test_apim_401(client: QondorClient, api: respx.MockRouter) -> None:
    message = (
        "Access denied due to invalid subscription key. "
        "Make sure to provide a valid key for an active subscription."
    )
    api.get("Invoice/GetAllUnprocessedInvoices").respond(
        401, json={"statusCode": 401, "message": message}
    )
    with pytest.raises(AuthenticationError) as info:
        await client.invoices.list_unprocessed()
    assert info.value.body.format == "apim"
    assert message in str(info.value)


async def test_404(client: QondorClient, api: respx.MockRouter) -> None:
    api.get("Invoice/404404").respond(
        404, json={"type": "...", "title": "Not Found", "status": 404, "traceId": "00-ab-cd-00"}
    )
    with pytest.raises(NotFoundError, match="Not Found"):
        await client.invoices.get(404404)
    change = api.put("Invoice/SetAsPaid")
    with pytest.raises(NotFoundError):
        await client.invoices.set_as_paid(404404, paid_date=date(2024, 2, 10))
    assert not change.called


async def test_429_on_a_state_change_is_retried(api: respx.MockRouter) -> None:
    sleep = NoSleep()
    route = api.put("Invoice/SetAsPaid")
    route.side_effect = [
        httpx.Response(
            429,
            json={"statusCode": 429, "message": "Rate limit is exceeded. Try again in 1 seconds."},
            headers={"Retry-After": "1"},
        ),
        httpx.Response(200),
    ]
    async with QondorClient(API_KEY, rate_limit=None, sleep=sleep) as qondor:
        result = await qondor.invoices.set_as_paid(PROCESSED, paid_date=date(2024, 2, 10))
    assert result.state is S.PAID
    assert route.call_count == 2
    assert sleep.calls == [1.0]


async def test_429_beyond_the_retries(api: respx.MockRouter) -> None:
    api.get("Invoice/1").respond(
        429,
        json={"statusCode": 429, "message": "Rate limit is exceeded."},
        headers={"Retry-After": "2"},
    )
    policy = RetryPolicy(max_retries=1)
    async with QondorClient(API_KEY, rate_limit=None, sleep=NoSleep(), retry_policy=policy) as q:
        with pytest.raises(RateLimitError) as info:
            await q.invoices.get(1)
    assert info.value.retry_after == 2.0


# -- input validation: refused before anything is sent -------------------------------------

BAD_IDS = [0, -1, True, False, "12345", 12345.0, None, b"1"]


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
async def test_bad_ids_send_nothing(client: QondorClient, api: respx.MockRouter, bad: Any) -> None:
    calls = [
        lambda: client.invoices.get(bad),
        lambda: client.invoices.set_as_processed(bad),
        lambda: client.invoices.set_as_failed(bad, failure_message="x"),
        lambda: client.invoices.set_as_paid(bad, paid_date=date(2024, 1, 1)),
        lambda: client.invoices.set_as_unprocessed(bad),
    ]
    for call in calls:
        with pytest.raises(InvalidInputError):
            await call()
    assert not api.calls


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"failure_message": ""}, "failure_message"),
        ({"failure_message": " \n\t "}, "failure_message"),
        ({"failure_message": None}, "failure_message"),
        ({"failure_message": 42}, "failure_message"),
        ({"failure_message": "x" * (MAX_FAILURE_MESSAGE_LENGTH + 1)}, "failure_message"),
        ({"failure_message": "bad\x00byte"}, "failure_message"),
        ({"failure_message": "bell\x07"}, "failure_message"),
        ({"failure_message": "lone \ud800 surrogate"}, "failure_message"),
    ],
)
async def test_bad_failure_messages_send_nothing(
    client: QondorClient, api: respx.MockRouter, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        await client.invoices.set_as_failed(12345, **kwargs)
    assert info.value.field == field
    assert not api.calls


async def test_failure_message_keeps_its_lines_and_tabs(
    client: QondorClient, api: respx.MockRouter
) -> None:
    route = api.put("Invoice/SetAsFailed").respond(200)
    message = "Article code unknown:\r\n\tROOM-DLX\n\tCONF-DAY"
    await client.invoices.set_as_failed(UNPROCESSED, failure_message=message)
    assert sent(route)[2]["failureMessage"] == message


async def test_failure_message_at_the_limit_is_sent_trimmed(
    client: QondorClient, api: respx.MockRouter
) -> None:
    route = api.put("Invoice/SetAsFailed").respond(200)
    message = "x" * MAX_FAILURE_MESSAGE_LENGTH
    await client.invoices.set_as_failed(UNPROCESSED, failure_message=f"  {message}\n")
    assert sent(route)[2]["failureMessage"] == message


@pytest.mark.parametrize(
    "paid_date",
    ["2024-02-10", datetime(2024, 2, 10, 12, 0), 20240210, None],
    ids=repr,
)
async def test_paid_date_must_be_a_date(
    client: QondorClient, api: respx.MockRouter, paid_date: Any
) -> None:
    with pytest.raises(InvalidInputError, match=r"datetime\.date") as info:
        await client.invoices.set_as_paid(PROCESSED, paid_date=paid_date)
    assert info.value.field == "paid_date"
    assert not api.calls


@pytest.mark.parametrize(
    "reference",
    [
        "",
        "   ",
        789,
        "r" * (MAX_EXTERNAL_REFERENCE_LENGTH + 1),
        "FIN\x00-1",
        "FIN-1\nFIN-2",
        "FIN-\udfff",
    ],
    ids=repr,
)
async def test_bad_external_references_send_nothing(
    client: QondorClient, api: respx.MockRouter, reference: Any
) -> None:
    with pytest.raises(InvalidInputError) as info:
        await client.invoices.set_as_processed(UNPROCESSED, external_reference=reference)
    assert info.value.field == "external_reference"
    assert not api.calls


async def test_not_an_invoice(client: QondorClient, api: respx.MockRouter) -> None:
    with pytest.raises(InvalidInputError, match="must be an Invoice or a positive integer id"):
        await client.invoices.set_as_unprocessed({"id": 12345})  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"invoice\.id"):
        await client.invoices.set_as_unprocessed(
            Invoice(id=0, kind=K.INVOICE_SPECIFICATION, state=S.PROCESSED)
        )
    assert not api.calls


# -- credentials never leak --------------------------------------------------------------


async def test_the_key_never_leaks(api: respx.MockRouter, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="qondor_invoicing")
    # A misbehaving gateway echoing the credentials back in its error bodies.
    api.get("Invoice/GetAllUnprocessedInvoices").respond(
        401, json={"statusCode": 401, "message": f"Access denied for key {API_KEY} ({OBO})"}
    )
    api.put("Invoice/SetAsProcessed").respond(
        500,
        json={"type": "x", "title": f"Crash with {API_KEY}", "status": 500},
    )
    api.get("Invoice/12345").mock(side_effect=httpx.ConnectError(f"failed for {API_KEY}"))
    qondor = QondorClient(
        API_KEY,
        on_behalf_of_token=OBO,
        rate_limit=None,
        log_bodies=True,
        sleep=NoSleep(),
        retry_policy=RetryPolicy(max_retries=1),
    )
    texts = [repr(qondor), str(qondor), repr(qondor.invoices), repr(qondor._core)]
    with pytest.raises(AuthenticationError) as auth:
        await qondor.invoices.list_unprocessed()
    with pytest.raises(InternalServerError) as server:
        await qondor.invoices.set_as_processed(UNPROCESSED, external_reference="FIN-1")
    await qondor.aclose()
    for error in (auth.value, server.value):
        texts += [str(error), repr(error), error.body.raw, json.dumps(error.body.data)]
        texts += [str(error.__cause__), str(error.__context__)]
    texts.append(caplog.text)
    assert "Access denied" in caplog.text or "401" in caplog.text
    for text in texts:
        assert API_KEY not in text
        assert OBO not in text


async def test_the_default_rate_limit_stays_under_qondors() -> None:
    """Requests are spaced evenly: Qondor's 10-per-second window is never exceeded."""
    fake = FakeQondor(API_KEY)  # enforces 10 requests per second, like API Management
    invoice_id = fake.add_invoice()
    qondor = QondorClient(API_KEY, transport=fake.transport)
    async with qondor, anyio.create_task_group() as tg:
        for _ in range(14):
            tg.start_soon(qondor.invoices.get, invoice_id)
    assert [r.status for r in fake.requests] == [200] * 14
