"""Confirm before resend: the one loop that sends a state change that must not happen twice.

A state change (Qondor's ``PUT Invoice/SetAs...``, Qonto's ``POST .../mark_as_paid``) is sent
with ``safe_to_repeat=False``, so the core retries it only when it provably never reached the
server. It is reported done only with evidence: a readable record in the new state, or an
empty 2xx where the API documents no body (the API's ``send`` decides which answers are
evidence). Every other outcome is a *doubt*, settled by reading the record again:

- a 5xx, or a timeout or reset after the request was sent (the change may have happened);
- a 2xx without evidence: a body that is not JSON ("Request blocked by policy" as
  ``text/plain``), truncated JSON, or a record that is not in the new state
  (`ResponseValidationError` with a 2xx status).

The fresh read is judged (`Verdict`):

- `Verdict.APPLIED`: the read is returned, nothing is sent again;
- `Verdict.REFUSED` (someone else moved the record meanwhile): an error is raised;
- `Verdict.NOT_APPLIED`: it is sent again after a backoff, within ``RetryPolicy.max_retries``;
- `Verdict.UNKNOWN`, or the re-read fails too: the outcome stays unknown and the doubt is
  raised (never a result).

What "applied" and "refused" mean is the API's business (``judge``); this loop is the only
place, for both clients and for the reconciler, that decides to resend, read back or give up.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..errors import APIConnectionError, APIError, InternalServerError, ResponseValidationError
from ._types import Sleep
from .core import logger
from .retry import RetryPolicy

__all__ = ["Verdict", "is_ambiguous", "send_confirmed"]

T = TypeVar("T")


class Verdict(enum.Enum):
    """What a fresh read of the record says about a state change in doubt."""

    APPLIED = "applied"
    """The record shows the change: it happened."""
    NOT_APPLIED = "not applied"
    """The record shows it did not happen, and its state still allows it."""
    REFUSED = "refused"
    """The record's state no longer allows the change (someone else moved it)."""
    UNKNOWN = "unknown"
    """The record's state cannot be read: nothing can be concluded."""


def is_ambiguous(error: BaseException) -> bool:
    """Return whether a failed state change may nevertheless have been applied.

    Args:
        error: The failure of one attempt.

    Returns:
        ``True`` for a 5xx (`InternalServerError`), for an `APIConnectionError` whose
        request may have reached the server (``request_sent``), and for a 2xx answer without
        evidence of the change (`ResponseValidationError` with a 2xx status); ``False``
        otherwise.
    """
    if isinstance(error, InternalServerError):
        return True
    if isinstance(error, ResponseValidationError):
        return error.status_code is not None and 200 <= error.status_code < 300
    return isinstance(error, APIConnectionError) and error.request_sent


def _retryable(error: APIError, policy: RetryPolicy) -> bool:
    if isinstance(error, InternalServerError):
        return error.status_code in policy.retryable_statuses
    if isinstance(error, APIConnectionError):
        return policy.retry_connection_errors
    return True  # a 2xx without evidence, not applied: sending again is the only way on


async def send_confirmed(
    *,
    current: T,
    send: Callable[[T], Awaitable[T]],
    reread: Callable[[T], Awaitable[T]],
    judge: Callable[[T, T], Verdict],
    refusal: Callable[[T, APIError], BaseException],
    policy: RetryPolicy,
    sleep: Sleep,
    describe: str,
) -> T:
    """Send a state change; after a doubt, confirm before sending it again.

    Args:
        current: The record as last known; the rules were checked against it.
        send: Sends the change once (given the latest known record) and returns the record
            in its new state, read from the answer, only when the answer is evidence;
            otherwise raises (a 2xx without evidence as a `ResponseValidationError` with
            its status). Only doubts (see `is_ambiguous`) are looked at; any other
            exception propagates at once.
        reread: Reads the record again (given the latest known record).
        judge: Given the record before the attempt and the fresh read, the `Verdict`.
        refusal: Given the fresh read judged `Verdict.REFUSED` and the doubt, the error to
            raise (the doubt itself to re-raise it unchanged).
        policy: ``max_retries`` bounds the resends; ``backoff`` spaces them.
        sleep: Waits between resends (the core's, so tests never really wait).
        describe: Names the change in log messages, e.g. ``"qondor: SetAsPaid for invoice 7"``.

    Returns:
        What ``send`` returned, or the fresh read judged `Verdict.APPLIED`.

    Raises:
        APIConnectionError: Connecting failed before the request was sent (the core has
            already retried it), or the outcome stayed unknown.
        InternalServerError: The change was not applied and may not be sent again, or the
            outcome stayed unknown.
        ResponseValidationError: A 2xx answer without evidence, and no read confirmed the
            change (it was not applied within the retries, or the outcome stayed unknown).
        BaseException: Whatever ``refusal`` builds, raised from the doubt.
    """
    resends = 0
    while True:
        try:
            return await send(current)
        except APIError as exc:
            if not is_ambiguous(exc):
                raise  # never reached the server (the core already retried it), or refused
            # Even when no resend may follow, read: an applied change is then returned
            # and a refused one reported, instead of an error whose outcome is unknown.
            may_resend = resends < policy.max_retries and _retryable(exc, policy)
            logger.info("%s ended in doubt (%s); reading it again", describe, type(exc).__name__)
            try:
                now = await reread(current)
            except APIError:
                # The outcome stays unknown: report the doubt itself.
                raise exc  # noqa: B904 (the re-read's failure is kept as __context__)
            verdict = judge(current, now)
            if verdict is Verdict.APPLIED:
                logger.info("%s was applied; not sending it again", describe)
                return now
            if verdict is Verdict.UNKNOWN:
                raise
            if verdict is Verdict.REFUSED:
                error = refusal(now, exc)
                if error is exc:
                    raise
                raise error from exc
            if not may_resend:
                raise
            resends += 1
            current = now
            delay = policy.backoff(resends)
            logger.info("%s was not applied; sending it again in %.2f s", describe, delay)
            await sleep(delay)
