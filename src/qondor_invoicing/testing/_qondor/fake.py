"""`FakeQondor`: a stateful in-memory Qondor Invoicing API v1.

The fake keeps payments in `StoredInvoice` records, serves the five Invoice routes plus
SetAsUnprocessed, enforces the same rule table as the client (`QONDOR_RULES` unless told
otherwise) and answers errors in the shapes Qondor's gateway and backend use:

- 401 from Azure API Management for a missing or wrong subscription key
  (``{"statusCode": 401, "message": "Access denied due to invalid subscription key..."}``);
- 429 from API Management beyond 10 requests per second, with ``Retry-After``;
- 400 ASP.NET ``ValidationProblemDetails`` for bad bodies and refused transitions, with
  PascalCase keys in ``errors`` (``{"FailureMessage": ["'Failure Message' must not be
  empty."]}``);
- 404 ProblemDetails for an unknown payment id.

Qondor does not publish the Invoice object, so the fake picks one plausible encoding, the
one the rest of Qondor's API uses for enums: an integer with a ``...Text`` sibling
(``invoiceType``/``invoiceTypeText`` and ``status``/``statusText``); the integer values are
the fake's own invention. Amounts are JSON numbers in NOK, as C# decimals serialise.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, Final, Literal

import httpx

from ..._convert import parse_date
from ...qondor.client import _KEY_HEADER, MAX_FAILURE_MESSAGE_LENGTH
from ...qondor.models import InvoiceAction, InvoiceKind, InvoiceState
from ...qondor.rules import QONDOR_RULES, QondorRuleTable
from .._server import FakeAPI, FakeRequest, FakeResponse, Faults
from .._shared import verb
from .generation import PaymentFactory, totals
from .state import KIND_WIRE, STATE_WIRE, InvoiceTransition, StoredInvoice, encode

__all__ = ["FakeQondor"]

_CONTROLLED_KEYS: Final = frozenset(
    {"id", "status", "statusText", "externalReference", "failureMessage", "paidDate"}
)
_VALIDATION_TYPE: Final = "https://tools.ietf.org/html/rfc9110#section-15.5.1"
_BUSINESS_TYPE: Final = "https://tools.ietf.org/html/rfc7231#section-6.5.1"
_NOT_FOUND_TYPE: Final = "https://tools.ietf.org/html/rfc9110#section-15.5.5"
_VALIDATION_TITLE: Final = "One or more validation errors occurred."


def _problem(
    status: int, errors: Mapping[str, list[str]] | None = None, *, trace_id: str, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": extra.pop("type", _VALIDATION_TYPE),
        "title": extra.pop("title", _VALIDATION_TITLE),
        "status": status,
    }
    if errors is not None:
        body["errors"] = {k: list(v) for k, v in errors.items()}
    body["traceId"] = trace_id
    body.update(extra)
    return body


def _get_ci(data: Mapping[str, Any], name: str) -> tuple[bool, Any]:
    # ASP.NET Core binds JSON property names case-insensitively.
    lower = name.lower()
    for key, value in data.items():
        if key.lower() == lower:
            return True, value
    return False, None


class FakeQondor(FakeAPI):
    """A stateful in-memory Qondor Invoicing API v1 for your tests.

    Plug it into a client with ``QondorClient(api_key="test-key",
    transport=fake.transport)``, or serve it over HTTP with ``with fake.serve() as url:``
    and ``QondorClient(api_key="test-key", base_url=url)``. Any path ending in the API's
    routes is accepted (``/Prod/Invoicing/v1/Invoice/...`` or just ``/Invoice/...``).

    Args:
        api_key: The only subscription key accepted.
        faults: Fault injection (latency, 5xx, 429 bursts, connection errors, applied but
            lost responses, garbled 2xx answers: truncated JSON or ``text/plain``).
        rate_limit: ``(requests, per_seconds)``; Qondor allows 10 per second. ``None``
            disables it.
        clock: Monotonic clock of the rate limit window.
        rules: The rule table enforced server-side (the client's default unless given).
        put_response: What a successful state change answers: ``"empty"`` (200, no body:
            the guide documents none) or ``"invoice"`` (200 with the updated invoice).

    Attributes:
        invoices: Every payment by id.
        requests: Every request received (`RecordedRequest`), including refused ones.
    """

    def __init__(
        self,
        api_key: str = "test-key",
        *,
        faults: Faults | None = None,
        rate_limit: tuple[int, float] | None = (10, 1.0),
        clock: Callable[[], float] = time.monotonic,
        rules: QondorRuleTable = QONDOR_RULES,
        put_response: Literal["empty", "invoice"] = "empty",
    ) -> None:
        super().__init__(faults=faults, rate_limit=rate_limit, clock=clock)
        self.api_key = api_key
        self.rules = rules
        self.put_response = put_response
        self.invoices: dict[int, StoredInvoice] = {}
        self._next_id = 12345
        self._factory = PaymentFactory()
        self._ids = random.Random(1)
        self.add_route(
            "GET", r".*/Invoice/GetAllUnprocessedInvoices", self._list, state_change=False
        )
        self.add_route("GET", r".*/Invoice/(?P<id>[^/]+)", self._get, state_change=False)
        for action in InvoiceAction:
            self.add_route(
                "PUT",
                rf".*/Invoice/{action.endpoint}",
                self._put_handler(action),
                state_change=True,
            )

    def __repr__(self) -> str:
        return f"<FakeQondor {len(self.invoices)} invoices, {len(self.requests)} requests>"

    # -- building state ------------------------------------------------------------------

    def add_invoice(
        self,
        *,
        kind: InvoiceKind = InvoiceKind.INVOICE_SPECIFICATION,
        state: InvoiceState = InvoiceState.UNPROCESSED,
        id: int | None = None,
        external_reference: str | None = None,
        failure_message: str | None = None,
        paid_date: date | str | None = None,
        **fields: Any,
    ) -> int:
        """Add one payment with realistic generated content; return its id.

        Args:
            kind: Its kind. ``InvoiceKind.UNKNOWN`` is sent as a kind the client's default
                resolver does not recognise (``invoiceTypeText: "GiftCard"``).
            state: Its state.
            id: Its id (the next free id by default).
            external_reference: For a processed or paid payment.
            failure_message: For a failed payment.
            paid_date: For a paid payment (a date or ``YYYY-MM-DD``).
            **fields: Wire fields (camelCase) replacing the generated ones, e.g.
                ``lines=[...]``, ``customer={...}``, ``creditedInvoiceId=12345`` or
                ``invoiceTypeText="Voucher"``. Totals are recomputed from ``lines`` unless
                given too.

        Returns:
            The id.
        """
        with self.lock:
            invoice_id = self._take_id(id)
            payload = self._factory.generate(invoice_id, kind, self.invoices.values())
            if "lines" in fields and not {"totalExclVat", "totalVat", "totalInclVat"} & set(fields):
                lines = fields["lines"]
                if isinstance(lines, list):
                    payload.update(totals([x for x in lines if isinstance(x, Mapping)]))
            payload.update({k: v for k, v in fields.items() if k not in _CONTROLLED_KEYS})
            if state in (InvoiceState.PROCESSED, InvoiceState.PAID) and external_reference is None:
                year = str(payload.get("issueDate", "2024"))[:4]
                external_reference = f"FIN-{year}-{invoice_id % 100000:05d}"
            if state is InvoiceState.FAILED and failure_message is None:
                failure_message = self._factory.failure_message()
            if state is InvoiceState.PAID and paid_date is None:
                paid_date = date.fromisoformat(payload["dueDate"]) - timedelta(days=2)
            self.invoices[invoice_id] = StoredInvoice(
                id=invoice_id,
                kind=kind,
                state=state,
                external_reference=external_reference,
                failure_message=failure_message,
                paid_date=parse_date(paid_date) if paid_date is not None else None,
                payload=payload,
            )
            return invoice_id

    def seed(self, count: int = 20, *, random_seed: int = 0) -> list[int]:
        """Add ``count`` realistic payments of every kind; return their ids.

        The first three are one of each kind (the credit note cancels the first); the rest
        are a reproducible mix: about 60 % invoice specifications, 25 % credit card payments
        and 15 % credit notes, mostly unprocessed, some processed, failed or paid (never a
        paid card payment: those cannot be set as paid).

        Args:
            count: How many.
            random_seed: Seed of the mix, for reproducible data.

        Returns:
            The new ids, in order.
        """
        ids: list[int] = []
        with self.lock, self._factory.seeded(random_seed) as rng:
            for n in range(count):
                if n < 3:
                    kind = list(KIND_WIRE)[n]
                    state = InvoiceState.UNPROCESSED
                else:
                    kind = rng.choices(list(KIND_WIRE)[:3], weights=(60, 25, 15))[0]
                    state = rng.choices(list(STATE_WIRE), weights=(70, 15, 7, 8))[0]
                    if kind is InvoiceKind.CREDIT_CARD_PAYMENT and state is InvoiceState.PAID:
                        state = InvoiceState.PROCESSED
                ids.append(self.add_invoice(kind=kind, state=state))
        return ids

    def wire(self, invoice_id: int) -> dict[str, Any]:
        """The JSON object the API returns for a payment.

        Raises:
            KeyError: No such payment.
        """
        with self.lock:
            return encode(self.invoices[invoice_id])

    def states(self) -> dict[int, InvoiceState]:
        """Every payment's current state, by id."""
        with self.lock:
            return {i: s.state for i, s in self.invoices.items()}

    # -- API Management behaviour --------------------------------------------------------

    def authenticate(self, request: FakeRequest) -> FakeResponse | None:
        key = request.headers.get(_KEY_HEADER)
        if key == self.api_key:
            return None
        reason = "missing" if not key else "invalid"
        hint = (
            "Make sure to include subscription key when making requests to an API."
            if not key
            else "Make sure to provide a valid key for an active subscription."
        )
        return FakeResponse(
            status=401,
            body={
                "statusCode": 401,
                "message": f"Access denied due to {reason} subscription key. {hint}",
            },
            headers={
                "WWW-Authenticate": (
                    'AzureApiManagementKey realm="https://qondor.azure-api.net/Prod/Invoicing/v1",'
                    f'name="{_KEY_HEADER}",type="header"'
                )
            },
        )

    def rate_limited_response(self, retry_after: float) -> FakeResponse:
        seconds = math.ceil(retry_after)  # API Management sends whole seconds
        return FakeResponse(
            status=429,
            body={
                "statusCode": 429,
                "message": f"Rate limit is exceeded. Try again in {seconds} seconds.",
            },
            headers={"Retry-After": str(seconds)},
        )

    def server_error_response(self) -> FakeResponse:
        return FakeResponse(
            status=503,
            body={"statusCode": 503, "message": "Service Unavailable: the backend did not answer."},
        )

    def not_found_response(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(status=404, body={"statusCode": 404, "message": "Resource not found"})

    def handle(self, request: httpx.Request) -> httpx.Response:
        response = super().handle(request)
        with self.lock:
            response.headers["apim-request-id"] = str(uuid.UUID(int=self._ids.getrandbits(128)))
        return response

    def answer_record(self, request: FakeRequest) -> Any:
        try:
            data = request.json()
        except ValueError:
            data = None
        _, invoice_id = _get_ci(data, "invoiceId") if isinstance(data, dict) else (False, None)
        if isinstance(invoice_id, int) and invoice_id in self.invoices:
            return self.wire(invoice_id)
        return super().answer_record(request)

    # -- routes --------------------------------------------------------------------------

    def _trace_id(self) -> str:
        return f"00-{self._ids.getrandbits(128):032x}-{self._ids.getrandbits(64):016x}-00"

    def _list(self, request: FakeRequest) -> FakeResponse:
        body = [
            self.wire(i)
            for i, stored in sorted(self.invoices.items())
            if stored.state is InvoiceState.UNPROCESSED
        ]
        return FakeResponse(body=body)

    def _not_found(self) -> FakeResponse:
        return FakeResponse(
            status=404,
            body=_problem(404, type=_NOT_FOUND_TYPE, title="Not Found", trace_id=self._trace_id()),
            content_type="application/problem+json; charset=utf-8",
        )

    def _bad_request(
        self, errors: Mapping[str, list[str]], *, business: bool = False, refused: bool = False
    ) -> FakeResponse:
        return FakeResponse(
            status=400,
            body=_problem(
                400,
                errors,
                type=_BUSINESS_TYPE if business else _VALIDATION_TYPE,
                trace_id=self._trace_id(),
            ),
            content_type="application/problem+json; charset=utf-8",
            refused=refused,
        )

    def _get(self, request: FakeRequest) -> FakeResponse:
        raw = request.match["id"]
        # The route constraint is {id:int}: anything else is no route at all.
        if not raw.isdigit():
            return self.not_found_response(request)
        invoice_id = int(raw)
        if invoice_id not in self.invoices:
            return self._not_found()
        return FakeResponse(body=self.wire(invoice_id))

    def _put_handler(self, action: InvoiceAction) -> Callable[[FakeRequest], FakeResponse]:
        def handler(request: FakeRequest) -> FakeResponse:
            return self._put(action, request)

        return handler

    def _put(self, action: InvoiceAction, request: FakeRequest) -> FakeResponse:
        try:
            data = request.json()
        except ValueError:
            return self._bad_request(
                {"$": ["The input does not contain any JSON tokens or is not valid JSON."]}
            )
        if data is None:
            return self._bad_request({"": ["A non-empty request body is required."]})
        if not isinstance(data, dict):
            return self._bad_request(
                {"$": ["The JSON value could not be converted to the request model. Path: $"]}
            )
        present, raw_id = _get_ci(data, "invoiceId")
        if not present or raw_id is None:
            return self._bad_request({"InvoiceId": ["The InvoiceId field is required."]})
        if isinstance(raw_id, bool) or not isinstance(raw_id, int):
            return self._bad_request(
                {
                    "$.invoiceId": [
                        "The JSON value could not be converted to System.Int32. Path: $.invoiceId"
                    ]
                }
            )
        stored = self.invoices.get(raw_id)
        if stored is None:
            return self._not_found()

        updates: dict[str, Any] = {}
        if action is InvoiceAction.SET_AS_PROCESSED:
            present, reference = _get_ci(data, "externalReference")
            if present and reference is not None:
                if not isinstance(reference, str):
                    return self._bad_request(
                        {
                            "$.externalReference": [
                                "The JSON value could not be converted to System.String. "
                                "Path: $.externalReference"
                            ]
                        }
                    )
                updates["external_reference"] = reference
        elif action is InvoiceAction.SET_AS_FAILED:
            _, message = _get_ci(data, "failureMessage")
            if not isinstance(message, str) or not message.strip():
                return self._bad_request(
                    {"FailureMessage": ["'Failure Message' must not be empty."]}
                )
            if len(message) > MAX_FAILURE_MESSAGE_LENGTH:
                return self._bad_request(
                    {
                        "FailureMessage": [
                            "The length of 'Failure Message' must be "
                            f"{MAX_FAILURE_MESSAGE_LENGTH} characters or fewer. "
                            f"You entered {len(message)} characters."
                        ]
                    }
                )
            updates["failure_message"] = message
        elif action is InvoiceAction.SET_AS_PAID:
            _, raw_date = _get_ci(data, "paidDate")
            if raw_date is None:
                return self._bad_request({"PaidDate": ["'Paid Date' must not be empty."]})
            paid = _parse_wire_date(raw_date)
            if paid is None:
                return self._bad_request(
                    {
                        "$.paidDate": [
                            "The JSON value could not be converted to System.DateTime. "
                            "Path: $.paidDate"
                        ]
                    }
                )
            updates["paid_date"] = paid

        reason = self.rules.refusal(action, stored.state, stored.kind, strict=False)
        if reason is not None:
            return self._bad_request(
                {"InvoiceId": [f"Invoice {stored.id} cannot be {verb(action)}: {reason}."]},
                business=True,
                refused=True,
            )
        before = stored.state
        stored.state = self.rules.result(action, before)
        for name, value in updates.items():
            setattr(stored, name, value)
        stored.history.append(
            InvoiceTransition(action=action, from_state=before, to_state=stored.state, body=data)
        )
        if self.put_response == "invoice":
            return FakeResponse(body=self.wire(stored.id))
        return FakeResponse(status=200)

    def _take_id(self, requested: int | None) -> int:
        if requested is None:
            while self._next_id in self.invoices:
                self._next_id += 1
            requested = self._next_id
            self._next_id += 1
        elif isinstance(requested, bool) or not isinstance(requested, int) or requested <= 0:
            raise ValueError(f"id must be a positive integer, not {requested!r}")
        elif requested in self.invoices:
            raise ValueError(f"invoice {requested} already exists")
        return requested


def _parse_wire_date(value: Any) -> date | None:
    # What System.Text.Json accepts for a DateTime: ISO 8601 dates and datetimes.
    if not isinstance(value, str):
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        return None
