"""A PostgreSQL server for the tests: ``QONDOR_TEST_PG_DSN``, or a throwaway one started here.

Loaded by the PostgreSQL test modules with ``pytest_plugins = ["conftest_pg"]``, so the
session fixture `pg_dsn` exists once for the whole run.

Without ``QONDOR_TEST_PG_DSN``, `TempPostgres` runs ``initdb`` and ``pg_ctl`` (Debian puts
them in ``/usr/lib/postgresql/<version>/bin``) on a data directory in a temporary directory.
The server listens on a unix socket in that directory only (no TCP port, so parallel runs
never collide and nothing listens on the network), trusts local connections, and is stopped
and deleted at the end of the session. PostgreSQL refuses to run as root, so as root it runs
as the ``postgres`` system user that Debian's package creates.

When no server can be had, the tests are skipped with the reason, except in CI
(``CI=true``), where that is a failure: CI installs PostgreSQL itself (``.ci/run``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

DSN_ENV = "QONDOR_TEST_PG_DSN"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def find_bin(name: str) -> str | None:
    """The newest PostgreSQL server binary ``name`` on PATH or in Debian's versioned dirs."""
    found = shutil.which(name)
    if found:
        return found

    def version(path: str) -> tuple[int, ...]:
        match = re.search(r"/postgresql/([\d.]+)/", path)
        return tuple(int(p) for p in match.group(1).split(".")) if match else (0,)

    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=version)
    return candidates[-1] if candidates else None


class ServerUnavailable(Exception):
    """No PostgreSQL server can be started here (the message says why)."""


class TempPostgres:
    """A throwaway PostgreSQL server on a unix socket in a temporary directory.

    Args:
        durable: Keep ``fsync`` on (for benchmarks); tests turn it off, the data is thrown
            away anyway.
    """

    def __init__(self, *, durable: bool = False) -> None:
        initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        if initdb is None or pg_ctl is None:
            raise ServerUnavailable(
                "PostgreSQL's initdb/pg_ctl were not found (install Debian's 'postgresql' "
                f"package, or set {DSN_ENV} to a server's connection string)"
            )
        self.initdb, self.pg_ctl = initdb, pg_ctl
        self.durable = durable
        self.user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                raise ServerUnavailable(
                    "running as root and there is no 'postgres' user to run the server as"
                ) from None
        self.dir = Path(tempfile.mkdtemp(prefix="qondor-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.started = False

    @property
    def dsn(self) -> str:
        return f"host={self.dir} port=5432 user=postgres dbname=postgres"

    def _run(self, *args: str) -> None:
        kwargs: dict[str, object] = {}
        env = dict(os.environ, LC_ALL="C", LANG="C")
        if self.user is not None:
            kwargs.update(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
            env["HOME"] = str(self.dir)
        result = subprocess.run(
            args,
            env=env,
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            **kwargs,  # type: ignore[call-overload]
        )
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise ServerUnavailable(
                f"{Path(args[0]).name} failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-2000:]}\n{log}"
            )

    def start(self) -> str:
        if self.user is not None:
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        self.dir.chmod(0o700)
        self._run(
            self.initdb,
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        options = [
            "-c listen_addresses=''",
            f"-c unix_socket_directories='{self.dir}'",
            "-c max_connections=100",
            "-c shared_buffers=32MB",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c full_page_writes=off"]
        self._run(
            self.pg_ctl,
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            " ".join(options),
            "-w",
            "-t",
            "60",
            "start",
        )
        self.started = True
        return self.dsn

    def stop(self) -> None:
        try:
            if self.started:
                with contextlib.suppress(ServerUnavailable, subprocess.TimeoutExpired):
                    self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
                self.started = False
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> str:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"CI needs a PostgreSQL server and none could be started: {reason}")
    pytest.skip(f"no PostgreSQL server: {reason}")


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A connection string to a PostgreSQL server (see the module docstring)."""
    try:
        import psycopg
    except ImportError:
        unavailable("psycopg is not installed (pip install 'qondor-invoicing[postgres]')")
    dsn = os.environ.get(DSN_ENV, "").strip()
    if dsn:
        yield dsn
        return
    try:
        server = TempPostgres()
        with server as dsn:
            with psycopg.connect(dsn, connect_timeout=10) as conn:
                conn.execute("SELECT 1")
            yield dsn
    except ServerUnavailable as exc:
        unavailable(str(exc))


@pytest.fixture
def pg_schema(pg_dsn: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh schema name for one test, dropped afterwards."""
    import psycopg
    from psycopg import sql

    name = "t_" + re.sub(r"\W", "_", request.node.name.lower())[:40] + "_" + os.urandom(3).hex()
    yield name
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
