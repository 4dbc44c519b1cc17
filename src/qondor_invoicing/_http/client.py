"""What both public clients share: lifecycle, ``with_options`` and resource binding."""

from __future__ import annotations

import copy
from types import TracebackType
from typing import Any, TypeVar

import attrs

from ._types import NOT_GIVEN, NotGiven, TimeoutTypes
from .core import HTTPCore
from .retry import RetryPolicy

__all__ = ["BaseClient", "Resource"]

_C = TypeVar("_C", bound="BaseClient")


class Resource:
    """A group of endpoints bound to one client (``client.invoices``, ...)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._client!r}>"


class BaseClient:
    """Lifecycle shared by `QondorClient` and `QontoClient`.

    Use as ``async with``; ``aclose()`` closes the connection pool unless an
    ``httpx.AsyncClient`` was injected, which stays the caller's to close.
    """

    _core: HTTPCore

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

        Returns:
            The new client.
        """
        policy = retry_policy or self._core.retry_policy
        if max_retries is not None:
            policy = attrs.evolve(policy, max_retries=max_retries)
        new = copy.copy(self)
        core = self._core.copy(
            timeout=timeout, retry_policy=policy, headers=headers, log_bodies=log_bodies
        )
        new._core = core
        # Resources hold a reference to their client: bind fresh ones to the copy.
        for name, value in list(vars(new).items()):
            if isinstance(value, Resource):
                setattr(new, name, type(value)(new))
        return new
