"""QontoClient on the wire (respx): exact URLs, query strings, bodies, envelopes, quirks."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from _qonto_kit import BASE, SEED_ID, TOKEN, NoSleep, wire

from qondor_invoicing import (
    APIStatusError,
    BadRequestError,
    IllegalTransitionError,
    InternalServerError,
    InvalidInputError,
    InvoicingError,
    Money,
    NotFoundError,
    PaginationError,
    QontoClient,
    ResponseValidationError,
    StrongCustomerAuthenticationError,
    SupplierInvoice,
    SupplierInvoiceStatus,
)
from qondor_invoicing.qonto import Page

pytestmark = pytest.mark.anyio

S = SupplierInvoiceStatus
LIST = f"{BASE}supplier_invoices"


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
def client() -> QontoClient:
    return QontoClient(access_token=TOKEN, rate_limit=None, sleep=NoSleep())


def page_body(ids: list[str], meta: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"supplier_invoices": [wire(i) for i in ids]}
    if meta is not None:
        body["meta"] = meta
    return body


def query(request: httpx.Request) -> list[tuple[str, str]]:
    return list(request.url.params.multi_items())


async def collect(paginator: Any, seen: list[str]) -> None:
    """Iterate ``paginator``, appending each id to ``seen`` (kept when iteration raises)."""
    async for si in paginator:
        seen.append(si.id)


# -- list: query strings ------------------------------------------------------------------------


async def test_plain_list_always_sends_page_and_per_page(
    api: respx.MockRouter, client: QontoClient
) -> None:
    route = api.get(LIST).respond(json=page_body(["a"], {"current_page": 1, "next_page": None}))
    page = await client.supplier_invoices.list()
    assert isinstance(page, Page)
    assert [si.id for si in page.items] == ["a"]
    request = route.calls.last.request
    assert str(request.url) == f"{LIST}?page=1&per_page=100"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_every_filter_has_its_exact_wire_name(
    api: respx.MockRouter, client: QontoClient
) -> None:
    route = api.get(LIST).respond(json=page_body([], {"next_page": None}))
    cest = timezone(timedelta(hours=2))
    await client.supplier_invoices.list(
        status=[S.TO_REVIEW, "paid"],
        due_date=["past_and_today", "missing_date"],
        attachment_id=["att-1", "att-2"],
        created_at_from=datetime(2026, 1, 21, 12, 1, 2, tzinfo=timezone.utc),
        created_at_to=datetime(2026, 1, 22, 14, 0, 0, 250000, tzinfo=cest),
        updated_at_from=datetime(2026, 2, 1, tzinfo=timezone.utc),
        updated_at_to=datetime(2026, 2, 2, tzinfo=timezone.utc),
        payment_date="this_month",
        issue_date="past_week",
        issue_date_from=date(2026, 1, 1),
        missing_data=True,
        matched_transactions=False,
        document_type=["duplicates", "non_financial_documents"],
        approver_id=["m-1"],
        exclude_credit_notes=True,
        payable_amount=("lte", Money("100.00", "EUR")),
        query="lutetia",
        query_fields=["supplier_name", "invoice_number"],
        sort_by="due_date:asc",
        per_page=50,
    )
    assert query(route.calls.last.request) == [
        ("filter[status][]", "to_review"),
        ("filter[status][]", "paid"),
        ("filter[due_date][]", "past_and_today"),
        ("filter[due_date][]", "missing_date"),
        ("filter[attachment_id][]", "att-1"),
        ("filter[attachment_id][]", "att-2"),
        ("filter[created_at_from]", "2026-01-21T12:01:02Z"),
        ("filter[created_at_to]", "2026-01-22T12:00:00.250000Z"),
        ("filter[updated_at_from]", "2026-02-01T00:00:00Z"),
        ("filter[updated_at_to]", "2026-02-02T00:00:00Z"),
        ("filter[payment_date]", "this_month"),
        ("filter[issue_date]", "past_week"),
        ("filter[issue_date_from]", "2026-01-01"),
        ("filter[missing_data]", "true"),
        ("filter[matched_transactions]", "false"),
        ("filter[document_type][]", "duplicates"),
        ("filter[document_type][]", "non_financial_documents"),
        ("filter[approver_id][]", "m-1"),
        ("filter[exclude_credit_notes]", "true"),
        ("filter[payable_amount]", "lte:100.00:EUR"),
        ("query", "lutetia"),
        ("query_fields", "supplier_name,invoice_number"),
        ("sort_by", "due_date:asc"),
        ("page", "1"),
        ("per_page", "50"),
    ]
    # Brackets travel percent-encoded, as browsers and httpx send them.
    assert "filter%5Bstatus%5D%5B%5D=to_review" in str(route.calls.last.request.url)


async def test_single_values_use_the_scalar_form_where_qonto_has_one(
    api: respx.MockRouter, client: QontoClient
) -> None:
    route = api.get(LIST).respond(json=page_body([], {"next_page": None}))
    await client.supplier_invoices.list(
        status="paid",
        due_date="future",
        attachment_id="att-1",
        document_type="duplicates",
        approver_id="m-1",
        payable_amount="gte:10.5:EUR",
    )
    assert query(route.calls.last.request)[:6] == [
        ("filter[status][]", "paid"),
        ("filter[due_date]", "future"),
        ("filter[attachment_id]", "att-1"),
        ("filter[document_type]", "duplicates"),
        ("filter[approver_id][]", "m-1"),
        ("filter[payable_amount]", "gte:10.5:EUR"),
    ]


async def test_array_style_is_one_switch(
    api: respx.MockRouter, client: QontoClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qondor_invoicing.qonto import filters as filters_module

    monkeypatch.setattr(filters_module, "ARRAY_FILTER_SUFFIX", "")
    route = api.get(LIST).respond(json=page_body([], {"next_page": None}))
    await client.supplier_invoices.list(status=["paid", "to_pay"], approver_id=["m-1"])
    assert query(route.calls.last.request)[:3] == [
        ("filter[status]", "paid"),
        ("filter[status]", "to_pay"),
        ("filter[approver_id]", "m-1"),
    ]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sort_by": "amount:desc"}, "sort_by"),
        ({"sort_by": "created_at"}, "sort_by"),
        ({"sort_by": "created_at_desc"}, "sort_by"),
        ({"sort_by": "created_at:DESC"}, "sort_by"),
        ({"per_page": 0}, "per_page"),
        ({"per_page": 101}, "per_page"),
        ({"per_page": True}, "per_page"),
        ({"created_at_from": datetime(2026, 1, 1)}, "created_at_from"),
        ({"updated_at_to": "2026-01-01T00:00:00Z"}, "updated_at_to"),
        ({"issue_date_from": datetime(2026, 1, 1, tzinfo=timezone.utc)}, "issue_date_from"),
        ({"due_date": "overdue"}, "due_date"),
        ({"due_date": []}, "due_date"),
        ({"payment_date": "last_year"}, "payment_date"),
        ({"document_type": "invoices"}, "document_type"),
        ({"missing_data": "yes"}, "missing_data"),
        ({"payable_amount": "lt:100:EUR"}, "payable_amount"),
        ({"payable_amount": ("lte", Decimal("100"))}, "payable_amount"),
        ({"payable_amount": ("gte", Money("-1", "EUR"))}, "payable_amount"),
        ({"query": "  "}, "query"),
        ({"query_fields": ["supplier_name"]}, "query_fields"),
        ({"query": "x", "query_fields": ["iban"]}, "query_fields"),
        ({"status": []}, "status"),
        ({"status": [None]}, "status"),
        ({"attachment_id": []}, "attachment_id"),
    ],
)
async def test_bad_filters_are_refused_before_anything_is_sent(
    api: respx.MockRouter, client: QontoClient, kwargs: dict[str, Any], field: str
) -> None:
    route = api.get(LIST)
    with pytest.raises(InvalidInputError) as info:
        client.supplier_invoices.list(**kwargs)
    assert info.value.field == field
    assert not route.called


async def test_unknown_status_values_may_still_be_filtered_on(
    api: respx.MockRouter, client: QontoClient
) -> None:
    route = api.get(LIST).respond(json=page_body([], {"next_page": None}))
    await client.supplier_invoices.list(status=S("brand_new"))
    assert query(route.calls.last.request)[0] == ("filter[status][]", "brand_new")


# -- list: pagination ------------------------------------------------------------------------


def pages_side_effect(pages: list[dict[str, Any]]) -> Any:
    def respond(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        return httpx.Response(200, json=pages[number - 1])

    return respond


@pytest.mark.parametrize(
    "last_meta",
    [
        {"current_page": 3, "next_page": None},  # documented
        {"current_page": 3},  # next_page missing (like /v2/cards)
        {"current_page": 3, "next_page": 0},  # 0 (like /v2/payment_links)
    ],
)
async def test_every_last_page_quirk_ends_the_iteration(
    api: respx.MockRouter, client: QontoClient, last_meta: dict[str, Any]
) -> None:
    pages = [
        page_body(["a", "b"], {"current_page": 1, "next_page": 2}),
        page_body(["c", "d"], {"current_page": 2, "next_page": "3"}),
        page_body(["e"], last_meta),
    ]
    route = api.get(LIST).mock(side_effect=pages_side_effect(pages))
    ids = [si.id async for si in client.supplier_invoices.list(per_page=2)]
    assert ids == ["a", "b", "c", "d", "e"]
    assert [r.request.url.params["page"] for r in route.calls] == ["1", "2", "3"]
    assert {r.request.url.params["per_page"] for r in route.calls} == {"2"}


async def test_an_empty_page_ends_the_iteration_whatever_meta_says(
    api: respx.MockRouter, client: QontoClient
) -> None:
    pages = [
        page_body(["a"], {"next_page": 2}),
        page_body([], {"next_page": 3}),
        page_body(["never"], {"next_page": None}),
    ]
    route = api.get(LIST).mock(side_effect=pages_side_effect(pages))
    assert [si.id async for si in client.supplier_invoices.list()] == ["a"]
    assert route.call_count == 2


async def test_a_next_page_that_jumps_is_followed(
    api: respx.MockRouter, client: QontoClient
) -> None:
    pages = [
        page_body(["a"], {"next_page": 3}),
        page_body(["never"], {"next_page": 3}),
        page_body(["b"], {"next_page": None}),
    ]
    route = api.get(LIST).mock(side_effect=pages_side_effect(pages))
    assert [si.id async for si in client.supplier_invoices.list()] == ["a", "b"]
    assert [r.request.url.params["page"] for r in route.calls] == ["1", "3"]


@pytest.mark.parametrize("announced", [3, 1, -2])
async def test_a_next_page_that_does_not_advance_is_a_typed_error(
    api: respx.MockRouter, client: QontoClient, announced: int
) -> None:
    pages = [
        page_body(["a", "b"], {"current_page": 1, "next_page": 2}),
        page_body(["c", "d"], {"current_page": 2, "next_page": "3"}),
        page_body(["e"], {"current_page": 3, "next_page": announced}),
    ]
    route = api.get(LIST).mock(side_effect=pages_side_effect(pages))
    seen: list[str] = []
    with pytest.raises(PaginationError) as caught:
        await collect(client.supplier_invoices.list(per_page=2), seen)
    # The last page's items are genuine: yielded before the error.
    assert seen == ["a", "b", "c", "d", "e"]
    assert route.call_count == 3
    assert caught.value.reason == "not_advancing"
    assert (caught.value.page, caught.value.next_page, caught.value.pages_read) == (3, announced, 3)
    assert isinstance(caught.value, InvoicingError)


async def test_a_server_ignoring_the_page_number_stops_without_repeating_items(
    api: respx.MockRouter, client: QontoClient
) -> None:
    # Always the same page, always announcing the next one: it used to run forever.
    def respond(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return httpx.Response(200, json=page_body(["a", "b"], {"next_page": page + 1}))

    route = api.get(LIST).mock(side_effect=respond)
    seen: list[str] = []
    with pytest.raises(PaginationError) as caught:
        await collect(client.supplier_invoices.list(per_page=2), seen)
    assert seen == ["a", "b"]
    assert route.call_count == 2
    assert caught.value.reason == "repeated"
    with pytest.raises(PaginationError):
        await client.supplier_invoices.list(per_page=2).to_list()


async def test_a_page_answering_another_current_page_is_a_typed_error(
    api: respx.MockRouter, client: QontoClient
) -> None:
    pages = [
        page_body(["a"], {"current_page": 1, "next_page": 2}),
        page_body(["b"], {"current_page": 1, "next_page": 2}),
    ]
    api.get(LIST).mock(side_effect=pages_side_effect(pages))
    with pytest.raises(PaginationError) as caught:
        await client.supplier_invoices.list().to_list()
    assert caught.value.reason == "not_advancing"
    assert caught.value.page == 2


async def test_max_pages_bounds_an_endless_listing(
    api: respx.MockRouter, client: QontoClient
) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return httpx.Response(200, json=page_body([f"i{page}"], {"next_page": page + 1}))

    route = api.get(LIST).mock(side_effect=respond)
    paginator = client.supplier_invoices.list(max_pages=4)
    seen: list[str] = []
    with pytest.raises(PaginationError) as caught:
        await collect(paginator, seen)
    assert seen == ["i1", "i2", "i3", "i4"]
    assert route.call_count == 4
    assert (caught.value.reason, caught.value.pages_read, caught.value.next_page) == (
        "max_pages",
        4,
        5,
    )
    # Reaching max_pages on the last page is no error.
    pages = [page_body(["a"], {"next_page": 2}), page_body(["b"], {"next_page": None})]
    api.get(LIST).mock(side_effect=pages_side_effect(pages))
    assert [si.id for si in await client.supplier_invoices.list(max_pages=2).to_list()] == [
        "a",
        "b",
    ]


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "3"])
def test_max_pages_is_checked_before_anything_is_sent(client: QontoClient, bad: Any) -> None:
    with pytest.raises(InvalidInputError, match="max_pages"):
        client.supplier_invoices.list(max_pages=bad)


async def test_items_repeated_from_the_previous_page_are_skipped(
    api: respx.MockRouter, client: QontoClient
) -> None:
    # A new invoice arrived at the top between two page requests: "b" shifted to page 2.
    pages = [
        page_body(["a", "b"], {"next_page": 2}),
        page_body(["b", "c"], {"next_page": None}),
    ]
    api.get(LIST).mock(side_effect=pages_side_effect(pages))
    assert [si.id async for si in client.supplier_invoices.list(per_page=2)] == ["a", "b", "c"]


async def test_await_gives_the_first_page_with_meta_and_pages_iterates(
    api: respx.MockRouter, client: QontoClient
) -> None:
    pages = [
        page_body(["a", "b"], {"current_page": 1, "next_page": 2, "total_count": 3}),
        page_body(["c"], {"current_page": 2, "next_page": None, "total_count": 3}),
    ]
    route = api.get(LIST).mock(side_effect=pages_side_effect(pages))
    paginator = client.supplier_invoices.list(per_page=2)
    first = await paginator
    assert first.meta.total_count == 3
    assert first.has_next
    assert first.next_page == 2
    assert len(first) == 2
    assert route.call_count == 1
    sizes = [len(page) async for page in paginator.pages()]
    assert sizes == [2, 1]
    assert [si.id for si in await paginator.to_list(limit=2)] == ["a", "b"]
    assert await paginator.to_list(limit=0) == []


async def test_breaking_out_of_the_iteration_stops_fetching(
    api: respx.MockRouter, client: QontoClient
) -> None:
    pages = [page_body(["a", "b"], {"next_page": 2}), page_body(["c"], {"next_page": None})]
    route = api.get(LIST).mock(side_effect=pages_side_effect(pages))
    async for si in client.supplier_invoices.list(per_page=2):
        assert si.id == "a"
        break
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"invoices": []}, "'supplier_invoices' list"),
        ([], "'supplier_invoices' list"),
        ({"supplier_invoices": [], "meta": {"next_page": "two"}}, "meta.next_page"),
        ({"supplier_invoices": [], "meta": {"next_page": True}}, "meta.next_page"),
        # isdigit() is true of these; int() refuses the first, reads the second as 12.
        ({"supplier_invoices": [], "meta": {"next_page": "\u00b2"}}, "meta.next_page"),
        ({"supplier_invoices": [], "meta": {"next_page": "\u0661\u0662"}}, "meta.next_page"),
        ({"supplier_invoices": [], "meta": {"total_count": "9" * 5000}}, "meta.total_count"),
        ({"supplier_invoices": [], "meta": []}, "meta is not an object"),
        ({"supplier_invoices": [wire("a")] * 2}, "full page without 'meta'"),
        (
            {"supplier_invoices": [{"id": "a", "status": "paid", "total_amount": 1}]},
            r"$[0].total_amount",
        ),
    ],
)
async def test_malformed_list_answers_are_validation_errors(
    api: respx.MockRouter, client: QontoClient, body: Any, problem: str
) -> None:
    api.get(LIST).respond(json=body)
    with pytest.raises(ResponseValidationError) as info:
        await client.supplier_invoices.list(per_page=2)
    assert problem in str(info.value)


async def test_a_short_page_without_meta_is_the_last(
    api: respx.MockRouter, client: QontoClient
) -> None:
    api.get(LIST).respond(json={"supplier_invoices": [wire("a")]})
    assert [si.id async for si in client.supplier_invoices.list(per_page=2)] == ["a"]


# -- get ------------------------------------------------------------------------------------


async def test_get_unwraps_the_envelope(api: respx.MockRouter, client: QontoClient) -> None:
    route = api.get(f"{LIST}/{SEED_ID}").respond(json={"supplier_invoice": wire()})
    si = await client.supplier_invoices.get(SEED_ID)
    assert si.id == SEED_ID
    assert route.calls.last.request.url.path == f"/v2/supplier_invoices/{SEED_ID}"
    # A uuid.UUID or a model is accepted too.
    assert (await client.supplier_invoices.get(uuid.UUID(SEED_ID))).id == SEED_ID
    assert (await client.supplier_invoices.get(si)).id == SEED_ID


async def test_get_accepts_a_bare_object_too(api: respx.MockRouter, client: QontoClient) -> None:
    api.get(f"{LIST}/{SEED_ID}").respond(json=wire())
    assert (await client.supplier_invoices.get(SEED_ID)).id == SEED_ID


async def test_get_refuses_an_answer_about_another_invoice(
    api: respx.MockRouter, client: QontoClient
) -> None:
    api.get(f"{LIST}/{SEED_ID}").respond(json={"supplier_invoice": wire("someone-else")})
    with pytest.raises(ResponseValidationError, match="someone-else"):
        await client.supplier_invoices.get(SEED_ID)


async def test_not_found_carries_qontos_error_body(
    api: respx.MockRouter, client: QontoClient
) -> None:
    api.get(f"{LIST}/nope").respond(
        404,
        json={
            "errors": [{"code": "not_found", "detail": "not found", "source": {"parameter": "id"}}]
        },
    )
    with pytest.raises(NotFoundError) as info:
        await client.supplier_invoices.get("nope")
    assert info.value.body.format == "qonto"
    assert info.value.body.details[0].code == "not_found"
    assert "id: not found" in str(info.value)


@pytest.mark.parametrize(
    "bad",
    ["", " ", "a/b", "../x", "..", ".", "a?b=1", "a#b", "a\\b", "a b", "a\nb", "a\tb", "\x00", 42],
)
async def test_ids_that_could_change_the_url_are_refused(
    api: respx.MockRouter, client: QontoClient, bad: Any
) -> None:
    route = api.route()
    for call in (
        client.supplier_invoices.get(bad),
        client.supplier_invoices.unmark_as_paid(bad),
        client.supplier_invoices.mark_as_paid(bad, payment_date=date(2026, 1, 1)),
        client.supplier_invoices.reject(bad, declined_note="x"),
    ):
        with pytest.raises(InvalidInputError):
            await call
    assert not route.called


async def test_other_characters_are_percent_encoded(
    api: respx.MockRouter, client: QontoClient
) -> None:
    route = api.get(url__regex=r".*").respond(json={"supplier_invoice": wire("a%2Fb:c")})
    await client.supplier_invoices.get("a%2Fb:c")
    assert route.calls.last.request.url.raw_path == b"/v2/supplier_invoices/a%252Fb%3Ac"


# -- state changes -----------------------------------------------------------------------------


async def test_mark_as_paid_body_and_bare_response(
    api: respx.MockRouter, client: QontoClient
) -> None:
    route = api.post(f"{LIST}/{SEED_ID}/mark_as_paid").respond(
        json=wire(status="paid", payment_date="2026-02-10")
    )
    si = await client.supplier_invoices.mark_as_paid(
        SupplierInvoice(id=SEED_ID, status=S.TO_PAY), payment_date=date(2026, 2, 10)
    )
    assert si.status is S.PAID
    assert si.payment_date == date(2026, 2, 10)
    request = route.calls.last.request
    assert json.loads(request.content) == {"supplier_invoice": {"payment_date": "2026-02-10"}}
    assert request.headers["content-type"] == "application/json"


async def test_action_responses_in_an_envelope_are_accepted(
    api: respx.MockRouter, client: QontoClient
) -> None:
    api.post(f"{LIST}/{SEED_ID}/reject").respond(
        json={"supplier_invoice": wire(status="rejected", declined_note="Duplicate")}
    )
    si = await client.supplier_invoices.reject(
        SupplierInvoice(id=SEED_ID, status=S.TO_REVIEW), declined_note="Duplicate"
    )
    assert si.status is S.REJECTED
    assert si.declined_note == "Duplicate"


async def test_reject_body_with_and_without_reason_code(
    api: respx.MockRouter, client: QontoClient
) -> None:
    route = api.post(f"{LIST}/{SEED_ID}/reject").respond(json=wire(status="rejected"))
    model = SupplierInvoice(id=SEED_ID, status=S.TO_APPROVE)
    await client.supplier_invoices.reject(model, declined_note="Duplicate")
    assert json.loads(route.calls.last.request.content) == {
        "supplier_invoice": {"declined_note": "Duplicate"}
    }
    await client.supplier_invoices.reject(
        model, declined_note="Duplicate", declined_reason_code="DOUBLON"
    )
    assert json.loads(route.calls.last.request.content) == {
        "supplier_invoice": {"declined_note": "Duplicate", "declined_reason_code": "DOUBLON"}
    }


async def test_unmark_sends_no_body(api: respx.MockRouter, client: QontoClient) -> None:
    route = api.post(f"{LIST}/{SEED_ID}/unmark_as_paid").respond(
        json=wire(status="to_review", payment_date=None)
    )
    si = await client.supplier_invoices.unmark_as_paid(SupplierInvoice(id=SEED_ID, status=S.PAID))
    assert si.payment_date is None
    assert route.calls.last.request.content == b""


async def test_a_bare_id_is_read_first_then_checked(
    api: respx.MockRouter, client: QontoClient
) -> None:
    get = api.get(f"{LIST}/{SEED_ID}").respond(json={"supplier_invoice": wire(status="scheduled")})
    post = api.post(f"{LIST}/{SEED_ID}/mark_as_paid")
    with pytest.raises(IllegalTransitionError) as info:
        await client.supplier_invoices.mark_as_paid(SEED_ID, payment_date=date(2026, 1, 1))
    assert get.call_count == 1
    assert not post.called
    assert info.value.state is S.SCHEDULED
    assert info.value.invoice_id == SEED_ID


@pytest.mark.parametrize(
    "bad",
    [datetime(2026, 1, 1, 12, 0), "2026-01-01", None, 20260101],
)
async def test_payment_date_must_be_a_date(
    api: respx.MockRouter, client: QontoClient, bad: Any
) -> None:
    route = api.route()
    with pytest.raises(InvalidInputError) as info:
        await client.supplier_invoices.mark_as_paid(
            SupplierInvoice(id=SEED_ID, status=S.TO_PAY), payment_date=bad
        )
    assert info.value.field == "payment_date"
    assert not route.called


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"declined_note": ""}, "declined_note"),
        ({"declined_note": "   "}, "declined_note"),
        ({"declined_note": None}, "declined_note"),
        ({"declined_note": "x", "declined_reason_code": ""}, "declined_reason_code"),
    ],
)
async def test_reject_needs_a_note(
    api: respx.MockRouter, client: QontoClient, kwargs: dict[str, Any], field: str
) -> None:
    route = api.route()
    with pytest.raises(InvalidInputError) as info:
        await client.supplier_invoices.reject(
            SupplierInvoice(id=SEED_ID, status=S.TO_REVIEW), **kwargs
        )
    assert info.value.field == field
    assert not route.called


async def test_a_refusal_from_the_server_is_not_retried(
    api: respx.MockRouter, client: QontoClient
) -> None:
    route = api.post(f"{LIST}/{SEED_ID}/unmark_as_paid").respond(
        400,
        json={"errors": [{"code": "invalid_status", "detail": "not paid"}]},
    )
    with pytest.raises(BadRequestError):
        await client.supplier_invoices.unmark_as_paid(SupplierInvoice(id=SEED_ID, status=S.PAID))
    assert route.call_count == 1


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json=wire("other", status="to_review")),  # another invoice
        httpx.Response(200, json=wire(status="paid")),  # not in the new status
        httpx.Response(200),  # Qonto documents the invoice as the answer
        httpx.Response(200, text='{"id": "4d5418bb', headers={"content-type": "application/json"}),
        httpx.Response(
            200, text="Request blocked by policy", headers={"content-type": "text/plain"}
        ),
    ],
    ids=["other-invoice", "old-status", "empty", "truncated", "text-plain"],
)
async def test_an_action_answer_without_evidence_is_confirmed_by_reading_back(
    api: respx.MockRouter, client: QontoClient, answer: httpx.Response
) -> None:
    post = api.post(f"{LIST}/{SEED_ID}/unmark_as_paid").mock(return_value=answer)
    get = api.get(f"{LIST}/{SEED_ID}").respond(json={"supplier_invoice": wire(status="to_review")})
    si = await client.supplier_invoices.unmark_as_paid(SupplierInvoice(id=SEED_ID, status=S.PAID))
    assert si.status is S.TO_REVIEW
    assert (post.call_count, get.call_count) == (1, 1)
    # Read back not applied: sent again within the retry policy, then the doubt surfaces.
    get.respond(json={"supplier_invoice": wire(status="paid")})
    with pytest.raises(ResponseValidationError):
        await client.with_options(max_retries=1).supplier_invoices.unmark_as_paid(
            SupplierInvoice(id=SEED_ID, status=S.PAID)
        )
    assert (post.call_count, get.call_count) == (3, 3)


async def test_after_a_500_the_invoice_is_read_and_the_change_sent_again_only_if_needed(
    api: respx.MockRouter,
) -> None:
    sleep = NoSleep()
    client = QontoClient(access_token=TOKEN, rate_limit=None, sleep=sleep)
    post = api.post(f"{LIST}/{SEED_ID}/mark_as_paid").mock(
        side_effect=[
            httpx.Response(500, json={"errors": [{"code": "internal_server_error"}]}),
            httpx.Response(200, json=wire(status="paid")),
        ]
    )
    get = api.get(f"{LIST}/{SEED_ID}").respond(json={"supplier_invoice": wire(status="to_pay")})
    si = await client.supplier_invoices.mark_as_paid(
        SupplierInvoice(id=SEED_ID, status=S.TO_PAY), payment_date=date(2026, 1, 1)
    )
    assert si.status is S.PAID
    assert post.call_count == 2
    assert get.call_count == 1
    assert len(sleep.calls) == 1


async def test_after_a_500_a_change_that_happened_is_not_sent_again(
    api: respx.MockRouter, client: QontoClient
) -> None:
    post = api.post(f"{LIST}/{SEED_ID}/reject").respond(500)
    api.get(f"{LIST}/{SEED_ID}").respond(json={"supplier_invoice": wire(status="rejected")})
    si = await client.supplier_invoices.reject(
        SupplierInvoice(id=SEED_ID, status=S.TO_REVIEW), declined_note="Duplicate"
    )
    assert si.status is S.REJECTED
    assert post.call_count == 1


async def test_after_a_500_an_invoice_that_moved_elsewhere_surfaces_the_error(
    api: respx.MockRouter, client: QontoClient
) -> None:
    post = api.post(f"{LIST}/{SEED_ID}/reject").respond(500)
    api.get(f"{LIST}/{SEED_ID}").respond(json={"supplier_invoice": wire(status="scheduled")})
    with pytest.raises(InternalServerError):
        await client.supplier_invoices.reject(
            SupplierInvoice(id=SEED_ID, status=S.TO_REVIEW), declined_note="Duplicate"
        )
    assert post.call_count == 1


async def test_persistent_500s_give_up_after_the_retry_budget(
    api: respx.MockRouter, client: QontoClient
) -> None:
    post = api.post(f"{LIST}/{SEED_ID}/reject").respond(503)
    get = api.get(f"{LIST}/{SEED_ID}").respond(json={"supplier_invoice": wire(status="to_review")})
    with pytest.raises(InternalServerError):
        await client.supplier_invoices.reject(
            SupplierInvoice(id=SEED_ID, status=S.TO_REVIEW), declined_note="Duplicate"
        )
    assert post.call_count == 1 + client.retry_policy.max_retries
    # Every failure is checked, the last one too: a change applied by the last attempt
    # would be returned rather than reported as an error.
    assert get.call_count == 1 + client.retry_policy.max_retries


async def test_if_the_re_read_fails_the_original_error_surfaces(
    api: respx.MockRouter, client: QontoClient
) -> None:
    api.post(f"{LIST}/{SEED_ID}/reject").respond(500)
    api.get(f"{LIST}/{SEED_ID}").respond(404)
    with pytest.raises(InternalServerError):
        await client.supplier_invoices.reject(
            SupplierInvoice(id=SEED_ID, status=S.TO_REVIEW), declined_note="Duplicate"
        )


async def test_with_options_keeps_the_resource_bound_to_the_copy(
    api: respx.MockRouter, client: QontoClient
) -> None:
    route = api.get(f"{LIST}/{SEED_ID}").respond(json={"supplier_invoice": wire()})
    copy = client.with_options(headers={"X-Trace": "t-1"}, timeout=5.0)
    await copy.supplier_invoices.get(SEED_ID)
    assert route.calls.last.request.headers["X-Trace"] == "t-1"
    assert copy.supplier_invoices._client is copy


# -- 428 (strong customer authentication) and trace ids ----------------------------------------


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"X-Qonto-Sca-Session-Token": "sca-123"}, {"code": "sca_required", "message": "SCA"}),
        ({}, {"sca_session_token": "sca-123"}),
        (
            {},
            {
                "errors": [
                    {
                        "code": "sca_required",
                        "detail": "x",
                        "meta": {"sca_session_token": "sca-123"},
                    }
                ]
            },
        ),
    ],
)
async def test_428_is_its_own_error_with_the_sca_session_token(
    api: respx.MockRouter, client: QontoClient, headers: dict[str, str], body: dict[str, Any]
) -> None:
    route = api.get(f"{LIST}/{SEED_ID}").respond(428, headers=headers, json=body)
    with pytest.raises(StrongCustomerAuthenticationError) as caught:
        await client.supplier_invoices.get(SEED_ID)
    error = caught.value
    assert isinstance(error, APIStatusError)
    assert error.status_code == 428
    assert error.sca_session_token == "sca-123"
    assert "sca-123" not in str(error)
    assert route.call_count == 1  # nothing to retry: a person has to approve first


async def test_428_without_a_token(api: respx.MockRouter, client: QontoClient) -> None:
    body = {"code": "sca_not_enrolled", "message": "enrol first"}
    api.get(f"{LIST}/{SEED_ID}").respond(428, json=body)
    with pytest.raises(StrongCustomerAuthenticationError) as caught:
        await client.supplier_invoices.get(SEED_ID)
    assert caught.value.sca_session_token is None
    assert "enrol first" in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        {"code": "not_found", "message": "no such invoice", "trace_id": "tr-42"},
        {"errors": [{"code": "not_found", "detail": "no such invoice"}], "trace_id": "tr-42"},
        {
            "errors": [{"code": "not_found", "detail": "no such invoice"}],
            "meta": {"trace_id": "tr-42"},
        },
        {"message": "no such invoice", "trace_id": "tr-42"},
    ],
)
async def test_a_trace_id_in_the_error_body_is_kept(
    api: respx.MockRouter, client: QontoClient, body: dict[str, Any]
) -> None:
    api.get(f"{LIST}/{SEED_ID}").respond(404, json=body)
    with pytest.raises(NotFoundError) as caught:
        await client.supplier_invoices.get(SEED_ID)
    assert caught.value.body.trace_id == "tr-42"
    assert caught.value.request_id == "tr-42"  # no request id header: the trace id stands in
    assert "tr-42" in str(caught.value)
