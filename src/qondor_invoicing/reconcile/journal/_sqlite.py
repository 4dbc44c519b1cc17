"""`SqliteJournal`: the journal in an SQLite file, durable across crashes."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread

from ..._validators import is_finite_number
from ...errors import ConfigurationError
from ._entry import JournalEntry, JournalEvent, JournalOutcome
from ._errors import JournalError
from ._filelock import _acquire_file_lock, _create_private, _release_file_lock
from ._lease import _Claim
from ._rows import (
    _COLUMNS,
    _EVENT_COLUMNS,
    _entry_from_row,
    _entry_row,
    _event_from_row,
    _event_row,
)
from ._stored import _StoredJournal

_SCHEMA_VERSION = 2
_SYNCHRONOUS = ("FULL", "NORMAL", "EXTRA")
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS payments (
        payment_key        TEXT PRIMARY KEY,
        invoice_id         INTEGER NOT NULL,
        kind               TEXT,
        intent             TEXT,
        outcome            TEXT,
        external_reference TEXT,
        failure_message    TEXT,
        paid_date          TEXT,
        evidence           TEXT,
        last_error         TEXT,
        attempts           INTEGER NOT NULL DEFAULT 0,
        updated_at         REAL
    )""",
    "CREATE INDEX IF NOT EXISTS payments_open ON payments (intent) WHERE intent IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS payments_outcome ON payments (outcome)",
    """CREATE TABLE IF NOT EXISTS claims (
        payment_key TEXT PRIMARY KEY,
        owner       TEXT NOT NULL,
        expires_at  REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS events (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        payment_key TEXT NOT NULL,
        at          REAL NOT NULL,
        kind        TEXT NOT NULL,
        owner       TEXT NOT NULL,
        action      TEXT,
        outcome     TEXT,
        detail      TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS events_payment ON events (payment_key, seq)",
)
# Version 2: fencing tokens. Every claim carries its holder's journal incarnation and a
# token from a stored counter that only ever grows.
_SCHEMA_2 = (
    "ALTER TABLE claims ADD COLUMN incarnation TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE claims ADD COLUMN token INTEGER NOT NULL DEFAULT 0",
    """CREATE TABLE IF NOT EXISTS counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    )""",
)


class SqliteJournal(_StoredJournal):
    """A journal in an SQLite file (stdlib ``sqlite3``, WAL mode), durable across crashes.

    Every call runs in a worker thread (``anyio.to_thread.run_sync``), so the event loop is
    never blocked by disk I/O. Calls are serialised on one connection; each write is one
    ``BEGIN IMMEDIATE`` transaction, committed (``synchronous=FULL`` by default) before the
    call returns. A call that has started is never abandoned on cancellation, so the file
    never holds half a step.

    By default the journal is **exclusive**: it holds an OS lock on ``<path>.lock`` while
    open, so only one process uses the file at a time. A process holding that lock knows
    every claim left in the file belongs to a process that is gone (killed, crashed), so it
    drops them on open and a restarted reconciler resumes at once instead of waiting for
    leases to expire. Pass ``exclusive=False`` to let several processes share the file; then
    claims are only taken over once their lease expires.

    The file is opened lazily, on first use, in a worker thread (or on ``async with``).
    A new file (and its ``-wal``, ``-shm`` and ``.lock`` files) is created readable and
    writable by its owner only (0600), whatever the umask: it holds finance references and
    failure messages that may name customers. An existing file keeps its mode.

    Args:
        path: The database file (created if missing), or ``":memory:"``.
        exclusive: Hold an OS lock so that only one process uses the journal at a time.
        synchronous: SQLite's ``synchronous`` setting: ``"FULL"`` (survives power loss)
            or ``"NORMAL"`` (survives a process crash; faster).
        busy_timeout: Seconds to wait for another process's write lock.
        clock: Wall clock in seconds, for leases and timestamps.

    Raises:
        ConfigurationError: An empty ``path``, an unknown ``synchronous``, a ``busy_timeout``
            that is not a number of seconds >= 0.
        JournalLockedError: On first use, when ``exclusive`` and another process has the
            journal open.
        JournalError: On first use, when the file cannot be opened as a journal (a
            directory, a missing folder, no permission, not an SQLite database); later, when
            SQLite fails (a full disk).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        exclusive: bool = True,
        synchronous: str = "FULL",
        busy_timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(clock=clock)
        if not isinstance(synchronous, str) or synchronous.upper() not in _SYNCHRONOUS:
            raise ConfigurationError(
                f"synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}"
            )
        if not (is_finite_number(busy_timeout) and busy_timeout >= 0):
            raise ConfigurationError(
                f"busy_timeout must be a number of seconds >= 0, not {busy_timeout!r}"
            )
        self.path: str = os.fspath(path)
        if not self.path:
            # SQLite makes an empty name a temporary file, deleted when closed: nothing would
            # survive the run, which a journal exists for.
            raise ConfigurationError(
                "the journal's path is empty; give a file, or use MemoryJournal (or "
                "':memory:') for a journal that does not outlive the process"
            )
        self.exclusive = exclusive
        self._synchronous = synchronous.upper()
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._lock_file: Any = None
        self._mutex = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"SqliteJournal({self.path!r}, exclusive={self.exclusive})"

    def close(self) -> None:
        """Close the connection and release the file lock (blocking). Idempotent."""
        with self._mutex:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._release_file_lock()

    # -- plumbing ------------------------------------------------------------------------

    async def _run(self, fn: Callable[[], Any]) -> Any:
        return await anyio.to_thread.run_sync(self._locked, fn)

    def _locked(self, fn: Callable[[], Any]) -> Any:
        with self._mutex:
            if self._closed:
                raise JournalError(f"{self!r} is closed")
            if self._conn is None:
                try:
                    self._conn = self._open()
                except (OSError, sqlite3.Error) as exc:
                    # A directory, a missing folder, no permission, a file that is not a
                    # database (JournalLockedError, another process's lock, passes as is).
                    raise JournalError(f"cannot open the journal {self.path!r}: {exc}") from exc
            try:
                return fn()
            except sqlite3.Error as exc:  # a full disk, a file changed under it, ...
                raise JournalError(f"{self!r}: {type(exc).__name__}: {exc}") from exc

    @property
    def _db(self) -> sqlite3.Connection:
        assert self._conn is not None
        return self._conn

    def _open(self) -> sqlite3.Connection:
        if self.exclusive and self.path != ":memory:":
            self._lock_file = _acquire_file_lock(self.path + ".lock", self.path)
        try:
            if self.path not in ("", ":memory:"):
                # SQLite gives its -wal and -shm files the database file's mode.
                fd = _create_private(self.path)
                if fd is not None:
                    os.close(fd)
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={self._synchronous}")
                # Deleted and overwritten rows are zeroed, not left in free pages.
                conn.execute("PRAGMA secure_delete=ON")
                with _transaction(conn):
                    _migrate(conn, self.path)
                    if self.exclusive:
                        # We hold the lock: every claim in the file is a dead process's.
                        conn.execute("DELETE FROM claims")
            except BaseException:
                conn.close()
                raise
        except BaseException:
            self._release_file_lock()
            raise
        return conn

    def _release_file_lock(self) -> None:
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                _release_file_lock(self._lock_file)
            self._lock_file = None

    def _atomic(self) -> contextlib.AbstractContextManager[None]:
        return _transaction(self._db)

    def _get_claim(self, payment_key: str) -> _Claim | None:
        row = self._db.execute(
            "SELECT owner, incarnation, token, expires_at FROM claims WHERE payment_key = ?",
            (payment_key,),
        ).fetchone()
        return _Claim(str(row[0]), str(row[1]), int(row[2]), float(row[3])) if row else None

    def _set_claim(self, payment_key: str, claim: _Claim) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO claims (payment_key, owner, incarnation, token, expires_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (payment_key, claim.owner, claim.incarnation, claim.token, claim.expires_at),
        )

    def _delete_claim(self, payment_key: str, claim: _Claim) -> None:
        self._db.execute(
            "DELETE FROM claims WHERE payment_key = ? AND incarnation = ? AND token = ?",
            (payment_key, claim.incarnation, claim.token),
        )

    def _next_token(self) -> int:
        row = self._db.execute(
            "INSERT INTO counters (name, value) VALUES ('claim_token', 1) "
            "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value"
        ).fetchone()
        return int(row[0])

    def _load(self, payment_key: str) -> JournalEntry | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM payments WHERE payment_key = ?", (payment_key,)
        ).fetchone()
        return _entry_from_row(row) if row else None

    def _store(self, entry: JournalEntry) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO payments ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            _entry_row(entry, native=False),
        )

    def _append(self, event: JournalEvent) -> None:
        self._db.execute(
            f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?,?,?,?,?,?,?)",
            _event_row(event, native=False),
        )

    def _select(self, *, unfinished: bool, outcome: JournalOutcome | None) -> list[JournalEntry]:
        sql = f"SELECT {_COLUMNS} FROM payments WHERE intent IS {'NOT ' if unfinished else ''}NULL"
        params: tuple[str, ...] = ()
        if outcome is not None:
            sql += " AND outcome = ?"
            params = (outcome.value,)
        rows = self._db.execute(sql + " ORDER BY updated_at, payment_key", params).fetchall()
        return [_entry_from_row(r) for r in rows]

    def _events(self, payment_key: str) -> list[JournalEvent]:
        rows = self._db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE payment_key = ? ORDER BY seq",
            (payment_key,),
        ).fetchall()
        return [_event_from_row(r) for r in rows]

    def _prune(self, cutoff: datetime) -> int:
        at = cutoff.timestamp()
        events = self._db.execute("DELETE FROM events WHERE at < ?", (at,)).rowcount
        entries = self._db.execute(_CLEAR_STALE_MESSAGES, (at,)).rowcount
        return int(events) + int(entries)

    def _do_prune(self, older_than: timedelta) -> int:
        changed = super()._do_prune(older_than)
        # The write-ahead log still holds the pages as they were: fold it in and empty it.
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return changed


_CLEAR_STALE_MESSAGES = (
    "UPDATE payments SET failure_message = NULL, last_error = NULL "
    "WHERE intent IS NULL AND updated_at < ? "
    "AND (failure_message IS NOT NULL OR last_error IS NOT NULL)"
)


def _migrate(conn: sqlite3.Connection, path: str) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > _SCHEMA_VERSION:
        raise JournalError(
            f"{path} was written by a newer version of qondor-invoicing "
            f"(schema {version}, this version knows {_SCHEMA_VERSION})"
        )
    if version == _SCHEMA_VERSION:
        return
    for statement in _SCHEMA:
        conn.execute(statement)
    if version < 2:
        for statement in _SCHEMA_2:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
