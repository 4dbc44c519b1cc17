"""Client-side rate and concurrency limits, on anyio (asyncio and trio alike)."""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

import anyio

__all__ = ["Limiter", "RateLimiter", "SlidingWindowLimiter"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@runtime_checkable
class Limiter(Protocol):
    """What a client needs of a rate limiter: ``await acquire()`` before each request.

    `RateLimiter` and `SlidingWindowLimiter` limit one process; a limiter shared by several
    processes (``qondor_invoicing.reconcile.PostgresRateLimiter``) implements the same.
    """

    async def acquire(self) -> None:
        """Wait until one request may be sent."""
        ...


class RateLimiter:
    """A token bucket: at most ``rate`` acquisitions per second, bursts up to ``burst``.

    Waiters are served in arrival order (an anyio lock serialises them), so the long-run
    rate holds however many tasks share the limiter. The clock and sleep are injectable so
    tests can run on virtual time.

    Args:
        rate: Sustained acquisitions per second (> 0).
        burst: Bucket size; defaults to ``max(1, rate)`` so a fresh limiter allows one
            second's worth at once.
        clock: Monotonic clock in seconds; defaults to ``anyio.current_time``.
        sleep: Sleep function; defaults to ``anyio.sleep``.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self._setup(rate, burst, clock, sleep)
        # The bucket: tokens left, refilled at ``rate`` since ``_updated``.
        self._tokens = self.burst
        self._updated: float | None = None

    def _setup(
        self, rate: float, burst: float | None, clock: Clock | None, sleep: Sleep | None
    ) -> None:
        # What every limiter has: the rate, the size of a burst, the clock and the lock.
        if rate <= 0:
            raise ValueError(f"rate must be > 0, not {rate!r}")
        self.rate: float = float(rate)
        self.burst: float = float(burst) if burst is not None else max(1.0, self.rate)
        if self.burst < 1:
            raise ValueError("burst must be >= 1")
        self._clock = clock or anyio.current_time
        self._sleep = sleep or anyio.sleep
        self._lock: anyio.Lock | None = None

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate:g}/s, burst={self.burst:g})"

    async def acquire(self) -> None:
        """Wait until one request may be sent."""
        if self._lock is None:
            # Created lazily: anyio primitives belong to the running event loop.
            self._lock = anyio.Lock()
        async with self._lock:
            now = self._clock()
            if self._updated is None:
                self._updated = now
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self._tokens < 1.0:
                wait = (1.0 - self._tokens) / self.rate
                await self._sleep(wait)
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                # Virtual clocks may not advance exactly; never go below zero debt.
                self._tokens = max(self._tokens, 1.0)
            self._tokens -= 1.0


class SlidingWindowLimiter(RateLimiter):
    """At most ``burst`` acquisitions in any ``burst / rate`` seconds (a sliding log).

    This is how API gateways count (Azure API Management's ``rate-limit`` policy keeps a
    sliding window), and unlike a token bucket it never lets more through than the window
    allows: a bucket refills while it is being emptied, so a full one lets
    ``burst + rate * seconds`` through in a window of ``seconds``. Any window of
    ``k * burst / rate`` seconds holds at most ``k * burst`` acquisitions.

    It also keeps its rate when the event loop is busy: a waiter that wakes late delays only
    the acquisition ``burst`` places later, not every following one (with a one-token
    bucket each late wake-up is lost for good, which at 100 requests/s on a loaded machine
    costs 10 to 20 % of the rate).

    Args:
        rate: Sustained acquisitions per second (> 0).
        burst: How many acquisitions a window holds (>= 1, a whole number).
        headroom: Stretch the window by this fraction (e.g. ``0.02``): requests reach the
            server with some jitter, and one that arrives early by more than the headroom
            can land in the previous window.
        clock: Monotonic clock in seconds; defaults to ``anyio.current_time``.
        sleep: Sleep function; defaults to ``anyio.sleep``.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        headroom: float = 0.0,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        if isinstance(burst, bool) or int(burst) != burst or burst < 1:
            raise ValueError("burst must be a whole number >= 1")
        if not 0 <= headroom < 1:
            raise ValueError(f"headroom must be in [0, 1), not {headroom!r}")
        # The token bucket's state is not set up: a sliding log replaces it.
        self._setup(rate, burst, clock, sleep)
        self.headroom = float(headroom)
        self.window = int(burst) / self.rate * (1 + self.headroom)
        self._sent: deque[float] = deque()

    @classmethod
    def per_slice(
        cls, rate: float, slice_seconds: float = 0.1, *, headroom: float = 0.0
    ) -> SlidingWindowLimiter:
        """A limiter at ``rate`` whose window is about ``slice_seconds`` (at least one request).

        Short windows spread requests evenly (as a server's window of a second expects),
        while a window of a few requests absorbs the event loop's late wake-ups.
        """
        if rate <= 0:
            raise ValueError(f"rate must be > 0, not {rate!r}")
        return cls(rate, burst=max(1, int(rate * slice_seconds)), headroom=headroom)

    def __repr__(self) -> str:
        return (
            f"SlidingWindowLimiter(rate={self.rate:g}/s, "
            f"at most {self.burst:g} per {self.window:g} s)"
        )

    async def acquire(self) -> None:
        """Wait until one request may be sent."""
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            now = self._clock()
            if len(self._sent) >= self.burst:
                allowed = self._sent[0] + self.window
                if now < allowed:
                    # Cancelled while asleep, nothing has changed: the slot stays taken.
                    await self._sleep(allowed - now)
                    # A virtual clock may stop short of the deadline: count the deadline.
                    now = max(self._clock(), allowed)
                self._sent.popleft()
            self._sent.append(now)
