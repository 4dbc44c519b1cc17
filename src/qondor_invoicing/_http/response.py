"""What comes back: a decoded 2xx answer (`APIResponse`) or the typed error for a failure."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final, Generic, TypeVar

import attrs
import httpx

from .._render import printable
from .._request_id import set_request_id
from ..errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    RateLimitError,
    ResponseValidationError,
    StrongCustomerAuthenticationError,
    UnexpectedRedirectError,
    status_error_class,
)
from .decode import decode_json_bytes, json_text
from .error_body import parse_error_body
from .retry import parse_retry_after

__all__ = [
    "APIResponse",
    "AnswerHeaders",
    "capture",
    "connection_error",
    "decode_success",
    "scrub_headers",
    "stamp",
    "stamp_each",
    "status_error",
]

T = TypeVar("T")
R = TypeVar("R")
M = TypeVar("M")

_REQUEST_ID_HEADERS: Final = (
    "x-request-id",
    "request-id",
    "x-ms-request-id",
    "apim-request-id",
    "x-correlation-id",
)
_REQUEST_ID_BYTES: Final = tuple(name.encode() for name in _REQUEST_ID_HEADERS)
_WANTED: Final = frozenset(
    {b"content-length", b"content-encoding", b"content-type", *_REQUEST_ID_BYTES}
)


_UNPARSED: Final[Any] = object()


@attrs.frozen(kw_only=True)
class APIResponse(Generic[T]):
    """A successful response: what a raw-response variant returns, and what the core decodes.

    ``client.invoices.with_raw_response.get(7)`` returns an ``APIResponse[Invoice]``: the
    answer's status, headers, timing and request id, and the model (`parse`).

    Attributes:
        status_code: The HTTP status (2xx).
        data: The decoded JSON body (numbers with a fraction or an exponent as `Decimal`),
            or ``None`` for an empty body.
        text: The body as text.
        request_id: The request id the server or gateway assigned, if any (credentials
            masked).
        method: The request method.
        url: The request URL (credentials masked).
        elapsed: Seconds from the first attempt's start to reading the whole answer, waits
            between retries included.
        attempts: How many attempts it took (``retries_taken + 1``).
    """

    status_code: int
    data: Any = attrs.field(repr=False)
    text: str = attrs.field(repr=False)
    request_id: str | None
    method: str
    url: str
    elapsed: float
    attempts: int
    _raw_headers: httpx.Headers = attrs.field(repr=False, alias="raw_headers")
    _redact: Callable[[str], str] = attrs.field(repr=False, alias="redact")
    _parsed: Any = attrs.field(default=_UNPARSED, repr=False, alias="parsed")

    @functools.cached_property
    def headers(self) -> httpx.Headers:
        """The response headers, every credential masked in names and values."""
        return scrub_headers(self._raw_headers, self._redact)

    @property
    def retries_taken(self) -> int:
        """How many times the request was sent again (after a 5xx, a 429, a reset...)."""
        return self.attempts - 1

    def parse(self) -> T:
        """The model this response was read into (the decoded JSON for an unparsed one)."""
        if self._parsed is _UNPARSED:
            return self.data  # type: ignore[no-any-return]
        return self._parsed  # type: ignore[no-any-return]

    def with_parsed(self, parsed: R) -> APIResponse[R]:
        """This response, with the model read from it."""
        return APIResponse(
            status_code=self.status_code,
            data=self.data,
            text=self.text,
            request_id=self.request_id,
            method=self.method,
            url=self.url,
            elapsed=self.elapsed,
            attempts=self.attempts,
            raw_headers=self._raw_headers,
            redact=self._redact,
            parsed=parsed,
        )


class _Capture:
    """Where a raw-response variant finds the response its model was read from."""

    __slots__ = ("response",)

    def __init__(self) -> None:
        self.response: APIResponse[Any] | None = None


_CAPTURE: Final[contextvars.ContextVar[_Capture | None]] = contextvars.ContextVar(
    "qondor_invoicing_raw_response", default=None
)


def stamp(model: M, response: APIResponse[Any]) -> M:
    """Mark ``model`` as read from ``response``: the one place a response becomes a model.

    The model (a `CarriesRequestId`) gets the response's request id; a raw-response variant
    running this call (see `capture`) gets the response. Costs one attribute write and one
    context variable read.
    """
    set_request_id(model, response.request_id)
    capture = _CAPTURE.get()
    if capture is not None:
        capture.response = response
    return model


def stamp_each(models: Iterable[object], response: APIResponse[Any]) -> None:
    """Give each of ``models`` (the items of one listing) the response's request id."""
    request_id = response.request_id
    if request_id is not None:
        for model in models:
            set_request_id(model, request_id)


@contextlib.contextmanager
def capture() -> Iterator[_Capture]:
    """Collect the response of the last model `stamp` marks in this context."""
    holder = _Capture()
    token = _CAPTURE.set(holder)
    try:
        yield holder
    finally:
        _CAPTURE.reset(token)


def decode_success(
    response: httpx.Response,
    method: str,
    url: str,
    request_id: str | None,
    allow_empty: bool,
    started: float,
    attempts: int,
    *,
    content_type: str,
    redact: Callable[[str], str],
    non_json_hint: str | None,
) -> APIResponse[Any]:
    """Decode a 2xx answer's JSON body into an `APIResponse` (see `HTTPCore.request`).

    ``content_type`` is the answer's ``Content-Type`` (``""`` when absent; see
    `AnswerHeaders`).
    """
    content = response.content
    data: Any = None
    text = ""
    if not content or content.isspace():
        text = response.text
        if not allow_empty:
            raise ResponseValidationError(
                f"{method} {url} answered {response.status_code} with an empty body "
                "where JSON was expected",
                body="",
                method=method,
                url=url,
                status_code=response.status_code,
                content_type=content_type,
            )
    else:
        first = content[:1]
        if first.isspace():
            first = content.lstrip()[:1]
        looks_html = first == b"<" or "html" in content_type.lower()
        invalid_json = False
        try:
            # What json.loads(bytes) does, keeping the text: JSON is UTF-8 (or UTF-16/32,
            # told by its first bytes), whatever charset the header names. This skips
            # httpx's charset sniffing, which costs more than the decoding itself.
            text = json_text(content)
            data = None if looks_html else decode_json_bytes(content, text)
        except ValueError:  # UnicodeDecodeError, too deep and too long integers included
            looks_html = invalid_json = True
        if looks_html:
            text = redact(response.text)
            kind = content_type or "an unknown content type"
            if invalid_json and "json" in content_type.lower():
                kind = f"a body that is not valid JSON ({content_type})"
            message = (
                f"{method} {url} answered {response.status_code} with {kind} "
                "where JSON was expected"
            )
            if non_json_hint:
                message = f"{message}. {non_json_hint}"
            raise ResponseValidationError(
                message,
                body=text,
                method=method,
                url=url,
                status_code=response.status_code,
                content_type=content_type,
            )
    return APIResponse(
        status_code=response.status_code,
        data=data,
        text=text,
        request_id=request_id,
        method=method,
        url=url,
        elapsed=time.perf_counter() - started,
        attempts=attempts,
        raw_headers=response.headers,
        redact=redact,
    )


def status_error(
    response: httpx.Response,
    method: str,
    url: str,
    request_id: str | None,
    *,
    redact: Callable[[str], str],
) -> APIStatusError:
    """Build the typed error for a non-2xx answer, scrubbed once, here, of every credential.

    What the server sent back (its reason phrase, every header, ``Location`` and request ids
    included, and its body) may echo a credential: each is scrubbed before anything is built
    from it, so the error's text, attributes and pickles never hold one.
    """
    status = response.status_code
    headers = scrub_headers(response.headers, redact)
    body = parse_error_body(response.text, headers.get("content-type"), redact=redact)
    request_id = redact(request_id) if request_id else body.trace_id
    cls = status_error_class(status)
    reason = redact(response.reason_phrase or "")
    summary = body.summary()
    message = f"{method} {url} -> {status} {reason}".rstrip()
    kwargs: dict[str, Any] = {
        "status_code": status,
        "method": method,
        "url": url,
        "request_id": request_id,
        "body": body,
        "headers": headers,
    }
    # The server's words (reason, summary, request id, Location) are shown as escapes where
    # they hold control characters or lone surrogates: printing or logging the error can
    # neither drive a terminal nor fail.
    if cls is UnexpectedRedirectError:
        location = headers.get("location")
        message += f": redirect to {location or '(no Location)'} not followed"
        return UnexpectedRedirectError(printable(message), location=location, **kwargs)
    if summary:
        message += f": {summary}"
    if request_id:
        message += f" (request id {request_id})"
    if cls is RateLimitError:
        retry_after = parse_retry_after(headers)
        return RateLimitError(printable(message), retry_after=retry_after, **kwargs)
    if cls is StrongCustomerAuthenticationError:
        token = headers.get(SCA_TOKEN_HEADER) or sca_session_token(body.data)
        if token:  # kept on the error, out of its text (and so of logs)
            message = message.replace(token, "**********")
        return StrongCustomerAuthenticationError(
            printable(message), sca_session_token=token, **kwargs
        )
    return cls(printable(message), **kwargs)


SCA_TOKEN_HEADER: Final = "x-qonto-sca-session-token"


def sca_session_token(data: Any) -> str | None:
    """The ``sca_session_token`` of a 428 body: at its top level, in its ``meta``, or in an
    item of its ``errors`` list (or that item's ``meta``)."""
    if not isinstance(data, Mapping):
        return None
    places: list[Any] = [data, data.get("meta")]
    errors = data.get("errors")
    if isinstance(errors, list):
        for item in errors:
            places.extend([item, item.get("meta") if isinstance(item, Mapping) else None])
    for place in places:
        if isinstance(place, Mapping):
            token = place.get("sca_session_token")
            if isinstance(token, str) and token:
                return token
    return None


def connection_error(
    exc: httpx.RequestError, method: str, url: str, *, redact: Callable[[str], str]
) -> APIConnectionError:
    """Build the error for a request that did not complete."""
    # A connection that was never opened (or a pool slot never obtained) means the
    # server cannot have seen the request; anything later is ambiguous.
    not_sent = isinstance(
        exc,
        (
            httpx.ConnectError,
            httpx.ConnectTimeout,
            httpx.PoolTimeout,
            httpx.UnsupportedProtocol,
        ),
    )
    detail = redact(str(exc)) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(
            f"{method} {url} timed out ({type(exc).__name__}: {detail})",
            method=method,
            url=url,
            request_sent=not not_sent,
        )
    return APIConnectionError(
        f"{method} {url} failed: {type(exc).__name__}: {detail}",
        method=method,
        url=url,
        request_sent=not not_sent,
    )


class AnswerHeaders:
    """What the request loop reads from an answer's headers, found in one pass over them.

    Each value is what ``headers.get(name)`` returns (repeated headers joined with ``", "``),
    without its cost: every ``get``, ``in`` or ``multi_items`` on an ``httpx.Headers``
    decodes all of its headers again.

    Attributes:
        content_length: ``Content-Length`` (``""`` when absent).
        content_encoding: ``Content-Encoding`` (``None`` when absent).
        content_type: ``Content-Type`` (``""`` when absent).
        request_id: The request id the server or gateway assigned (the first of
            `_REQUEST_ID_HEADERS` with a non-empty value), not redacted yet; or ``None``.
    """

    __slots__ = ("content_encoding", "content_length", "content_type", "request_id")

    def __init__(self, headers: httpx.Headers) -> None:
        self.content_length = self.content_type = ""
        self.content_encoding: str | None = None
        self.request_id: str | None = None
        found: dict[bytes, list[bytes]] = {}
        for name, value in headers.raw:
            name = name.lower()
            if name in _WANTED:
                values = found.get(name)
                if values is None:
                    found[name] = [value]
                else:
                    values.append(value)
        if not found:
            return
        encoding = headers.encoding
        for name, values in found.items():
            if name == b"content-type":
                self.content_type = b", ".join(values).decode(encoding)
            elif name == b"content-length":
                self.content_length = b", ".join(values).decode(encoding)
            elif name == b"content-encoding":
                self.content_encoding = b", ".join(values).decode(encoding)
        for name in _REQUEST_ID_BYTES:
            values = found.get(name)
            if values and any(values):
                self.request_id = b", ".join(values).decode(encoding)
                break


def scrub_headers(headers: httpx.Headers, redact: Callable[[str], str]) -> httpx.Headers:
    """A copy of ``headers`` with every credential masked in names and values."""
    return httpx.Headers(
        [(redact(name), redact(value)) for name, value in headers.multi_items()],
        encoding=headers.encoding,
    )
