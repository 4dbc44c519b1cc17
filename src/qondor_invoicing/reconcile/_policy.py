"""The reconciler's policy, its progress callback type and the error that stops a run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any, NoReturn

import attrs

from .._validators import flag, is_finite_number, refuse, whole
from ..errors import (
    AuthenticationError,
    ConfigurationError,
    InvoicingError,
    PermissionDeniedError,
)
from ..qondor.client import MAX_FAILURE_MESSAGE_LENGTH
from .plan import Report, Step

Progress = Callable[[int, int, Step], object]
"""``(done, total, step)``, called after each step of `Reconciler.apply` finishes."""

_FATAL: tuple[type[BaseException], ...] = (
    AuthenticationError,
    PermissionDeniedError,
    ConfigurationError,
)


_PREFIX = "ReconcilePolicy: "


def _refuse(attribute: attrs.Attribute[Any], what: str, value: object) -> NoReturn:
    refuse(attribute.name, what, value, _PREFIX)


def _seconds(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not (is_finite_number(value) and value > 0):  # type: ignore[operator]
        _refuse(attribute, "a finite number of seconds > 0", value)


def _share(what: str, low: float, high: float) -> Callable[[object, Any, object], None]:
    """A fraction in the interval ``what`` ("[0, 1)", "(0, 1]", ...) from ``low`` to ``high``."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not is_finite_number(value):
            _refuse(attribute, f"a number in {what}", value)
        number = float(value)  # type: ignore[arg-type]
        above = number >= low if what[0] == "[" else number > low
        below = number <= high if what[-1] == "]" else number < high
        if not (above and below):
            _refuse(attribute, f"a number in {what}", value)

    return check


def _tolerance(value: object) -> Decimal:
    """An exact amount >= 0: a Decimal, an int or a numeric string (a float's binary
    approximation is refused, as everywhere money is)."""
    amount: Decimal | None = None
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int) and not isinstance(value, bool):
        amount = Decimal(value)
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip()) if value.strip().isascii() else None
        except ArithmeticError:
            amount = None
    if amount is None or not amount.is_finite() or amount < 0:
        raise ConfigurationError(
            "ReconcilePolicy: amount_tolerance must be an amount >= 0 (a Decimal, an int or "
            f"a numeric string; not a float), not {value!r}"
        )
    return amount


def _exception_classes(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, tuple) or not all(
        isinstance(kind, type) and issubclass(kind, BaseException) for kind in value
    ):
        _refuse(attribute, "a tuple of exception classes", value)


@attrs.frozen(kw_only=True)
class ReconcilePolicy:
    """How the reconciler decides and how hard it tries.

    Transient errors (timeouts, 5xx, connection errors, a finance system that is down,
    exceptions raised by your code) **never** lead to SetAsFailed, whatever the policy: the
    payment stays in the queue and the report says why. SetAsFailed is only sent for
    problems the validators find in the payment's data.

    Attributes:
        fail_credit_card_payments: Send SetAsFailed for a credit card payment that fails
            validation. Off by default: the guide's FAQ says a failed card payment cannot be
            deleted or edited (its money was collected), and recovery needs SetAsUnprocessed
            or Qondor support. Such payments are reported as a `Discrepancy` for a person
            and stay in the queue. Payments of an unrecognised kind are treated the same way,
            since they may be card payments.
        settle: Match processed payments with Qonto and SetAsPaid them (when a Qonto client
            is given).
        check_amounts: Report a discrepancy instead of settling when the matched supplier
            invoice's amount or currency differs from the payment's total.
        amount_tolerance: Largest absolute amount difference still treated as equal.
        attempts: At most how many times one state change is sent in a run. State changes
            go through the Qondor client's confirmed change (a fresh read of the payment
            before any resend); ``None`` leaves the count to the client's retry policy, a
            number lowers its ``max_retries`` to ``attempts - 1`` for state changes.
        lease_seconds: How long a claim on a payment lasts unless renewed. While a step
            runs, a heartbeat renews it, so it only needs to outlast a stall: a dead or
            frozen worker's payments wait this long before another worker takes them.
        lease_margin: The safety margin, as a fraction of ``lease_seconds``: before each
            side effect (``book()``, each state change) the worker checks that its fencing
            token is still current and at least this much of its lease is left, and stops
            (the step is handed over) otherwise.
        heartbeat: How often the lease is renewed while a step runs, as a fraction of
            ``lease_seconds``; ``heartbeat + lease_margin`` must stay below 1 so that a
            renewal always comes before the margin is reached.
        breaker_min_failures: With at least this many payments to fail in one plan...
        breaker_max_share: ...and more than this share of the validated payments failing,
            no SetAsFailed is sent at all (they become `Skip` steps): so many failures at
            once usually mean the finance system's configuration is incomplete, not that
            the data is wrong. ``1.0`` disables the breaker.
        max_failure_message_length: Longest failure message sent (the Qondor client's
            limit by default); longer lists of problems are cut safely.
        fatal_errors: Errors that stop the whole run (every later call would fail too).
        settlement_window: List only the Qonto supplier invoices updated within this
            period before the plan (``filter[updated_at_from]``); marking one as paid or
            unpaid updates it, so recent settlements are seen. ``None`` (the default) lists
            them all. A supplier invoice paid before the window whose payment is processed
            in Qondor later is then not settled automatically.
        settlement_max_pages: Most pages of the Qonto listing one plan reads (100 supplier
            invoices each). Past it, nothing is settled in that plan, and the plan's
            warnings say so (as when Qonto cannot be read). ``None``: no limit.
    """

    fail_credit_card_payments: bool = attrs.field(default=False, validator=flag(_PREFIX))
    settle: bool = attrs.field(default=True, validator=flag(_PREFIX))
    check_amounts: bool = attrs.field(default=True, validator=flag(_PREFIX))
    amount_tolerance: Decimal = attrs.field(default=Decimal("0"), converter=_tolerance)
    attempts: int | None = attrs.field(
        default=None, validator=whole(1, optional=True, prefix=_PREFIX)
    )
    lease_seconds: float = attrs.field(default=600.0, validator=_seconds)
    lease_margin: float = attrs.field(default=0.25, validator=_share("[0, 1)", 0.0, 1.0))
    heartbeat: float = attrs.field(default=1 / 3, validator=_share("(0, 1)", 0.0, 1.0))
    breaker_min_failures: int = attrs.field(default=20, validator=whole(1, prefix=_PREFIX))
    breaker_max_share: float = attrs.field(default=0.5, validator=_share("(0, 1]", 0.0, 1.0))
    max_failure_message_length: int = attrs.field(
        default=MAX_FAILURE_MESSAGE_LENGTH,
        validator=whole(20, MAX_FAILURE_MESSAGE_LENGTH, prefix=_PREFIX),
    )
    fatal_errors: tuple[type[BaseException], ...] = attrs.field(
        default=_FATAL, validator=_exception_classes
    )
    settlement_window: timedelta | None = attrs.field(default=None)
    settlement_max_pages: int | None = attrs.field(
        default=1000, validator=whole(1, optional=True, prefix=_PREFIX)
    )

    @settlement_window.validator
    def _check_window(self, attribute: attrs.Attribute[timedelta | None], value: object) -> None:
        if value is not None and (not isinstance(value, timedelta) or value <= timedelta(0)):
            raise ConfigurationError(
                f"ReconcilePolicy: settlement_window must be a positive timedelta, not {value!r}"
            )

    def __attrs_post_init__(self) -> None:
        if self.heartbeat + self.lease_margin >= 1.0:
            raise ConfigurationError(
                f"ReconcilePolicy: heartbeat ({self.heartbeat}) + lease_margin "
                f"({self.lease_margin}) must be below 1: the lease would reach its margin "
                "before the next renewal"
            )


class ReconcileAbortedError(InvoicingError):
    """The run stopped early on an error that would make every later step fail too.

    Examples: the API key was refused (401/403), or the journal cannot be written (then no
    side effect may happen, since no intent can be recorded first). Steps already in flight
    finished; later ones were not started (they are SKIPPED in the report).

    Attributes:
        report: What was done before the run stopped.
    """

    def __init__(self, message: str, *, report: Report) -> None:
        super().__init__(message)
        self.report = report
