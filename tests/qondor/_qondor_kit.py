"""Helpers for the Qondor tests (imported as `_qondor_kit`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from qondor_invoicing import Invoice, InvoiceAction, InvoiceKind, InvoiceState, QondorClient
from qondor_invoicing.testing import FakeQondor

API_KEY = "qk-test-4f1c9a7e2b6d8053"
BASE = "https://qondor.azure-api.net/Prod/Invoicing/v1/"


class NoSleep:
    """A sleep that records the delays it was asked for and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make_fake(**kwargs: Any) -> FakeQondor:
    """A fake with no rate limit (tests that exercise the limit build their own)."""
    kwargs.setdefault("rate_limit", None)
    return FakeQondor(API_KEY, **kwargs)


def make_client(fake: FakeQondor, **kwargs: Any) -> QondorClient:
    """A client on ``fake``'s transport that never really sleeps nor throttles."""
    kwargs.setdefault("rate_limit", None)
    kwargs.setdefault("sleep", NoSleep())
    return QondorClient(fake.api_key, transport=fake.transport, **kwargs)


def puts(fake: FakeQondor) -> int:
    return len(fake.requests_to("PUT"))


def gets(fake: FakeQondor) -> int:
    return len(fake.requests_to("GET"))


# The architecture doc's rule table, written out by hand (not derived from the code under
# test):
# | SET_AS_PROCESSED   | not paid, not failed  | PAID, FAILED                               |
# | SET_AS_FAILED      | not processed/paid    | PROCESSED, PAID                            |
# | SET_AS_PAID        | PROCESSED             | any other state; any CREDIT_CARD_PAYMENT   |
# | SET_AS_UNPROCESSED | PROCESSED             | any other state; any CREDIT_NOTE           |
_A, _S, _K = InvoiceAction, InvoiceState, InvoiceKind
ALLOWED_STATES = {
    _A.SET_AS_PROCESSED: {_S.UNPROCESSED, _S.PROCESSED},
    _A.SET_AS_FAILED: {_S.UNPROCESSED, _S.FAILED},
    _A.SET_AS_PAID: {_S.PROCESSED},
    _A.SET_AS_UNPROCESSED: {_S.PROCESSED},
}
REFUSED_KINDS = {
    _A.SET_AS_PAID: {_K.CREDIT_CARD_PAYMENT},
    _A.SET_AS_UNPROCESSED: {_K.CREDIT_NOTE},
}
KIND_DEPENDENT = {_A.SET_AS_PAID, _A.SET_AS_UNPROCESSED}
RESULTS = {
    _A.SET_AS_PROCESSED: _S.PROCESSED,
    _A.SET_AS_FAILED: _S.FAILED,
    _A.SET_AS_PAID: _S.PAID,
    _A.SET_AS_UNPROCESSED: _S.UNPROCESSED,
}


def expected_allowed(
    action: InvoiceAction, state: InvoiceState, kind: InvoiceKind, *, strict: bool
) -> bool:
    """Whether the architecture doc's table allows ``action``."""
    if kind is _K.UNKNOWN and strict and action in KIND_DEPENDENT:
        return False
    if kind in REFUSED_KINDS.get(action, set()):
        return False
    return state in ALLOWED_STATES[action]


def action_kwargs(action: InvoiceAction) -> dict[str, Any]:
    """Valid arguments for ``action``."""
    if action is _A.SET_AS_PROCESSED:
        return {"external_reference": "FIN-2024-00789"}
    if action is _A.SET_AS_FAILED:
        return {"failure_message": "Article code 'ROOM-DLX' not found in finance system"}
    if action is _A.SET_AS_PAID:
        return {"paid_date": date(2024, 2, 10)}
    return {}


def method_for(client: QondorClient, action: InvoiceAction) -> Callable[..., Awaitable[Invoice]]:
    """The client method performing ``action``."""
    return getattr(client.invoices, action.value)  # type: ignore[no-any-return]
