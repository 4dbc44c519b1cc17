"""The transport options both clients take, declared once, and the one base-URL check."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any, Final

import attrs
import httpx

from ..errors import ConfigurationError
from ._types import NOT_GIVEN, NotGiven, Sleep, TimeoutTypes
from .limits import Limiter
from .retry import RetryPolicy

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "ClientOptions",
    "check_base_url",
    "is_loopback",
    "timeout_problem",
]

DEFAULT_MAX_RESPONSE_BYTES: Final = 20 * 1024 * 1024
"""The largest response body read by default (20 MiB, decompressed)."""

# ``\s`` is exactly ``str.isspace()`` (Unicode whitespace); then ASCII control characters.
_SPACE_OR_CONTROL: Final = re.compile(r"[\s\x00-\x1f\x7f]")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an IP address, IPv6 with or without brackets) is local."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(value: object, *, source: str = "base_url") -> str:
    """Return ``value`` as a normalised base URL, or refuse it: the check of both APIs.

    A base URL must be ``https``, or ``http`` to a loopback host only (a fake served
    locally): anything else would send the credentials in clear text. It must not contain
    credentials (userinfo), a query or a fragment (every request would then go to the base
    path itself), whitespace, control characters or anything else a URL cannot hold.

    Args:
        value: The URL (a ``str`` or an ``httpx.URL``).
        source: What to name in the error: ``"base_url"`` or ``"the QONDOR_BASE_URL
            variable"``.

    Raises:
        ConfigurationError: The URL is refused. The message never repeats the URL: it may
            carry a credential in its userinfo or query.
    """
    if isinstance(value, httpx.URL):
        value = str(value)
    if not isinstance(value, str):
        raise ConfigurationError(f"{source} must be a string, not {type(value).__name__}")
    if not value:
        raise ConfigurationError(f"{source} is empty")
    if _SPACE_OR_CONTROL.search(value) is not None:
        raise ConfigurationError(f"{source} contains whitespace or control characters")
    if "?" in value or "#" in value:
        raise ConfigurationError(
            f"{source} must not contain a query ('?') or a fragment ('#'): every request "
            "would go to the base path itself"
        )
    try:
        url = httpx.URL(value)
        host = url.host
    except (httpx.InvalidURL, ValueError, TypeError):
        raise ConfigurationError(f"{source} is not a valid URL") from None
    if url.port is not None and not 0 < url.port <= 65535:
        raise ConfigurationError(f"{source} is not a valid URL (port out of range)")
    if url.scheme not in ("http", "https") or not host:
        raise ConfigurationError(
            f"{source} must be an absolute http(s) URL such as "
            "'https://api.example.com/v1/' (scheme and host)"
        )
    if url.userinfo or "@" in url.netloc.decode("ascii", "replace"):
        raise ConfigurationError(
            f"{source} must not contain credentials (user:password@); pass them as "
            "the client's credential arguments"
        )
    if url.scheme == "http" and not is_loopback(host):
        raise ConfigurationError(
            f"{source} must use https (credentials would travel in clear text); plain http "
            "is accepted only for loopback hosts such as a fake served locally"
        )
    return str(url)


def _seconds(value: object) -> bool:
    """Whether ``value`` is a number of seconds a timeout may be: > 0 (``inf`` is no limit)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def timeout_problem(value: object) -> str | None:
    """What is wrong with ``value`` as a timeout, or ``None`` when the client can use it.

    A timeout is a number of seconds > 0, an ``httpx.Timeout`` whose four parts are such
    numbers or ``None``, or ``None`` (no timeout). Zero, negative and NaN values are refused
    before anything is sent: httpx would fail every request with them, and the attempt's
    deadline (derived from the timeout) could not be computed.
    """
    if value is None or _seconds(value):
        return None
    if isinstance(value, httpx.Timeout):
        parts = (value.connect, value.read, value.write, value.pool)
        if all(part is None or _seconds(part) for part in parts):
            return None
        return "every part of an httpx.Timeout must be a number of seconds > 0 or None"
    shown = repr(value) if isinstance(value, (int, float)) else type(value).__name__
    return f"must be a number of seconds > 0, an httpx.Timeout or None, not {shown}"


def _check_timeout(instance: Any, attribute: Any, value: TimeoutTypes | NotGiven) -> None:
    problem = None if isinstance(value, NotGiven) else timeout_problem(value)
    if problem is not None:
        raise ConfigurationError(f"timeout: {problem}")


# RFC 9110: a field name is a token; a field value visible ASCII with spaces and tabs inside.
_FIELD_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE: Final = re.compile(r"(?:[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?)?")


def _headers(value: Mapping[str, str] | None) -> Mapping[str, str]:
    """The ``headers`` option, checked once: a name or value httpx or the server would
    refuse at every request (or, with a line break, read as another header) is refused
    here. The messages never repeat a value: it may be a credential."""
    headers = dict(value or {})
    for i, (name, field) in enumerate(headers.items()):
        if not isinstance(name, str) or _FIELD_NAME.fullmatch(name) is None:
            raise ConfigurationError(
                f"headers: name #{i + 1} is not an HTTP header name (letters, digits and "
                "!#$%&'*+-.^_`|~ only)"
            )
        if not isinstance(field, str):
            raise ConfigurationError(
                f"headers: the value of {name} must be a str, not {type(field).__name__}"
            )
        if _FIELD_VALUE.fullmatch(field) is None:
            raise ConfigurationError(
                f"headers: the value of {name} must be printable ASCII without line breaks "
                "or surrounding whitespace"
            )
    return headers


def _check_rate_limit(instance: Any, attribute: Any, value: float | Limiter | None) -> None:
    if isinstance(value, Limiter):
        return
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0
    ):
        raise ConfigurationError("rate_limit must be > 0 (or None to disable it)")


def _check_concurrency(instance: Any, attribute: Any, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigurationError("max_concurrency must be an integer >= 1 (or None)")


def _check_max_bytes(instance: Any, attribute: Any, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigurationError("max_response_bytes must be an integer >= 1 (or None)")


def _check_deadline(instance: Any, attribute: Any, value: float | NotGiven | None) -> None:
    if value is None or isinstance(value, NotGiven):
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError("deadline must be a number of seconds > 0 (or None)")


@attrs.frozen(kw_only=True)
class ClientOptions:
    """The transport options of a client (``QondorClient`` and ``QontoClient`` alike).

    Each client's constructor takes them as keyword arguments and builds this object;
    ``with_options`` evolves it and builds the copy through the same path.

    Attributes:
        base_url: Prefix of every request path (checked by `check_base_url`).
        timeout: Default timeout; ``NOT_GIVEN`` uses 30 s (10 s to connect), or the
            injected client's own timeout. ``None`` disables timeouts.
        retry_policy: How failures are retried.
        rate_limit: Most requests per second this client sends, a `Limiter` to use (e.g.
            one shared by several processes), or ``None``.
        max_concurrency: Most requests in flight at once, or ``None``.
        http_client: An ``httpx.AsyncClient`` to use instead of creating one.
        transport: An ``httpx`` transport for the client the library creates.
        headers: Headers sent with every request.
        log_bodies: Log request and response bodies at DEBUG (credentials scrubbed).
        sleep: The sleep used between retries (inject one so tests never wait).
        max_response_bytes: The largest response body read (decompressed, 20 MiB by
            default); reading stops at the cap and raises `ResponseTooLargeError`.
            ``None`` reads any size.
        deadline: Seconds one attempt (sending, waiting, reading the whole body) may last,
            whatever the server trickles; past it the attempt fails as `APITimeoutError`
            (retried like one). ``NOT_GIVEN``: 3 times the longest timeout in force
            (90 s by default); ``None``: no deadline.
    """

    base_url: str = attrs.field(converter=check_base_url)
    timeout: TimeoutTypes | NotGiven = attrs.field(default=NOT_GIVEN, validator=_check_timeout)
    retry_policy: RetryPolicy = attrs.field(factory=RetryPolicy)
    rate_limit: float | Limiter | None = attrs.field(default=None, validator=_check_rate_limit)
    max_concurrency: int | None = attrs.field(default=None, validator=_check_concurrency)
    http_client: httpx.AsyncClient | None = None
    transport: httpx.AsyncBaseTransport | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_headers)
    log_bodies: bool = False
    sleep: Sleep | None = attrs.field(default=None, eq=False)
    max_response_bytes: int | None = attrs.field(
        default=DEFAULT_MAX_RESPONSE_BYTES, validator=_check_max_bytes
    )
    deadline: float | NotGiven | None = attrs.field(default=NOT_GIVEN, validator=_check_deadline)

    def __attrs_post_init__(self) -> None:
        if self.http_client is not None and self.transport is not None:
            raise ConfigurationError("pass either http_client or transport, not both")
        if self.http_client is not None and isinstance(self.timeout, NotGiven):
            # Its own timeout is used: it must be one the deadline can be derived from.
            problem = timeout_problem(self.http_client.timeout)
            if problem is not None:
                raise ConfigurationError(f"the http_client's timeout: {problem}")

    @classmethod
    def build(
        cls,
        *,
        base_url: str | httpx.URL,
        base_url_source: str = "base_url",
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        retry_policy: RetryPolicy | None = None,
        max_retries: int | None = None,
        rate_limit: float | Limiter | None = None,
        max_concurrency: int | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        log_bodies: bool = False,
        sleep: Sleep | None = None,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        deadline: float | NotGiven | None = NOT_GIVEN,
    ) -> ClientOptions:
        """Build the options from a constructor's arguments.

        ``max_retries`` is a shortcut: the retry policy (``retry_policy`` or the default)
        with only its retry count changed.

        Raises:
            ConfigurationError: An option is refused.
        """
        return cls(
            base_url=check_base_url(base_url, source=base_url_source),
            timeout=timeout,
            retry_policy=_policy(retry_policy, max_retries),
            rate_limit=rate_limit,
            max_concurrency=max_concurrency,
            http_client=http_client,
            transport=transport,
            headers=headers,
            log_bodies=log_bodies,
            sleep=sleep,
            max_response_bytes=max_response_bytes,
            deadline=deadline,
        )

    def evolve(
        self,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        retry_policy: RetryPolicy | None = None,
        max_retries: int | None = None,
        headers: Mapping[str, str] | None = None,
        log_bodies: bool | None = None,
        max_response_bytes: int | NotGiven | None = NOT_GIVEN,
        deadline: float | NotGiven | None = NOT_GIVEN,
    ) -> ClientOptions:
        """Return these options with some changed (``headers`` are added to the current)."""
        changes: dict[str, Any] = {
            "retry_policy": _policy(retry_policy or self.retry_policy, max_retries),
            "headers": {**self.headers, **headers} if headers else self.headers,
        }
        if not isinstance(timeout, NotGiven):
            changes["timeout"] = timeout
        if log_bodies is not None:
            changes["log_bodies"] = log_bodies
        if not isinstance(max_response_bytes, NotGiven):
            changes["max_response_bytes"] = max_response_bytes
        if not isinstance(deadline, NotGiven):
            changes["deadline"] = deadline
        return attrs.evolve(self, **changes)


def _policy(policy: RetryPolicy | None, max_retries: int | None) -> RetryPolicy:
    policy = policy if policy is not None else RetryPolicy()
    if max_retries is None:
        return policy
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ConfigurationError("max_retries must be an integer >= 0")
    return attrs.evolve(policy, max_retries=max_retries)
