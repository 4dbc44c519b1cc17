"""The Qondor fake's records: stored payments, applied state changes, their wire encoding."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Final

import attrs

from ...qondor.models import InvoiceAction, InvoiceKind, InvoiceState

__all__ = [
    "KIND_WIRE",
    "STATE_WIRE",
    "InvoiceTransition",
    "StoredInvoice",
    "encode",
]

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


def encode(stored: StoredInvoice) -> dict[str, Any]:
    """The JSON object the API returns for a stored payment."""
    kind_code, kind_text = KIND_WIRE[stored.kind]
    state_code, state_text = STATE_WIRE[stored.state]
    body: dict[str, Any] = {"id": stored.id, "invoiceType": kind_code, "invoiceTypeText": kind_text}
    body.update(stored.payload)
    body.update(
        status=state_code,
        statusText=state_text,
        externalReference=stored.external_reference,
        failureMessage=stored.failure_message,
        paidDate=stored.paid_date.isoformat() if stored.paid_date else None,
    )
    return body
