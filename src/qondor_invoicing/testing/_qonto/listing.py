"""The Qonto fake's list route: filters, sorting and pages of supplier invoices.

The accepted values are the client's own (`qonto.filters`): what the client refuses to
send, the fake refuses to answer, so the two cannot drift apart.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, get_args

import httpx

from ...qonto.filters import (
    PAYABLE_AMOUNT,
    SORT_PROPERTIES,
    DocumentTypeFilter,
    DueDateFilter,
    QueryField,
    RelativeDateFilter,
)
from ...qonto.models import SupplierInvoiceStatus
from .._server import FakeResponse
from .state import missing_data
from .wire import amount, error, errors, maybe_date, maybe_dt

__all__ = ["list_page"]

Check = Callable[[Mapping[str, Any]], bool]

_STATUSES: Final = tuple(s.value for s in SupplierInvoiceStatus)
_DUE_DATES: Final[tuple[str, ...]] = get_args(DueDateFilter)
_PERIODS: Final[tuple[str, ...]] = get_args(RelativeDateFilter)
_DOCUMENT_TYPES: Final[tuple[str, ...]] = get_args(DocumentTypeFilter)
_QUERY_FIELDS: Final[tuple[str, ...]] = get_args(QueryField)
_MAX_PER_PAGE: Final = 100


def list_page(
    invoices: Iterable[dict[str, Any]],
    params: httpx.QueryParams,
    *,
    today: Callable[[], date],
    default_per_page: int,
) -> FakeResponse:
    """Answer a list request: the page of ``invoices`` its filters, sort and page select.

    Args:
        invoices: Every supplier invoice, as wire objects.
        params: The request's query parameters.
        today: Today's date (UTC), for the relative date filters.
        default_per_page: The page size when the request sends no ``per_page``.

    Returns:
        ``{"supplier_invoices": [...], "meta": {...}}``, or a 400 in Qonto's error shape.
    """
    page = _positive_int(params.get("page"), default=1)
    if page is None:
        return errors(400, error("invalid", "page must be an integer >= 1", parameter="page"))
    per_page = _positive_int(params.get("per_page"), default=default_per_page)
    if per_page is None or per_page > _MAX_PER_PAGE:
        return errors(
            400,
            error("invalid", "per_page must be an integer from 1 to 100", parameter="per_page"),
        )
    checks = _checks(params, today)
    if isinstance(checks, FakeResponse):
        return checks
    sort_by = params.get("sort_by") or "created_at:desc"
    prop, _, direction = sort_by.partition(":")
    if prop not in SORT_PROPERTIES or direction not in ("asc", "desc"):
        return errors(
            400,
            error(
                "invalid",
                "sort_by must be <property>:asc or <property>:desc",
                parameter="sort_by",
            ),
        )

    everything = list(invoices)
    matching = [inv for inv in everything if all(c(inv) for c in checks)] if checks else everything
    ordered = _ordered(matching, prop, descending=direction == "desc")
    total = len(ordered)
    total_pages = max(1, -(-total // per_page))
    start_at = (page - 1) * per_page
    chunk = ordered[start_at : start_at + per_page]
    meta = {
        "current_page": page,
        "next_page": page + 1 if page < total_pages else None,
        "prev_page": page - 1 if page > 1 else None,
        "total_pages": total_pages,
        "total_count": total,
        "per_page": per_page,
    }
    # No copies: the body is serialised to JSON before the fake's lock is released.
    return FakeResponse(body={"supplier_invoices": chunk, "meta": meta})


def _checks(params: httpx.QueryParams, today: Callable[[], date]) -> list[Check] | FakeResponse:
    """One predicate per filter the request sends, or the 400 for the first bad one."""

    def values(name: str) -> list[str]:
        return [*params.get_list(f"filter[{name}][]"), *params.get_list(f"filter[{name}]")]

    def single(name: str) -> str | None:
        found = values(name)
        return found[-1] if found else None

    checks: list[Check] = []
    statuses = values("status")
    if statuses:
        if not set(statuses) <= set(_STATUSES):
            return _not_in_list("status", _STATUSES)
        wanted = set(statuses)
        checks.append(lambda inv: inv.get("status") in wanted)
    due = values("due_date")
    if due:
        if not set(due) <= set(_DUE_DATES):
            return _not_in_list("due_date", _DUE_DATES)
        checks.append(_due_check(set(due), today()))
    attachments = set(values("attachment_id"))
    if attachments:
        checks.append(lambda inv: inv.get("attachment_id") in attachments)
    for name, field, after in (
        ("created_at_from", "created_at", True),
        ("created_at_to", "created_at", False),
        ("updated_at_from", "updated_at", True),
        ("updated_at_to", "updated_at", False),
    ):
        raw = single(name)
        if raw is None:
            continue
        bound = maybe_dt(raw)
        if bound is None:
            return errors(
                400, error("invalid", f"{name} must be an RFC 3339 datetime", parameter=name)
            )
        checks.append(_time_check(field, bound, after))
    for name in ("payment_date", "issue_date"):
        period = single(name)
        if period is None:
            continue
        if period not in _PERIODS:
            return errors(
                400, error("not_in_list", f"{name} is not a known period", parameter=name)
            )
        checks.append(_period_check(name, period, today()))
    raw_from = single("issue_date_from")
    if raw_from is not None:
        start = maybe_date(raw_from)
        if start is None:
            return errors(
                400,
                error("invalid", "issue_date_from must be YYYY-MM-DD", parameter="issue_date_from"),
            )
        checks.append(
            lambda inv: (d := maybe_date(inv.get("issue_date"))) is not None and d >= start
        )
    for name, predicate in (
        ("missing_data", missing_data),
        ("matched_transactions", lambda inv: bool(inv.get("matched_transactions"))),
        ("exclude_credit_notes", None),
    ):
        raw = single(name)
        if raw is None:
            continue
        if raw not in ("true", "false"):
            return errors(400, error("invalid", f"{name} must be a boolean", parameter=name))
        flag = raw == "true"
        if predicate is None:
            if flag:
                checks.append(lambda inv: not inv.get("is_credit_note"))
        else:
            checks.append(_flag_check(predicate, flag))
    types = values("document_type")
    if types:
        if not set(types) <= set(_DOCUMENT_TYPES):
            return _not_in_list("document_type", _DOCUMENT_TYPES)
        checks.append(_document_type_check(set(types)))
    approvers = set(values("approver_id"))
    if approvers:
        checks.append(
            lambda inv: bool(
                approvers & set((inv.get("approval_workflow") or {}).get("approver_ids") or [])
            )
        )
    payable = single("payable_amount")
    if payable is not None:
        if PAYABLE_AMOUNT.fullmatch(payable) is None:
            return errors(
                400,
                error(
                    "invalid",
                    "payable_amount must look like lte:100.00:EUR",
                    parameter="filter[payable_amount]",
                ),
            )
        op, value, currency = payable.split(":")
        checks.append(_payable_check(op, Decimal(value), currency))
    query = params.get("query")
    if query:
        fields_param = params.get("query_fields")
        fields = tuple(f for f in fields_param.split(",") if f) if fields_param else _QUERY_FIELDS
        checks.append(_query_check(query.lower(), fields))
    return checks


def _not_in_list(name: str, allowed: Sequence[str]) -> FakeResponse:
    return errors(
        400,
        error(
            "not_in_list",
            f"{name} must be one of: {', '.join(allowed)}",
            parameter=f"filter[{name}]",
        ),
    )


def _positive_int(raw: str | None, *, default: int) -> int | None:
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        return None
    return int(raw)


def _due_check(due: Collection[str], today: date) -> Check:
    def check(inv: Mapping[str, Any]) -> bool:
        day = maybe_date(inv.get("due_date"))
        return (
            ("missing_date" in due and day is None)
            or ("past_and_today" in due and day is not None and day <= today)
            or ("future" in due and day is not None and day > today)
        )

    return check


def _document_type_check(types: Collection[str]) -> Check:
    return lambda inv: (
        ("duplicates" in types and bool(inv.get("has_duplicates")))
        or ("non_financial_documents" in types and bool(inv.get("is_attachment_non_financial")))
    )


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _in_period(day: date | None, period: str, today: date) -> bool:
    if day is None:
        return False
    if period == "today":
        return day == today
    if period == "yesterday":
        return day == today - timedelta(days=1)
    if period == "this_week":
        return _week_start(day) == _week_start(today)
    if period == "past_week":
        return _week_start(day) == _week_start(today) - timedelta(days=7)
    if period == "this_month":
        return (day.year, day.month) == (today.year, today.month)
    if period == "past_month":
        first = today.replace(day=1) - timedelta(days=1)
        return (day.year, day.month) == (first.year, first.month)
    return False


def _time_check(field: str, bound: datetime, after: bool) -> Check:
    def check(inv: Mapping[str, Any]) -> bool:
        value = maybe_dt(inv.get(field))
        if value is None:
            return False
        return value >= bound if after else value <= bound

    return check


def _period_check(field: str, period: str, today: date) -> Check:
    return lambda inv: _in_period(maybe_date(inv.get(field)), period, today)


def _flag_check(predicate: Check, flag: bool) -> Check:
    return lambda inv: predicate(inv) is flag


def _payable_check(op: str, limit: Decimal, currency: str) -> Check:
    def check(inv: Mapping[str, Any]) -> bool:
        parsed = amount(inv.get("payable_amount")) or amount(inv.get("total_amount"))
        if parsed is None or parsed[1] != currency:
            return False
        return parsed[0] <= limit if op == "lte" else parsed[0] >= limit

    return check


def _query_check(query: str, fields: Sequence[str]) -> Check:
    def check(inv: Mapping[str, Any]) -> bool:
        for field in fields:
            if field == "amount":
                parsed = amount(inv.get("total_amount"))
                text = str(parsed[0]) if parsed else ""
            else:
                text = str(inv.get(field) or "")
            if query in text.lower():
                return True
        return False

    return check


def _ordered(
    invoices: list[dict[str, Any]], prop: str, *, descending: bool
) -> list[dict[str, Any]]:
    # Every page sorts the whole list again (state may have changed between pages), so
    # this is written for speed: one pass, tuples compared natively (ids are unique).
    sort_key: Callable[[Any], Any] = _SORT_KEYS.get(prop, _text_key)
    present: list[tuple[Any, str, dict[str, Any]]] = []
    absent: list[tuple[Any, str, dict[str, Any]]] = []
    for inv in invoices:
        value = sort_key(inv.get(prop))
        (absent if value is None else present).append((value, inv["id"], inv))
    present.sort(reverse=descending)
    absent.sort(key=lambda k: k[1])
    return [k[2] for k in present + absent]  # missing values last, either direction


def _text_key(value: Any) -> str | None:
    return None if value is None else str(value).lower()


def _amount_key(value: Any) -> Decimal | None:
    parsed = amount(value)
    return parsed[0] if parsed else None


@functools.lru_cache(maxsize=65536)
def _date_key(value: Any) -> date | None:
    return maybe_date(value)


_SORT_KEYS: Final[Mapping[str, Callable[[Any], Any]]] = {
    "created_at": maybe_dt,
    "updated_at": maybe_dt,
    "payment_date": _date_key,
    "due_date": _date_key,
    "scheduled_date": _date_key,
    "total_amount": _amount_key,
}
