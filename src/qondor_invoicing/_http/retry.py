"""Retry policy: which failures are retried, and how long to wait between attempts."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime

import attrs

from .._validators import flag, is_finite_number, whole
from ..errors import ConfigurationError

__all__ = ["DEFAULT_RETRYABLE_STATUSES", "RetryPolicy", "parse_retry_after"]

DEFAULT_RETRYABLE_STATUSES: frozenset[int] = frozenset({408, 429, *range(500, 600)})


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (is_finite_number(value) and value >= 0):  # NaN or inf: an unbounded wait
        raise ConfigurationError(
            f"{attribute.name} must be a finite number of seconds >= 0, not {value!r}"
        )


def _jitter(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (is_finite_number(value) and 0 <= value <= 1):
        raise ConfigurationError(f"jitter must be a fraction from 0 to 1, not {value!r}")


def _statuses(value: Iterable[int]) -> frozenset[int]:
    """HTTP statuses (integers from 100 to 599); a string is refused, not split into
    characters."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigurationError(
            f"retryable_statuses must be a collection of HTTP statuses, not {value!r}"
        )
    statuses = frozenset(value)
    for status in statuses:
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ConfigurationError(
                f"retryable_statuses must hold HTTP statuses (100-599), not {status!r}"
            )
    return statuses


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How a client retries failed requests. On by default.

    Retries connection errors and the statuses in ``retryable_statuses`` with exponential
    backoff and jitter. A server's ``Retry-After`` (seconds or HTTP-date) or
    ``retry-after-ms`` header replaces the computed delay, capped at ``max_retry_after``
    (a longer wait is not attempted: the error surfaces instead).

    State changes are special: a request marked as not safe to repeat is retried only when
    it provably never reached the server (connection refused, 429), whatever this policy says.

    Attributes:
        max_retries: Retries after the first attempt (0 disables retries).
        retryable_statuses: HTTP statuses that are retried.
        retry_connection_errors: Whether connection errors and timeouts are retried.
        initial_delay: Delay before the first retry, in seconds.
        max_delay: Upper bound of the computed backoff, in seconds.
        jitter: Fraction of the delay that is randomised (0.25 = up to 25% shorter).
        max_retry_after: Longest server-requested wait that is honoured, in seconds.
    """

    max_retries: int = attrs.field(default=3, validator=whole(0))
    retryable_statuses: frozenset[int] = attrs.field(
        default=DEFAULT_RETRYABLE_STATUSES, converter=_statuses
    )
    retry_connection_errors: bool = attrs.field(default=True, validator=flag())
    initial_delay: float = attrs.field(default=0.5, validator=_non_negative)
    max_delay: float = attrs.field(default=8.0, validator=_non_negative)
    jitter: float = attrs.field(default=0.25, validator=_jitter)
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative)

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """Return a policy that never retries."""
        return cls(max_retries=0)

    def backoff(self, retry_number: int, *, rng: random.Random | None = None) -> float:
        """Return the computed delay before retry ``retry_number`` (1-based), with jitter."""
        base: float = min(self.initial_delay * 2.0 ** (retry_number - 1), self.max_delay)
        r: float = (rng or random).random()
        return base * (1.0 - self.jitter * r)

    def delay(
        self,
        retry_number: int,
        headers: Mapping[str, str] | None = None,
        *,
        now: float | None = None,
    ) -> float | None:
        """Return the delay before retry ``retry_number``, or ``None`` to give up waiting.

        ``None`` means the server asked for a wait longer than ``max_retry_after``.
        """
        if headers is not None:
            requested = parse_retry_after(headers, now=now)
            if requested is not None:
                return requested if requested <= self.max_retry_after else None
        return self.backoff(retry_number)


def _number(text: str) -> float | None:
    """``text`` as a number of seconds written in ASCII, or ``None``: ``float()`` also reads
    digits of other scripts and ``1_0``, which no server sends."""
    if not text.isascii() or "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Return the wait a response asks for, in seconds, or ``None`` if it does not say.

    Understands ``retry-after-ms`` (milliseconds), ``Retry-After`` in seconds (integer or
    decimal) and ``Retry-After`` as an HTTP-date. Header names are matched case-insensitively.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms is not None:
        value = _number(ms)
        if value is not None and value >= 0:
            return value / 1000.0
    raw = lower.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    seconds = _number(raw)
    if seconds is not None:
        return seconds if seconds >= 0 and seconds == seconds else None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
