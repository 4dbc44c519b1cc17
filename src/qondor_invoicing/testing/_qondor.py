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
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final, Literal

import attrs
import httpx

from .._convert import parse_date
from ..qondor.client import MAX_FAILURE_MESSAGE_LENGTH
from ..qondor.models import InvoiceAction, InvoiceKind, InvoiceState
from ..qondor.rules import QONDOR_RULES, QondorRuleTable
from ._server import FakeAPI, FakeRequest, FakeResponse, Faults

__all__ = ["FakeQondor", "InvoiceTransition", "StoredInvoice"]

#: The fake's wire encoding of kinds: integer + ``invoiceTypeText``.
KIND_WIRE: Final[Mapping[InvoiceKind, tuple[int, str]]] = {
    InvoiceKind.INVOICE_SPECIFICATION: (1, "InvoiceSpecification"),
    InvoiceKind.CREDIT_CARD_PAYMENT: (2, "CreditCardPayment"),
    InvoiceKind.CREDIT_NOTE: (3, "CreditNote"),
    # A kind the client's default resolver does not know, for tests of strict mode.
    InvoiceKind.UNKNOWN: (9, "GiftCard"),
}
#: The fake's wire encoding of states: integer + ``statusText``.
STATE_WIRE: Final[Mapping[InvoiceState, tuple[int, str]]] = {
    InvoiceState.UNPROCESSED: (0, "Unprocessed"),
    InvoiceState.PROCESSED: (1, "Processed"),
    InvoiceState.FAILED: (2, "Failed"),
    InvoiceState.PAID: (3, "Paid"),
}
_CONTROLLED_KEYS: Final = frozenset(
    {"id", "status", "statusText", "externalReference", "failureMessage", "paidDate"}
)
_KEY_HEADER: Final = "Ocp-Apim-Subscription-Key"
_VALIDATION_TYPE: Final = "https://tools.ietf.org/html/rfc9110#section-15.5.1"
_BUSINESS_TYPE: Final = "https://tools.ietf.org/html/rfc7231#section-6.5.1"
_NOT_FOUND_TYPE: Final = "https://tools.ietf.org/html/rfc9110#section-15.5.5"
_VALIDATION_TITLE: Final = "One or more validation errors occurred."
_CENT: Final = Decimal("0.01")


@attrs.frozen(kw_only=True)
class InvoiceTransition:
    """One state change the fake applied.

    Attributes:
        action: The action.
        from_state: The state before.
        to_state: The state after (the same for an accepted no-op).
        body: The request body as received.
    """

    action: InvoiceAction
    from_state: InvoiceState
    to_state: InvoiceState
    body: Mapping[str, Any]


@attrs.define(kw_only=True)
class StoredInvoice:
    """A payment as the fake stores it.

    Attributes:
        id: The payment id.
        kind: Its kind (the wire shows ``invoiceType``/``invoiceTypeText``).
        state: Its state (the wire shows ``status``/``statusText``).
        external_reference: Set by SetAsProcessed.
        failure_message: Set by SetAsFailed.
        paid_date: Set by SetAsPaid.
        payload: Every other wire field (customer, lines, totals, ...), camelCase.
        history: Every transition applied through the API, in order.
    """

    id: int
    kind: InvoiceKind
    state: InvoiceState
    external_reference: str | None = None
    failure_message: str | None = None
    paid_date: date | None = None
    payload: dict[str, Any] = attrs.field(factory=dict)
    history: list[InvoiceTransition] = attrs.field(factory=list)


# -- seed data -------------------------------------------------------------------------------


@attrs.frozen
class _Article:
    code: str
    description: str
    category: str
    vat_rate: int
    unit_price: Decimal
    account: str


_ARTICLES: Final = (
    _Article("ROOM-DLX", "Deluxe double room", "Accommodation", 12, Decimal("1890.00"), "3020"),
    _Article("ROOM-STD", "Standard single room", "Accommodation", 12, Decimal("1450.00"), "3020"),
    _Article("CONF-DAY", "Conference day package", "Conference", 25, Decimal("795.00"), "3000"),
    _Article(
        "CONF-ROOM", "Plenary room hire, full day", "Conference", 25, Decimal("12500"), "3000"
    ),
    _Article("DINNER-3C", "Three-course dinner", "Food and beverage", 15, Decimal("695"), "3010"),
    _Article("LUNCH-BUF", "Lunch buffet", "Food and beverage", 15, Decimal("325.00"), "3010"),
    _Article("BUS-AIRPORT", "Bus transfer airport-hotel", "Transport", 12, Decimal("350"), "3020"),
    _Article("AV-TECH", "AV equipment and technician", "Equipment", 25, Decimal("8900"), "3000"),
    _Article("ACT-RIB", "RIB safari on the fjord", "Activities", 25, Decimal("1150.00"), "3000"),
    _Article("VENUE-CPH", "Venue hire, Copenhagen", "Venue abroad", 0, Decimal("24000"), "3100"),
)
_CUSTOMERS: Final = (
    (301, "10045", "Acme Corp AS", "CUST-999", "987654321"),
    (302, "10046", "Nordlys Konferanse AS", "CUST-1002", "912345678"),
    (303, "10047", "Fjord Pharma ASA", "CUST-1003", "923456789"),
    (304, "10048", "Bergen Tech Forum", "CUST-1004", "934567890"),
    (305, "10049", "Norsk Medisinsk Selskap", "CUST-1005", "945678901"),
    (306, "10050", "Vestland Energi AS", "CUST-1006", "956789012"),
)
_CARD_PAYERS: Final = ("Kari Nordmann", "Ola Hansen", "Ingrid Berg", "Lars Johansen")
_FAILURE_MESSAGES: Final = (
    "Article code 'ROOM-DLX' not found in finance system",
    "Customer 'Acme Corp' (ref: CUST-999) not found",
    "VAT rate 12% not configured for product category 'Accommodation'",
)


def _money(value: Decimal) -> float:
    # C# decimals serialise as JSON numbers; a float carries two decimals exactly enough.
    return float(value.quantize(_CENT, rounding=ROUND_HALF_UP))


def _line(article: _Article, quantity: int, sign: int = 1) -> dict[str, Any]:
    excl = (article.unit_price * quantity * sign).quantize(_CENT, rounding=ROUND_HALF_UP)
    vat = (excl * article.vat_rate / 100).quantize(_CENT, rounding=ROUND_HALF_UP)
    return {
        "description": article.description,
        "articleCode": article.code,
        "articleCategory": article.category,
        "quantity": quantity,
        "unitPrice": _money(article.unit_price),
        "amountExclVat": _money(excl),
        "vatRate": article.vat_rate,
        "vatAmount": _money(vat),
        "amountInclVat": _money(excl + vat),
        "accountCode": article.account,
    }


def _totals(lines: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    def total(key: str) -> Decimal:
        return sum(
            (Decimal(repr(line[key])) for line in lines if isinstance(line.get(key), (int, float))),
            Decimal(0),
        )

    return {
        "totalExclVat": _money(total("amountExclVat")),
        "totalVat": _money(total("vatAmount")),
        "totalInclVat": _money(total("amountInclVat")),
    }


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
            lost responses).
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
        self._rng = random.Random(0)
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
            payload = self._generate(invoice_id, kind, state)
            if "lines" in fields and not {"totalExclVat", "totalVat", "totalInclVat"} & set(fields):
                lines = fields["lines"]
                if isinstance(lines, list):
                    payload.update(_totals([x for x in lines if isinstance(x, Mapping)]))
            payload.update({k: v for k, v in fields.items() if k not in _CONTROLLED_KEYS})
            if state in (InvoiceState.PROCESSED, InvoiceState.PAID) and external_reference is None:
                year = str(payload.get("issueDate", "2024"))[:4]
                external_reference = f"FIN-{year}-{invoice_id % 100000:05d}"
            if state is InvoiceState.FAILED and failure_message is None:
                failure_message = self._rng.choice(_FAILURE_MESSAGES)
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
        rng = random.Random(random_seed)
        ids: list[int] = []
        with self.lock:
            saved, self._rng = self._rng, rng
            try:
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
            finally:
                self._rng = saved
        return ids

    def wire(self, invoice_id: int) -> dict[str, Any]:
        """The JSON object the API returns for a payment.

        Raises:
            KeyError: No such payment.
        """
        with self.lock:
            stored = self.invoices[invoice_id]
            kind_code, kind_text = KIND_WIRE[stored.kind]
            state_code, state_text = STATE_WIRE[stored.state]
            body: dict[str, Any] = {
                "id": stored.id,
                "invoiceType": kind_code,
                "invoiceTypeText": kind_text,
            }
            body.update(stored.payload)
            body.update(
                status=state_code,
                statusText=state_text,
                externalReference=stored.external_reference,
                failureMessage=stored.failure_message,
                paidDate=stored.paid_date.isoformat() if stored.paid_date else None,
            )
            return body

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
                {"InvoiceId": [f"Invoice {stored.id} cannot be {_verb(action)}: {reason}."]},
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

    # -- generation ----------------------------------------------------------------------

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

    def _generate(self, invoice_id: int, kind: InvoiceKind, state: InvoiceState) -> dict[str, Any]:
        rng = self._rng
        issued = date(2024, 1, 8) + timedelta(days=rng.randrange(0, 330))
        project_id = 4000 + rng.randrange(1, 400)
        payload: dict[str, Any] = {
            "invoiceNumber": str(100000 + invoice_id % 100000),
            "projectId": project_id,
            "projectNo": f"P-{issued.year}-{project_id % 1000:04d}",
        }
        credited: StoredInvoice | None = None
        if kind is InvoiceKind.CREDIT_CARD_PAYMENT:
            payer = rng.choice(_CARD_PAYERS)
            # The booker paid by card through a registration form: a person, not a customer
            # record with a number.
            payload["customer"] = {
                "name": payer,
                "email": payer.lower().replace(" ", ".") + "@example.no",
            }
            articles = rng.sample(
                [a for a in _ARTICLES if a.category in ("Conference", "Food and beverage")], k=2
            )
            lines = [_line(a, rng.randrange(1, 3)) for a in articles]
            due = issued
        else:
            cid, number, name, ref, org = rng.choice(_CUSTOMERS)
            payload["customer"] = {
                "id": cid,
                "customerNumber": number,
                "name": name,
                "externalReference": ref,
                "organisationNumber": org,
                "vatNumber": f"NO{org}MVA",
                "email": f"invoice@{name.split()[0].lower()}.no",
            }
            if kind is InvoiceKind.CREDIT_NOTE:
                originals = [
                    s
                    for s in self.invoices.values()
                    if s.kind is InvoiceKind.INVOICE_SPECIFICATION and s.id != invoice_id
                ]
                credited = originals[-1] if originals else None
            if credited is not None:
                payload["customer"] = dict(credited.payload.get("customer") or payload["customer"])
                payload["projectId"] = credited.payload.get("projectId", project_id)
                payload["projectNo"] = credited.payload.get("projectNo", payload["projectNo"])
                original_lines = [
                    line for line in credited.payload.get("lines", []) if isinstance(line, Mapping)
                ]
                # A credit note cancels the original, line by line, with negative amounts.
                lines = [
                    _line(_article(line), int(line.get("quantity") or 1), sign=-1)
                    for line in original_lines
                ]
                issued = max(issued, date.fromisoformat(credited.payload["issueDate"]))
            else:
                articles = rng.sample(_ARTICLES, k=rng.randrange(1, 5))
                lines = [_line(a, rng.randrange(1, 41)) for a in articles]
                if kind is InvoiceKind.CREDIT_NOTE:
                    lines = [_line(_article(line), int(line["quantity"]), -1) for line in lines]
            due = issued + timedelta(days=14)
        payload.update(
            currency="NOK",
            currencyCode=578,
            issueDate=issued.isoformat(),
            dueDate=due.isoformat(),
            creditedInvoiceId=credited.id if credited is not None else None,
            lines=lines,
            **_totals(lines),
        )
        return payload


def _article(line: Mapping[str, Any]) -> _Article:
    code = line.get("articleCode")
    for article in _ARTICLES:
        if article.code == code:
            return article
    return _Article(
        str(code),
        str(line.get("description") or code),
        str(line.get("articleCategory") or ""),
        int(line.get("vatRate") or 0),
        Decimal(repr(line.get("unitPrice") or 0)),
        str(line.get("accountCode") or ""),
    )


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


def _verb(action: InvoiceAction) -> str:
    return {
        InvoiceAction.SET_AS_PROCESSED: "set as processed",
        InvoiceAction.SET_AS_FAILED: "set as failed",
        InvoiceAction.SET_AS_PAID: "set as paid",
        InvoiceAction.SET_AS_UNPROCESSED: "set as unprocessed",
    }[action]
