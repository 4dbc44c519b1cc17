"""The client-side rate limiter and concurrency limit, under concurrency, on virtual time."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import httpx
import pytest
from _kit import make_core, ok

from qondor_invoicing import RateLimiter

pytestmark = pytest.mark.anyio


class VirtualClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await anyio.lowlevel.checkpoint()


def assert_rate_held(times: list[float], rate: float, burst: float) -> None:
    """No window of any length holds more than ``burst + rate * length`` acquisitions."""
    times = sorted(times)
    for i in range(len(times)):
        for j in range(i, len(times)):
            allowed = burst + rate * (times[j] - times[i]) + 1e-9
            assert j - i + 1 <= allowed, (i, j, times[i], times[j])


@pytest.mark.parametrize(("rate", "burst", "tasks"), [(10, 5, 40), (2, 1, 15), (100, 100, 250)])
async def test_rate_holds_under_concurrency(rate: float, burst: float, tasks: int) -> None:
    clock = VirtualClock()
    limiter = RateLimiter(rate, burst=burst, clock=clock, sleep=clock.sleep)
    times: list[float] = []

    async def worker() -> None:
        await limiter.acquire()
        times.append(clock())

    async with anyio.create_task_group() as tg:
        for _ in range(tasks):
            tg.start_soon(worker)

    assert len(times) == tasks
    expected = (tasks - burst) / rate
    assert clock.now >= expected - 1e-9
    # ... and not slower than it has to be.
    assert clock.now <= expected + 1 / rate + 1e-9
    assert_rate_held(times, rate, burst)
    assert sum(1 for t in times if t == 0.0) == burst


async def test_bucket_refills_after_idle_time() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(4, burst=2, clock=clock, sleep=clock.sleep)
    for _ in range(2):
        await limiter.acquire()
    assert clock.now == 0.0
    await limiter.acquire()
    assert clock.now == pytest.approx(0.25)
    clock.now += 10.0  # idle: the bucket refills, but never beyond its size
    start = clock.now
    for _ in range(3):
        await limiter.acquire()
    assert clock.now - start == pytest.approx(0.25)


async def test_default_burst_is_one_second_of_rate() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    assert limiter.burst == 10
    for _ in range(10):
        await limiter.acquire()
    assert clock.sleeps == []
    await limiter.acquire()
    assert clock.sleeps == [pytest.approx(0.1)]
    assert RateLimiter(0.5).burst == 1


async def test_rate_holds_in_real_time() -> None:
    limiter = RateLimiter(200, burst=1)
    start = anyio.current_time()

    async def worker() -> None:
        await limiter.acquire()

    async with anyio.create_task_group() as tg:
        for _ in range(6):
            tg.start_soon(worker)
    assert anyio.current_time() - start >= 5 / 200 - 0.002


@pytest.mark.parametrize("kwargs", [{"rate": 0}, {"rate": -1}, {"rate": 1, "burst": 0.5}])
def test_rate_limiter_validation(kwargs) -> None:
    with pytest.raises(ValueError, match=r"rate must be > 0|burst must be >= 1"):
        RateLimiter(**kwargs)


def test_rate_limiter_repr() -> None:
    assert repr(RateLimiter(10, burst=3)) == "RateLimiter(rate=10/s, burst=3)"


async def test_core_requests_hold_the_rate_across_copies() -> None:
    clock = VirtualClock()
    sent: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(clock())
        return ok()

    limiter = RateLimiter(10, burst=2, clock=clock, sleep=clock.sleep)
    core = make_core(handler, rate_limiter=limiter)
    other = core.copy(timeout=5)
    assert other.rate_limiter is limiter

    async with anyio.create_task_group() as tg:
        for i in range(30):
            tg.start_soon((core if i % 2 else other).request, "GET", f"things/{i}")

    assert len(sent) == 30
    assert clock.now >= (30 - 2) / 10 - 1e-9
    assert_rate_held(sent, 10, 2)


async def test_retries_take_tokens_too(no_sleep) -> None:
    clock = VirtualClock()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return ok() if calls > 3 else httpx.Response(503)

    limiter = RateLimiter(1, burst=1, clock=clock, sleep=clock.sleep)
    core = make_core(handler, rate_limiter=limiter, sleep=no_sleep)
    await core.request("GET", "x")
    assert clock.now == pytest.approx(3.0)


def test_rate_limit_option_builds_a_limiter() -> None:
    core = make_core(ok, rate_limit=10, rate_limit_burst=3)
    assert core.rate_limiter is not None
    assert (core.rate_limiter.rate, core.rate_limiter.burst) == (10, 3)
    assert make_core(ok).rate_limiter is None


# --- concurrency -------------------------------------------------------------------------


class InFlight:
    """Counts concurrent requests inside the transport."""

    def __init__(self) -> None:
        self.current = 0
        self.peak = 0
        self.total = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.current += 1
        self.total += 1
        self.peak = max(self.peak, self.current)
        try:
            for _ in range(3):
                await anyio.sleep(0.001)
        finally:
            self.current -= 1
        return ok()


@pytest.mark.parametrize("limit", [1, 3, 5])
async def test_concurrency_limit_is_never_exceeded(limit: int) -> None:
    counter = InFlight()
    core = make_core(counter, max_concurrency=limit)
    copy = core.copy(timeout=3)
    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon((core if i % 2 else copy).request, "GET", "x")
    assert counter.total == 20
    assert counter.peak == limit


async def test_without_a_limit_requests_overlap() -> None:
    # Shows the counter sees concurrency, so the test above can fail.
    counter = InFlight()
    core = make_core(counter)
    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(core.request, "GET", "x")
    assert counter.peak == 20


def test_max_concurrency_validation() -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        make_core(ok, max_concurrency=0)
