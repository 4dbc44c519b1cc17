"""Confirm before resend: how both clients send a state change that must not happen twice.

A state change (Qondor's ``PUT Invoice/SetAs...``, Qonto's ``POST .../mark_as_paid``) is sent
with ``safe_to_repeat=False``, so the core retries it only when it provably never reached the
server. When it may have reached it (a 5xx, a timeout or a reset after the request was sent),
repeating it blindly could apply it twice, and giving up could hide a change that happened.
`send_confirmed` settles the doubt by reading the record again:

- the change is there: its result is returned, nothing is sent again;
- the rules now refuse it (someone else moved the record meanwhile): an error is raised;
- it is not there: it is sent again after a backoff, within ``RetryPolicy.max_retries``;
- the re-read fails too: the outcome stays unknown and the original error is raised.

What "applied" and "refused" mean is the API's business (callbacks); the loop is shared.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..errors import APIConnectionError, APIError, InternalServerError, InvoicingError
from ._types import Sleep
from .core import logger
from .retry import RetryPolicy

__all__ = ["is_ambiguous", "send_confirmed"]

T = TypeVar("T")


def is_ambiguous(error: BaseException) -> bool:
    """Return whether a failed state change may nevertheless have been applied.

    Args:
        error: The failure of one attempt.

    Returns:
        ``True`` for a 5xx (`InternalServerError`) and for an `APIConnectionError` whose
        request may have reached the server (``request_sent``); ``False`` otherwise.
    """
    if isinstance(error, InternalServerError):
        return True
    return isinstance(error, APIConnectionError) and error.request_sent


def _retryable(error: APIError, policy: RetryPolicy) -> bool:
    if isinstance(error, InternalServerError):
        return error.status_code in policy.retryable_statuses
    return policy.retry_connection_errors


async def send_confirmed(
    *,
    current: T,
    send: Callable[[T], Awaitable[T]],
    reread: Callable[[T], Awaitable[T]],
    applied: Callable[[T, T], T | None],
    refused: Callable[[T, APIError], BaseException | None],
    policy: RetryPolicy,
    sleep: Sleep,
    describe: str,
    reread_errors: tuple[type[Exception], ...] = (InvoicingError,),
) -> T:
    """Send a state change; after an ambiguous failure, confirm before sending it again.

    Args:
        current: The record as last known; the rules were checked against it.
        send: Sends the change once (given the latest known record) and returns its result.
            Only its `InternalServerError` and `APIConnectionError` are looked at; any other
            exception propagates at once.
        reread: Reads the record again (given the latest known record).
        applied: Given the record before the attempt and the fresh read, the result to
            return when the change is already applied, or ``None`` when it is not.
        refused: Given the fresh read and the failure, the error to raise instead of sending
            again (the failure itself to re-raise it unchanged), or ``None`` when the change
            may be sent again.
        policy: ``max_retries`` bounds the resends; ``backoff`` spaces them.
        sleep: Waits between resends (the core's, so tests never really wait).
        describe: Names the change in log messages, e.g. ``"qondor: SetAsPaid for invoice 7"``.
        reread_errors: Failures of the re-read that leave the outcome unknown, so the
            original failure is raised instead (any other exception of the re-read
            propagates).

    Returns:
        What ``send`` returned, or what ``applied`` returned for a change found applied.

    Raises:
        APIConnectionError: Connecting failed before the request was sent (the core has
            already retried it), or the outcome stayed unknown.
        InternalServerError: The change was not applied and may not be sent again, or the
            outcome stayed unknown.
        BaseException: Whatever ``refused`` builds, raised from the original failure.
    """
    resends = 0
    while True:
        try:
            return await send(current)
        except (InternalServerError, APIConnectionError) as exc:
            if not is_ambiguous(exc):
                raise  # never reached the server: the core already retried it
            # Even when no resend may follow, read: an applied change is then returned
            # and a refused one reported, instead of an error whose outcome is unknown.
            may_resend = resends < policy.max_retries and _retryable(exc, policy)
            logger.info("%s ended ambiguously (%s); reading it again", describe, type(exc).__name__)
            try:
                now = await reread(current)
            except reread_errors:
                # The outcome stays unknown: report the failure of the change itself.
                raise exc  # noqa: B904 (the re-read's failure is kept as __context__)
            result = applied(current, now)
            if result is not None:
                logger.info("%s was applied; not sending it again", describe)
                return result
            error = refused(now, exc)
            if error is exc:
                raise
            if error is not None:
                raise error from exc
            if not may_resend:
                raise
            resends += 1
            current = now
            delay = policy.backoff(resends)
            logger.info("%s was not applied; sending it again in %.2f s", describe, delay)
            await sleep(delay)
