"""`Invoices`: the Invoice endpoints of `QondorClient` (``qondor.invoices``): the queue, one
payment, and the state changes judged by their evidence."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any, Final

import attrs

from .._convert import json_type
from .._http import (
    NOT_GIVEN,
    APIResponse,
    NotGiven,
    Resource,
    TimeoutTypes,
)
from .._http.changes import Verdict, send_confirmed
from .._http.raw import RawResponses, raw_response
from .._http.response import stamp
from .._request_id import carry_request_id
from ..errors import (
    APIError,
    IllegalTransitionError,
    InvalidInputError,
    ResponseValidationError,
)
from ._checks import _check_date, _check_id, _check_text
from .models import (
    Invoice,
    InvoiceAction,
    InvoiceKind,
    InvoiceList,
)

if TYPE_CHECKING:
    from .client import QondorClient

__all__ = [
    "MAX_EXTERNAL_REFERENCE_LENGTH",
    "MAX_FAILURE_MESSAGE_LENGTH",
    "Invoices",
    "InvoicesWithRawResponse",
]

#: Longest ``failure_message`` sent (after trimming). Qondor publishes no limit; the message
#: is e-mailed to a project manager and shown in Qondor, so 2000 characters is generous.
MAX_FAILURE_MESSAGE_LENGTH: Final = 2000
#: Longest ``external_reference`` sent (after trimming). Qondor publishes no limit either.
MAX_EXTERNAL_REFERENCE_LENGTH: Final = 255

_LIST_ENVELOPE_KEYS: Final = ("items", "invoices", "payments", "data", "value", "results")


class Invoices(Resource):
    """The Invoice endpoints: ``qondor.invoices``.

    State changes (``set_as_*``) share these rules:

    - They take an `Invoice` or a bare id. With a model, the model's kind and state decide;
      with a bare id, the payment is read first (one ``GET Invoice/{id}``).
    - Arguments are validated and the rule table is checked before anything is sent: a
      refusal raises `InvalidInputError` or `IllegalTransitionError` and sends nothing.
    - They return the updated `Invoice` only with evidence of the change: an empty 2xx
      (Qondor documents no body; the input evolved to its new state), a readable invoice in
      the new state in the answer, or a read-back showing it.
    - Any other outcome is a doubt, settled by reading the payment again (see
      `send_confirmed`): an ambiguous failure (a 5xx answer, or a connection error or
      timeout after the request was sent) or a 2xx without evidence (a body that is not
      JSON, such as ``200 text/plain`` "Request blocked by policy", truncated JSON, another
      record, or the invoice in another state). If the change is visible, the updated
      invoice is returned and nothing is sent again; if the state now refuses it,
      `IllegalTransitionError`; if not applied, the change is sent again, at most
      ``retry_policy.max_retries`` times; if the re-read itself fails or cannot tell, the
      doubt is raised (the outcome is unknown: never treat it as done).
    """

    _client: QondorClient

    @property
    def with_raw_response(self) -> InvoicesWithRawResponse:
        """The same methods, returning the `APIResponse` (status, headers, elapsed time,
        retries taken, request id) with the model: ``(await ....get(7)).parse()``."""
        return InvoicesWithRawResponse(self)

    async def list_unprocessed(
        self, *, timeout: TimeoutTypes | NotGiven = NOT_GIVEN
    ) -> InvoiceList:
        """Every payment waiting in the processing queue.

        ``GET Invoice/GetAllUnprocessedInvoices``. Failed payments are not in the queue.
        Every item is UNPROCESSED, whatever its payload says.

        Args:
            timeout: Timeout for this call.

        Returns:
            The payments, in the order Qondor sends them (a list that renders as a table
            in a notebook).

        Raises:
            APIError: The request failed (see the error tree).
            ResponseValidationError: The answer is not a list of invoice objects.
        """
        response = await self._client._core.request(
            "GET", "Invoice/GetAllUnprocessedInvoices", timeout=timeout, allow_empty=True
        )
        items = _unwrap_list(response)
        invoices = InvoiceList()
        for index, item in enumerate(items):
            try:
                invoices.append(
                    self._client.parse_invoice(item, unprocessed=True, response=response)
                )
            except ResponseValidationError as exc:
                raise ResponseValidationError(
                    f"item {index} of {response.method} {response.url} is not a valid Invoice",
                    errors=[e.replace("@ $", f"@ $[{index}]", 1) for e in exc.errors],
                    body=response.text,
                    method=response.method,
                    url=response.url,
                    status_code=response.status_code,
                ) from None
        return stamp(invoices, response)

    async def get(
        self, invoice_id: int, *, timeout: TimeoutTypes | NotGiven = NOT_GIVEN
    ) -> Invoice:
        """One payment with its full details (``GET Invoice/{id}``).

        Args:
            invoice_id: The Qondor payment id.
            timeout: Timeout for this call.

        Returns:
            The payment. Its state is an unknown `InvoiceState` when the payload does not
            say in a way the resolver recognises; every state change is then refused.

        Raises:
            InvalidInputError: ``invoice_id`` is not a positive integer.
            NotFoundError: No such payment (or Qondor hides it from this key).
            APIError: The request failed.
            ResponseValidationError: The answer is not the invoice asked for.
        """
        invoice_id = _check_id(invoice_id)
        return await self._get(invoice_id, timeout)

    async def _get(self, invoice_id: int, timeout: TimeoutTypes | NotGiven) -> Invoice:
        response = await self._client._core.request("GET", f"Invoice/{invoice_id}", timeout=timeout)
        payload = response.data
        if (
            (type(payload) is dict or isinstance(payload, Mapping))
            and "id" not in payload
            and "invoiceId" not in payload
        ):
            payload = {"id": invoice_id, **payload}
        invoice = self._client.parse_invoice(payload, response=response)
        if invoice.id != invoice_id:
            raise ResponseValidationError(
                f"{response.method} {response.url} answered with invoice {invoice.id}, "
                f"not {invoice_id}",
                errors=[f"expected id {invoice_id} @ $.id, got {invoice.id}"],
                body=response.text,
                method=response.method,
                url=response.url,
                status_code=response.status_code,
            )
        return invoice

    async def set_as_processed(
        self,
        invoice: Invoice | int,
        *,
        external_reference: str | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
    ) -> Invoice:
        """Report that the payment was transferred to your finance system.

        ``PUT Invoice/SetAsProcessed``.

        Args:
            invoice: The payment, or its id.
            external_reference: Your finance system's reference (recommended), e.g. the
                invoice number it assigned; trimmed, at most 255 characters.
            timeout: Timeout for each request of this call.

        Returns:
            The payment, now PROCESSED.

        Raises:
            InvalidInputError: A bad id or reference; nothing was sent.
            IllegalTransitionError: The payment is paid or failed; nothing was sent.
            APIError: The request failed (see the class docstring for ambiguous failures).
        """
        fields: dict[str, Any] = {}
        if external_reference is not None:
            fields["externalReference"] = _check_text(
                external_reference,
                "external_reference",
                MAX_EXTERNAL_REFERENCE_LENGTH,
                what="omit it (None) rather than send an empty reference",
            )
        return await self._change(InvoiceAction.SET_AS_PROCESSED, invoice, fields, timeout)

    async def set_as_failed(
        self,
        invoice: Invoice | int,
        *,
        failure_message: str,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
    ) -> Invoice:
        """Report that the payment cannot be processed (``PUT Invoice/SetAsFailed``). Final.

        Qondor e-mails ``failure_message`` to the project manager and shows it in Qondor, so
        say exactly what to fix ("Article code 'ROOM-DLX' not found in finance system").
        The payment leaves the queue and cannot be reprocessed.

        Args:
            invoice: The payment, or its id.
            failure_message: Why; trimmed, non-empty, at most 2000 characters.
            timeout: Timeout for each request of this call.

        Returns:
            The payment, now FAILED.

        Raises:
            InvalidInputError: A bad id or message; nothing was sent.
            IllegalTransitionError: The payment is processed or paid; nothing was sent.
            APIError: The request failed (see the class docstring for ambiguous failures).
        """
        message = _check_text(
            failure_message,
            "failure_message",
            MAX_FAILURE_MESSAGE_LENGTH,
            what="Qondor shows it to the project manager as the reason",
            lines=True,
        )
        return await self._change(
            InvoiceAction.SET_AS_FAILED, invoice, {"failureMessage": message}, timeout
        )

    async def set_as_paid(
        self,
        invoice: Invoice | int,
        *,
        paid_date: date,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
    ) -> Invoice:
        """Report that the payment was received (``PUT Invoice/SetAsPaid``).

        Args:
            invoice: The payment, or its id.
            paid_date: The day the money arrived; a ``datetime.date``, sent as YYYY-MM-DD.
            timeout: Timeout for each request of this call.

        Returns:
            The payment, now PAID.

        Raises:
            InvalidInputError: A bad id, or ``paid_date`` is not a date (a string or a
                datetime); nothing was sent.
            IllegalTransitionError: The payment is not processed, or is a credit card
                payment (or of an unknown kind, in strict mode); nothing was sent.
            APIError: The request failed (see the class docstring for ambiguous failures).
        """
        day = _check_date(paid_date, "paid_date")
        return await self._change(
            InvoiceAction.SET_AS_PAID, invoice, {"paidDate": day.isoformat()}, timeout
        )

    async def set_as_unprocessed(
        self, invoice: Invoice | int, *, timeout: TimeoutTypes | NotGiven = NOT_GIVEN
    ) -> Invoice:
        """Return a processed payment to the queue (``PUT Invoice/SetAsUnprocessed``).

        For exceptional circumstances only, such as when your integration marked a payment
        as processed by mistake.

        Args:
            invoice: The payment, or its id.
            timeout: Timeout for each request of this call.

        Returns:
            The payment, now UNPROCESSED.

        Raises:
            InvalidInputError: A bad id; nothing was sent.
            IllegalTransitionError: The payment is not processed, or is a credit note (or
                of an unknown kind, in strict mode); nothing was sent.
            APIError: The request failed (see the class docstring for ambiguous failures).
        """
        return await self._change(InvoiceAction.SET_AS_UNPROCESSED, invoice, {}, timeout)

    # -- internals -------------------------------------------------------------------------

    async def _current(self, invoice: Invoice | int, timeout: TimeoutTypes | NotGiven) -> Invoice:
        if isinstance(invoice, Invoice):
            _check_id(invoice.id, "invoice.id")
            return invoice
        if isinstance(invoice, int) and not isinstance(invoice, bool):
            return await self._get(_check_id(invoice, "invoice"), timeout)
        raise InvalidInputError(
            "invoice",
            f"must be an Invoice or a positive integer id, not {type(invoice).__name__}",
            value=invoice,
        )

    async def _change(
        self,
        action: InvoiceAction,
        invoice: Invoice | int,
        fields: dict[str, Any],
        timeout: TimeoutTypes | NotGiven,
    ) -> Invoice:
        client = self._client
        core = client._core
        current = await self._current(invoice, timeout)
        client.rules.check(
            action, current.state, current.kind, invoice_id=current.id, strict=client.strict
        )
        body = {"invoiceId": current.id, **fields}
        path = f"Invoice/{action.endpoint}"

        async def send(latest: Invoice) -> Invoice:
            response = await core.request(
                "PUT",
                path,
                json_body=body,
                timeout=timeout,
                safe_to_repeat=False,
                allow_empty=True,
            )
            return self._answered(action, latest, fields, response)

        async def reread(latest: Invoice) -> Invoice:
            return _merge(await self._get(latest.id, timeout), latest)

        def judge(before: Invoice, now: Invoice) -> Verdict:
            if self._applied(action, before, now, fields):
                return Verdict.APPLIED
            if not now.state.is_known:
                return Verdict.UNKNOWN  # an unreadable state is not guessed
            if client.rules.refusal(action, now.state, now.kind, strict=client.strict):
                return Verdict.REFUSED
            return Verdict.NOT_APPLIED

        def refusal(now: Invoice, error: APIError) -> BaseException:
            reason = client.rules.refusal(action, now.state, now.kind, strict=client.strict)
            return IllegalTransitionError(
                action=action,
                state=now.state,
                kind=now.kind,
                invoice_id=now.id,
                reason=f"{reason} (it changed while the request was in doubt)",
            )

        done = await send_confirmed(
            current=current,
            send=send,
            reread=reread,
            judge=judge,
            refusal=refusal,
            policy=core.retry_policy,
            sleep=core.sleep,
            describe=f"qondor: {action.endpoint} for invoice {current.id}",
        )
        return self._with_fields(action, done, fields)

    def _applied(
        self, action: InvoiceAction, before: Invoice, now: Invoice, fields: Mapping[str, Any]
    ) -> bool:
        target = self._client.rules.result(action, before.state)
        if now.state != target:
            return False
        field = next((f for f in _FIELDS if f in fields), None)
        if field is None:
            return True  # nothing but the state to change, and the state is the target
        if _shows(now, field):
            # The payload carries the field: it must hold our value (another value means
            # someone else made another change).
            return bool(_sent_value(now, field) == fields[field])
        # The payload does not carry the field: only a change of state tells.
        return before.state != target

    def _answered(
        self,
        action: InvoiceAction,
        current: Invoice,
        fields: Mapping[str, Any],
        response: APIResponse[Any],
    ) -> Invoice:
        """The invoice in its new state, when the answer is evidence of the change.

        Evidence is an empty 2xx (Qondor documents no body for its PUTs) or a readable
        invoice in the new state. Anything else (another record, a record in another state,
        a body that is not an invoice) is a doubt: `ResponseValidationError` with the
        answer's status, which `send_confirmed` settles by reading the invoice again.
        """
        data = response.data
        if data is None:
            # Qondor's documented answer: the empty 2xx is the evidence, and its request id
            # the change's.
            return stamp(self._evolved(action, current, fields), response)
        target = self._client.rules.result(action, current.state)

        def doubt(problem: str) -> ResponseValidationError:
            return ResponseValidationError(
                f"{response.method} {response.url} answered {response.status_code} with "
                f"{problem}; whether {action.endpoint} was applied is not shown",
                body=response.text,
                method=response.method,
                url=response.url,
                status_code=response.status_code,
                content_type=response.headers.get("content-type"),
            )

        if not isinstance(data, Mapping) or not _same_id(data, current.id):
            raise doubt(f"{json_type(data)} that is not invoice {current.id}")
        try:
            parsed = self._client.parse_invoice(data, response=response)
        except ResponseValidationError as exc:
            raise doubt(f"an invoice that cannot be read ({exc})") from None
        parsed = _merge(parsed, current)
        if not self._applied(action, current, parsed, fields):
            raise doubt(
                f"invoice {current.id} in state {parsed.state.value!r}, reference "
                f"{parsed.external_reference!r}, not {target.value!r} as sent"
            )
        return self._with_fields(action, parsed, fields)

    def _evolved(
        self, action: InvoiceAction, current: Invoice, fields: Mapping[str, Any]
    ) -> Invoice:
        # What was sent and accepted replaces what the model had.
        changes: dict[str, Any] = {"state": self._client.rules.result(action, current.state)}
        if "externalReference" in fields:
            changes["external_reference"] = fields["externalReference"]
        if "failureMessage" in fields:
            changes["failure_message"] = fields["failureMessage"]
        if "paidDate" in fields:
            changes["paid_date"] = date.fromisoformat(fields["paidDate"])
        return attrs.evolve(current, **changes)

    @staticmethod
    def _with_fields(action: InvoiceAction, invoice: Invoice, fields: Mapping[str, Any]) -> Invoice:
        # What was sent and accepted, where the server's payload does not carry the field.
        changes: dict[str, Any] = {}
        for field, (attribute, _) in _FIELDS.items():
            if field in fields and not _shows(invoice, field):
                value = fields[field]
                changes[attribute] = date.fromisoformat(value) if field == "paidDate" else value
        if not changes:
            return invoice
        return carry_request_id(attrs.evolve(invoice, **changes), invoice)


class InvoicesWithRawResponse(RawResponses[Invoices]):
    """``qondor.invoices.with_raw_response``: each `Invoices` method, returning `APIResponse`."""

    list_unprocessed: Final = raw_response(Invoices.list_unprocessed)
    get: Final = raw_response(Invoices.get)
    set_as_processed: Final = raw_response(Invoices.set_as_processed)
    set_as_failed: Final = raw_response(Invoices.set_as_failed)
    set_as_paid: Final = raw_response(Invoices.set_as_paid)
    set_as_unprocessed: Final = raw_response(Invoices.set_as_unprocessed)


#: The fields state changes set: wire name -> (attribute, the payload keys that carry it).
_FIELDS: Final[Mapping[str, tuple[str, tuple[str, ...]]]] = {
    "externalReference": ("external_reference", ("externalReference",)),
    "failureMessage": ("failure_message", ("failureMessage", "errorMessage")),
    "paidDate": ("paid_date", ("paidDate", "paymentDate")),
}


def _shows(invoice: Invoice, field: str) -> bool:
    """Whether the payload the invoice was read from carries ``field`` (even as null)."""
    return any(key in invoice.raw for key in _FIELDS[field][1])


def _sent_value(invoice: Invoice, field: str) -> Any:
    """The invoice's value of ``field`` in the form it is sent."""
    value = getattr(invoice, _FIELDS[field][0])
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value.strip()
    return value


def _merge(fresh: Invoice, known: Invoice) -> Invoice:
    """A fresh read that lost the kind (a summary payload) keeps the kind already known."""
    if fresh.kind is InvoiceKind.UNKNOWN and known.kind is not InvoiceKind.UNKNOWN:
        return carry_request_id(attrs.evolve(fresh, kind=known.kind), fresh)
    return fresh


def _same_id(data: Mapping[str, Any], invoice_id: int) -> bool:
    for key in ("id", "invoiceId"):
        value = data.get(key)
        if value is not None:
            return str(value).strip() == str(invoice_id)
    return False


def _unwrap_list(response: APIResponse[Any]) -> list[Any]:
    data = response.data
    if data is None:
        return []
    if isinstance(data, list):
        return data
    if isinstance(data, Mapping):
        for key in _LIST_ENVELOPE_KEYS:
            value = data.get(key)
            if isinstance(value, list):
                return value
    raise ResponseValidationError(
        f"{response.method} {response.url} answered {json_type(data)} where a list of "
        "invoices was expected",
        errors=[f"expected an array @ $, got {json_type(data)}"],
        body=response.text,
        method=response.method,
        url=response.url,
        status_code=response.status_code,
    )
