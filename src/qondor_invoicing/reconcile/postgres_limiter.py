"""One rate limit for every worker: request slots handed out by a PostgreSQL row.

Qondor allows 10 requests per second per API key, however many processes use the key.
`PostgresRateLimiter` gives each request a send time from one row per limit (a *generic
cell rate* schedule: the row holds the next free send time, and each request takes it and
moves it on by ``1 / rate``, atomically, on the database server's clock). N workers
together never exceed the rate, and a worker alone gets all of it: nothing is divided in
advance, so the slots of a worker that died go to whoever asks next.

Optionally it also counts the day's requests (``daily_quota``): once nine tenths of the
quota are used, the rest is spread over what is left of the (UTC) day, so the workers slow
down instead of running into the quota; with the quota spent, requests wait for the next day.
"""

from __future__ import annotations

import re
import threading
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from .._secret import Secret
from .._validators import is_finite_number
from ..errors import ConfigurationError
from ._pg import Connector, Pool

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresRateLimiter"]

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}\Z")
_SETUP = (
    "CREATE SCHEMA IF NOT EXISTS {s}",
    """CREATE TABLE IF NOT EXISTS {s}.rate_limits (
        name     text PRIMARY KEY,
        next_at  double precision NOT NULL,
        taken_at double precision NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS {s}.rate_quota (
        name text NOT NULL,
        day  date NOT NULL,
        used bigint NOT NULL,
        PRIMARY KEY (name, day)
    )""",
)
# Takes the next send time, max(next free time, now), and moves it on by the interval.
# Returns the slot's time and the time it was taken, on the server's clock.
_TAKE = """
INSERT INTO {s}.rate_limits AS r (name, next_at, taken_at)
SELECT %(name)s, t.now + %(interval)s, t.now
FROM (SELECT extract(epoch FROM clock_timestamp())::float8 AS now) t
ON CONFLICT (name) DO UPDATE
SET next_at = greatest(r.next_at, EXCLUDED.taken_at) + %(interval)s, taken_at = EXCLUDED.taken_at
RETURNING r.next_at - %(interval)s, r.taken_at
"""
_COUNT = """
INSERT INTO {s}.rate_quota AS q (name, day, used)
VALUES (%(name)s, (clock_timestamp() AT TIME ZONE 'UTC')::date, 1)
ON CONFLICT (name, day) DO UPDATE SET used = q.used + 1
RETURNING q.used,
    extract(epoch FROM (date_trunc('day', clock_timestamp() AT TIME ZONE 'UTC')
        + interval '1 day' - clock_timestamp() AT TIME ZONE 'UTC'))::float8
"""
#: Slots one process holds at most.
_HELD = 2
#: Clock readings before the first slot, and how many recent round trips are kept.
_CALIBRATION = 3
_SAMPLES = 32
#: Share of the daily quota used at full rate; the rest is spread over the rest of the day.
QUOTA_RESERVE = 0.1


def _lock_key(schema: str) -> int:
    value = zlib.crc32(f"qondor_invoicing.rate_limits:{schema}".encode())
    return value - (1 << 32) if value >= (1 << 31) else value


class PostgresRateLimiter:
    """A rate limit shared by every process that uses the same database and ``name``.

    Give it to the client as its rate limit: ``QondorClient(rate_limit=limiter)``. Each
    request takes one slot from a row in PostgreSQL (one short transaction, in a worker
    thread), then waits until its slot's time. The slots are ``(1 + headroom) / rate``
    seconds apart on the database server's clock, so however many workers share the
    limit, Qondor's window is never exceeded, and a lone survivor of N workers gets the
    whole rate at once.

    Example::

        limiter = journal.rate_limiter()  # the journal's database and schema
        async with QondorClient(rate_limit=limiter) as qondor:
            ...

    Args:
        conninfo: The libpq connection string (kept as a `Secret`).
        rate: Requests per second for all the workers together (Qondor allows 10).
        name: The limit's name: one per API key (or per Qondor environment).
        schema: Where its two small tables live (created on first use); the journal's by
            default.
        headroom: Slots are this fraction further apart than ``1 / rate``: requests reach
            the server with some jitter (a little more from several processes, each with
            its own estimate of the server's clock, than from one), and one late by more
            than ten slots' headroom shares a window with the tenth after it.
        daily_quota: Requests allowed per UTC day (Qondor: 100,000), or ``None``. Once
            nine tenths are used the rest is spread evenly over what is left of the day.
        connect_timeout: Seconds for a connection attempt.
        reconnect_timeout: How long a request waits for the database while it is
            unavailable (a restart) before failing with `JournalError`.
        sleep: The sleep before a slot's time (inject one in tests).

    Raises:
        ConfigurationError: psycopg is missing, or an argument is invalid.
    """

    def __init__(
        self,
        conninfo: str | Secret = "",
        *,
        rate: float = 10.0,
        name: str = "qondor",
        schema: str = "qondor_journal",
        headroom: float = 0.06,
        daily_quota: int | None = None,
        connect_timeout: float = 10.0,
        reconnect_timeout: float = 60.0,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        if not (is_finite_number(rate) and rate > 0):
            raise ConfigurationError(f"rate must be a number > 0, not {rate!r}")
        if not 0 <= headroom < 1:
            raise ConfigurationError(f"headroom must be in [0, 1), not {headroom!r}")
        if daily_quota is not None and daily_quota < 1:
            raise ConfigurationError(f"daily_quota must be >= 1, not {daily_quota!r}")
        if not isinstance(schema, str) or not _IDENTIFIER.match(schema):
            raise ConfigurationError(
                f"schema must be a lower-case SQL identifier (letters, digits, _), not {schema!r}"
            )
        if not name:
            raise ConfigurationError("name must not be empty")
        self.rate: float = float(rate)
        self.name = name
        self.schema = schema
        self.headroom: float = float(headroom)
        self.daily_quota = daily_quota
        self.interval: float = (1 + self.headroom) / self.rate
        self._slack = 5 * self.headroom / self.rate  # half the headroom of ten slots
        self._sleep = sleep or anyio.sleep
        self._sql_schema = '"' + schema + '"'
        self._pool = Pool(
            Connector(
                conninfo,
                connect_timeout=connect_timeout,
                application_name="qondor-invoicing rate limit",
                what="the PostgreSQL rate limit",
            ),
            size=1,
            setup=self._setup,
            reconnect_timeout=reconnect_timeout,
        )
        self._local: anyio.CapacityLimiter | None = None
        # Lower bounds of the offset between the server's clock and ours, latest calls.
        self._samples: deque[float] = deque(maxlen=_SAMPLES)
        self._ready = False
        self._ready_lock = threading.Lock()

    def __repr__(self) -> str:
        quota = f", daily_quota={self.daily_quota}" if self.daily_quota else ""
        return (
            f"PostgresRateLimiter({self._pool.connector.describe()!r}, name={self.name!r}, "
            f"rate={self.rate:g}/s{quota})"
        )

    async def acquire(self) -> None:
        """Wait until one request may be sent (its slot's time).

        A process holds at most two slots at a time (its other requests queue here): one
        to send with while it takes the next, so a slow round trip to the database does
        not lose the rate. The slots taken ahead of time are two per live process: those
        of a process that dies are few, and the others take the whole rate again at once.
        """
        if self._local is None:
            # Bound to the running event loop: made on first use.
            self._local = anyio.CapacityLimiter(_HELD)
        async with self._local:
            while True:
                slot = await self._take_slot()
                delay = slot - time.monotonic()
                if delay <= 0:
                    return
                await self._sleep(delay)
                # Woken so late that the request could share a window of Qondor's with the
                # tenth after it: let the slot go unused and take another.
                if time.monotonic() - slot <= self._slack:
                    return

    async def _take_slot(self) -> float:
        """Take the next slot; return its time on this process's monotonic clock."""
        while len(self._samples) < _CALIBRATION:  # first use: a few readings of the clock
            await self._timed(self._server_now)
        slot, offset = await self._timed(self._take)
        return float(slot) - offset

    async def _timed(
        self, fn: Callable[[psycopg.Connection[Any]], tuple[Any, float]]
    ) -> tuple[Any, float]:
        """Run ``fn`` (returning something and the server's clock); note the clock's offset.

        The server read its clock before its answer arrived, so ``server_now - received``
        is at most the true offset between the clocks; the largest of the recent ones is
        the tightest such bound. A slot mapped with it is never early (a request sent
        early could share a window of Qondor's with the tenth after it), only late by the
        quickest recent answer's way back, and how long an answer took to come back never
        delays a request.
        """
        value, server_now = await anyio.to_thread.run_sync(self._pool.run, fn)
        self._samples.append(server_now - time.monotonic())
        return value, max(self._samples)

    async def used_today(self) -> int:
        """Requests counted today (UTC) under this name (0 without ``daily_quota``)."""

        def read(conn: psycopg.Connection[Any]) -> int:
            row = conn.execute(
                self._q(
                    "SELECT used FROM {s}.rate_quota WHERE name = %s "
                    "AND day = (clock_timestamp() AT TIME ZONE 'UTC')::date"
                ),
                (self.name,),
            ).fetchone()
            return int(row[0]) if row else 0

        result: int = await anyio.to_thread.run_sync(self._pool.run, read)
        return result

    async def aclose(self) -> None:
        """Close its connection."""
        await anyio.to_thread.run_sync(self._pool.close)

    async def __aenter__(self) -> PostgresRateLimiter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- in a worker thread ----------------------------------------------------------------

    def _q(self, statement: str) -> str:
        return statement.replace("{s}", self._sql_schema)

    def _setup(self, conn: psycopg.Connection[Any]) -> None:
        if self._ready:
            return
        with self._ready_lock, conn.transaction():
            # Workers starting at once create the tables once.
            conn.execute("SELECT pg_advisory_xact_lock(%s, 1)", (_lock_key(self.schema),))
            for statement in _SETUP:
                conn.execute(self._q(statement))
            self._ready = True

    def _take(self, conn: psycopg.Connection[Any]) -> tuple[float, float]:
        with conn.transaction():
            interval = self.interval
            if self.daily_quota is not None:
                row = conn.execute(self._q(_COUNT), {"name": self.name}).fetchone()
                assert row is not None
                interval = self._spread(int(row[0]), float(row[1]))
            row = conn.execute(self._q(_TAKE), {"name": self.name, "interval": interval}).fetchone()
        assert row is not None
        return float(row[0]), float(row[1])

    def _server_now(self, conn: psycopg.Connection[Any]) -> tuple[None, float]:
        row = conn.execute("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()
        assert row is not None
        return None, float(row[0])

    def _spread(self, used: int, seconds_left: float) -> float:
        """The slot interval for this request, given the day's count so far."""
        assert self.daily_quota is not None
        left = self.daily_quota - used
        if left < 0:
            return self.interval  # spent: queued behind the slot moved to tomorrow
        if left < QUOTA_RESERVE * self.daily_quota:
            return max(self.interval, seconds_left / (left + 1))
        return self.interval
