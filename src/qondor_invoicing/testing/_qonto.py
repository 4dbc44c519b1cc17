"""`FakeQonto`: a stateful in-memory Qonto Business API v2, supplier-invoice endpoints.

The fake stores supplier invoices as the wire objects Qonto returns (``fake.invoices``),
serves the six supplier-invoice operations with their documented envelopes, enforces the
client's rule table (`QONTO_RULES`) server-side and answers errors in Qonto's shape,
``{"errors": [{"code", "detail", "source": {"pointer" | "parameter"}}]}``:

- list: ``{"supplier_invoices": [...], "meta": {...}}`` with every documented filter (both
  ``filter[x][]`` and repeated ``filter[x]`` are understood), ``sort_by`` and ``page`` /
  ``per_page`` (default 25, the size one source reports for this endpoint, so a client that
  forgets ``per_page`` notices); ``next_page`` is ``null`` on the last page;
- retrieve: ``{"supplier_invoice": {...}}``; 404 for an unknown id;
- mark as paid / unmark as paid / reject: the bare object; 400 ``invalid_status`` when the
  status does not allow it (recorded with ``refused=True``), 422 for a bad body (a missing
  payment date or note; a French e-invoice rejected without ``declined_reason_code``);
- bulk: multipart ``supplier_invoices[][file]`` + ``supplier_invoices[][idempotency_key]``
  (or ``[attachment_id]``), 200 with ``{"supplier_invoices": [...], "errors": [...]}``;
  a key seen before answers the invoice it created (idempotent);
- 401 for missing or wrong credentials (bearer token or ``login:secret-key``), 403 when the
  OAuth token lacks the scope, and 429 once more than 200 answers were 401 in an hour;
- a sandbox fake (``staging_token=``) answers its HTML login page with status 200 when the
  ``X-Qonto-Staging-Token`` header is missing or wrong, as Qonto's sandbox does;
- 1,000 requests per 10 s, then 429 (Qonto documents no ``Retry-After``).
"""

from __future__ import annotations

import copy
import functools
import json
import random
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Final, Literal

import attrs

from .._convert import parse_date, parse_datetime
from ..qonto.auth import STAGING_TOKEN_HEADER
from ..qonto.bulk import MAX_FILES_PER_REQUEST, MAX_REQUEST_BYTES
from ..qonto.client import SORT_PROPERTIES
from ..qonto.models import SupplierInvoiceAction, SupplierInvoiceStatus
from ..qonto.rules import QONTO_RULES, QontoRuleTable
from ._server import FakeAPI, FakeRequest, FakeResponse, Faults

__all__ = ["FakeQonto", "SupplierInvoiceTransition"]

READ_SCOPE: Final = "supplier_invoice.read"
WRITE_SCOPE: Final = "supplier_invoice.write"
MAX_FILE_BYTES: Final = 10_000_000  # "PDF max 10 MB" (bulk upload guide)
ACCEPTED_FILE_TYPES: Final = frozenset({"application/pdf", "image/png", "image/jpeg"})
_STATUSES: Final = tuple(s.value for s in SupplierInvoiceStatus)
_SORTABLE: Final = SORT_PROPERTIES  # the list page's properties, as the client checks them
_OBJECT_SOURCES: Final = frozenset(
    {
        "email_forward",
        "e_invoicing",
        "supplier_invoices",
        "pay_by_invoice",
        "integration",
        "regate",
        "generic_upload",
        "pay_later",
    }
)
_REQUEST_SOURCES: Final = frozenset(
    {
        "pay_by_invoice",
        "supplier_invoices",
        "integration",
        "transaction_attachment",
        "generic_upload",
    }
)
_QUERY_FIELDS: Final = ("supplier_name", "amount", "file_name", "invoice_number")
_CENT: Final = Decimal("0.01")
_LOGIN_PAGE: Final = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - Qonto sandbox</title></head>
<body><form method="post" action="/login"><h1>Sign in</h1>
<label>Email <input name="email" type="email"></label>
<label>Password <input name="password" type="password"></label>
<button type="submit">Sign in</button></form></body></html>
"""

_SUPPLIERS: Final = (
    ("OVHcloud", "FR22424761419", "FR7630001007941234567890185", "Cloud hosting"),
    ("Bureau Vallée", "FR40483247862", "FR7610107001011234567890129", "Office supplies"),
    ("SNCF Voyageurs", "FR68519037584", "FR7630004000031234567890143", "Train tickets"),
    ("Deutsche Telekom", "DE123475223", "DE89370400440532013000", "Mobile plans"),
    ("Fiera Milano", "IT12345678901", "IT60X0542811101000000123456", "Trade fair stand"),
    ("Hôtel Lutetia", "FR83552081317", "FR7630006000011234567890189", "Conference rooms"),
    ("Maison Kayser", "FR56501012345", "FR7611315000011234567890138", "Catering"),
    ("Adobe Systems", "IE6364992H", "IE29AIBK93115212345678", "Software licences"),
    ("La Poste", "FR44356000000", "FR7620041000011234567890168", "Postage"),
    ("Mercado Eventos", "ESB12345674", "ES9121000418450200051332", "Event logistics"),
)
_FIRST_STATUSES: Final = (
    SupplierInvoiceStatus.TO_REVIEW,
    SupplierInvoiceStatus.TO_APPROVE,
    SupplierInvoiceStatus.PENDING,
    SupplierInvoiceStatus.AWAITING_PAYMENT,
    SupplierInvoiceStatus.TO_PAY,
    SupplierInvoiceStatus.SCHEDULED,
    SupplierInvoiceStatus.PAID,
    SupplierInvoiceStatus.ARCHIVED,
    SupplierInvoiceStatus.REJECTED,
    SupplierInvoiceStatus.DISCARDED,
)
_STATUS_WEIGHTS: Final = (30, 8, 6, 8, 10, 5, 20, 5, 5, 3)


@attrs.frozen(kw_only=True)
class SupplierInvoiceTransition:
    """One state change the fake applied.

    Attributes:
        invoice_id: The supplier invoice.
        action: The action.
        from_status: The status before.
        to_status: The status after (the same for an accepted no-op).
        body: The request body as received (``None`` for unmark as paid).
    """

    invoice_id: str
    action: SupplierInvoiceAction
    from_status: str
    to_status: str
    body: Any


@attrs.frozen
class _Part:
    name: str
    filename: str | None
    content_type: str | None
    content: bytes


def _error(
    code: str, detail: str, *, pointer: str | None = None, parameter: str | None = None
) -> dict[str, Any]:
    item: dict[str, Any] = {"code": code, "detail": detail}
    if pointer is not None:
        item["source"] = {"pointer": pointer}
    elif parameter is not None:
        item["source"] = {"parameter": parameter}
    return item


def _errors(status: int, *items: dict[str, Any], refused: bool = False) -> FakeResponse:
    return FakeResponse(status=status, body={"errors": list(items)}, refused=refused)


@functools.lru_cache(maxsize=65536)
def _dt(text: str) -> datetime:
    value = parse_datetime(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _maybe_dt(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return _dt(value)
    except (ValueError, TypeError):
        return None


def _maybe_date(value: Any) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_date(value)
    except (ValueError, TypeError):
        return None


def _amount(value: Any) -> tuple[Decimal, str] | None:
    if not isinstance(value, Mapping):
        return None
    try:
        return Decimal(str(value.get("value"))), str(value.get("currency"))
    except (InvalidOperation, ValueError):
        return None


def _money(amount: Decimal, currency: str = "EUR") -> dict[str, str]:
    return {"value": str(amount.quantize(_CENT, rounding=ROUND_HALF_UP)), "currency": currency}


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _header_param(disposition: str, name: str) -> str | None:
    match = re.search(rf';\s*{name}="((?:[^"\\]|\\.)*)"', disposition)
    return match.group(1) if match else None


def _parse_multipart(content_type: str, body: bytes) -> list[_Part] | None:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.lower().startswith("multipart/form-data") or match is None:
        return None
    delimiter = b"--" + match.group(1).encode()
    parts: list[_Part] = []
    for segment in body.split(delimiter)[1:]:
        if segment.startswith(b"--"):
            break
        if segment.startswith(b"\r\n"):
            segment = segment[2:]
        head, sep, content = segment.partition(b"\r\n\r\n")
        if not sep:
            return None
        if content.endswith(b"\r\n"):
            content = content[:-2]
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = _header_param(disposition, "name")
        if name is None:
            return None
        parts.append(
            _Part(
                name=name,
                filename=_header_param(disposition, "filename"),
                content_type=headers.get("content-type"),
                content=content,
            )
        )
    return parts


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


class FakeQonto(FakeAPI):
    """A stateful in-memory Qonto supplier-invoice API for your tests.

    Plug it into a client with ``QontoClient(access_token="test-token",
    transport=fake.transport)``, or serve it over HTTP with ``with fake.serve() as url:``
    and ``QontoClient(access_token="test-token", base_url=url + "/v2/")``.

    Args:
        access_token: The OAuth access token accepted (``None``: no OAuth). Change
            ``fake.access_token`` to expire the one a client holds.
        login: The API key login accepted, with ``secret_key``.
        secret_key: The API key secret accepted, with ``login``.
        staging_token: Makes this a sandbox fake: requests without this
            ``X-Qonto-Staging-Token`` get the sandbox's HTML login page.
        faults: Fault injection (latency, 5xx, 429 bursts, connection errors, applied but
            lost responses).
        rate_limit: ``(requests, per_seconds)``; Qonto allows 1,000 per 10 s. ``None``
            disables it.
        clock: Monotonic clock of the rate limit window and the 401 throttle.
        now: Wall clock for ``updated_at`` and relative date filters (UTC).
        scopes: The OAuth token's scopes (default: read and write).
        api_key_write: Whether API-key credentials may use the write endpoints (Qonto's
            supplier-invoice pages say they may; other areas are read-only for API keys).
        rules: The rule table enforced server-side.
        default_per_page: The page size when a request sends no ``per_page``.
        organization_legal_country: Rejecting an e-invoice needs a ``declined_reason_code``
            when this is ``"FR"``.
        send_retry_after: Send ``Retry-After`` with 429 (Qonto documents none).
        sandbox_login: What a sandbox fake answers without its staging token: the HTML
            login page with status 200 (``"page"``) or a 302 to it (``"redirect"``).

    Attributes:
        invoices: Every supplier invoice by id, as the wire object the API returns.
        history: Every state change applied through the API, in order.
        requests: Every request received (`RecordedRequest`), including refused ones.
    """

    base_path = "/v2"

    def __init__(
        self,
        *,
        access_token: str | None = "test-token",
        login: str | None = None,
        secret_key: str | None = None,
        staging_token: str | None = None,
        faults: Faults | None = None,
        rate_limit: tuple[int, float] | None = (1000, 10.0),
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] | None = None,
        scopes: Iterable[str] | None = None,
        api_key_write: bool = True,
        rules: QontoRuleTable = QONTO_RULES,
        default_per_page: int = 25,
        organization_legal_country: str = "FR",
        send_retry_after: bool = False,
        sandbox_login: Literal["page", "redirect"] = "page",
    ) -> None:
        super().__init__(faults=faults, rate_limit=rate_limit, clock=clock)
        if (login is None) != (secret_key is None):
            raise ValueError("give both login and secret_key, or neither")
        self.access_token = access_token
        self.login = login
        self.secret_key = secret_key
        self.staging_token = staging_token
        self.scopes = frozenset(scopes) if scopes is not None else {READ_SCOPE, WRITE_SCOPE}
        self.api_key_write = api_key_write
        self.rules = rules
        self.default_per_page = default_per_page
        self.organization_legal_country = organization_legal_country
        self.send_retry_after = send_retry_after
        self.sandbox_login = sandbox_login
        self.organization_id = "8c2d5f6e-0b1a-4c3d-9e8f-7a6b5c4d3e2f"
        self.invoices: dict[str, dict[str, Any]] = {}
        self.history: list[SupplierInvoiceTransition] = []
        self._bulk_keys: dict[str, str] = {}
        self._unauthorized: deque[float] = deque()
        self._now = now or (lambda: datetime.now(timezone.utc))
        # Not seeded like seed()'s default stream, so ids never repeat those of seed().
        self._rng = random.Random("fake-qonto")
        self._created_seq = 0
        self.add_route("GET", r"/supplier_invoices", self._list, state_change=False)
        self.add_route("POST", r"/supplier_invoices/bulk", self._bulk, state_change=True)
        self.add_route("GET", r"/supplier_invoices/(?P<id>[^/]+)", self._get, state_change=False)
        for action in SupplierInvoiceAction:
            self.add_route(
                "POST",
                rf"/supplier_invoices/(?P<id>[^/]+)/{action.value}",
                self._action_handler(action),
                state_change=True,
            )

    def __repr__(self) -> str:
        kind = "sandbox" if self.staging_token else "production"
        return (
            f"<FakeQonto ({kind}) {len(self.invoices)} supplier invoices, "
            f"{len(self.requests)} requests>"
        )

    # -- building state ------------------------------------------------------------------

    def add_supplier_invoice(self, **fields: Any) -> str:
        """Add one supplier invoice with realistic generated content; return its id.

        Args:
            **fields: Wire fields (snake_case, wire form) replacing the generated ones,
                e.g. ``invoice_number="FIN-1"``, ``status="paid"``,
                ``total_amount={"value": "22.10", "currency": "EUR"}``,
                ``payment_date="2024-02-10"``, ``is_credit_note=True``, ``id="..."``.
                When ``total_amount`` is given, ``payable_amount`` follows it and the
                generated tax breakdown is dropped (unless given too).

        Returns:
            The id.

        Raises:
            ValueError: The id is already taken.
        """
        with self.lock:
            status = str(fields.get("status", SupplierInvoiceStatus.TO_REVIEW.value))
            invoice = self._generate(
                status=status, credit_note=bool(fields.get("is_credit_note", False))
            )
            if "total_amount" in fields:
                for derived in ("total_amount_excluding_taxes", "total_tax_amount", "taxes"):
                    if derived not in fields:
                        invoice.pop(derived, None)
                if "payable_amount" not in fields:
                    invoice["payable_amount"] = copy.deepcopy(fields["total_amount"])
            invoice.update(copy.deepcopy(fields))
            invoice["status"] = status  # an enum member is stored as its plain value
            invoice_id = str(invoice["id"])
            if invoice_id in self.invoices:
                raise ValueError(f"supplier invoice {invoice_id} already exists")
            invoice["id"] = invoice_id
            if "available_actions" not in fields:
                invoice["available_actions"] = _available_actions(invoice)
            self.invoices[invoice_id] = invoice
            return invoice_id

    def seed(self, count: int = 20, *, random_seed: int = 0) -> list[str]:
        """Add ``count`` realistic supplier invoices across every status; return their ids.

        The first ten cover each status once (the fourth is a credit note); the rest are a
        reproducible mix, about one in ten a credit note, some with missing data, flagged
        duplicates, non-financial documents or e-invoices. ``created_at`` increases with
        each invoice, so the default order (``created_at:desc``) is the reverse of the
        returned ids.

        Args:
            count: How many.
            random_seed: Seed of the mix, for reproducible data.

        Returns:
            The new ids, in creation order.
        """
        ids: list[str] = []
        with self.lock:
            saved, self._rng = self._rng, random.Random(random_seed)
            try:
                for n in range(count):
                    if n < len(_FIRST_STATUSES):
                        status = _FIRST_STATUSES[n]
                        credit_note = n == 3
                    else:
                        status = self._rng.choices(_FIRST_STATUSES, weights=_STATUS_WEIGHTS)[0]
                        credit_note = self._rng.random() < 0.1
                    invoice = self._generate(status=status.value, credit_note=credit_note)
                    invoice["available_actions"] = _available_actions(invoice)
                    self.invoices[invoice["id"]] = invoice
                    ids.append(invoice["id"])
            finally:
                self._rng = saved
        return ids

    def wire(self, invoice_id: str) -> dict[str, Any]:
        """A copy of the JSON object the API returns for a supplier invoice.

        Raises:
            KeyError: No such invoice.
        """
        with self.lock:
            return copy.deepcopy(self.invoices[invoice_id])

    def statuses(self) -> dict[str, str]:
        """Every supplier invoice's current status, by id."""
        with self.lock:
            return {i: str(inv.get("status")) for i, inv in self.invoices.items()}

    # -- Qonto's edge behaviour ----------------------------------------------------------

    def authenticate(self, request: FakeRequest) -> FakeResponse | None:
        staging = request.headers.get(STAGING_TOKEN_HEADER)
        if self.staging_token is not None and staging != self.staging_token:
            if self.sandbox_login == "redirect":
                return FakeResponse(
                    status=302, headers={"Location": "https://sso.staging.qonto.co/login"}
                )
            return FakeResponse(
                status=200, text=_LOGIN_PAGE, content_type="text/html; charset=utf-8"
            )
        now = self._clock()
        while self._unauthorized and self._unauthorized[0] <= now - 3600:
            self._unauthorized.popleft()
        if len(self._unauthorized) > 200:
            # "More than 200 responses with status 401 within one hour: throttled."
            return self.rate_limited_response(60.0)
        header = request.headers.get("authorization")
        mode: Literal["oauth", "api_key"] | None = None
        if header is not None:
            if header.startswith("Bearer "):
                if self.access_token is not None and header[7:] == self.access_token:
                    mode = "oauth"
            elif self.login is not None and header == f"{self.login}:{self.secret_key}":
                mode = "api_key"
        if mode is None:
            self._unauthorized.append(now)
            detail = (
                "missing Authorization header"
                if header is None
                else "invalid or expired credentials"
            )
            return _errors(401, _error("unauthorized", detail))
        write = request.method != "GET"
        if mode == "oauth":
            needed = WRITE_SCOPE if write else READ_SCOPE
            if needed not in self.scopes:
                return _errors(403, _error("forbidden", f"missing required oauth scope: {needed}"))
        elif write and not self.api_key_write:
            return _errors(
                403,
                _error("forbidden", "this endpoint is not available with API key authentication"),
            )
        return None

    def rate_limited_response(self, retry_after: float) -> FakeResponse:
        headers = {"Retry-After": str(max(1, round(retry_after)))} if self.send_retry_after else {}
        return FakeResponse(
            status=429,
            body={"errors": [_error("too_many_requests", "Too many requests")]},
            headers=headers,
        )

    def server_error_response(self) -> FakeResponse:
        return _errors(500, _error("internal_server_error", "Internal server error"))

    def not_found_response(self, request: FakeRequest) -> FakeResponse:
        return _errors(404, _error("not_found", f"no route for {request.method} {request.path}"))

    # -- routes --------------------------------------------------------------------------

    def _today(self) -> date:
        return self._now().astimezone(timezone.utc).date()

    def _list(self, request: FakeRequest) -> FakeResponse:
        params = request.params

        def values(name: str) -> list[str]:
            return [*params.get_list(f"filter[{name}][]"), *params.get_list(f"filter[{name}]")]

        def single(name: str) -> str | None:
            found = values(name)
            return found[-1] if found else None

        page = _positive_int(params.get("page"), default=1)
        if page is None:
            return _errors(400, _error("invalid", "page must be an integer >= 1", parameter="page"))
        per_page = _positive_int(params.get("per_page"), default=self.default_per_page)
        if per_page is None or per_page > 100:
            return _errors(
                400,
                _error(
                    "invalid", "per_page must be an integer from 1 to 100", parameter="per_page"
                ),
            )

        checks: list[Callable[[Mapping[str, Any]], bool]] = []
        statuses = values("status")
        if statuses:
            unknown = [s for s in statuses if s not in _STATUSES]
            if unknown:
                return _errors(
                    400,
                    _error(
                        "not_in_list",
                        f"status must be one of: {', '.join(_STATUSES)}",
                        parameter="filter[status]",
                    ),
                )
            wanted = set(statuses)
            checks.append(lambda inv: inv.get("status") in wanted)
        due = values("due_date")
        if due:
            if not set(due) <= {"past_and_today", "future", "missing_date"}:
                return _errors(
                    400,
                    _error(
                        "not_in_list",
                        "due_date must be one of: past_and_today, future, missing_date",
                        parameter="filter[due_date]",
                    ),
                )
            today = self._today()

            def due_check(inv: Mapping[str, Any]) -> bool:
                day = _maybe_date(inv.get("due_date"))
                return (
                    ("missing_date" in due and day is None)
                    or ("past_and_today" in due and day is not None and day <= today)
                    or ("future" in due and day is not None and day > today)
                )

            checks.append(due_check)
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
            bound = _maybe_dt(raw)
            if bound is None:
                return _errors(
                    400,
                    _error("invalid", f"{name} must be an RFC 3339 datetime", parameter=name),
                )
            checks.append(_time_check(field, bound, after))
        for name in ("payment_date", "issue_date"):
            period = single(name)
            if period is None:
                continue
            if period not in (
                "today",
                "yesterday",
                "this_week",
                "past_week",
                "this_month",
                "past_month",
            ):
                return _errors(
                    400,
                    _error("not_in_list", f"{name} is not a known period", parameter=name),
                )
            checks.append(_period_check(name, period, self._today()))
        raw_from = single("issue_date_from")
        if raw_from is not None:
            start = _maybe_date(raw_from)
            if start is None:
                return _errors(
                    400,
                    _error(
                        "invalid", "issue_date_from must be YYYY-MM-DD", parameter="issue_date_from"
                    ),
                )
            checks.append(
                lambda inv: (d := _maybe_date(inv.get("issue_date"))) is not None and d >= start
            )
        for name, predicate in (
            ("missing_data", _missing_data),
            ("matched_transactions", lambda inv: bool(inv.get("matched_transactions"))),
            ("exclude_credit_notes", None),
        ):
            raw = single(name)
            if raw is None:
                continue
            if raw not in ("true", "false"):
                return _errors(400, _error("invalid", f"{name} must be a boolean", parameter=name))
            flag = raw == "true"
            if predicate is None:
                if flag:
                    checks.append(lambda inv: not inv.get("is_credit_note"))
            else:
                checks.append(_flag_check(predicate, flag))
        types = values("document_type")
        if types:
            if not set(types) <= {"duplicates", "non_financial_documents"}:
                return _errors(
                    400,
                    _error(
                        "not_in_list",
                        "document_type must be one of: duplicates, non_financial_documents",
                        parameter="filter[document_type]",
                    ),
                )
            checks.append(
                lambda inv: (
                    ("duplicates" in types and bool(inv.get("has_duplicates")))
                    or (
                        "non_financial_documents" in types
                        and bool(inv.get("is_attachment_non_financial"))
                    )
                )
            )
        approvers = set(values("approver_id"))
        if approvers:
            checks.append(
                lambda inv: bool(
                    approvers & set((inv.get("approval_workflow") or {}).get("approver_ids") or [])
                )
            )
        payable = single("payable_amount")
        if payable is not None:
            match = re.fullmatch(r"(lte|gte):(\d+(?:\.\d+)?):([A-Z]{3})", payable)
            if match is None:
                return _errors(
                    400,
                    _error(
                        "invalid",
                        "payable_amount must look like lte:100.00:EUR",
                        parameter="filter[payable_amount]",
                    ),
                )
            checks.append(_payable_check(match[1], Decimal(match[2]), match[3]))
        query = params.get("query")
        if query:
            fields_param = params.get("query_fields")
            fields = (
                tuple(f for f in fields_param.split(",") if f) if fields_param else _QUERY_FIELDS
            )
            checks.append(_query_check(query.lower(), fields))
        sort_by = params.get("sort_by") or "created_at:desc"
        prop, _, direction = sort_by.partition(":")
        if prop not in _SORTABLE or direction not in ("asc", "desc"):
            return _errors(
                400,
                _error(
                    "invalid",
                    "sort_by must be <property>:asc or <property>:desc",
                    parameter="sort_by",
                ),
            )

        everything = list(self.invoices.values())
        matching = (
            [inv for inv in everything if all(c(inv) for c in checks)] if checks else everything
        )
        # Every page sorts the whole list again (state may have changed between pages), so
        # this is written for speed: one pass, tuples compared natively (ids are unique).
        sort_key: Callable[[Any], Any] = _SORT_KEYS.get(prop, _text_key)
        present: list[tuple[Any, str, dict[str, Any]]] = []
        absent: list[tuple[Any, str, dict[str, Any]]] = []
        for inv in matching:
            value = sort_key(inv.get(prop))
            (absent if value is None else present).append((value, inv["id"], inv))
        present.sort(reverse=direction == "desc")
        absent.sort(key=lambda k: k[1])
        ordered = [k[2] for k in present + absent]  # missing values last, either direction

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
        return FakeResponse(
            # No copies: the body is serialised to JSON before the lock is released.
            body={"supplier_invoices": chunk, "meta": meta}
        )

    def _get(self, request: FakeRequest) -> FakeResponse:
        invoice = self.invoices.get(request.match["id"])
        if invoice is None:
            return self._not_found(request.match["id"])
        return FakeResponse(body={"supplier_invoice": invoice})

    def _not_found(self, invoice_id: str) -> FakeResponse:
        return _errors(
            404, _error("not_found", f"supplier invoice {invoice_id} not found", parameter="id")
        )

    def _action_handler(
        self, action: SupplierInvoiceAction
    ) -> Callable[[FakeRequest], FakeResponse]:
        def handler(request: FakeRequest) -> FakeResponse:
            return self._action(action, request)

        return handler

    def _action(self, action: SupplierInvoiceAction, request: FakeRequest) -> FakeResponse:
        invoice = self.invoices.get(request.match["id"])
        if invoice is None:
            return self._not_found(request.match["id"])
        try:
            body = request.json()
        except ValueError:
            return _errors(400, _error("invalid", "the body is not valid JSON"))
        payload = body.get("supplier_invoice") if isinstance(body, Mapping) else None
        payload = payload if isinstance(payload, Mapping) else {}
        updates: dict[str, Any] = {}
        if action is SupplierInvoiceAction.MARK_AS_PAID:
            paid = payload.get("payment_date")
            if not isinstance(paid, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", paid):
                return _errors(
                    422,
                    _error(
                        "invalid",
                        "payment_date is required, as YYYY-MM-DD",
                        pointer="/supplier_invoice/payment_date",
                    ),
                )
            try:
                date.fromisoformat(paid)
            except ValueError:
                return _errors(
                    422,
                    _error(
                        "invalid",
                        f"payment_date {paid} is not a date",
                        pointer="/supplier_invoice/payment_date",
                    ),
                )
            updates["payment_date"] = paid
        elif action is SupplierInvoiceAction.UNMARK_AS_PAID:
            updates["payment_date"] = None
        else:
            note = payload.get("declined_note")
            if not isinstance(note, str) or not note.strip():
                return _errors(
                    422,
                    _error(
                        "required",
                        "declined_note is required",
                        pointer="/supplier_invoice/declined_note",
                    ),
                )
            code = payload.get("declined_reason_code")
            if invoice.get("is_einvoice") and self.organization_legal_country == "FR" and not code:
                return _errors(
                    422,
                    _error(
                        "required",
                        "declined_reason_code is required to reject a French e-invoice",
                        pointer="/supplier_invoice/declined_reason_code",
                    ),
                )
            updates["declined_note"] = note
            if code:
                updates["declined_reason_code"] = code

        before = str(invoice.get("status"))
        reason = self.rules.refusal(action, SupplierInvoiceStatus(before))
        if reason is not None:
            return _errors(
                400,
                _error(
                    "invalid_status",
                    f"supplier invoice cannot be {_verb(action)}: {reason}",
                    pointer="/status",
                ),
                refused=True,
            )
        after = self.rules.result(action, SupplierInvoiceStatus(before)).value
        if after != before:
            invoice.update(updates)
            invoice["status"] = after
            invoice["updated_at"] = _iso(self._now())
            invoice["available_actions"] = _available_actions(invoice)
        self.history.append(
            SupplierInvoiceTransition(
                invoice_id=str(invoice["id"]),
                action=action,
                from_status=before,
                to_status=after,
                body=body,
            )
        )
        return FakeResponse(body=invoice)

    def _bulk(self, request: FakeRequest) -> FakeResponse:
        if len(request.body) > MAX_REQUEST_BYTES:
            return _errors(400, _error("invalid", f"the request exceeds {MAX_REQUEST_BYTES} bytes"))
        parts = _parse_multipart(request.headers.get("content-type", ""), request.body)
        if parts is None:
            return _errors(400, _error("invalid", "multipart/form-data body expected"))
        items: list[dict[str, _Part]] = []
        top: dict[str, str] = {}
        for part in parts:
            inner = re.fullmatch(r"supplier_invoices\[\]\[(\w+)\]", part.name)
            if inner is None:
                top[part.name] = part.content.decode("utf-8", "replace")
                continue
            key = inner[1]
            # Rails builds arrays of hashes this way: a repeated key starts a new item.
            if not items or key in items[-1]:
                items.append({})
            items[-1][key] = part
        if not items:
            return _errors(
                400,
                _error("required", "supplier_invoices is required", parameter="supplier_invoices"),
            )
        source = top.get("source")
        if source is not None and source not in _REQUEST_SOURCES:
            return _errors(
                400,
                _error(
                    "not_in_list",
                    f"source must be one of {sorted(_REQUEST_SOURCES)}",
                    parameter="source",
                ),
            )
        meta: Any = None
        if "meta" in top:
            try:
                meta = json.loads(top["meta"])
            except ValueError:
                return _errors(
                    400, _error("invalid", "meta must be a JSON object", parameter="meta")
                )
            if not isinstance(meta, dict):
                return _errors(
                    400, _error("invalid", "meta must be a JSON object", parameter="meta")
                )

        created: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for position, item in enumerate(items):
            key_part = item.get("idempotency_key")
            key = key_part.content.decode("utf-8", "replace") if key_part else None
            pointer = (
                f"/supplier_invoices/idempotency_key/{key}"
                if key
                else f"/supplier_invoices/{position}/idempotency_key"
            )
            if position >= MAX_FILES_PER_REQUEST:
                errors.append(
                    _error(
                        "limit_reached",
                        f"at most {MAX_FILES_PER_REQUEST} supplier invoices per request",
                        pointer=pointer,
                    )
                )
                continue
            if not key:
                errors.append(_error("required", "idempotency_key is required", pointer=pointer))
                continue
            if key in self._bulk_keys and self._bulk_keys[key] in self.invoices:
                created.append(self.invoices[self._bulk_keys[key]])
                continue
            file_part = item.get("file")
            attachment = item.get("attachment_id")
            if (file_part is None) == (attachment is None):
                errors.append(
                    _error("invalid", "give exactly one of file or attachment_id", pointer=pointer)
                )
                continue
            if file_part is not None:
                ctype = (file_part.content_type or "").split(";")[0].strip().lower()
                if ctype not in ACCEPTED_FILE_TYPES:
                    errors.append(
                        _error(
                            "invalid",
                            f"unsupported content type {ctype or 'none'}",
                            pointer=pointer,
                        )
                    )
                    continue
                if len(file_part.content) > MAX_FILE_BYTES:
                    errors.append(
                        _error(
                            "invalid", f"the file exceeds {MAX_FILE_BYTES} bytes", pointer=pointer
                        )
                    )
                    continue
                if not file_part.content:
                    errors.append(_error("invalid", "the file is empty", pointer=pointer))
                    continue
            invoice = self._uploaded(
                file_name=file_part.filename if file_part else None,
                attachment_id=attachment.content.decode() if attachment else None,
                source=source,
                meta=meta,
            )
            self.invoices[invoice["id"]] = invoice
            self._bulk_keys[key] = invoice["id"]
            created.append(invoice)
        return FakeResponse(body={"supplier_invoices": created, "errors": errors})

    # -- generation ----------------------------------------------------------------------

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _new_id(self) -> str:
        invoice_id = self._uuid()
        while invoice_id in self.invoices:  # seed() called twice with one random_seed
            invoice_id = self._uuid()
        return invoice_id

    def _next_created_at(self) -> datetime:
        # Strictly increasing creation times, so that ordering by created_at is total.
        self._created_seq += 1
        base = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)
        return base + timedelta(minutes=7 * self._created_seq + self._rng.randrange(0, 7))

    def _uploaded(
        self,
        *,
        file_name: str | None,
        attachment_id: str | None,
        source: str | None,
        meta: Any,
    ) -> dict[str, Any]:
        moment = self._now()
        attachment = attachment_id or self._uuid()
        return {
            "id": self._new_id(),
            "organization_id": self.organization_id,
            "file_name": file_name or f"{attachment}.pdf",
            "status": SupplierInvoiceStatus.TO_REVIEW.value,
            "source_type": "direct_upload",
            "source": source if source in _OBJECT_SOURCES else "supplier_invoices",
            "created_at": _iso(moment),
            "updated_at": _iso(moment),
            "attachment_id": attachment,
            "display_attachment_id": attachment,
            "declined_note": "",
            "is_einvoice": False,
            "has_discrepancies": False,
            "has_duplicates": False,
            "invoice_number": None,
            "supplier_name": None,
            "total_amount": None,
            "issue_date": None,
            "due_date": None,
            "payment_date": None,
            "scheduled_date": None,
            "iban": None,
            "is_credit_note": False,
            "matched_transactions": [],
            "transfer_ids": [],
            "meta": meta if meta is not None else {},
            "available_actions": {
                "delete": True,
                "archive": True,
                "unarchive": False,
                "pay": False,
                "reasons": {"pay": ["missing_data"], "unarchive": ["invalid_status"]},
            },
        }

    def _generate(self, *, status: str, credit_note: bool) -> dict[str, Any]:
        rng = self._rng
        supplier, vat, iban, description = rng.choice(_SUPPLIERS)
        created = self._next_created_at()
        issued = created.date() - timedelta(days=rng.randrange(0, 10))
        due = issued + timedelta(days=rng.choice((0, 15, 30, 45)))
        excl = Decimal(rng.randrange(1500, 480000)) / 100
        rate = Decimal("0.20") if vat.startswith("FR") else Decimal("0.19")
        sign = -1 if credit_note else 1
        excl = excl * sign
        tax = (excl * rate).quantize(_CENT, rounding=ROUND_HALF_UP)
        total = excl + tax
        number = f"{'AV' if credit_note else 'FA'}-{issued.year}-{rng.randrange(1000, 99999):05d}"
        attachment = self._uuid()
        invoice_id = self._new_id()
        invoice: dict[str, Any] = {
            "id": invoice_id,
            "organization_id": self.organization_id,
            "file_name": f"{supplier.lower().replace(' ', '-')}-{number}.pdf",
            "status": status,
            "source_type": rng.choice(("email", "direct_upload", "direct_upload")),
            "source": rng.choice(("email_forward", "supplier_invoices", "integration")),
            "created_at": _iso(created),
            "updated_at": _iso(created + timedelta(hours=rng.randrange(0, 48))),
            "analyzed_at": _iso(created + timedelta(seconds=rng.randrange(5, 90))),
            "attachment_id": attachment,
            "display_attachment_id": attachment,
            "declined_note": "",
            "is_einvoice": False,
            "has_discrepancies": False,
            "has_duplicates": rng.random() < 0.04,
            "has_suggested_credit_notes": False,
            "invoice_number": number,
            "supplier_name": supplier,
            "supplier_id": self._uuid(),
            "description": description,
            "vat_number": vat,
            "iban": iban,
            "initiator_id": self._uuid(),
            "total_amount": _money(total),
            "total_amount_excluding_taxes": _money(excl),
            "total_tax_amount": _money(tax),
            "taxes": [{"tax_amount": _money(tax), "tax_rate": str(rate)}],
            "payable_amount": _money(total),
            "total_amount_credit_notes": _money(Decimal(0)),
            "issue_date": issued.isoformat(),
            "due_date": due.isoformat(),
            "payment_date": None,
            "scheduled_date": None,
            "is_credit_note": credit_note,
            "is_attachment_invoice": True,
            "is_attachment_non_financial": False,
            "attachment_category": "CREDIT_NOTE" if credit_note else "INVOICE",
            "matched_transactions": [],
            "matched_transactions_ids": [],
            "transfer_ids": [],
            "request_transfer": None,
            "related_invoices": [],
            "approval_workflow": None,
            "einvoicing_lifecycle_events": [],
            "meta": {},
        }
        if credit_note:
            originals = [inv for inv in self.invoices.values() if not inv.get("is_credit_note")][
                -20:
            ]
            if originals:
                original = rng.choice(originals)
                invoice["related_invoices"] = [
                    {
                        "id": original["id"],
                        "invoice_number": original.get("invoice_number"),
                        "total_amount": original.get("total_amount"),
                        "attachment_id": original.get("attachment_id"),
                        "file_name": original.get("file_name"),
                    }
                ]
        roll = rng.random()
        if status == "to_review" and roll < 0.12:
            # Not read from the document yet, or unreadable: the "missing data" case.
            for field in ("invoice_number", "supplier_name", "total_amount", "due_date"):
                if rng.random() < 0.6:
                    invoice[field] = None
            invoice["payable_amount"] = invoice["total_amount"]
        elif status == "to_review" and roll < 0.16:
            invoice.update(
                is_attachment_invoice=False,
                is_attachment_non_financial=True,
                attachment_category="OTHER_NON_FINANCIAL_DOCUMENT",
            )
        if rng.random() < 0.05:
            invoice.update(
                is_einvoice=True,
                e_invoice_type="zugferd",
                source_type="e_invoicing",
                source="e_invoicing",
            )
        if status in ("to_approve", "awaiting_payment"):
            invoice["approval_workflow"] = {
                "approver_ids": [self._uuid()],
                "supplier_invoice_request_id": self._uuid(),
                "verified_by": None,
                "last_approved_by": None,
            }
        if status == "scheduled":
            invoice["scheduled_date"] = (
                due if due > created.date() else created.date()
            ).isoformat()
            invoice["request_transfer"] = {"id": self._uuid(), "initiator_id": self._uuid()}
        if status == "paid":
            paid = max(issued, due - timedelta(days=rng.randrange(0, 5)))
            transfer = self._uuid()
            transaction = self._uuid()
            invoice.update(
                payment_date=paid.isoformat(),
                matched_transactions=[
                    {
                        "subject_id": transfer,
                        "subject_type": "transfer",
                        "transaction_id": transaction,
                    }
                ],
                matched_transactions_ids=[transfer],
                transfer_ids=[transfer],
            )
        if status == "rejected":
            invoice["declined_note"] = rng.choice(
                ("Duplicate of an invoice already paid", "Wrong amount", "Not our order")
            )
        return invoice


def _verb(action: SupplierInvoiceAction) -> str:
    return {
        SupplierInvoiceAction.MARK_AS_PAID: "marked as paid",
        SupplierInvoiceAction.UNMARK_AS_PAID: "unmarked as paid",
        SupplierInvoiceAction.REJECT: "rejected",
    }[action]


def _available_actions(invoice: Mapping[str, Any]) -> dict[str, Any]:
    # What the Qonto app would allow: the fake's approximation from the third-party entity
    # catalog (pay reasons: is_credit_note, missing_iban, missing_data, invalid_status).
    status = invoice.get("status")
    reasons: dict[str, list[str]] = {}
    pay_reasons = []
    if invoice.get("is_credit_note"):
        pay_reasons.append("is_credit_note")
    if not invoice.get("iban"):
        pay_reasons.append("missing_iban")
    if _missing_data(invoice):
        pay_reasons.append("missing_data")
    if status not in ("to_review", "to_approve", "awaiting_payment", "to_pay"):
        pay_reasons.append("invalid_status")
    if pay_reasons:
        reasons["pay"] = pay_reasons
    deletable = status in ("to_review", "rejected", "archived", "discarded")
    if not deletable:
        reasons["delete"] = ["invalid_status"]
    archivable = status in ("to_review", "to_pay", "paid", "rejected")
    if not archivable:
        reasons["archive"] = ["invalid_status"]
    if status != "archived":
        reasons["unarchive"] = ["invalid_status"]
    return {
        "delete": deletable,
        "archive": archivable,
        "unarchive": status == "archived",
        "pay": not pay_reasons,
        "reasons": reasons,
    }


def _missing_data(invoice: Mapping[str, Any]) -> bool:
    return any(
        invoice.get(field) in (None, "")
        for field in ("invoice_number", "supplier_name", "total_amount", "due_date")
    )


def _positive_int(raw: str | None, *, default: int) -> int | None:
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        return None
    return int(raw)


def _time_check(field: str, bound: datetime, after: bool) -> Callable[[Mapping[str, Any]], bool]:
    def check(inv: Mapping[str, Any]) -> bool:
        value = _maybe_dt(inv.get(field))
        if value is None:
            return False
        return value >= bound if after else value <= bound

    return check


def _period_check(field: str, period: str, today: date) -> Callable[[Mapping[str, Any]], bool]:
    return lambda inv: _in_period(_maybe_date(inv.get(field)), period, today)


def _flag_check(
    predicate: Callable[[Mapping[str, Any]], bool], flag: bool
) -> Callable[[Mapping[str, Any]], bool]:
    return lambda inv: predicate(inv) is flag


def _payable_check(op: str, amount: Decimal, currency: str) -> Callable[[Mapping[str, Any]], bool]:
    def check(inv: Mapping[str, Any]) -> bool:
        parsed = _amount(inv.get("payable_amount")) or _amount(inv.get("total_amount"))
        if parsed is None or parsed[1] != currency:
            return False
        return parsed[0] <= amount if op == "lte" else parsed[0] >= amount

    return check


def _query_check(query: str, fields: Sequence[str]) -> Callable[[Mapping[str, Any]], bool]:
    def check(inv: Mapping[str, Any]) -> bool:
        for field in fields:
            if field == "amount":
                parsed = _amount(inv.get("total_amount"))
                text = str(parsed[0]) if parsed else ""
            else:
                text = str(inv.get(field) or "")
            if query in text.lower():
                return True
        return False

    return check


def _text_key(value: Any) -> str | None:
    return None if value is None else str(value).lower()


def _amount_key(value: Any) -> Decimal | None:
    parsed = _amount(value)
    return parsed[0] if parsed else None


@functools.lru_cache(maxsize=65536)
def _date_key(value: Any) -> date | None:
    return _maybe_date(value)


_SORT_KEYS: Final[Mapping[str, Callable[[Any], Any]]] = {
    "created_at": _maybe_dt,
    "updated_at": _maybe_dt,
    "payment_date": _date_key,
    "due_date": _date_key,
    "scheduled_date": _date_key,
    "total_amount": _amount_key,
}
