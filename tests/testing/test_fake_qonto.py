"""FakeQonto as a server: envelopes, filters, errors, auth, sandbox, limits, bulk, HTTP serving."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any

import anyio
import httpx
import pytest

from qondor_invoicing import QontoClient, SupplierInvoice, SupplierInvoiceStatus
from qondor_invoicing.testing import FakeQonto, Faults

TOKEN = "fake-token-0123456789"
NOW = datetime(2026, 3, 18, 10, 0, tzinfo=timezone.utc)  # a Wednesday


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**kwargs: Any) -> FakeQonto:
    kwargs.setdefault("access_token", TOKEN)
    kwargs.setdefault("now", lambda: NOW)
    return FakeQonto(**kwargs)


def call(
    fake: FakeQonto,
    method: str,
    path: str,
    *,
    params: Any = None,
    json_body: Any = None,
    headers: dict[str, str] | None = None,
    files: Any = None,
) -> httpx.Response:
    sent = {"Authorization": f"Bearer {TOKEN}", **(headers or {})}
    request = httpx.Request(
        method,
        f"https://thirdparty.qonto.com/v2{path}",
        params=params,
        json=json_body,
        files=files,
        headers={k: v for k, v in sent.items() if v},
    )
    return fake.handle(request)


def listed(fake: FakeQonto, **params: Any) -> list[str]:
    response = call(fake, "GET", "/supplier_invoices", params={"per_page": 100, **params})
    assert response.status_code == 200, response.text
    return [inv["id"] for inv in response.json()["supplier_invoices"]]


# -- seed and state -----------------------------------------------------------------------------


def test_seed_covers_every_status_and_parses_strictly() -> None:
    fake = make()
    ids = fake.seed(200)
    assert len(ids) == len(set(ids)) == 200
    statuses = {fake.invoices[i]["status"] for i in ids}
    assert statuses == {s.value for s in SupplierInvoiceStatus}
    credit_notes = [i for i in ids if fake.invoices[i]["is_credit_note"]]
    assert credit_notes
    for invoice_id in credit_notes:
        total = fake.invoices[invoice_id]["total_amount"]
        assert total is None or total["value"].startswith("-")
    assert any(fake.invoices[i]["related_invoices"] for i in credit_notes)
    for invoice_id in ids:
        si = SupplierInvoice.from_wire(fake.wire(invoice_id), strict=True)
        if si.status is SupplierInvoiceStatus.PAID:
            assert si.payment_date is not None
            assert si.matched_transactions


def test_seed_is_reproducible_and_never_reuses_ids() -> None:
    a, b = make(), make()
    assert [a.invoices[i]["invoice_number"] for i in a.seed(30, random_seed=5)] == [
        b.invoices[i]["invoice_number"] for i in b.seed(30, random_seed=5)
    ]
    again = a.seed(30, random_seed=5)
    assert len(a.invoices) == 60
    assert not set(again) & set(list(a.invoices)[:30])
    added = a.add_supplier_invoice()
    assert added not in again


def test_add_supplier_invoice_takes_wire_fields() -> None:
    fake = make()
    invoice_id = fake.add_supplier_invoice(
        invoice_number="FIN-1",
        status="paid",
        total_amount={"value": "22.10", "currency": "EUR"},
        payment_date="2024-02-10",
    )
    wire = fake.wire(invoice_id)
    assert wire["invoice_number"] == "FIN-1"
    assert wire["payable_amount"] == {"value": "22.10", "currency": "EUR"}
    assert "total_amount_excluding_taxes" not in wire
    assert wire["available_actions"]["unarchive"] is False
    with pytest.raises(ValueError, match="already exists"):
        fake.add_supplier_invoice(id=invoice_id)
    fake.add_supplier_invoice(id="custom-id", status="mystery")
    assert fake.statuses()["custom-id"] == "mystery"


# -- envelopes -----------------------------------------------------------------------------------


def test_documented_envelopes() -> None:
    fake = make()
    [invoice_id] = fake.seed(1)  # to_review
    listing = call(fake, "GET", "/supplier_invoices").json()
    assert set(listing) == {"supplier_invoices", "meta"}
    assert listing["meta"] == {
        "current_page": 1,
        "next_page": None,
        "prev_page": None,
        "total_pages": 1,
        "total_count": 1,
        "per_page": 25,
    }
    one = call(fake, "GET", f"/supplier_invoices/{invoice_id}").json()
    assert set(one) == {"supplier_invoice"}
    paid = call(
        fake,
        "POST",
        f"/supplier_invoices/{invoice_id}/mark_as_paid",
        json_body={"supplier_invoice": {"payment_date": "2026-03-01"}},
    ).json()
    assert paid["id"] == invoice_id  # bare object
    assert paid["status"] == "paid"
    assert paid["updated_at"] == "2026-03-18T10:00:00.000Z"


def test_default_page_size_is_25_and_meta_follows_pages() -> None:
    fake = make()
    fake.seed(60)
    first = call(fake, "GET", "/supplier_invoices").json()
    assert len(first["supplier_invoices"]) == 25
    assert first["meta"]["next_page"] == 2
    last = call(fake, "GET", "/supplier_invoices", params={"page": 3}).json()
    assert len(last["supplier_invoices"]) == 10
    assert last["meta"]["next_page"] is None
    assert last["meta"]["prev_page"] == 2
    beyond = call(fake, "GET", "/supplier_invoices", params={"page": 9}).json()
    assert beyond["supplier_invoices"] == []


@pytest.mark.parametrize("params", [{"per_page": 0}, {"per_page": 101}, {"page": 0}, {"page": "x"}])
def test_bad_paging_is_a_qonto_error(params: dict[str, Any]) -> None:
    response = call(make(), "GET", "/supplier_invoices", params=params)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["code"] == "invalid"
    assert error["source"]["parameter"] in ("page", "per_page")


def test_unknown_id_and_unknown_route_are_404() -> None:
    fake = make()
    response = call(fake, "GET", "/supplier_invoices/nope")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"
    assert call(fake, "GET", "/suppliers/x").status_code == 404
    response = call(fake, "POST", "/supplier_invoices/nope/reject", json_body={})
    assert response.status_code == 404


# -- filters -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalogue() -> FakeQonto:
    fake = make(now=lambda: datetime(2026, 1, 10, 9, 0, tzinfo=timezone.utc))
    fake.seed(300, random_seed=3)
    return fake


def expect(fake: FakeQonto, predicate: Any) -> set[str]:
    return {i for i, inv in fake.invoices.items() if predicate(inv)}


def fake_ids(fake: FakeQonto) -> list[str]:
    return list(fake.invoices)


def all_pages(fake: FakeQonto, **params: Any) -> list[str]:
    ids: list[str] = []
    page = 1
    while True:
        body = call(
            fake, "GET", "/supplier_invoices", params={"per_page": 100, "page": page, **params}
        ).json()
        ids += [inv["id"] for inv in body["supplier_invoices"]]
        if body["meta"]["next_page"] is None:
            return ids
        page += 1


def test_status_filter_in_both_array_spellings(catalogue: FakeQonto) -> None:
    wanted = expect(catalogue, lambda inv: inv["status"] in ("paid", "to_pay"))
    assert set(all_pages(catalogue, **{"filter[status][]": ["paid", "to_pay"]})) == wanted
    assert set(all_pages(catalogue, **{"filter[status]": ["paid", "to_pay"]})) == wanted


def test_unknown_status_filter_is_not_in_list(catalogue: FakeQonto) -> None:
    response = call(catalogue, "GET", "/supplier_invoices", params={"filter[status][]": "nope"})
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "code": "not_in_list",
        "detail": (
            "status must be one of: to_review, to_approve, pending, awaiting_payment, to_pay, "
            "scheduled, paid, archived, rejected, discarded"
        ),
        "source": {"parameter": "filter[status]"},
    }


@pytest.mark.parametrize(
    ("params", "predicate"),
    [
        ({"filter[exclude_credit_notes]": "true"}, lambda inv: not inv["is_credit_note"]),
        (
            {"filter[missing_data]": "true"},
            lambda inv: (
                inv["total_amount"] is None
                or inv["invoice_number"] is None
                or inv["supplier_name"] is None
                or inv["due_date"] is None
            ),
        ),
        ({"filter[matched_transactions]": "true"}, lambda inv: bool(inv["matched_transactions"])),
        ({"filter[matched_transactions]": "false"}, lambda inv: not inv["matched_transactions"]),
        ({"filter[document_type]": "duplicates"}, lambda inv: inv["has_duplicates"]),
        (
            {"filter[document_type][]": ["duplicates", "non_financial_documents"]},
            lambda inv: inv["has_duplicates"] or inv["is_attachment_non_financial"],
        ),
        (
            {"filter[due_date]": "missing_date"},
            lambda inv: inv["due_date"] is None,
        ),
        (
            {"filter[due_date][]": ["future"]},
            lambda inv: inv["due_date"] is not None and inv["due_date"] > "2026-01-10",
        ),
        (
            {"filter[issue_date_from]": "2026-01-03"},
            lambda inv: inv["issue_date"] >= "2026-01-03",
        ),
        (
            {
                "filter[created_at_from]": "2026-01-05T12:00:00Z",
                "filter[created_at_to]": "2026-01-06T01:00:00+01:00",
            },
            lambda inv: "2026-01-05T12:00:00" <= inv["created_at"][:19] <= "2026-01-06T00:00:00",
        ),
        (
            {"filter[payable_amount]": "lte:100.00:EUR"},
            lambda inv: (
                inv["payable_amount"] is not None and float(inv["payable_amount"]["value"]) <= 100
            ),
        ),
        (
            {"query": "ovh", "query_fields": "supplier_name"},
            lambda inv: "ovh" in (inv["supplier_name"] or "").lower(),
        ),
    ],
)
def test_filters(catalogue: FakeQonto, params: dict[str, Any], predicate: Any) -> None:
    wanted = expect(catalogue, predicate)
    assert wanted, "the seed should exercise this filter"
    assert wanted < set(fake_ids(catalogue)), "the filter should leave some out"
    assert set(all_pages(catalogue, **params)) == wanted


def test_attachment_and_approver_filters(catalogue: FakeQonto) -> None:
    some = list(catalogue.invoices.values())[:3]
    ids = [inv["attachment_id"] for inv in some]
    assert set(all_pages(catalogue, **{"filter[attachment_id][]": ids})) == {
        inv["id"] for inv in some
    }
    assert all_pages(catalogue, **{"filter[attachment_id]": ids[0]}) == [some[0]["id"]]
    with_workflow = next(inv for inv in catalogue.invoices.values() if inv["approval_workflow"])
    approver = with_workflow["approval_workflow"]["approver_ids"][0]
    assert all_pages(catalogue, **{"filter[approver_id][]": approver}) == [with_workflow["id"]]


def test_relative_periods_use_the_fake_clock() -> None:
    fake = make()
    today = fake.add_supplier_invoice(status="paid", payment_date="2026-03-18")
    monday = fake.add_supplier_invoice(status="paid", payment_date="2026-03-16")
    last_week = fake.add_supplier_invoice(status="paid", payment_date="2026-03-10")
    last_month = fake.add_supplier_invoice(status="paid", payment_date="2026-02-27")
    fake.add_supplier_invoice(status="to_review")
    assert set(listed(fake, **{"filter[payment_date]": "today"})) == {today}
    assert set(listed(fake, **{"filter[payment_date]": "this_week"})) == {today, monday}
    assert set(listed(fake, **{"filter[payment_date]": "past_week"})) == {last_week}
    assert set(listed(fake, **{"filter[payment_date]": "this_month"})) == {
        today,
        monday,
        last_week,
    }
    assert set(listed(fake, **{"filter[payment_date]": "past_month"})) == {last_month}
    yesterday = fake.add_supplier_invoice(status="paid", payment_date="2026-03-17")
    assert set(listed(fake, **{"filter[payment_date]": "yesterday"})) == {yesterday}


@pytest.mark.parametrize(
    ("sort_by", "field"),
    [
        ("created_at:desc", "created_at"),
        ("created_at:asc", "created_at"),
        ("due_date:asc", "due_date"),
        ("supplier_name:desc", "supplier_name"),
        ("total_amount:asc", "total_amount"),
    ],
)
def test_sorting_with_missing_values_last(catalogue: FakeQonto, sort_by: str, field: str) -> None:
    ids = all_pages(catalogue, sort_by=sort_by)
    assert len(ids) == len(catalogue.invoices)
    values = [catalogue.invoices[i][field] for i in ids]
    present = [v for v in values if v is not None]
    assert values[: len(present)] == present
    if field == "total_amount":
        present = [float(v["value"]) for v in present]
    descending = sort_by.endswith(":desc")
    if field == "supplier_name":
        present = [v.lower() for v in present]
    assert present == sorted(present, reverse=descending)


def test_bad_sort_is_refused(catalogue: FakeQonto) -> None:
    response = call(catalogue, "GET", "/supplier_invoices", params={"sort_by": "amount"})
    assert response.status_code == 400


# -- state changes and server-side rules -------------------------------------------------------


def test_refused_transition_is_recorded_and_changes_nothing() -> None:
    fake = make()
    invoice_id = fake.add_supplier_invoice(status="scheduled")
    response = call(
        fake,
        "POST",
        f"/supplier_invoices/{invoice_id}/mark_as_paid",
        json_body={"supplier_invoice": {"payment_date": "2026-03-01"}},
    )
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["code"] == "invalid_status"
    assert "scheduled" in error["detail"]
    assert fake.invoices[invoice_id]["status"] == "scheduled"
    [recorded] = fake.refused_requests
    assert recorded.refused
    assert not recorded.applied
    assert fake.history == []


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"supplier_invoice": {}},
        {"supplier_invoice": {"payment_date": "2026-02-30"}},
        {"supplier_invoice": {"payment_date": "01/03/2026"}},
    ],
)
def test_mark_as_paid_needs_a_valid_payment_date(body: Any) -> None:
    fake = make()
    invoice_id = fake.add_supplier_invoice(status="to_pay")
    response = call(fake, "POST", f"/supplier_invoices/{invoice_id}/mark_as_paid", json_body=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["source"] == {"pointer": "/supplier_invoice/payment_date"}


def test_reject_needs_a_note_and_repeating_it_is_refused() -> None:
    fake = make()
    invoice_id = fake.add_supplier_invoice(status="to_approve")
    path = f"/supplier_invoices/{invoice_id}/reject"
    assert call(fake, "POST", path, json_body={"supplier_invoice": {}}).status_code == 422
    body = {"supplier_invoice": {"declined_note": "Wrong amount"}}
    first = call(fake, "POST", path, json_body=body)
    assert first.status_code == 200
    assert first.json()["declined_note"] == "Wrong amount"
    assert call(fake, "POST", path, json_body=body).status_code == 400


def test_unmark_twice_is_refused_the_second_time() -> None:
    fake = make()
    invoice_id = fake.add_supplier_invoice(status="paid", payment_date="2026-03-01")
    path = f"/supplier_invoices/{invoice_id}/unmark_as_paid"
    first = call(fake, "POST", path)
    assert first.json()["status"] == "to_review"
    assert first.json()["payment_date"] is None
    assert call(fake, "POST", path).status_code == 400


def test_french_e_invoice_rule_depends_on_the_organisation_country() -> None:
    body = {"supplier_invoice": {"declined_note": "Duplicate"}}
    french = make()
    invoice_id = french.add_supplier_invoice(status="to_review", is_einvoice=True)
    assert call(french, "POST", f"/supplier_invoices/{invoice_id}/reject", json_body=body)
    assert french.requests[-1].status == 422
    german = make(organization_legal_country="DE")
    invoice_id = german.add_supplier_invoice(status="to_review", is_einvoice=True)
    response = call(german, "POST", f"/supplier_invoices/{invoice_id}/reject", json_body=body)
    assert response.status_code == 200


# -- auth, sandbox, limits ----------------------------------------------------------------------


def test_missing_and_wrong_credentials_are_401_in_qonto_shape() -> None:
    fake = make()
    missing = call(fake, "GET", "/supplier_invoices", headers={"Authorization": ""})
    assert missing.status_code == 401
    assert missing.json() == {
        "errors": [{"code": "unauthorized", "detail": "missing Authorization header"}]
    }
    wrong = call(fake, "GET", "/supplier_invoices", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_api_key_mode() -> None:
    fake = make(access_token=None, login="acme", secret_key="sk-1234")
    ok = call(fake, "GET", "/supplier_invoices", headers={"Authorization": "acme:sk-1234"})
    assert ok.status_code == 200
    bearer = call(fake, "GET", "/supplier_invoices")
    assert bearer.status_code == 401
    read_only = make(access_token=None, login="acme", secret_key="sk-1234", api_key_write=False)
    response = call(
        read_only,
        "POST",
        "/supplier_invoices/x/unmark_as_paid",
        headers={"Authorization": "acme:sk-1234"},
    )
    assert response.status_code == 403
    assert "API key" in response.json()["errors"][0]["detail"]


def test_oauth_scopes_are_enforced() -> None:
    fake = make(scopes=["supplier_invoice.read"])
    assert call(fake, "GET", "/supplier_invoices").status_code == 200
    response = call(fake, "POST", "/supplier_invoices/x/unmark_as_paid")
    assert response.status_code == 403
    assert response.json()["errors"][0]["detail"] == (
        "missing required oauth scope: supplier_invoice.write"
    )


def test_many_401s_are_throttled() -> None:
    clock = Clock()
    fake = make(clock=clock, rate_limit=None)
    for _ in range(201):
        call(fake, "GET", "/supplier_invoices", headers={"Authorization": "Bearer nope"})
    assert call(fake, "GET", "/supplier_invoices").status_code == 429
    clock.now += 3601
    assert call(fake, "GET", "/supplier_invoices").status_code == 200


def test_sandbox_without_staging_token_answers_its_login_page() -> None:
    fake = make(staging_token="stg-1")
    page = call(fake, "GET", "/supplier_invoices")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<form" in page.text
    ok = call(fake, "GET", "/supplier_invoices", headers={"X-Qonto-Staging-Token": "stg-1"})
    assert ok.status_code == 200
    assert ok.json()["supplier_invoices"] == []


def test_rate_limit_1000_per_10_seconds() -> None:
    clock = Clock()
    fake = make(clock=clock)
    assert fake.rate_limit == (1000, 10.0)
    statuses = [call(fake, "GET", "/supplier_invoices").status_code for _ in range(1001)]
    assert statuses[:1000] == [200] * 1000
    assert statuses[1000] == 429
    limited = fake.requests[-1]
    assert limited.status == 429
    response = call(fake, "GET", "/supplier_invoices")
    assert response.json()["errors"][0]["code"] == "too_many_requests"
    assert "retry-after" not in response.headers  # Qonto documents none
    clock.now += 10.01
    assert call(fake, "GET", "/supplier_invoices").status_code == 200
    fake.send_retry_after = True
    for _ in range(1000):
        call(fake, "GET", "/supplier_invoices")
    assert "retry-after" in call(fake, "GET", "/supplier_invoices").headers


def test_injected_server_errors_use_qontos_body() -> None:
    fake = make(faults=Faults())
    fake.faults.inject("server_error")
    response = call(fake, "GET", "/supplier_invoices")
    assert response.status_code == 500
    assert response.json()["errors"][0]["code"] == "internal_server_error"


# -- bulk ------------------------------------------------------------------------------------


def bulk_files(*items: tuple[str, bytes, str, str | None]) -> list[Any]:
    parts: list[Any] = []
    for name, content, ctype, key in items:
        parts.append(("supplier_invoices[][file]", (name, content, ctype)))
        if key is not None:
            parts.append(("supplier_invoices[][idempotency_key]", (None, key.encode())))
    return parts


def test_bulk_creates_to_review_invoices_and_reports_item_errors() -> None:
    fake = make()
    response = call(
        fake,
        "POST",
        "/supplier_invoices/bulk",
        files=[
            ("source", (None, b"integration")),
            ("meta", (None, b'{"integration_type": "dropbox"}')),
            *bulk_files(
                ("a.pdf", b"%PDF a", "application/pdf", "k-a"),
                ("b.txt", b"text", "text/plain", "k-b"),
                ("c.pdf", b"%PDF c", "application/pdf", None),
            ),
        ],
    )
    assert response.status_code == 200
    body = response.json()
    [created] = body["supplier_invoices"]
    assert created["status"] == "to_review"
    assert created["file_name"] == "a.pdf"
    assert created["source"] == "integration"
    assert created["meta"] == {"integration_type": "dropbox"}
    assert body["errors"] == [
        {
            "code": "invalid",
            "detail": "unsupported content type text/plain",
            "source": {"pointer": "/supplier_invoices/idempotency_key/k-b"},
        },
        {
            "code": "required",
            "detail": "idempotency_key is required",
            "source": {"pointer": "/supplier_invoices/2/idempotency_key"},
        },
    ]
    again = call(
        fake,
        "POST",
        "/supplier_invoices/bulk",
        files=bulk_files(("a.pdf", b"%PDF a", "application/pdf", "k-a")),
    )
    assert again.json()["supplier_invoices"][0]["id"] == created["id"]
    assert len(fake.invoices) == 1


def test_bulk_beyond_twenty_items_is_limit_reached() -> None:
    fake = make()
    files = bulk_files(
        *[(f"{n}.pdf", f"%PDF {n}".encode(), "application/pdf", f"k{n}") for n in range(22)]
    )
    body = call(fake, "POST", "/supplier_invoices/bulk", files=files).json()
    assert len(body["supplier_invoices"]) == 20
    assert [e["code"] for e in body["errors"]] == ["limit_reached", "limit_reached"]


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"json_body": {"supplier_invoices": []}},
        {"files": [("source", (None, b"integration"))]},
        {
            "files": [
                ("source", (None, b"email")),
                *bulk_files(("a.pdf", b"%", "application/pdf", "k")),
            ]
        },
        {"files": [("meta", (None, b"[1]")), *bulk_files(("a.pdf", b"%", "application/pdf", "k"))]},
    ],
)
def test_bulk_whole_request_errors_are_400(request_kwargs: dict[str, Any]) -> None:
    response = call(make(), "POST", "/supplier_invoices/bulk", **request_kwargs)
    assert response.status_code == 400
    assert response.json()["errors"]


# -- served over HTTP ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_served_over_http_for_other_processes() -> None:
    fake = make(rate_limit=None)
    ids = fake.seed(30)
    with fake.serve() as url:
        async with QontoClient(
            access_token=TOKEN, base_url=url + "/v2/", rate_limit=None
        ) as client:
            seen = [si.id async for si in client.supplier_invoices.list(per_page=7)]
            assert seen == list(reversed(ids))
            target = next(i for i in ids if fake.invoices[i]["status"] == "to_pay")
            paid = await client.supplier_invoices.mark_as_paid(
                target, payment_date=date(2026, 3, 1)
            )
            assert paid.status is SupplierInvoiceStatus.PAID
            result = await client.supplier_invoices.bulk_create([("x.pdf", b"%PDF x")])
            assert result.ok
    assert fake.invoices[target]["status"] == "paid"
    await anyio.lowlevel.checkpoint()


def test_repr() -> None:
    fake = make(staging_token="stg")
    fake.seed(2)
    assert repr(fake) == "<FakeQonto (sandbox) 2 supplier invoices, 0 requests>"
    assert json.dumps(fake.wire(next(iter(fake.invoices))))
