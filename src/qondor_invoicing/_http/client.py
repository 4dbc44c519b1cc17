"""What both public clients share: lifecycle, ``with_options`` and resource binding."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import attrs

from ._types import NOT_GIVEN, NotGiven, TimeoutTypes
from .auth import Auth
from .core import HTTPCore
from .limits import Limiter, RateLimiter
from .options import ClientOptions
from .retry import RetryPolicy

__all__ = ["BaseClient", "ClientSettings", "Resource"]

_C = TypeVar("_C", bound="BaseClient")


class Resource:
    """A group of endpoints bound to one client (``client.invoices``, ...)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._client!r}>"


@attrs.frozen(kw_only=True)
class ClientSettings:
    """What a client keeps besides its transport options: its API's own configuration.

    Each API subclasses it (rules, resolver, ...). It is immutable, so ``with_options``
    copies share it as it is.

    Attributes:
        auth: The credentials.
        api_name: Name used in log lines (``"qondor"``, ``"qonto"``).
        rate_limiter: Builds the API's kind of rate limiter from ``rate_limit``.
        non_json_hint: A sentence appended to the error raised for a non-JSON 2xx body.
    """

    auth: Auth
    api_name: str
    rate_limiter: Callable[[float], RateLimiter] = RateLimiter
    non_json_hint: str | None = None


class BaseClient:
    """Lifecycle shared by `QondorClient` and `QontoClient`.

    Use as ``async with``; ``aclose()`` closes the connection pool unless an
    ``httpx.AsyncClient`` was injected, which stays the caller's to close.

    A client is built in one place, `_start`, from its settings and its transport options:
    the constructor calls it after checking its arguments, and ``with_options`` calls it on a
    new instance with evolved options and the connection pool and limits of this one.
    """

    _core: HTTPCore
    _settings: ClientSettings

    def _start(
        self,
        settings: ClientSettings,
        options: ClientOptions,
        *,
        share_with: HTTPCore | None = None,
    ) -> None:
        self._settings = settings
        rate = options.rate_limit
        self._core = HTTPCore(
            options,
            auth=settings.auth,
            api_name=settings.api_name,
            rate_limiter=(
                None
                if not rate or share_with is not None
                else rate
                if isinstance(rate, Limiter)
                else settings.rate_limiter(rate)
            ),
            non_json_hint=settings.non_json_hint,
            share_with=share_with,
        )
        self._bind()

    def _bind(self) -> None:
        """Create the resources (``self.invoices``, ...) once the core and settings are set."""

    async def __aenter__(self: _C) -> _C:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (if this client created it)."""
        await self._core.aclose()

    @property
    def is_closed(self) -> bool:
        """Whether ``aclose()`` was called."""
        return self._core.is_closed

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy in force for this client."""
        return self._core.retry_policy

    @property
    def max_response_bytes(self) -> int | None:
        """The largest response body this client reads (``None``: any size)."""
        return self._core.max_response_bytes

    @property
    def deadline(self) -> float | NotGiven | None:
        """Seconds one attempt may last in all (``NOT_GIVEN``: 3 times the timeout)."""
        return self._core.deadline

    @property
    def timeout(self) -> TimeoutTypes | NotGiven:
        """The default timeout of this client (``NOT_GIVEN``: the library's 30 s default)."""
        return self._core.timeout

    def with_options(
        self: _C,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        retry_policy: RetryPolicy | None = None,
        max_retries: int | None = None,
        headers: dict[str, str] | None = None,
        log_bodies: bool | None = None,
        max_response_bytes: int | NotGiven | None = NOT_GIVEN,
        deadline: float | NotGiven | None = NOT_GIVEN,
    ) -> _C:
        """Return a copy of this client with some options changed.

        The copy shares the connection pool, the rate limiter and the concurrency limit
        with this client; closing the copy does not close them.

        Args:
            timeout: New default timeout (``None`` disables timeouts).
            retry_policy: A new retry policy.
            max_retries: Shortcut to change only the retry count of the current policy.
            headers: Extra headers sent with every request.
            log_bodies: Log request and response bodies at DEBUG.
            max_response_bytes: The largest response body read (``None``: any size).
            deadline: Seconds one attempt may last in all (``None``: no deadline).

        Returns:
            The new client.
        """
        new = type(self).__new__(type(self))
        options = self._core.options.evolve(
            timeout=timeout,
            retry_policy=retry_policy,
            max_retries=max_retries,
            headers=headers,
            log_bodies=log_bodies,
            max_response_bytes=max_response_bytes,
            deadline=deadline,
        )
        new._start(self._settings, options, share_with=self._core)
        return new
