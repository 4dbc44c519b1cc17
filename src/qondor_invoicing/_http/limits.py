"""Client-side rate and concurrency limits, on anyio (asyncio and trio alike)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

__all__ = ["RateLimiter"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


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
        if rate <= 0:
            raise ValueError(f"rate must be > 0, not {rate!r}")
        self.rate = float(rate)
        self.burst = float(burst) if burst is not None else max(1.0, self.rate)
        if self.burst < 1:
            raise ValueError("burst must be >= 1")
        self._clock = clock or anyio.current_time
        self._sleep = sleep or anyio.sleep
        self._tokens = self.burst
        self._updated: float | None = None
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
