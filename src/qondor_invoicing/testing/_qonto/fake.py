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
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timezone
from typing import Any, Literal

import httpx

from ...qonto.models import SupplierInvoiceAction, SupplierInvoiceStatus
from ...qonto.rules import QONTO_RULES, QontoRuleTable
from .._server import FakeAPI, FakeRequest, FakeResponse, Faults
from .._shared import verb
from .auth import (
    READ_SCOPE,
    WRITE_SCOPE,
    UnauthorizedThrottle,
    credentials_refusal,
    sandbox_refusal,
)
from .bulk import bulk_upload
from .generation import FIRST_STATUSES, STATUS_WEIGHTS, SupplierInvoiceFactory
from .listing import list_page
from .state import SupplierInvoiceTransition, available_actions
from .wire import error, errors, iso

__all__ = ["FakeQonto"]


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
        self.scopes: frozenset[str] | set[str] = (
            frozenset(scopes) if scopes is not None else {READ_SCOPE, WRITE_SCOPE}
        )
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
        self._unauthorized = UnauthorizedThrottle()
        self._now = now or (lambda: datetime.now(timezone.utc))
        self._factory = SupplierInvoiceFactory(self.invoices)
        self._request_ids = random.Random(2)
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
            invoice = self._factory.generate(
                organization_id=self.organization_id,
                status=status,
                credit_note=bool(fields.get("is_credit_note", False)),
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
                invoice["available_actions"] = available_actions(invoice)
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
        with self.lock, self._factory.seeded(random_seed) as rng:
            for n in range(count):
                if n < len(FIRST_STATUSES):
                    status = FIRST_STATUSES[n]
                    credit_note = n == 3
                else:
                    status = rng.choices(FIRST_STATUSES, weights=STATUS_WEIGHTS)[0]
                    credit_note = rng.random() < 0.1
                invoice = self._factory.generate(
                    organization_id=self.organization_id,
                    status=status.value,
                    credit_note=credit_note,
                )
                invoice["available_actions"] = available_actions(invoice)
                self.invoices[invoice["id"]] = invoice
                ids.append(invoice["id"])
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
        gate = sandbox_refusal(request, self.staging_token, self.sandbox_login)
        if gate is not None:
            return gate
        now = self._clock()
        if self._unauthorized.throttled(now):
            return self.rate_limited_response(60.0)
        refusal = credentials_refusal(
            request,
            access_token=self.access_token,
            login=self.login,
            secret_key=self.secret_key,
            scopes=self.scopes,
            api_key_write=self.api_key_write,
        )
        if refusal is not None and refusal.status == 401:
            self._unauthorized.record(now)
        return refusal

    def rate_limited_response(self, retry_after: float) -> FakeResponse:
        headers = {"Retry-After": str(max(1, round(retry_after)))} if self.send_retry_after else {}
        return FakeResponse(
            status=429,
            body={"errors": [error("too_many_requests", "Too many requests")]},
            headers=headers,
        )

    def server_error_response(self) -> FakeResponse:
        return errors(500, error("internal_server_error", "Internal server error"))

    def not_found_response(self, request: FakeRequest) -> FakeResponse:
        return errors(404, error("not_found", f"no route for {request.method} {request.path}"))

    # -- routes --------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        response = super().handle(request)
        # Every answer carries a request id (X-Request-Id), as models and journals keep it.
        with self.lock:
            response.headers["x-request-id"] = str(
                uuid.UUID(int=self._request_ids.getrandbits(128))
            )
        return response

    def _today(self) -> date:
        return self._now().astimezone(timezone.utc).date()

    def _list(self, request: FakeRequest) -> FakeResponse:
        return list_page(
            self.invoices.values(),
            request.params,
            today=self._today,
            default_per_page=self.default_per_page,
        )

    def _get(self, request: FakeRequest) -> FakeResponse:
        invoice = self.invoices.get(request.match["id"])
        if invoice is None:
            return self._not_found(request.match["id"])
        return FakeResponse(body={"supplier_invoice": invoice})

    def _not_found(self, invoice_id: str) -> FakeResponse:
        return errors(
            404, error("not_found", f"supplier invoice {invoice_id} not found", parameter="id")
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
            return errors(400, error("invalid", "the body is not valid JSON"))
        payload = body.get("supplier_invoice") if isinstance(body, Mapping) else None
        payload = payload if isinstance(payload, Mapping) else {}
        updates: dict[str, Any] = {}
        if action is SupplierInvoiceAction.MARK_AS_PAID:
            paid = payload.get("payment_date")
            if not isinstance(paid, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", paid):
                return errors(
                    422,
                    error(
                        "invalid",
                        "payment_date is required, as YYYY-MM-DD",
                        pointer="/supplier_invoice/payment_date",
                    ),
                )
            try:
                date.fromisoformat(paid)
            except ValueError:
                return errors(
                    422,
                    error(
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
                return errors(
                    422,
                    error(
                        "required",
                        "declined_note is required",
                        pointer="/supplier_invoice/declined_note",
                    ),
                )
            code = payload.get("declined_reason_code")
            if invoice.get("is_einvoice") and self.organization_legal_country == "FR" and not code:
                return errors(
                    422,
                    error(
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
            return errors(
                400,
                error(
                    "invalid_status",
                    f"supplier invoice cannot be {verb(action)}: {reason}",
                    pointer="/status",
                ),
                refused=True,
            )
        after = self.rules.result(action, SupplierInvoiceStatus(before)).value
        if after != before:
            invoice.update(updates)
            invoice["status"] = after
            invoice["updated_at"] = iso(self._now())
            invoice["available_actions"] = available_actions(invoice)
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
        return bulk_upload(
            request, invoices=self.invoices, keys=self._bulk_keys, create=self._uploaded
        )

    def _uploaded(self, **fields: Any) -> dict[str, Any]:
        return self._factory.uploaded(
            organization_id=self.organization_id, moment=self._now(), **fields
        )
