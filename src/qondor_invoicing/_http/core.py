"""The request loop shared by both clients."""

from __future__ import annotations

import logging
import math
import time
import weakref
from collections.abc import Mapping
from typing import Any, Final, TypeVar

import anyio
import attrs
import httpx
from anyio.lowlevel import current_token

from .._digits import ascii_int
from ..errors import (
    EventLoopError,
    InvalidInputError,
    ResponseTooLargeError,
    ResponseValidationError,
)
from ._types import DEFAULT_TIMEOUT, NOT_GIVEN, NotGiven, Sleep, TimeoutTypes
from .auth import Auth
from .limits import Limiter
from .logs import body_for_log, clip_body, transport_log_redaction
from .options import ClientOptions, timeout_problem
from .pool import NoServerCookies, plain_headers
from .redact import Masked, Redactor
from .response import (
    AnswerHeaders,
    APIResponse,
    connection_error,
    decode_success,
    status_error,
)
from .retry import RetryPolicy

__all__ = ["DEADLINE_FACTOR", "HTTPCore", "Sleep", "logger"]

logger = logging.getLogger("qondor_invoicing")

_SELF = TypeVar("_SELF", bound="HTTPCore")

_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})

DEADLINE_FACTOR: Final = 3.0
"""Without an explicit ``deadline``, one attempt may last this many times the longest of
its timeouts (30 s by default, so 90 s): httpx's timeouts bound each read, not the whole."""


@attrs.define
class _Shared:
    """What every copy made by ``with_options`` shares: the connection pool and the limits."""

    http_client: httpx.AsyncClient
    rate_limiter: Limiter | None
    max_concurrency: int | None
    concurrency: anyio.CapacityLimiter | None = None
    closed: bool = False
    loop: weakref.ref[object] | None = None

    def check_loop(self, api_name: str) -> None:
        """Bind to the running event loop on first use; refuse any other loop afterwards."""
        # The loop's own token (the asyncio loop, trio's token), held weakly: a loop that
        # is gone is never the running one.
        token = current_token().native_token
        if self.loop is None:
            self.loop = weakref.ref(token)
        elif self.loop() is not token:
            name = f"{api_name.capitalize()}Client"
            raise EventLoopError(
                f"this {name} was first used on another event loop (closed now, or running "
                "in another thread): an async client belongs to one event loop. Create it "
                f"inside the coroutine given to asyncio.run() or anyio.run() (async with "
                f"{name}(...) as client: ...), or use {name.replace('Client', 'SyncClient')} "
                "from code that is not async"
            )

    def concurrency_limiter(self) -> anyio.CapacityLimiter | None:
        if self.max_concurrency is None:
            return None
        if self.concurrency is None:
            # Created on first use: anyio binds it to the running event loop's backend.
            self.concurrency = anyio.CapacityLimiter(self.max_concurrency)
        return self.concurrency


class HTTPCore:
    """The request loop: retries, limits, timeouts, error mapping, logging, redaction.

    One instance per client. It owns its ``httpx.AsyncClient`` unless one is injected, in
    which case closing the core leaves the injected client open.

    Args:
        options: The transport options (base URL, timeout, retries, limits, pool, ...).
        auth: Supplies the credential headers.
        api_name: Name used in log lines (``"qondor"``, ``"qonto"``).
        rate_limiter: The client-side rate limiter (each API builds its own kind from
            ``options.rate_limit``, or uses the `Limiter` given there), or ``None``.
        non_json_hint: A sentence appended to the error raised for a non-JSON 2xx body.
        share_with: Another core whose connection pool and limits this one shares (and
            never closes): how ``with_options`` copies are built.
        (``options.max_response_bytes`` and ``options.deadline`` bound each answer's size and
        each attempt's duration: see `ClientOptions`.)
    """

    _shared: _Shared
    _owns_client: bool

    def __init__(
        self,
        options: ClientOptions,
        *,
        auth: Auth,
        api_name: str,
        rate_limiter: Limiter | None = None,
        non_json_hint: str | None = None,
        share_with: HTTPCore | None = None,
    ) -> None:
        self.options: ClientOptions = options
        self.base_url: str = options.base_url.rstrip("/") + "/"
        parsed = httpx.URL(self.base_url)
        self._origin = f"{parsed.scheme}://{parsed.netloc.decode('ascii')}/".lower()
        self.auth = auth
        self.api_name = api_name
        self.retry_policy: RetryPolicy = options.retry_policy
        self.headers: dict[str, str] = dict(options.headers)
        self.log_bodies: bool = options.log_bodies
        self.sleep: Sleep = options.sleep or anyio.sleep
        self.non_json_hint = non_json_hint
        self.timeout: TimeoutTypes | NotGiven = options.timeout
        self.max_response_bytes: int | None = options.max_response_bytes
        self.deadline: float | NotGiven | None = options.deadline
        self._redactor_key: tuple[str, ...] = Masked(auth.secrets())
        self._redactor = Redactor(self._redactor_key)
        transport_log_redaction.add(self)
        if share_with is not None:
            # A copy shares the pool and limits, and never closes what it does not own.
            self._shared = share_with._shared
            self._owns_client = False
            self._redactor = share_with._redactor.extended(self._redactor_key)
            return
        http_client = options.http_client
        self._owns_client = http_client is None
        if http_client is None:
            http_client = httpx.AsyncClient(
                transport=options.transport,
                timeout=DEFAULT_TIMEOUT,
                follow_redirects=False,
                verify=True,
                cookies=NoServerCookies(),
            )
        self._shared = _Shared(
            http_client=http_client,
            rate_limiter=rate_limiter,
            max_concurrency=options.max_concurrency,
        )

    def __repr__(self) -> str:
        return (
            f"HTTPCore(api={self.api_name!r}, base_url={self.base_url!r}, "
            f"retry_policy={self.retry_policy!r}, rate_limiter={self._shared.rate_limiter!r}, "
            f"max_concurrency={self._shared.max_concurrency!r})"
        )

    @property
    def redact(self) -> Redactor:
        """The redactor for this core's credentials, current and past.

        Credentials that change (a token obtained lazily, a refreshed OAuth token) are
        picked up on the next use, in every copy made by `copy`, and earlier ones stay
        masked.
        """
        secrets = tuple(self.auth.secrets())
        if secrets != self._redactor_key:
            self._redactor = self._redactor.extended(secrets)
            self._redactor_key = Masked(secrets)
        return self._redactor

    @property
    def http_client(self) -> httpx.AsyncClient:
        """The underlying ``httpx.AsyncClient``."""
        return self._shared.http_client

    @property
    def rate_limiter(self) -> Limiter | None:
        """The shared client-side rate limiter, if any."""
        return self._shared.rate_limiter

    @property
    def is_closed(self) -> bool:
        """Whether the owning client was closed."""
        return self._shared.closed or self._shared.http_client.is_closed

    def copy(
        self: _SELF,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        retry_policy: RetryPolicy | None = None,
        max_retries: int | None = None,
        headers: Mapping[str, str] | None = None,
        log_bodies: bool | None = None,
        max_response_bytes: int | NotGiven | None = NOT_GIVEN,
        deadline: float | NotGiven | None = NOT_GIVEN,
    ) -> _SELF:
        """Return a core with some options changed, sharing the connection pool and limits."""
        return type(self)(
            self.options.evolve(
                timeout=timeout,
                retry_policy=retry_policy,
                max_retries=max_retries,
                headers=headers,
                log_bodies=log_bodies,
                max_response_bytes=max_response_bytes,
                deadline=deadline,
            ),
            auth=self.auth,
            api_name=self.api_name,
            non_json_hint=self.non_json_hint,
            share_with=self,
        )

    async def aclose(self) -> None:
        """Close the connection pool, if this core created it."""
        if self._owns_client:
            self._shared.closed = True
            await self._shared.http_client.aclose()

    def _url(self, path: str) -> str:
        if path[:8].lower().startswith(("http://", "https://")):
            # Credentials go with every request: never to another host than the API's.
            if not path.lower().startswith(self._origin):
                raise InvalidInputError(
                    "path",
                    f"absolute URLs must be on {self._origin} (this client's API), "
                    f"not {self.redact(path)}",
                )
            return path
        return self.base_url + path.lstrip("/")

    def _timeout(self, timeout: TimeoutTypes | NotGiven) -> Any:
        if not isinstance(timeout, NotGiven):
            problem = timeout_problem(timeout)
            if problem is not None:
                raise InvalidInputError("timeout", problem, value=timeout)
            return timeout
        if not isinstance(self.timeout, NotGiven):
            return self.timeout
        return httpx.USE_CLIENT_DEFAULT

    def attempt_deadline(self, timeout: Any) -> float | None:
        """The deadline of one attempt sent with ``timeout`` (see ``deadline``)."""
        if not isinstance(self.deadline, NotGiven):
            return self.deadline
        if timeout is httpx.USE_CLIENT_DEFAULT:
            timeout = self._shared.http_client.timeout
        if timeout is None:
            return None
        if isinstance(timeout, httpx.Timeout):
            values = [v for v in (timeout.connect, timeout.read, timeout.write, timeout.pool) if v]
            return DEADLINE_FACTOR * max(values) if values else None
        return DEADLINE_FACTOR * float(timeout)

    async def _exchange(
        self, request: httpx.Request, deadline: float | None
    ) -> tuple[httpx.Response, AnswerHeaders]:
        """Send ``request`` and read its body, within ``deadline`` and the size cap."""
        client = self._shared.http_client
        with anyio.move_on_after(math.inf if deadline is None else deadline):
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                answer = AnswerHeaders(response.headers)
                if self._in_one_go(answer, response.status_code):
                    await response.aread()
                else:
                    await self._read_capped(response)
            finally:
                if not response.is_closed:  # a body read to its end is closed already
                    # Shielded: closing must happen even when the deadline cancelled the read.
                    with anyio.CancelScope(shield=True):
                        await response.aclose()
            return response, answer
        raise _DeadlineExceeded(
            f"the attempt's deadline of {deadline:g} s passed before the whole answer arrived",
            request=request,
        )

    def _in_one_go(self, answer: AnswerHeaders, status_code: int) -> bool:
        """Whether the body can be read in one go, not chunk by chunk under the size cap.

        Raises:
            _TooLarge: The answer announces a body over the cap.
        """
        limit = self.max_response_bytes
        if limit is None:
            return True
        declared = ascii_int(answer.content_length)
        if declared is not None:
            if declared > limit:
                raise _TooLarge(declared, status_code, declared=True)
            # Not compressed: the body is the declared length (HTTP/1.1 and HTTP/2 framing
            # hold a transport to it), within the cap.
            return answer.content_encoding is None
        return False

    async def _read_capped(self, response: httpx.Response) -> None:
        """Read the body chunk by chunk, stopping once it passes the size cap."""
        limit = self.max_response_bytes
        assert limit is not None
        chunks: list[bytes] = []
        total = extra = 0
        with anyio.CancelScope() as scope:
            async for chunk in response.aiter_bytes():
                total += len(chunk)
                if total <= limit:
                    chunks.append(chunk)
                    continue
                # Over the cap: cancelling makes the next network read raise, which
                # unwinds httpx's nested async generators cleanly (breaking out of them
                # would leave them to the garbage collector, which trio warns about).
                scope.cancel()
                extra += 1
                if extra > 16:  # a body that never awaits (in memory): stop anyway
                    break
        if total > limit:
            raise _TooLarge(total, response.status_code, declared=False)
        # What ``aread`` would have stored: the decoded body.
        response._content = b"".join(chunks)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json_body: Any = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        safe_to_repeat: bool | None = None,
        allow_empty: bool = False,
    ) -> APIResponse[Any]:
        """Send a request, retrying per policy, and return its decoded JSON response.

        Args:
            method: HTTP method.
            path: Path relative to the base URL, or an absolute URL on the same scheme, host
                and port (anything else raises `InvalidInputError`: credentials never
                travel to another host).
            params: Query parameters.
            json_body: A JSON request body.
            data: Form fields (multipart when ``files`` is given).
            files: Multipart files, as ``httpx`` accepts them.
            headers: Extra headers for this request.
            timeout: Timeout for this call; ``NOT_GIVEN`` uses the client's.
            safe_to_repeat: Whether the request may be repeated blindly. Defaults to
                ``True`` for GET/HEAD/OPTIONS and ``False`` otherwise. Requests that are
                not safe are retried only when they provably never reached the server
                (connection not established, 429).
            allow_empty: Accept an empty 2xx body (``data`` is then ``None``).

        Returns:
            The response.

        Raises:
            APIStatusError: A non-2xx answer (the subclass names the status family).
            APIConnectionError: The request did not complete.
            ResponseValidationError: A 2xx answer whose body is not JSON.
        """
        method = method.upper()
        if safe_to_repeat is None:
            safe_to_repeat = method in _SAFE_METHODS
        url = self._url(path)
        policy = self.retry_policy
        shared = self._shared
        shared.check_loop(self.api_name)
        retries = 0
        refreshed = False
        started = time.perf_counter()
        request_timeout = self._timeout(timeout)
        deadline = self.attempt_deadline(request_timeout)
        while True:
            attempt = retries + 1
            request_headers = {**self.headers, **(await self.auth.headers()), **(headers or {})}
            # The redactor follows the credentials: one obtained lazily (a token provider)
            # is scrubbed from its first use.
            redact = self.redact
            plain = plain_headers(request_headers)
            try:
                request = shared.http_client.build_request(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    data=data,
                    files=files,
                    headers=None if plain else request_headers,
                    timeout=request_timeout,
                )
            except httpx.InvalidURL as exc:
                # A component over httpx's 64 KiB (a long search text), a character no
                # URL can hold: the same every time, refused before anything is sent.
                raise InvalidInputError(
                    "url", f"the request's URL cannot be built: {redact(str(exc))}"
                ) from None
            except UnicodeEncodeError as exc:
                if exc.encoding.replace("-", "").lower() != "utf8":
                    raise  # a header (ASCII): the options' check keeps those out
                # A text argument (a message, a search, a note) holding a lone surrogate,
                # which no UTF-8 body or URL can carry.
                bad = exc.object[exc.start : exc.end]
                raise InvalidInputError(
                    "text",
                    f"an argument holds {bad!a}, which UTF-8 cannot encode (a lone "
                    "surrogate, from text decoded with errors='surrogateescape'?)",
                ) from None
            if plain:
                # What merging them in build_request gives (a name given replaces the
                # client's), without its cost: it decodes every header again per name.
                request_headers_out = request.headers
                for name, value in request_headers.items():
                    request_headers_out[name] = value
            log_url = redact(str(request.url))
            if self.log_bodies and logger.isEnabledFor(logging.DEBUG):
                self._log_body("request", method, log_url, body_for_log(request))
            if shared.rate_limiter is not None:
                await shared.rate_limiter.acquire()
            t0 = time.perf_counter()
            try:
                limiter = None if shared.max_concurrency is None else shared.concurrency_limiter()
                if limiter is None:
                    response, answer = await self._exchange(request, deadline)
                else:
                    async with limiter:
                        response, answer = await self._exchange(request, deadline)
            except _TooLarge as exc:
                raise self._too_large(exc, method, log_url) from None
            except httpx.RequestError as exc:
                error = connection_error(exc, method, log_url, redact=self.redact)
                elapsed_ms = (time.perf_counter() - t0) * 1000
                logger.debug(
                    "%s %s %s failed: %s (attempt %d, %.1f ms)",
                    self.api_name,
                    method,
                    log_url,
                    type(exc).__name__,
                    attempt,
                    elapsed_ms,
                )
                may_retry = (
                    policy.retry_connection_errors
                    and (safe_to_repeat or not error.request_sent)
                    # A URL scheme httpx cannot speak fails the same way every time.
                    and not isinstance(exc, httpx.UnsupportedProtocol)
                )
                if may_retry and retries < policy.max_retries:
                    retries += 1
                    delay = policy.backoff(retries)
                    self._log_retry(method, log_url, attempt, delay, str(error))
                    await self.sleep(delay)
                    continue
                raise error from exc

            # Again: credentials refreshed meanwhile (by another task) are masked too.
            redact = self.redact
            answer_id = answer.request_id
            if answer_id:  # a server may echo a credential as the request id
                answer_id = redact(answer_id)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "%s %s %s -> %d (attempt %d, %.1f ms, request id %s)",
                    self.api_name,
                    method,
                    log_url,
                    response.status_code,
                    attempt,
                    (time.perf_counter() - t0) * 1000,
                    answer_id,
                )
                if self.log_bodies:
                    self._log_body("response", method, log_url, response.content)

            status = response.status_code
            if 200 <= status < 300:
                try:
                    return decode_success(
                        response,
                        method,
                        log_url,
                        answer_id,
                        allow_empty,
                        started,
                        attempt,
                        content_type=answer.content_type,
                        redact=redact,
                        non_json_hint=self.non_json_hint,
                    )
                except ResponseValidationError:
                    # A maintenance page or a cut-off body on a read is transient, like
                    # the 503 it usually stands for: retried as one, then raised.
                    if (
                        safe_to_repeat
                        and 503 in policy.retryable_statuses
                        and retries < policy.max_retries
                    ):
                        retries += 1
                        delay = policy.backoff(retries)
                        self._log_retry(method, log_url, attempt, delay, f"{status}, not JSON")
                        await self.sleep(delay)
                        continue
                    raise
            if status == 401 and not refreshed and await self.auth.refresh():
                # New credentials: one more try, not counted against the retry budget.
                refreshed = True
                continue
            error_headers = response.headers
            retryable = status in policy.retryable_statuses or (
                # Azure API Management answers 403 + Retry-After when a quota is exhausted.
                status == 403 and "retry-after" in error_headers
            )
            if retryable and not safe_to_repeat:
                # The gateway refused these before the backend saw them.
                retryable = status == 429 or status == 403
            if retryable and retries < policy.max_retries:
                wait = policy.delay(retries + 1, error_headers)
                if wait is not None:
                    retries += 1
                    self._log_retry(method, log_url, attempt, wait, f"status {status}")
                    await self.sleep(wait)
                    continue
            raise status_error(response, method, log_url, answer_id, redact=self.redact)

    def _too_large(self, exc: _TooLarge, method: str, url: str) -> ResponseTooLargeError:
        limit = self.max_response_bytes
        assert limit is not None
        how = "announces" if exc.declared else "sent more than"
        size = f"{exc.size} bytes" if exc.declared else f"{limit} bytes"
        return ResponseTooLargeError(
            f"{method} {url}: the answer {how} {size}, over this client's "
            f"max_response_bytes={limit}; reading stopped there",
            method=method,
            url=url,
            status_code=exc.status_code,
            limit=limit,
            received=exc.size,
        )

    def _log_retry(self, method: str, url: str, attempt: int, delay: float, why: str) -> None:
        logger.info(
            "%s %s %s: retrying in %.2f s after attempt %d (%s)",
            self.api_name,
            method,
            url,
            delay,
            attempt,
            why,
        )

    def _log_body(self, what: str, method: str, url: str, content: bytes) -> None:
        text = clip_body(self.redact(content.decode("utf-8", errors="replace")))
        logger.debug("%s %s %s %s body: %s", self.api_name, method, url, what, text)


class _DeadlineExceeded(httpx.TimeoutException):
    """One attempt outlived its deadline (mapped to `APITimeoutError` like other timeouts)."""


class _TooLarge(Exception):
    def __init__(self, size: int, status_code: int, *, declared: bool) -> None:
        super().__init__(size)
        self.size = size
        self.status_code = status_code
        self.declared = declared
