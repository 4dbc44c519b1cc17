"""A journal on a PostgreSQL server, shared by several reconciler workers.

`PostgresJournal` implements the `Journal` protocol with the same rules as `SqliteJournal`
(both apply the transitions of `JournalEntry`, through the same code), over PostgreSQL, so
any number of reconciler processes on any number of machines can share one journal:

- **Claims are rows with a lease**, written in the same transaction as everything else.
  Every call that touches a payment first takes a transaction-level advisory lock on it
  (``pg_advisory_xact_lock``), so calls on one payment are serialised across every worker,
  and calls on different payments never wait for each other.
- **Lease times come from the server's clock** (``clock_timestamp()``), so the workers'
  clocks never need to agree.
- **The schema is created or migrated on first use**, under an advisory lock so that N
  workers starting at once migrate it once.

psycopg 3 is an optional dependency (``pip install 'qondor-invoicing[postgres]'``). Its
synchronous API runs in worker threads (``anyio.to_thread``), so the journal works under
asyncio and trio alike; a small pool of connections lets several calls run at once.
"""

from __future__ import annotations

import contextlib
import re
import threading
import zlib
from collections.abc import Callable, Collection, Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from .._secret import Secret
from ..errors import ConfigurationError
from ._pg import Connector, Pool, import_psycopg, session_settings
from .journal import JournalEntry, JournalError, JournalEvent, JournalOutcome
from .journal._lease import Lease, _Claim
from .journal._rows import (
    _COLUMNS,
    _EVENT_COLUMNS,
    _entry_from_row,
    _entry_row,
    _event_from_row,
    _event_row,
)
from .journal._stored import _check_lease_seconds, _StoredJournal

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresJournal"]

#: The version of the schema this code writes. A database at a higher version is refused.
SCHEMA_VERSION = 2

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}\Z")

# One list of statements per version step: _MIGRATIONS[0] takes an empty schema to version 1.
# "{s}" is the quoted schema name.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE IF NOT EXISTS {s}.payments (
            payment_key        text PRIMARY KEY,
            invoice_id         bigint NOT NULL,
            kind               text,
            intent             text CHECK (intent IN ('book', 'fail', 'settle')),
            outcome            text CHECK (outcome IN ('processed', 'failed', 'paid', 'abandoned')),
            external_reference text,
            failure_message    text,
            paid_date          date,
            evidence           text,
            last_error         text,
            attempts           integer NOT NULL DEFAULT 0,
            updated_at         timestamptz
        )""",
        "CREATE INDEX IF NOT EXISTS payments_open ON {s}.payments (updated_at) "
        "WHERE intent IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS payments_outcome ON {s}.payments (outcome, updated_at) "
        "WHERE intent IS NULL",
        """CREATE TABLE IF NOT EXISTS {s}.claims (
            payment_key text PRIMARY KEY,
            owner       text NOT NULL,
            expires_at  timestamptz NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS {s}.events (
            seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            payment_key text NOT NULL,
            at          timestamptz NOT NULL,
            kind        text NOT NULL,
            owner       text NOT NULL,
            action      text,
            outcome     text,
            detail      text
        )""",
        "CREATE INDEX IF NOT EXISTS events_payment ON {s}.events (payment_key, seq)",
    ),
    # 2: fencing tokens. Every claim carries its holder's journal incarnation and a token
    # from a sequence, so a newly granted claim always has a greater token than any before.
    (
        "ALTER TABLE {s}.claims ADD COLUMN IF NOT EXISTS incarnation text NOT NULL DEFAULT ''",
        "ALTER TABLE {s}.claims ADD COLUMN IF NOT EXISTS token bigint NOT NULL DEFAULT 0",
        "CREATE SEQUENCE IF NOT EXISTS {s}.claim_tokens",
    ),
)
assert len(_MIGRATIONS) == SCHEMA_VERSION

_UPDATES = ", ".join(f"{c} = EXCLUDED.{c}" for c in (c.strip() for c in _COLUMNS.split(",")[1:]))


def _lock_space(schema: str) -> int:
    """The first key of the two-key advisory locks on this schema's payments (an int4)."""
    value = zlib.crc32(f"qondor_invoicing.journal:{schema}".encode())
    return value - (1 << 32) if value >= (1 << 31) else value


def _from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


class _Busy(Exception):
    """A claim found the payment's lock taken by a call in progress."""


class _Local(threading.local):
    conn: Any = None
    try_lock = False
    # In a write transaction: the payments locked, and the server's clock as of the lock.
    locked: set[str] | None = None
    clock_cursor: Any = None
    clock: float | None = None


class PostgresJournal(_StoredJournal):
    """A journal in a PostgreSQL database, shared by any number of reconciler workers.

    It keeps the same records as `SqliteJournal` (entries, claims, the audit trail) and
    enforces the same rules, in tables of one PostgreSQL schema (``qondor_journal`` by
    default) created or migrated on first use. Every call runs in a worker thread on a
    connection from a small pool and is one transaction, committed before the call
    returns. A call that has started is never abandoned on cancellation. A call that
    loses its connection (a server restart, ``pg_terminate_backend``, a broken pooled
    connection) runs again on a new one; an idle pooled connection is checked before
    reuse; over TCP, keepalives notice a silent server.

    Give every worker the same ``conninfo`` and ``schema``, and its own ``owner`` (the
    `Reconciler` makes one per process). A worker that dies keeps its claims until their
    lease expires (`ReconcilePolicy.lease_seconds`); then another worker takes them over,
    writes a TAKEOVER event and resumes from the journal. Workers never share anything but
    the database.

    Example::

        journal = PostgresJournal("postgresql://reconciler@db.internal/finance")
        async with journal, QondorClient() as qondor:
            reconciler = Reconciler(qondor, finance=my_finance, journal=journal)
            await reconciler.run()

    Args:
        conninfo: A libpq connection string or URI (``"host=db dbname=finance"``,
            ``"postgresql://user@db/finance"``); empty to use libpq's ``PG*`` environment
            variables. It is kept as a `Secret`: it never appears in a repr or an error.
            A server that is not on a unix socket or a loopback address is reached over
            TLS: ``sslmode=require`` unless the string (or ``PGSSLMODE``) chooses
            ``verify-full`` (recommended, with ``sslrootcert``) or ``verify-ca``; with
            libpq 16 or later a server asking for the password in clear text is refused
            (``require_auth=!password``, unless the string sets ``require_auth``).
        schema: The PostgreSQL schema holding the journal's tables: lower case letters,
            digits and ``_``. Use one schema per journal (e.g. per Qondor office) to keep
            several journals in one database.
        pool_size: Most connections (and calls running at once) of this journal.
        connect_timeout: Seconds to wait for a connection to the server (unless
            ``conninfo`` sets ``connect_timeout``).
        lock_timeout: Seconds a call waits for another call on the same payment (or for
            the schema's migration) before failing with `JournalError`. The server also
            ends a journal connection left idle inside a transaction for this long, so a
            worker cut off in the middle of a call cannot keep a payment locked.
        statement_timeout: Seconds any one statement may run on the server (at least
            ``lock_timeout``).
        reconnect_timeout: How long a call keeps trying while the server is away (a
            restart, a terminated connection, a refused connection), reconnecting with
            backoff; the call is run again from the start on a new connection, so a
            restart does not stop a run. Past this, the call fails with `JournalError`.
        application_name: Shown for the journal's connections in ``pg_stat_activity``
            (unless ``conninfo`` sets one).
        clock: Wall clock in seconds for leases and timestamps; by default the database
            server's (``clock_timestamp()``), which every worker shares. Tests pass their own.

    Raises:
        ConfigurationError: psycopg is not installed, an argument is invalid, or
            ``conninfo`` lets the connection to a remote server go in clear text
            (``sslmode`` ``disable``, ``allow`` or ``prefer``).
    """

    def __init__(
        self,
        conninfo: str | Secret = "",
        *,
        schema: str = "qondor_journal",
        pool_size: int = 4,
        connect_timeout: float = 10.0,
        lock_timeout: float = 30.0,
        statement_timeout: float = 60.0,
        reconnect_timeout: float = 60.0,
        application_name: str = "qondor-invoicing journal",
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(clock=clock if clock is not None else self._server_clock)
        import_psycopg()
        if not isinstance(schema, str) or not _IDENTIFIER.match(schema):
            raise ConfigurationError(
                f"schema must be a lower-case SQL identifier (letters, digits, _), not {schema!r}"
            )
        for name, value in (
            ("lock_timeout", lock_timeout),
            ("statement_timeout", statement_timeout),
        ):
            if not value > 0:
                raise ConfigurationError(f"{name} must be > 0, not {value!r}")
        self.schema = schema
        self.pool_size = pool_size
        self.connect_timeout = connect_timeout
        self.lock_timeout = lock_timeout
        self.statement_timeout: float = max(statement_timeout, lock_timeout)
        self._sql_schema = '"' + schema + '"'
        self._lock_space = _lock_space(schema)
        self._pool = self._make_pool(
            conninfo, pool_size, connect_timeout, reconnect_timeout, application_name
        )
        self._migrated = False
        self._migrate_lock = threading.Lock()
        self._local = _Local()

    def __repr__(self) -> str:
        return f"PostgresJournal({self._pool.connector.describe()!r}, schema={self.schema!r})"

    @property
    def reconnects(self) -> int:
        """How many times a call was run again after the server went away (for monitoring)."""
        return self._pool.reconnects

    def close(self) -> None:
        """Close every connection (blocking); calls in progress finish first. Idempotent."""
        self._pool.close()

    # -- connections -----------------------------------------------------------------------

    def _make_pool(
        self,
        conninfo: str | Secret,
        size: int,
        connect_timeout: float,
        reconnect_timeout: float,
        application_name: str,
    ) -> Pool:
        connector = Connector(
            conninfo,
            connect_timeout=connect_timeout,
            application_name=application_name,
            what="the PostgreSQL journal",
        )
        return Pool(connector, size=size, setup=self._setup, reconnect_timeout=reconnect_timeout)

    def _setup(self, conn: psycopg.Connection[Any]) -> None:
        """A new connection's session settings; the schema's migration on the first one."""
        lock = f"{max(1, round(self.lock_timeout * 1000))}ms"
        statement = f"{max(1, round(self.statement_timeout * 1000))}ms"
        session_settings(
            conn,
            {
                "lock_timeout": lock,
                "idle_in_transaction_session_timeout": lock,
                "statement_timeout": statement,
            },
        )
        if not self._migrated:
            with self._migrate_lock:
                if not self._migrated:
                    self._migrate(conn)
                    self._migrated = True

    async def _run(self, fn: Callable[[], Any]) -> Any:
        return await anyio.to_thread.run_sync(self._call, fn)

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` (one transaction) on a pooled connection; again after a reconnect."""

        def on(conn: psycopg.Connection[Any]) -> Any:
            local = self._local
            local.conn = conn
            try:
                return fn()
            finally:
                local.conn = local.locked = local.clock_cursor = local.clock = None

        return self._pool.run(on)

    @property
    def _db(self) -> psycopg.Connection[Any]:
        conn = self._local.conn
        assert conn is not None, "PostgresJournal storage used outside _call"
        return conn  # type: ignore[no-any-return]

    def _q(self, statement: str) -> str:
        return statement.replace("{s}", self._sql_schema)

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        with conn.transaction():
            conn.execute(
                "SELECT pg_advisory_xact_lock(%s, 0)", (_lock_space("migrate:" + self.schema),)
            )
            exists = conn.execute(
                "SELECT to_regclass(%s) IS NOT NULL", (f"{self._sql_schema}.meta",)
            ).fetchone()
            version = 0
            if exists and exists[0]:
                row = conn.execute(
                    self._q("SELECT value FROM {s}.meta WHERE key = 'schema_version'")
                ).fetchone()
                version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise JournalError(
                    f"the journal schema {self.schema!r} was written by a newer version of "
                    f"qondor-invoicing (schema {version}, this version knows {SCHEMA_VERSION})"
                )
            if version == SCHEMA_VERSION:
                return
            schema_exists = conn.execute(
                "SELECT to_regnamespace(%s) IS NOT NULL", (self._sql_schema,)
            ).fetchone()
            if not (schema_exists and schema_exists[0]):
                conn.execute(self._q("CREATE SCHEMA {s}"))
            conn.execute(
                self._q("CREATE TABLE IF NOT EXISTS {s}.meta (key text PRIMARY KEY, value text)")
            )
            for step in _MIGRATIONS[version:]:
                for statement in step:
                    conn.execute(self._q(statement))
            conn.execute(
                self._q(
                    "INSERT INTO {s}.meta (key, value) VALUES ('schema_version', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
                ),
                (str(SCHEMA_VERSION),),
            )

    def _server_clock(self) -> float:
        local = self._local
        if local.clock is not None:
            return local.clock
        cursor = local.clock_cursor
        if cursor is None:
            cursor = self._db.execute("SELECT extract(epoch FROM clock_timestamp())")
        row = cursor.fetchone()
        assert row is not None
        now = float(row[-1])
        if local.locked is not None:
            local.clock = now  # one instant per transaction
        return now

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._db.transaction():
            self._local.locked = set()
            try:
                yield
            finally:
                self._local.locked = None
                self._local.clock_cursor = None
                self._local.clock = None

    def _atomic(self) -> contextlib.AbstractContextManager[None]:
        return self._transaction()

    def _lock(self, payment_key: str) -> None:
        """Take the payment's advisory lock on its first use in a write transaction.

        Every write transaction touches one payment, and takes its lock before reading
        anything about it, so writes on one payment are serialised across workers without
        ever deadlocking. Reads outside a transaction (``get``) take no lock.
        """
        locked = self._local.locked
        if locked is None or payment_key in locked:
            return
        if self._local.try_lock:
            # A claim never waits for another call on the payment: it is someone else's.
            row = self._db.execute(
                "SELECT pg_try_advisory_xact_lock(%s, hashtext(%s)), "
                "extract(epoch FROM clock_timestamp())",
                (self._lock_space, payment_key),
            ).fetchone()
            assert row is not None
            if not row[0]:
                raise _Busy
            self._local.clock = float(row[1])
            locked.add(payment_key)
            return
        # The server's clock is read once the lock is held, in the same statement.
        self._local.clock_cursor = self._db.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s)), extract(epoch FROM clock_timestamp())",
            (self._lock_space, payment_key),
        )
        locked.add(payment_key)

    # -- claims without waiting ------------------------------------------------------------

    async def claim(self, payment_key: str, owner: str, lease_seconds: float) -> Lease | None:
        """See `Journal.claim`. Never waits: a payment another call is working on right
        now (its lock is held) is not claimed (``None``), as one held by another worker."""
        _check_lease_seconds(lease_seconds)

        def attempt() -> Lease | None:
            self._local.try_lock = True
            try:
                return self._do_claim(payment_key, owner, lease_seconds)
            except _Busy:
                return None
            finally:
                self._local.try_lock = False

        result: Lease | None = await self._run(attempt)
        return result

    def _lookup(
        self, payment_keys: Collection[str], owner: str
    ) -> tuple[dict[str, JournalEntry], set[str]]:
        keys = list(payment_keys)
        rows = self._db.execute(
            self._q(f"SELECT {_COLUMNS} FROM {{s}}.payments WHERE payment_key = ANY(%s)"),
            (keys,),
        ).fetchall()
        entries = {str(r[0]): _entry_from_row(r) for r in rows}
        held = self._db.execute(
            self._q(
                "SELECT payment_key FROM {s}.claims WHERE payment_key = ANY(%s) "
                "AND expires_at > clock_timestamp() AND NOT (owner = %s AND incarnation = %s)"
            ),
            (keys, owner, self.incarnation),
        ).fetchall()
        return entries, {str(r[0]) for r in held}

    # -- storage ---------------------------------------------------------------------------

    def _get_claim(self, payment_key: str) -> _Claim | None:
        self._lock(payment_key)
        row = self._db.execute(
            self._q(
                "SELECT owner, incarnation, token, expires_at FROM {s}.claims "
                "WHERE payment_key = %s"
            ),
            (payment_key,),
        ).fetchone()
        return _Claim(str(row[0]), str(row[1]), int(row[2]), row[3].timestamp()) if row else None

    def _set_claim(self, payment_key: str, claim: _Claim) -> None:
        self._lock(payment_key)
        self._db.execute(
            self._q(
                "INSERT INTO {s}.claims (payment_key, owner, incarnation, token, expires_at) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (payment_key) DO UPDATE "
                "SET owner = EXCLUDED.owner, incarnation = EXCLUDED.incarnation, "
                "token = EXCLUDED.token, expires_at = EXCLUDED.expires_at"
            ),
            (
                payment_key,
                claim.owner,
                claim.incarnation,
                claim.token,
                _from_epoch(claim.expires_at),
            ),
        )

    def _delete_claim(self, payment_key: str, claim: _Claim) -> None:
        self._lock(payment_key)
        self._db.execute(
            self._q(
                "DELETE FROM {s}.claims WHERE payment_key = %s AND incarnation = %s AND token = %s"
            ),
            (payment_key, claim.incarnation, claim.token),
        )

    def _next_token(self) -> int:
        row = self._db.execute(self._q("SELECT nextval('{s}.claim_tokens')")).fetchone()
        assert row is not None
        return int(row[0])

    def _load(self, payment_key: str) -> JournalEntry | None:
        self._lock(payment_key)
        row = self._db.execute(
            self._q(f"SELECT {_COLUMNS} FROM {{s}}.payments WHERE payment_key = %s"),
            (payment_key,),
        ).fetchone()
        return _entry_from_row(row) if row else None

    def _store(self, entry: JournalEntry) -> None:
        self._lock(entry.payment_key)
        self._db.execute(
            self._q(
                f"INSERT INTO {{s}}.payments ({_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                f"ON CONFLICT (payment_key) DO UPDATE SET {_UPDATES}"
            ),
            _entry_row(entry, native=True),
        )

    def _append(self, event: JournalEvent) -> None:
        self._lock(event.payment_key)
        self._db.execute(
            self._q(
                f"INSERT INTO {{s}}.events ({_EVENT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            ),
            _event_row(event, native=True),
        )

    def _select(self, *, unfinished: bool, outcome: JournalOutcome | None) -> list[JournalEntry]:
        sql = f"SELECT {_COLUMNS} FROM {{s}}.payments WHERE intent IS "
        sql += "NOT NULL" if unfinished else "NULL"
        params: tuple[str, ...] = ()
        if outcome is not None:
            sql += " AND outcome = %s"
            params = (outcome.value,)
        # Code point order of keys, as the other journals sort them (not the collation's).
        sql += ' ORDER BY updated_at NULLS FIRST, payment_key COLLATE "C"'
        rows = self._db.execute(self._q(sql), params).fetchall()
        return [_entry_from_row(r) for r in rows]

    def _events(self, payment_key: str) -> list[JournalEvent]:
        rows = self._db.execute(
            self._q(
                f"SELECT {_EVENT_COLUMNS} FROM {{s}}.events WHERE payment_key = %s ORDER BY seq"
            ),
            (payment_key,),
        ).fetchall()
        return [_event_from_row(r) for r in rows]

    def _prune(self, cutoff: datetime) -> int:
        events = self._db.execute(self._q("DELETE FROM {s}.events WHERE at < %s"), (cutoff,))
        entries = self._db.execute(
            self._q(
                "UPDATE {s}.payments SET failure_message = NULL, last_error = NULL "
                "WHERE intent IS NULL AND updated_at < %s "
                "AND (failure_message IS NOT NULL OR last_error IS NOT NULL)"
            ),
            (cutoff,),
        )
        return events.rowcount + entries.rowcount
