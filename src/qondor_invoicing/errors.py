"""One exception tree for both APIs.

```
InvoicingError
├── ConfigurationError            bad client configuration (missing credentials, ...)
├── InvalidInputError             an argument was refused before anything was sent
├── IllegalTransitionError        a state change the rule table refuses; nothing was sent
└── APIError                      something went wrong talking to an API
    ├── APIConnectionError        the request did not complete (DNS, TLS, reset, ...)
    │   └── APITimeoutError
    ├── ResponseValidationError   a 2xx answer whose body is not what the API promises
    │   └── ResponseTooLargeError a body over the client's max_response_bytes
    ├── PaginationError           a listing that does not advance, repeats or passes max_pages
    └── APIStatusError            the API answered with an error status
        ├── UnexpectedRedirectError   3xx (never followed: credentials stay on the host)
        ├── BadRequestError           400
        ├── AuthenticationError       401
        ├── PermissionDeniedError     403
        ├── NotFoundError             404
        ├── ConflictError             409
        ├── UnprocessableEntityError  422
        ├── StrongCustomerAuthenticationError  428 (with sca_session_token)
        ├── RateLimitError            429
        └── InternalServerError       >= 500
```

Every error that concerns a request names its method and URL; none ever contains a
credential: the clients send credentials only in headers, and whatever the server sends back
(status line, headers, body) is scrubbed of every credential, in its escaped forms too,
before an error is built from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from ._http.error_body import ErrorBody

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "EventLoopError",
    "IllegalTransitionError",
    "InternalServerError",
    "InvalidInputError",
    "InvoicingError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "StrongCustomerAuthenticationError",
    "UnexpectedRedirectError",
    "UnprocessableEntityError",
    "status_error_class",
]


class InvoicingError(Exception):
    """Base class of every exception this library raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Most subclasses take keyword-only arguments, which the default exception pickling
        # (``cls(*self.args)``) cannot rebuild; errors must cross process boundaries intact.
        return (_restore_error, (type(self), self.args, self.__dict__))


def _restore_error(
    cls: type[InvoicingError], args: tuple[Any, ...], state: dict[str, Any]
) -> InvoicingError:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class ConfigurationError(InvoicingError, ValueError):
    """The client was configured in a way that cannot work (e.g. no credentials)."""


class EventLoopError(InvoicingError, RuntimeError):
    """An async client was used on another event loop than the one it first ran on.

    A client's connection pool belongs to one event loop: create the client inside the
    coroutine that ``asyncio.run()`` or ``anyio.run()`` runs, or use the sync clients.
    """


class InvalidInputError(InvoicingError, ValueError):
    """An argument was refused before any request was sent.

    Attributes:
        field: The name of the argument that was refused.
        value: The refused value (never a credential).
    """

    def __init__(self, field: str, message: str, *, value: object = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.value = value


class IllegalTransitionError(InvoicingError):
    """A state change that the rule table refuses. Nothing was sent.

    Attributes:
        action: The refused action (an ``InvoiceAction`` or ``SupplierInvoiceAction``).
        state: The current state (``InvoiceState``) or status (``SupplierInvoiceStatus``).
        kind: The payment kind for Qondor invoices, ``None`` where it does not apply.
        invoice_id: The id of the record the action was meant for.
        reason: A sentence a person understands, e.g. "credit card payments cannot be
            manually set as paid".
    """

    def __init__(
        self,
        *,
        action: object,
        state: object,
        reason: str,
        invoice_id: int | str | None = None,
        kind: object = None,
    ) -> None:
        self.action = action
        self.state = state
        self.kind = kind
        self.invoice_id = invoice_id
        self.reason = reason
        subject = f"invoice {invoice_id}" if invoice_id is not None else "invoice"
        action_name = getattr(action, "name", action)
        super().__init__(f"cannot {action_name} {subject}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_illegal,
            (self.action, self.state, self.reason, self.invoice_id, self.kind),
        )


def _rebuild_illegal(
    action: object, state: object, reason: str, invoice_id: int | str | None, kind: object
) -> IllegalTransitionError:
    return IllegalTransitionError(
        action=action, state=state, reason=reason, invoice_id=invoice_id, kind=kind
    )


class APIError(InvoicingError):
    """Something went wrong while talking to an API.

    Attributes:
        method: The HTTP method of the request.
        url: The request URL (credentials are never part of it).
    """

    def __init__(self, message: str, *, method: str | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url


class APIConnectionError(APIError):
    """The request did not complete: DNS, TLS, refused or reset connection, protocol error.

    Attributes:
        request_sent: ``False`` when the request provably never reached the server (e.g. the
            connection could not be opened); ``True`` when it may have been received and
            acted upon, so a state change may or may not have happened.
    """

    def __init__(
        self,
        message: str = "Connection error.",
        *,
        method: str | None = None,
        url: str | None = None,
        request_sent: bool = True,
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.request_sent = request_sent


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, write, read or pool timeout)."""


class ResponseValidationError(APIError):
    """A successful (2xx) response whose body does not have the expected shape.

    Raised for bodies that are not JSON (e.g. an HTML login page from Qonto's sandbox when
    the staging token is missing) and for JSON that cannot be converted into the model.

    Attributes:
        errors: Readable descriptions of each problem, with their paths
            in wire names (e.g. ``"not a decimal number: 'abc' @ $.totalAmount"``).
        body: The raw body text, exactly as received.
        status_code: The HTTP status of the response.
        content_type: The response's ``Content-Type``.
    """

    def __init__(
        self,
        message: str,
        *,
        errors: Sequence[str] = (),
        body: str = "",
        method: str | None = None,
        url: str | None = None,
        status_code: int | None = None,
        content_type: str | None = None,
    ) -> None:
        full = message if not errors else f"{message}: " + "; ".join(errors)
        super().__init__(full, method=method, url=url)
        self.errors: tuple[str, ...] = tuple(errors)
        self.body = body
        self.status_code = status_code
        self.content_type = content_type


class PaginationError(APIError):
    """Auto-pagination stopped: the server's pages do not lead to an end, or a bound was hit.

    Items already yielded were genuine; the ones after them were not read. ``reason`` says
    which of these it was:

    - ``"not_advancing"``: a page announced a ``next_page`` that is not after itself, or
      answered another page than the one asked for (``meta.current_page``);
    - ``"repeated"``: a page holds exactly the items of a page already read (a server that
      ignores the page number); they are not yielded again;
    - ``"max_pages"``: ``max_pages`` pages were read and the last one announced another.

    Attributes:
        reason: ``"not_advancing"``, ``"repeated"`` or ``"max_pages"``.
        page: The page number that was requested last.
        next_page: The page the server announced after it, if any.
        pages_read: How many pages were read before stopping.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        page: int,
        next_page: int | None = None,
        pages_read: int = 0,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.reason = reason
        self.page = page
        self.next_page = next_page
        self.pages_read = pages_read


class ResponseTooLargeError(ResponseValidationError):
    """An answer's body is larger than the client's ``max_response_bytes``.

    Reading stopped at the cap (or before reading, when ``Content-Length`` announced more),
    so a huge or endless body never fills memory. Not retried: the same request would get
    the same answer. For a state change, the change may have happened.

    Attributes:
        limit: The client's ``max_response_bytes``.
        received: Bytes read when reading stopped, or the size ``Content-Length`` announced.
    """

    def __init__(self, message: str, *, limit: int, received: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.limit = limit
        self.received = received


class APIStatusError(APIError):
    """The API answered with a non-success status.

    Attributes:
        status_code: The HTTP status.
        request_id: The request id the server or gateway assigned, if it sent one.
        body: The parsed error body (`ErrorBody`); ``body.raw`` is the text as received.
        headers: The response headers, case-insensitive, every credential a server echoed
            in them masked.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        method: str | None = None,
        url: str | None = None,
        request_id: str | None = None,
        body: ErrorBody | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.status_code = status_code
        self.request_id = request_id
        if body is None:
            # Imported here: the transport package imports this module.
            from ._http.error_body import ErrorBody

            body = ErrorBody(format="empty")
        self.body: ErrorBody = body
        # Case-insensitive like the response's own: error.headers["Retry-After"] works.
        self.headers: Mapping[str, str] = httpx.Headers(headers or {})


class UnexpectedRedirectError(APIStatusError):
    """The API answered with a redirect, which is never followed.

    Attributes:
        location: The ``Location`` the server pointed to (credentials in it masked).
    """

    def __init__(self, message: str, *, location: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.location = location


class BadRequestError(APIStatusError):
    """400: the API refused the request (validation or business rule)."""


class AuthenticationError(APIStatusError):
    """401: missing, invalid or expired credentials."""


class PermissionDeniedError(APIStatusError):
    """403: the credentials are valid but not allowed to do this (or a quota is exhausted)."""


class NotFoundError(APIStatusError):
    """404: no such record (Qondor also answers 404 when a permission guard hides it)."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the current state of the record."""


class UnprocessableEntityError(APIStatusError):
    """422: the request is well-formed but semantically invalid."""


class StrongCustomerAuthenticationError(APIStatusError):
    """428: Qonto requires strong customer authentication (SCA) before doing this.

    The person behind the account approves the action (in the Qonto app); the request is
    then sent again with the session token in ``X-Qonto-Sca-Session-Token``. Nothing was
    done.

    Attributes:
        sca_session_token: The SCA session token the answer carried (header
            ``X-Qonto-Sca-Session-Token`` or body ``sca_session_token``), if any. It is not
            part of the error's message.
    """

    def __init__(
        self, message: str, *, sca_session_token: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.sca_session_token = sca_session_token


class RateLimitError(APIStatusError):
    """429: too many requests.

    Attributes:
        retry_after: Seconds the server asked to wait, when it said so.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class InternalServerError(APIStatusError):
    """5xx: the server failed. A state change may or may not have been applied."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    428: StrongCustomerAuthenticationError,
    429: RateLimitError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """Return the exception class for an HTTP status code."""
    if 300 <= status_code < 400:
        return UnexpectedRedirectError
    if status_code >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status_code, APIStatusError)
