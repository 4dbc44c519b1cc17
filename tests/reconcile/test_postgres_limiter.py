"""PostgresRateLimiter: one rate limit shared by worker processes through PostgreSQL.

Four processes read from a `FakeQondor` served over HTTP, whose own rate limit (10 requests
per second, a sliding window) answers 429 to anything over it: together they hold at least
nine tenths of the rate with no 429; once three are killed, the survivor alone holds it.
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import anyio
import pytest

from qondor_invoicing import QondorClient
from qondor_invoicing.errors import ConfigurationError
from qondor_invoicing.reconcile import JournalError, PostgresRateLimiter
from qondor_invoicing.testing import FakeQondor

psycopg = pytest.importorskip("psycopg", reason="needs psycopg (the postgres extra)")

pytest_plugins = ["conftest_pg"]
pytestmark = [pytest.mark.postgres]

WORKER = Path(__file__).with_name("_limiter_worker.py")
RATE = 10.0
LEASE = 5.0  # the lease period the survivor must be back at the full rate within
WINDOW = 4.0  # seconds each rate is measured over


class Arrivals:
    """The fake's clock for its rate-limit window: it also notes when each request arrived."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.lock = threading.Lock()

    def __call__(self) -> float:
        now = time.monotonic()
        with self.lock:
            self.times.append(now)
        return now

    def between(self, start: float, end: float) -> int:
        with self.lock:
            return sum(1 for t in self.times if start <= t < end)


@pytest.mark.anyio
async def test_slots_are_spaced_across_limiters(pg_dsn: str, pg_schema: str) -> None:
    # Two limiters (two processes' worth of connections), nobody sleeps: the send times
    # they hand out, whoever asks, are one interval apart (or later, never earlier).
    sends: list[float] = []

    async def note(seconds: float) -> None:
        sends[-1] += seconds

    a = PostgresRateLimiter(pg_dsn, schema=pg_schema, rate=RATE, sleep=note)
    b = PostgresRateLimiter(pg_dsn, schema=pg_schema, rate=RATE, sleep=note)
    async with a, b:
        for n in range(10):
            sends.append(time.monotonic())
            await (a if n % 2 else b).acquire()
        assert await a.used_today() == 0  # no daily quota: not counted
    interval = 1.06 / RATE
    # Each process's estimate of the server's clock is off by at most a round trip.
    gaps = [later - earlier for earlier, later in itertools.pairwise(sends)]
    assert min(gaps) >= interval - 0.03, gaps


@pytest.mark.anyio
async def test_daily_quota_slows_the_end_of_the_day(pg_dsn: str, pg_schema: str) -> None:
    waits: list[float] = []

    async def note(seconds: float) -> None:
        waits.append(seconds)

    async with PostgresRateLimiter(
        pg_dsn, schema=pg_schema, rate=1000.0, daily_quota=20, sleep=note
    ) as limiter:
        for _ in range(17):
            await limiter.acquire()
        assert await limiter.used_today() == 17
        assert all(wait < 1 for wait in waits)  # nine tenths of the quota at full rate
        for _ in range(3):  # the last tenth is spread over the rest of the (UTC) day
            await limiter.acquire()
        now = datetime.now(timezone.utc)
        midnight = datetime.combine(now.date() + timedelta(days=1), dt_time(), timezone.utc)
        # The 19th request leaves one: the 20th waits half of what is left of the day.
        assert waits[-1] == pytest.approx((midnight - now).total_seconds() / 2, abs=5)


def test_arguments_and_secrets(pg_dsn: str) -> None:
    with pytest.raises(ConfigurationError, match="rate"):
        PostgresRateLimiter(pg_dsn, rate=0)
    with pytest.raises(ConfigurationError, match="rate must be a number"):
        PostgresRateLimiter(pg_dsn, rate="10")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="rate"):
        PostgresRateLimiter(pg_dsn, rate=float("inf"))
    with pytest.raises(ConfigurationError, match="schema"):
        PostgresRateLimiter(pg_dsn, schema="Bad-Name")
    limiter = PostgresRateLimiter("host=db.invalid password=hunter2 dbname=x")
    assert "hunter2" not in repr(limiter)
    assert "db.invalid" in repr(limiter)


@pytest.mark.anyio
async def test_unreachable_server_is_a_clean_journal_error() -> None:
    limiter = PostgresRateLimiter(
        "host=127.0.0.1 port=1 user=u password=hunter2 dbname=x connect_timeout=1",
        reconnect_timeout=0.3,
    )
    with pytest.raises(JournalError, match="stayed unavailable") as caught:
        await limiter.acquire()
    chain: list[BaseException] = []
    exc: BaseException | None = caught.value
    while exc is not None:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    assert chain == [caught.value]
    assert "hunter2" not in str(caught.value)
    await limiter.aclose()


def _start(url: str, dsn: str, schema: str, invoice: int, n: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            str(WORKER),
            f"--qondor={url}",
            f"--dsn={dsn}",
            f"--schema={schema}",
            f"--invoice={invoice}",
            f"--rate={RATE}",
            f"--backend={('asyncio', 'trio')[n % 2]}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.slow
def test_four_processes_share_the_rate_and_a_survivor_takes_it_all(
    pg_dsn: str, pg_schema: str
) -> None:
    arrivals = Arrivals()
    fake = FakeQondor(rate_limit=(10, 1.0), clock=arrivals)
    invoices = [fake.add_invoice() for _ in range(4)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with fake.serve() as url:
            procs = [_start(url, pg_dsn, pg_schema, invoices[n], n) for n in range(4)]
            for proc in procs:
                assert proc.stdout is not None
                line = proc.stdout.readline()
                assert line.strip() == b"ready", line + proc.stdout.read()
            time.sleep(1.0)  # every process is sending
            start = time.monotonic()
            time.sleep(WINDOW)
            together = arrivals.between(start, start + WINDOW)
            for proc in procs[1:]:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
            killed = time.monotonic()
            time.sleep(LEASE)
            alone = arrivals.between(killed + LEASE - WINDOW, killed + LEASE)
            survivor_alive = procs[0].poll() is None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
    statuses: dict[Any, int] = {}
    for r in fake.requests:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    print(f"\n4 processes: {together / WINDOW:.2f}/s; survivor: {alone / WINDOW:.2f}/s; {statuses}")
    assert survivor_alive
    t0 = arrivals.times[0]
    timeline = [
        (round(t - t0, 3), r.status, r.path.rsplit("/", 1)[-1])
        for t, r in zip(arrivals.times, fake.requests, strict=True)
    ]
    assert statuses.get(429, 0) == 0, (statuses, timeline)
    assert together >= 0.9 * RATE * WINDOW
    assert alone >= 0.9 * RATE * WINDOW
    # Every process had its share (none starved).
    served = {int(r.path.rsplit("/", 1)[-1]) for r in fake.requests if r.status == 200}
    assert served == set(invoices)


def test_client_takes_a_limiter(pg_dsn: str) -> None:
    limiter = PostgresRateLimiter(pg_dsn)
    client = QondorClient(api_key="k", rate_limit=limiter)
    assert client._core.rate_limiter is limiter
    with pytest.raises(ConfigurationError, match="rate_limit"):
        QondorClient(api_key="k", rate_limit="fast")  # type: ignore[arg-type]
    anyio.run(client.aclose)
