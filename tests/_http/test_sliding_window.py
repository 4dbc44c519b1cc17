"""The sliding-window rate limiter: never more than a server's window allows, no lost rate."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from qondor_invoicing._http.limits import RateLimiter, SlidingWindowLimiter

pytestmark = pytest.mark.anyio


class LateClock:
    """A virtual clock whose sleeps overshoot by ``late`` seconds (a busy event loop)."""

    def __init__(self, late: float = 0.0) -> None:
        self.now = 0.0
        self.late = late

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds + self.late
        await anyio.lowlevel.checkpoint()


async def acquire_all(limiter: RateLimiter, clock: LateClock, tasks: int) -> list[float]:
    times: list[float] = []

    async def worker() -> None:
        await limiter.acquire()
        times.append(clock())

    async with anyio.create_task_group() as tg:
        for _ in range(tasks):
            tg.start_soon(worker)
    return sorted(times)


def most_in_any_window(times: list[float], seconds: float) -> int:
    """The most acquisitions in a half-open window ``(t - seconds, t]``, as a gateway counts.

    (Up to float rounding: ten steps of 0.1 s add up to 0.9999999999999999 s.)
    """
    return max(sum(1 for u in times if t - seconds + 1e-9 < u <= t) for t in times)


@pytest.mark.parametrize(("rate", "burst", "tasks"), [(10, 1, 35), (100, 10, 350), (4, 4, 30)])
async def test_no_window_holds_more_than_allowed(rate: float, burst: int, tasks: int) -> None:
    clock = LateClock()
    limiter = SlidingWindowLimiter(rate, burst=burst, clock=clock, sleep=clock.sleep)
    times = await acquire_all(limiter, clock, tasks)
    assert len(times) == tasks
    assert times.count(0.0) == burst
    # A server counting `rate` requests per second in a sliding window never refuses...
    assert most_in_any_window(times, 1.0) <= rate
    assert most_in_any_window(times, limiter.window) <= burst
    # ... and the rate is the one asked for.
    assert clock.now == pytest.approx((tasks - 1) // burst * burst / rate)


async def test_a_token_bucket_of_the_same_rate_overflows_a_one_second_window() -> None:
    # Why Qondor's client does not use a bucket: refilled while it empties, a bucket of
    # 10 at 10/s lets 19 requests through in the first second.
    clock = LateClock()
    bucket = RateLimiter(10, burst=10, clock=clock, sleep=clock.sleep)
    times = await acquire_all(bucket, clock, 40)
    assert most_in_any_window(times, 1.0) > 10


async def test_late_wake_ups_do_not_add_up() -> None:
    # Every sleep returns 2 ms late. A one-token bucket loses those 2 ms on every request
    # (20 % at 100 requests/s); a window of 10 loses them once per 10 requests.
    late = 0.002
    bucket_clock, window_clock = LateClock(late), LateClock(late)
    bucket = RateLimiter(100, burst=1, clock=bucket_clock, sleep=bucket_clock.sleep)
    window = SlidingWindowLimiter(100, burst=10, clock=window_clock, sleep=window_clock.sleep)
    await acquire_all(bucket, bucket_clock, 501)
    times = await acquire_all(window, window_clock, 501)
    assert bucket_clock.now == pytest.approx(500 * (0.01 + late))
    assert window_clock.now == pytest.approx(50 * (0.1 + late))
    assert 500 / window_clock.now > 0.97 * 100
    assert most_in_any_window(times, 1.0) <= 100


async def test_idle_time_is_not_banked() -> None:
    clock = LateClock()
    limiter = SlidingWindowLimiter(10, burst=2, clock=clock, sleep=clock.sleep)
    await acquire_all(limiter, clock, 2)
    clock.now += 60.0  # a long pause: still only `burst` at once afterwards
    start = clock.now
    times = await acquire_all(limiter, clock, 5)
    assert [round(t - start, 9) for t in times] == [0.0, 0.0, 0.2, 0.2, 0.4]


async def test_a_cancelled_waiter_keeps_the_window_intact() -> None:
    clock = LateClock()
    limiter = SlidingWindowLimiter(1, burst=1, clock=clock, sleep=clock.sleep)
    await limiter.acquire()  # t = 0
    with anyio.CancelScope() as scope:
        scope.cancel()
        await limiter.acquire()
    await limiter.acquire()
    assert clock.now == pytest.approx(1.0)


async def test_headroom_widens_the_window() -> None:
    clock = LateClock()
    limiter = SlidingWindowLimiter(100, burst=10, headroom=0.02, clock=clock, sleep=clock.sleep)
    assert limiter.window == pytest.approx(0.102)
    times = await acquire_all(limiter, clock, 101)
    assert times[-1] == pytest.approx(1.02)
    assert most_in_any_window(times, 1.02) <= 100
    with pytest.raises(ValueError, match="headroom"):
        SlidingWindowLimiter(10, headroom=1.0)
    assert SlidingWindowLimiter.per_slice(10, headroom=0.02).window == pytest.approx(0.102)


def test_per_slice_parameters() -> None:
    assert SlidingWindowLimiter.per_slice(10).burst == 1
    assert SlidingWindowLimiter.per_slice(100).burst == 10
    assert SlidingWindowLimiter.per_slice(0.5).burst == 1
    limiter = SlidingWindowLimiter.per_slice(100)
    assert limiter.window == pytest.approx(0.1)
    assert repr(limiter) == "SlidingWindowLimiter(rate=100/s, at most 10 per 0.1 s)"


@pytest.mark.parametrize("burst", [0, 1.5, True])
def test_invalid_burst(burst: object) -> None:
    with pytest.raises(ValueError, match="burst must be a whole number"):
        SlidingWindowLimiter(10, burst=burst)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rate must be > 0"):
        SlidingWindowLimiter.per_slice(0)


async def test_real_clock_short_run() -> None:
    limiter = SlidingWindowLimiter(200, burst=5)
    start = anyio.current_time()
    for _ in range(21):
        await limiter.acquire()
    assert anyio.current_time() - start >= 4 * 5 / 200 - 1e-3
