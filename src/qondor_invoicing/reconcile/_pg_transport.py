"""How the PostgreSQL journal reaches its server safely, and fails without naming its secrets.

- **TLS unless local.** A journal on another machine is reached with ``sslmode=require`` at
  least (the libpq default, ``prefer``, lets a man in the middle decline TLS); an explicit
  ``disable``, ``allow`` or ``prefer`` for a remote host is refused. A unix socket or a
  loopback address needs no TLS. Use ``sslmode=verify-full`` (with ``sslrootcert``) to also
  check whose server it is.
- **No clear-text password.** With libpq 16 or later, ``require_auth=!password`` makes libpq
  refuse a server that asks for the password in clear text (unless the connection string or
  ``PGREQUIREAUTH`` chooses its own ``require_auth``).
- **Errors without the DSN.** `journal_error` builds the journal's error from a psycopg one
  with the connection string and password masked; raise it outside the ``except`` block, so
  that neither ``__cause__`` nor ``__context__`` keeps psycopg's error.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from .._http import Redactor
from .._http.options import is_loopback
from ..errors import ConfigurationError
from .journal import JournalError

__all__ = [
    "check_connection",
    "connection_options",
    "is_local_host",
    "journal_error",
    "redactor_for",
]

_TLS_MODES = frozenset({"require", "verify-ca", "verify-full"})
_REQUIRE_AUTH_SINCE = 160000  # libpq 16


def is_local_host(host: str) -> bool:
    """Whether a libpq ``host``/``hostaddr`` value is a unix socket or a loopback address.

    An empty value is libpq's default: a unix socket, except on Windows (``localhost``).
    """
    host = host.strip()
    # Empty: libpq's default socket; "/...": a socket directory; "@...": a Linux abstract socket.
    return not host or host.startswith(("/", "@")) or is_loopback(host.rstrip("."))


def _targets(params: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    """Where libpq will connect: each ``hostaddr`` if given, else each ``host``."""
    hosts = str(params.get("host") or environ.get("PGHOST") or "")
    addrs = str(params.get("hostaddr") or environ.get("PGHOSTADDR") or "")
    if addrs:
        return addrs.split(",")
    if sys.platform == "win32" and not hosts:  # pragma: no cover - Windows only
        return ["localhost"]
    return hosts.split(",")


def connection_options(
    params: Mapping[str, Any], environ: Mapping[str, str], libpq_version: int
) -> dict[str, str]:
    """The libpq options the journal adds to a connection string (parsed into ``params``).

    Args:
        params: The connection string as ``psycopg.conninfo.conninfo_to_dict`` parses it.
        environ: The environment (libpq reads ``PGHOST``, ``PGSSLMODE``... from it).
        libpq_version: ``psycopg.pq.version()``.

    Raises:
        ConfigurationError: A remote server with an ``sslmode`` that allows clear text.
    """
    options: dict[str, str] = {}
    if params.get("service") or environ.get("PGSERVICE"):
        # The service file may name a remote host: decide as if it did (the check after
        # connecting covers the rest).
        remote = [str(params.get("host") or environ.get("PGHOST") or "(service)")]
    else:
        remote = [t for t in _targets(params, environ) if not is_local_host(t)]
    if remote:
        sslmode = str(params.get("sslmode") or environ.get("PGSSLMODE") or "").lower()
        if not sslmode:
            options["sslmode"] = "require"
        elif sslmode not in _TLS_MODES:
            raise ConfigurationError(
                f"the PostgreSQL journal connects to {','.join(remote)} over the network with "
                f"sslmode={sslmode}, which lets the connection (and the journal's data) go in "
                "clear text: use sslmode=verify-full (or at least require), or a unix socket"
            )
    if libpq_version >= _REQUIRE_AUTH_SINCE and not (
        params.get("require_auth") or environ.get("PGREQUIREAUTH")
    ):
        options["require_auth"] = "!password"
    return options


def check_connection(host: str | None, hostaddr: str | None, ssl_in_use: bool) -> None:
    """Refuse a connection made to a remote server without TLS (e.g. through a service file).

    Raises:
        JournalError: It is not encrypted and not local.
    """
    target = hostaddr or host or ""
    if not ssl_in_use and not is_local_host(target):
        raise JournalError(
            f"the PostgreSQL journal reached {target} without TLS: set sslmode=verify-full "
            "(or at least require) for a server that is not local"
        )


def redactor_for(conninfo: str, params: Mapping[str, Any], environ: Mapping[str, str]) -> Redactor:
    """A redactor masking the connection string and every password it or libpq may use."""
    secrets = [conninfo, str(params.get("password") or ""), environ.get("PGPASSWORD", "")]
    return Redactor([s for s in secrets if s])


def journal_error(message: str, exc: BaseException, redact: Redactor) -> JournalError:
    """The journal's error for a psycopg error: its text masked, no link to it.

    Raise the result outside the ``except`` block that caught ``exc``, so that the new
    error's ``__context__`` does not keep ``exc`` (whose text may quote the DSN).
    """
    detail = redact(f"{type(exc).__name__}: {exc}".strip())
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate:
        detail += f" (SQLSTATE {sqlstate})"
    return JournalError(f"{message}: {detail}")
