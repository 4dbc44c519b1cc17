"""The machinery both fakes share: routing, faults, rate limits, a request log, serving.

A fake is a small server. Its state lives in plain attrs classes, each route is one method,
and it is reachable two ways:

- in process, through ``fake.transport`` (an ``httpx.MockTransport``), which is what tests
  and the demo use;
- over real HTTP on loopback, through ``with fake.serve() as base_url:``, so that several
  processes (a reconciler that gets killed, several workers) share one fake's state.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import anyio
import attrs
import httpx

__all__ = [
    "FakeAPI",
    "FakeRequest",
    "FakeResponse",
    "FaultKind",
    "Faults",
    "RecordedRequest",
]

FaultKind = Literal[
    "server_error",
    "rate_limited",
    "connection_error",
    "lost_response",
    "truncated_answer",
    "blocked_answer",
]
_FAULT_KINDS: tuple[FaultKind, ...] = (
    "server_error",
    "rate_limited",
    "connection_error",
    "lost_response",
    "truncated_answer",
    "blocked_answer",
)
#: What a filtering proxy answers instead of forwarding a request ("garbled 2xx").
BLOCKED_TEXT = "Request blocked by policy"


@attrs.define(kw_only=True)
class Faults:
    """Fault injection knobs. Rates are probabilities per request, drawn from ``seed``.

    Attributes:
        latency: Seconds every request takes (slept with anyio in process, or time.sleep
            when served over HTTP).
        server_error_rate: Answer 503 without applying anything.
        rate_limited_rate: Answer 429 with ``Retry-After`` without applying anything (bursts
            of 429 come from ``script``).
        connection_error_rate: Fail to connect (``httpx.ConnectError``); nothing applied.
        lost_response_rate: Apply the request, then lose the response (``httpx.ReadTimeout``
            in process, a dropped connection over HTTP). Only state changes are affected.
        truncated_answer_rate: Handle the request (a state change is applied), then answer
            200 ``application/json`` with the body cut in the middle (a state change that
            answers no body gets the record's JSON, cut).
        blocked_answer_rate: Apply nothing and answer 200 ``text/plain`` "Request blocked by
            policy", as a filtering proxy in front of the API does.
        retry_after: The ``Retry-After`` (seconds) sent with injected 429s.
        methods: Only requests with these methods get random faults (all when empty).
        seed: Seed of the random draws, for reproducible runs.
    """

    latency: float = 0.0
    server_error_rate: float = 0.0
    rate_limited_rate: float = 0.0
    connection_error_rate: float = 0.0
    lost_response_rate: float = 0.0
    truncated_answer_rate: float = 0.0
    blocked_answer_rate: float = 0.0
    retry_after: float = 0.0
    methods: frozenset[str] = attrs.field(factory=frozenset, converter=frozenset)
    seed: int | None = None
    _rng: random.Random = attrs.field(init=False)
    _script: deque[tuple[FaultKind, str | None]] = attrs.field(init=False, factory=deque)

    def __attrs_post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def inject(self, kind: FaultKind, *, times: int = 1, method: str | None = None) -> None:
        """Force the next ``times`` requests (of ``method``, if given) to fail with ``kind``."""
        if kind not in _FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {_FAULT_KINDS}")
        for _ in range(times):
            self._script.append((kind, method.upper() if method else None))

    def clear(self) -> None:
        """Remove every scripted fault and set every rate to zero."""
        self._script.clear()
        self.server_error_rate = self.rate_limited_rate = 0.0
        self.connection_error_rate = self.lost_response_rate = 0.0
        self.truncated_answer_rate = self.blocked_answer_rate = 0.0

    def draw(self, method: str, *, state_change: bool) -> FaultKind | None:
        """Decide the fault for one request (consumes a scripted fault first)."""
        if self._script:
            kind, only = self._script[0]
            if only is None or only == method:
                self._script.popleft()
                return kind
        if self.methods and method not in self.methods:
            return None
        r = self._rng.random()
        for kind, rate in (
            ("server_error", self.server_error_rate),
            ("rate_limited", self.rate_limited_rate),
            ("connection_error", self.connection_error_rate),
            ("lost_response", self.lost_response_rate if state_change else 0.0),
            ("truncated_answer", self.truncated_answer_rate),
            ("blocked_answer", self.blocked_answer_rate),
        ):
            if r < rate:
                return kind
            r -= rate
        return None


@attrs.frozen(kw_only=True)
class FakeRequest:
    """A request as a route handler sees it."""

    method: str
    path: str
    params: httpx.QueryParams
    headers: httpx.Headers
    body: bytes
    match: Mapping[str, str]

    def json(self) -> Any:
        """The body decoded as JSON (``None`` when empty); raises ``ValueError`` if invalid."""
        if not self.body.strip():
            return None
        return json.loads(self.body)


@attrs.frozen(kw_only=True)
class FakeResponse:
    """What a route handler answers."""

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    text: str | None = None
    content_type: str = "application/json"
    refused: bool = False

    def to_httpx(self) -> httpx.Response:
        if self.text is not None:
            content = self.text.encode()
        elif self.body is None:
            content = b""
        else:
            content = json.dumps(self.body, separators=(",", ":")).encode()
        headers = (
            {"content-type": self.content_type, **self.headers} if content else dict(self.headers)
        )
        return httpx.Response(self.status, content=content, headers=headers)


@attrs.frozen(kw_only=True)
class RecordedRequest:
    """One request the fake received.

    Attributes:
        method: HTTP method.
        path: URL path, relative to the fake's root.
        params: Query parameters, as a list of pairs.
        body: The decoded JSON body (``None`` if empty or not JSON).
        status: The status answered (``None`` when the fault was a connection error or a
            lost response).
        fault: The injected fault, if any.
        refused: Whether the fake's own rules refused it (an illegal transition).
        applied: Whether it changed state.
    """

    method: str
    path: str
    params: tuple[tuple[str, str], ...]
    body: Any
    status: int | None
    fault: FaultKind | None
    refused: bool
    applied: bool


Handler = Callable[[FakeRequest], FakeResponse]


class FakeAPI:
    """Base class of the fakes. Subclasses register routes and implement auth.

    Args:
        faults: Fault injection knobs (none by default).
        rate_limit: ``(requests, per_seconds)`` enforced with a sliding window and answered
            with 429, or ``None`` to disable.
        clock: Monotonic clock for the rate limit window.
    """

    base_path: str = ""

    def __init__(
        self,
        *,
        faults: Faults | None = None,
        rate_limit: tuple[int, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.faults: Faults = faults or Faults()
        self.rate_limit = rate_limit
        self._clock = clock
        self._window: deque[float] = deque()
        self._routes: list[tuple[str, re.Pattern[str], Handler, bool]] = []
        self.requests: list[RecordedRequest] = []
        self.lock: threading.RLock = threading.RLock()

    # -- routing -----------------------------------------------------------------------

    def add_route(self, method: str, pattern: str, handler: Handler, *, state_change: bool) -> None:
        """Register ``handler`` for ``method`` on paths matching ``pattern`` (a full regex)."""
        self._routes.append((method.upper(), re.compile(pattern + r"\Z"), handler, state_change))

    def authenticate(self, request: FakeRequest) -> FakeResponse | None:
        """Return an error response when the request's credentials are refused."""
        return None

    def rate_limited_response(self, retry_after: float) -> FakeResponse:
        """The body the real API sends with a 429."""
        return FakeResponse(
            status=429,
            body={"message": "Rate limit is exceeded."},
            headers={"Retry-After": _fmt(retry_after)},
        )

    def server_error_response(self) -> FakeResponse:
        """The body the real API sends with a 5xx."""
        return FakeResponse(status=503, body={"message": "Service Unavailable"})

    def not_found_response(self, request: FakeRequest) -> FakeResponse:
        """The answer for a path no route matches."""
        return FakeResponse(status=404, body={"message": f"no route for {request.path}"})

    # -- serving -----------------------------------------------------------------------

    @property
    def refused_requests(self) -> list[RecordedRequest]:
        """Every request the fake's rules refused (illegal transitions that reached it)."""
        return [r for r in self.requests if r.refused]

    def requests_to(self, method: str, path_contains: str = "") -> list[RecordedRequest]:
        """Requests with ``method`` whose path contains ``path_contains``."""
        return [r for r in self.requests if r.method == method.upper() and path_contains in r.path]

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request (without latency). Thread-safe."""
        with self.lock:
            return self._handle(request)

    async def handle_async(self, request: httpx.Request) -> httpx.Response:
        """Answer one request after the configured latency (anyio sleep)."""
        if self.faults.latency:
            await anyio.sleep(self.faults.latency)
        return self.handle(request)

    @property
    def transport(self) -> httpx.MockTransport:
        """An ``httpx`` transport serving this fake in process."""
        return httpx.MockTransport(self.handle_async)

    @contextlib.contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve the fake over HTTP on loopback in a background thread; yield its base URL."""
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                url = f"http://{host}{self.path}"
                request = httpx.Request(self.command, url, headers=dict(self.headers), content=body)
                if fake.faults.latency:
                    time.sleep(fake.faults.latency)
                try:
                    response = fake.handle(request)
                except httpx.TransportError:
                    # Connection error or lost response: drop the connection unanswered.
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(2)
                    return
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _any

        server = _QuietServer((host, port), _Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://{host}:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()

    # -- internals ---------------------------------------------------------------------

    def _handle(self, request: httpx.Request) -> httpx.Response:
        method = request.method.upper()
        path = request.url.path
        if self.base_path and path.startswith(self.base_path):
            path = path[len(self.base_path) :]
        body = request.read()
        params = tuple(request.url.params.multi_items())
        try:
            decoded: Any = json.loads(body) if body.strip() else None
        except ValueError:
            decoded = None

        def record(
            status: int | None, fault: FaultKind | None, refused: bool, applied: bool
        ) -> None:
            self.requests.append(
                RecordedRequest(
                    method=method,
                    path=path,
                    params=params,
                    body=decoded,
                    status=status,
                    fault=fault,
                    refused=refused,
                    applied=applied,
                )
            )

        route = None
        fake_request: FakeRequest | None = None
        for route_method, pattern, handler, state_change in self._routes:
            m = pattern.match(path)
            if m is not None and route_method == method:
                route = (handler, state_change)
                fake_request = FakeRequest(
                    method=method,
                    path=path,
                    params=request.url.params,
                    headers=request.headers,
                    body=body,
                    match=m.groupdict(),
                )
                break
        if fake_request is None:
            fake_request = FakeRequest(
                method=method,
                path=path,
                params=request.url.params,
                headers=request.headers,
                body=body,
                match={},
            )
        state_change = route[1] if route else False

        fault = self.faults.draw(method, state_change=state_change)
        if fault == "connection_error":
            record(None, fault, False, False)
            raise httpx.ConnectError("injected connection error", request=request)
        if fault == "server_error":
            resp = self.server_error_response()
            record(resp.status, fault, False, False)
            return resp.to_httpx()
        if fault == "rate_limited":
            resp = self.rate_limited_response(self.faults.retry_after)
            record(resp.status, fault, False, False)
            return resp.to_httpx()
        if fault == "blocked_answer":
            resp = FakeResponse(status=200, text=BLOCKED_TEXT, content_type="text/plain")
            record(resp.status, fault, False, False)
            return resp.to_httpx()

        denied = self.authenticate(fake_request)
        if denied is not None:
            record(denied.status, None, False, False)
            return denied.to_httpx()

        if self.rate_limit is not None:
            limit, per = self.rate_limit
            now = self._clock()
            while self._window and self._window[0] <= now - per:
                self._window.popleft()
            if len(self._window) >= limit:
                retry_after = max(0.0, self._window[0] + per - now)
                resp = self.rate_limited_response(retry_after)
                record(resp.status, None, False, False)
                return resp.to_httpx()
            self._window.append(now)

        if route is None:
            resp = self.not_found_response(fake_request)
            record(resp.status, None, False, False)
            return resp.to_httpx()

        resp = route[0](fake_request)
        applied = state_change and 200 <= resp.status < 300
        if fault == "lost_response" and applied:
            record(None, fault, resp.refused, applied)
            raise httpx.ReadTimeout(
                "injected lost response (the change was applied)", request=request
            )
        if fault == "truncated_answer" and 200 <= resp.status < 300:
            content = resp.to_httpx().content
            if not content.strip():
                record_json = self.answer_record(fake_request)
                content = json.dumps(record_json, separators=(",", ":")).encode()
            text = content[: max(1, len(content) // 2)].decode(errors="replace")
            record(resp.status, fault, resp.refused, applied)
            cut = FakeResponse(status=resp.status, text=text, headers=resp.headers)
            return cut.to_httpx()
        record(resp.status, None, resp.refused, applied)
        return resp.to_httpx()

    def answer_record(self, request: FakeRequest) -> Any:
        """The record a state change is about, as JSON, for a truncated answer to cut."""
        return {"id": request.match.get("id")}


class _QuietServer(ThreadingHTTPServer):
    """Serves the fake; a client that went away mid-request (killed, timed out) is normal."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def _fmt(seconds: float) -> str:
    whole = int(seconds)
    return str(whole if whole == seconds else int(seconds) + 1)
