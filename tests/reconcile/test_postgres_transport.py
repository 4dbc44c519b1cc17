"""How the PostgreSQL journal connects: TLS unless local, no clear-text password, no DSN in errors.

The TLS decisions are checked on the decision function (no TLS server needed); the refusal of a
clear-text password request on a tiny fake PostgreSQL server on 127.0.0.1 that declines TLS
and asks for the password in clear text, the way a man in the middle would.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from qondor_invoicing.errors import ConfigurationError
from qondor_invoicing.reconcile import JournalError, PostgresJournal
from qondor_invoicing.reconcile._pg_transport import (
    check_connection,
    connection_options,
    is_local_host,
)

psycopg = pytest.importorskip("psycopg", reason="needs psycopg (the postgres extra)")
from psycopg.conninfo import conninfo_to_dict  # noqa: E402

PASSWORD = "Hunter2-pg-Secret"


def options(
    conninfo: str, env: dict[str, str] | None = None, libpq: int = 170000
) -> dict[str, str]:
    return connection_options(conninfo_to_dict(conninfo), env or {}, libpq)


@pytest.mark.parametrize(
    "host",
    ["", "/var/run/postgresql", "@abstract", "localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]"],
)
def test_local_hosts(host: str) -> None:
    assert is_local_host(host)


@pytest.mark.parametrize("host", ["db.internal", "10.0.0.5", "192.168.1.1", "::ffff:10.0.0.1"])
def test_remote_hosts(host: str) -> None:
    assert not is_local_host(host)


@pytest.mark.parametrize(
    "conninfo",
    [
        "",
        "host=/var/run/postgresql dbname=finance",
        "host=localhost sslmode=disable",
        "postgresql://u@127.0.0.1:5432/finance",
        "host=db.internal hostaddr=127.0.0.1",  # goes to the loopback address
        "host=/tmp,localhost",
    ],
)
def test_local_connections_need_no_tls(conninfo: str) -> None:
    assert "sslmode" not in options(conninfo)


@pytest.mark.parametrize(
    "conninfo",
    [
        "host=db.internal dbname=finance",
        f"postgresql://reconciler:{PASSWORD}@db.internal/finance",
        "host=localhost,db.internal",  # one remote host in a list is enough
        "host=localhost hostaddr=10.0.0.5",
    ],
)
def test_remote_connections_require_tls(conninfo: str) -> None:
    assert options(conninfo)["sslmode"] == "require"


@pytest.mark.parametrize("mode", ["require", "verify-ca", "verify-full"])
def test_a_chosen_tls_mode_is_kept(mode: str) -> None:
    assert "sslmode" not in options(f"host=db.internal sslmode={mode}")
    assert "sslmode" not in options("host=db.internal", {"PGSSLMODE": mode})


def test_the_environment_is_read_as_libpq_reads_it() -> None:
    assert options("", {"PGHOST": "db.internal"})["sslmode"] == "require"
    assert "sslmode" not in options("", {"PGHOST": "/run/postgresql"})
    assert options("", {"PGSERVICE": "finance"})["sslmode"] == "require"


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer"])
def test_clear_text_to_a_remote_server_is_refused(mode: str) -> None:
    conninfo = f"postgresql://reconciler:{PASSWORD}@db.internal/finance?sslmode={mode}"
    with pytest.raises(ConfigurationError, match="verify-full") as info:
        PostgresJournal(conninfo)
    assert PASSWORD not in str(info.value)
    assert "reconciler" not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None
    with pytest.raises(ConfigurationError, match=f"sslmode={mode}"):
        options("host=db.internal", {"PGSSLMODE": mode})


def test_clear_text_passwords_are_refused_where_libpq_can() -> None:
    assert options("host=/tmp")["require_auth"] == "!password"
    assert options("host=db.internal")["require_auth"] == "!password"
    assert "require_auth" not in options("host=/tmp", libpq=150000)
    assert "require_auth" not in options("host=/tmp require_auth=scram-sha-256")
    assert "require_auth" not in options("host=/tmp", {"PGREQUIREAUTH": "password"})


def test_a_remote_connection_without_tls_is_refused_after_connecting() -> None:
    check_connection("/tmp", "", ssl_in_use=False)
    check_connection("db.internal", "127.0.0.1", ssl_in_use=False)
    check_connection("db.internal", "10.0.0.5", ssl_in_use=True)
    with pytest.raises(JournalError, match="without TLS"):
        check_connection("db.internal", "10.0.0.5", ssl_in_use=False)


# -- a server that declines TLS and asks for the password in clear text -----------------------


class ClearTextServer:
    """Speaks just enough of PostgreSQL's protocol to ask for a clear-text password."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(30)
        self.port = self.sock.getsockname()[1]
        self.received = bytearray()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            try:
                while True:
                    head = self._read(conn, 8)
                    length, code = struct.unpack("!ii", head)
                    self._read(conn, length - 8)
                    if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest: decline
                        conn.sendall(b"N")
                        continue
                    conn.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartext
                    break
                while chunk := conn.recv(4096):  # a password message, if libpq sends one
                    self.received += chunk
            except OSError:
                pass

    def _read(self, conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise OSError("closed")
            data += chunk
        self.received += data
        return data

    def close(self) -> None:
        self.sock.close()
        self.thread.join(10)


@pytest.fixture
def clear_text_server() -> Iterator[ClearTextServer]:
    server = ClearTextServer()
    yield server
    server.close()


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


@pytest.mark.anyio
async def test_a_clear_text_password_request_is_refused_and_nothing_names_the_dsn(
    clear_text_server: ClearTextServer,
) -> None:
    if psycopg.pq.version() < 160000:
        pytest.skip("require_auth needs libpq 16")
    conninfo = (
        f"postgresql://reconciler:{PASSWORD}@127.0.0.1:{clear_text_server.port}/finance"
        "?connect_timeout=10"
    )
    journal = PostgresJournal(conninfo)
    with pytest.raises(JournalError, match="cannot connect") as info:
        await journal.get("1")
    await journal.aclose()
    clear_text_server.close()
    assert PASSWORD.encode() not in clear_text_server.received
    assert b"reconciler" in clear_text_server.received  # it did reach the startup message
    error = info.value
    assert error.__cause__ is None
    assert error.__context__ is None
    for exc in _chain(error):
        for text in (str(exc), repr(exc), repr(exc.args), *getattr(exc, "__notes__", ())):
            assert PASSWORD not in text
            assert conninfo not in text
