"""Raw-response variants: ``client.invoices.with_raw_response.get(7)`` -> ``APIResponse[Invoice]``.

One mechanism for every resource method of both clients: `raw_response(method)` turns a
resource's async method (or one returning an awaitable paginator) into a method of the
resource's `RawResponses` class that returns the `APIResponse` its model was read from, with
the model (`APIResponse.parse`). The method itself runs unchanged (same checks, retries and
confirmations); `stamp` tells which response the returned model came from.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from ..errors import InvalidInputError
from .response import APIResponse, capture

__all__ = ["RawResponses", "raw_response"]

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")


class RawResponses(Generic[S]):
    """The raw-response variants of a resource's methods (``resource.with_raw_response``).

    Each method takes the same arguments as the resource's, raises the same errors, and
    returns an `APIResponse` (status, headers with credentials masked, elapsed time,
    retries taken, request id) whose ``parse()`` is what the resource's method returns.
    A list returns its first page's response. When a call sent several requests (a state
    change given a bare id reads it first), the response is the one the result was read
    from: the state change's answer, or the read-back that confirmed the change.
    """

    def __init__(self, resource: S) -> None:
        self._resource = resource

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._resource!r}>"


async def _call_raw(
    method: Callable[..., Awaitable[R]], resource: object, args: Any, kwargs: Any
) -> APIResponse[R]:
    with capture() as captured:
        result = await method(resource, *args, **kwargs)
    response = captured.response
    if response is None:  # only a bulk upload whose every file was refused before sending
        raise InvalidInputError(
            "files", "nothing was sent (see the result's errors), so there is no response"
        )
    return response.with_parsed(result)


class _RawMethod(Generic[P, R]):
    """A raw-response method made from a resource's method (see `raw_response`)."""

    def __init__(self, method: Callable[Concatenate[Any, P], Awaitable[R]]) -> None:
        self._method = method
        self.__doc__ = method.__doc__

        async def unbound(raw: Any, /, *args: P.args, **kwargs: P.kwargs) -> APIResponse[R]:
            return await _call_raw(method, raw._resource, args, kwargs)

        unbound.__doc__ = method.__doc__
        unbound.__name__ = unbound.__qualname__ = method.__name__
        self._unbound: Callable[Concatenate[Any, P], Awaitable[APIResponse[R]]] = unbound

    @overload
    def __get__(
        self, instance: None, owner: type[Any]
    ) -> Callable[Concatenate[Any, P], Awaitable[APIResponse[R]]]: ...
    @overload
    def __get__(
        self, instance: RawResponses[Any], owner: type[Any]
    ) -> Callable[P, Awaitable[APIResponse[R]]]: ...
    def __get__(
        self, instance: RawResponses[Any] | None, owner: type[Any]
    ) -> (
        Callable[Concatenate[Any, P], Awaitable[APIResponse[R]]]
        | Callable[P, Awaitable[APIResponse[R]]]
    ):
        if instance is None:
            return self._unbound  # what the sync clients' blocking twins wrap
        method = self._method
        resource = instance._resource

        @functools.wraps(method)
        async def call(*args: P.args, **kwargs: P.kwargs) -> APIResponse[R]:
            return await _call_raw(method, resource, args, kwargs)

        return call


def raw_response(method: Callable[Concatenate[Any, P], Awaitable[R]]) -> _RawMethod[P, R]:
    """The raw-response twin of a resource method: same parameters, ``APIResponse[result]``."""
    return _RawMethod(method)
