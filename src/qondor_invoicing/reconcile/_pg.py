"""PostgreSQL plumbing shared by `PostgresJournal` and `PostgresRateLimiter`.

- `Connector` opens connections to one server: the connection string kept as a `Secret`,
  a connect timeout, TCP keepalives (libpq ignores them on unix sockets), session settings.
- `Pool` lends connections to worker threads, checks an idle one before reusing it, and
  runs each operation again on a fresh connection when the server went away (a restart,
  a terminated backend, a broken pooled connection), with backoff, for a bounded time.
- Errors are `JournalError` built by `_pg_transport.journal_error` (the connection string
  and passwords masked) and raised with no psycopg exception in their chain (psycopg's
  messages may quote the connection string). TLS rules: `_pg_transport`.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from .._secret import Secret
from .._validators import is_finite_number
from ..errors import ConfigurationError
from ._pg_transport import check_connection, connection_options, journal_error, redactor_for
from .journal import JournalError

if TYPE_CHECKING:
    import psycopg

__all__ = ["Connector", "Pool", "import_psycopg", "session_settings"]

T = TypeVar("T")

#: SQLSTATEs after which the operation may be run again on a new connection: the server
#: shut the session down (``pg_terminate_backend``, a fast or crash restart) or is starting.
_RECONNECT_STATES = frozenset({"57P01", "57P02", "57P03"})
#: Errors of the connection attempt itself that waiting will not cure.
_PERMANENT_CONNECT_CLASSES = ("28", "3D")  # authentication, no such database

#: libpq's TCP settings unless the connection string sets its own: a dead peer is noticed
#: after about 30 s of silence (keepalives when idle, tcp_user_timeout for unacknowledged
#: sends). libpq ignores them on unix sockets.
_TCP_DEFAULTS = {
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
    "tcp_user_timeout": "30000",
}


def import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - depends on the installation
        raise ConfigurationError(
            "PostgresJournal and PostgresRateLimiter need psycopg 3: "
            "pip install 'qondor-invoicing[postgres]'"
        ) from None
    return psycopg


class _Unavailable(Exception):
    """A transient failure; the operation may be run again on a new connection."""

    def __init__(self, error: JournalError) -> None:
        super().__init__(str(error))
        self.error = error


class Connector:
    """How to connect to one PostgreSQL server, the connection string kept secret.

    Args:
        conninfo: A libpq connection string or URI; empty for libpq's ``PG*`` variables.
        connect_timeout: Seconds for a connection attempt (unless ``conninfo`` sets one).
        application_name: For ``pg_stat_activity`` (unless ``conninfo`` sets one).
        what: How errors name the server's role (``"the PostgreSQL journal"``).

    Raises:
        ConfigurationError: ``conninfo`` is not a valid connection string.
    """

    def __init__(
        self,
        conninfo: str | Secret,
        *,
        connect_timeout: float,
        application_name: str,
        what: str,
    ) -> None:
        pg = import_psycopg()
        if not isinstance(conninfo, (str, Secret)):
            raise ConfigurationError(
                f"conninfo must be a connection string, not {type(conninfo).__name__}"
            )
        secret = conninfo if isinstance(conninfo, Secret) else Secret(conninfo)
        try:
            params = pg.conninfo.conninfo_to_dict(secret.get_secret_value())
        except pg.Error:
            # The message may quote the string, password included.
            raise ConfigurationError(
                "conninfo is not a valid PostgreSQL connection string"
            ) from None
        if not (is_finite_number(connect_timeout) and connect_timeout > 0):
            raise ConfigurationError(f"connect_timeout must be > 0, not {connect_timeout!r}")
        self.conninfo = secret
        self.what = what
        self.target = {k: str(params[k]) for k in ("host", "port", "dbname") if params.get(k)}
        # Masked in every message: the whole string, and the passwords libpq may use.
        self.redact = redactor_for(secret.get_secret_value(), params, os.environ)
        # TLS unless local, no clear-text password (raises for a remote clear-text sslmode).
        options = connection_options(params, os.environ, pg.pq.version())
        if not params.get("connect_timeout"):
            options["connect_timeout"] = str(max(1, round(connect_timeout)))
        if not params.get("application_name"):
            options["application_name"] = application_name
        for key, value in _TCP_DEFAULTS.items():
            if key not in params:
                options[key] = value
        self._options = options

    def describe(self) -> str:
        """``host=... port=... dbname=...`` (never the user or password)."""
        return " ".join(f"{k}={v}" for k, v in self.target.items()) or "(libpq defaults)"

    def connect(self) -> psycopg.Connection[Any]:
        """A new autocommit connection at READ COMMITTED.

        Raises:
            _Unavailable: The server cannot be reached now (down, restarting).
            JournalError: The attempt was refused for good (authentication, no database).
        """
        pg = import_psycopg()
        try:
            conn: psycopg.Connection[Any] = pg.connect(
                self.conninfo.get_secret_value(), autocommit=True, **self._options
            )
        except pg.Error as exc:
            message = f"cannot connect to {self.what} ({self.describe()})"
            error = journal_error(message, exc, self.redact)
            if (exc.sqlstate or "").startswith(_PERMANENT_CONNECT_CLASSES):
                _raise_clean(error)
            _raise_clean(_Unavailable(error))
        try:
            check_connection(conn.info.host, conn.info.hostaddr, conn.pgconn.ssl_in_use)
            # Each statement sees the latest commits: READ COMMITTED whatever the default.
            conn.isolation_level = pg.IsolationLevel.READ_COMMITTED
        except BaseException:
            conn.close()
            raise
        return conn

    def error(self, exc: BaseException) -> JournalError:
        """The `JournalError` for a psycopg error of an operation (masked)."""
        return journal_error(f"{self.what} failed", exc, self.redact)


def _raise_clean(error: BaseException) -> NoReturn:
    """Raise ``error`` with no cause and no context (nothing of psycopg's in its chain)."""
    try:
        raise error
    finally:
        error.__cause__ = None
        error.__context__ = None
        error.__suppress_context__ = True


def _is_disconnect(exc: BaseException, conn: Any) -> bool:
    if getattr(conn, "broken", False) or getattr(conn, "closed", False):
        return True
    state = getattr(exc, "sqlstate", None) or ""
    return state in _RECONNECT_STATES or state.startswith("08")


class Pool:
    """At most ``size`` connections lent to threads, run again after a lost connection.

    Args:
        connector: Opens the connections.
        size: Most connections (and operations at once).
        setup: Run on every new connection (session settings, migration); it may raise
            `JournalError`.
        reconnect_timeout: How long one operation keeps trying while the server is away
            (connection refused, restarting, connections terminated), with backoff, before
            it fails with `JournalError`.
        check_after: Seconds a connection may sit idle before it is checked (``SELECT 1``)
            when lent again.
    """

    def __init__(
        self,
        connector: Connector,
        *,
        size: int,
        setup: Callable[[psycopg.Connection[Any]], None],
        reconnect_timeout: float,
        check_after: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigurationError(f"pool_size must be an integer >= 1, not {size!r}")
        if not (is_finite_number(reconnect_timeout) and reconnect_timeout >= 0):
            raise ConfigurationError(
                "reconnect_timeout must be a finite number of seconds >= 0, "
                f"not {reconnect_timeout!r}"
            )
        self.connector = connector
        self.size = size
        self.reconnect_timeout = reconnect_timeout
        self._setup = setup
        self._check_after = check_after
        self._monotonic = monotonic
        self._sleep = sleep
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[tuple[psycopg.Connection[Any], float]] = []
        self._closed = False
        #: How many times an operation was run again after the server went away.
        self.reconnects = 0

    def close(self) -> None:
        """Close every idle connection; connections in use are closed when given back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()

    def run(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run ``fn`` (one transaction) on a pooled connection, again if the server went away.

        ``fn`` must be safe to run again from the start: a transaction that lost its
        connection before its commit was rolled back by the server. (One whose commit was
        sent when the connection died may have committed; the journal's writes are safe to
        repeat.)

        Raises:
            JournalError: The server stayed away longer than ``reconnect_timeout``, or
                ``fn`` failed for another reason (scrubbed, with no psycopg error chained).
        """
        pg = import_psycopg()
        deadline = self._monotonic() + self.reconnect_timeout
        delay = 0.05
        with self._slots:
            while True:
                failure: JournalError | None = None
                try:
                    conn = self._checkout()
                except _Unavailable as exc:
                    failure = exc.error
                else:
                    try:
                        return fn(conn)
                    except pg.Error as exc:
                        error = self.connector.error(exc)
                        if not _is_disconnect(exc, conn):
                            _raise_clean(error)
                        failure = error
                        self._discard_idle()  # a restart broke all of them
                    finally:
                        self._checkin(conn)
                if self._closed or self._monotonic() + delay > deadline:
                    _raise_clean(
                        JournalError(
                            f"{self.connector.what} ({self.connector.describe()}) stayed "
                            f"unavailable for {self.reconnect_timeout:g} s: {failure}"
                        )
                    )
                self.reconnects += 1
                self._sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 2.0)

    def _checkout(self) -> psycopg.Connection[Any]:
        while True:
            with self._lock:
                if self._closed:
                    raise JournalError(f"{self.connector.what} is closed")
                conn, idle_since = self._idle.pop() if self._idle else (None, 0.0)
            if conn is None:
                return self._open()
            if self._monotonic() - idle_since < self._check_after or self._alive(conn):
                return conn
            conn.close()

    def _alive(self, conn: psycopg.Connection[Any]) -> bool:
        try:
            conn.execute("SELECT 1")
        except import_psycopg().Error:
            return False
        return True

    def _open(self) -> psycopg.Connection[Any]:
        pg = import_psycopg()
        conn = self.connector.connect()
        try:
            self._setup(conn)
        except pg.Error as exc:
            conn.close()
            error = self.connector.error(exc)
            _raise_clean(_Unavailable(error) if _is_disconnect(exc, conn) else error)
        except BaseException:
            conn.close()
            raise
        return conn

    def _checkin(self, conn: psycopg.Connection[Any]) -> None:
        pg = import_psycopg()
        healthy = (
            not conn.closed
            and not conn.broken
            and conn.info.transaction_status == pg.pq.TransactionStatus.IDLE
        )
        with self._lock:
            if healthy and not self._closed:
                self._idle.append((conn, self._monotonic()))
                return
        conn.close()

    def _discard_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()


def session_settings(conn: psycopg.Connection[Any], settings: Mapping[str, str]) -> None:
    """Set session parameters (``set_config``) on a new connection."""
    if not settings:
        return
    sql = "SELECT " + ", ".join("set_config(%s, %s, false)" for _ in settings)
    params: list[str] = []
    for key, value in settings.items():
        params += [key, value]
    conn.execute(sql, params)
