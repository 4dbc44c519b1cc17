"""The one mechanism behind the sync API: a background event loop and blocking descriptors.

Every sync object holds a `_Bridge`: the async object it wraps, living on the process's
background event loop (an anyio `BlockingPortal` in a daemon thread). `blocking(method)`
turns an async method of the wrapped class into a typed blocking method of the sync class;
`blocking_pages(method)` does the same for a method returning an `AsyncPaginator`.
"""

from __future__ import annotations

import functools
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

import anyio
from anyio.from_thread import BlockingPortal

from ..qonto.pagination import AsyncPaginator, Page

__all__ = ["SyncPaginator", "blocking", "blocking_pages", "same_parameters"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
W = TypeVar("W")


class _Loop:
    """One event loop in a daemon thread, shared by every sync object of the process.

    A shared loop lets the sync clients be composed (the reconciler uses both on one loop);
    an async client belongs to the loop it first ran on. The loop stops when the last sync
    object using it is closed. A daemon thread never keeps the interpreter from exiting.
    """

    _lock = threading.Lock()
    _current: _Loop | None = None

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.users = 0
        self._ready = threading.Event()
        self._portal: BlockingPortal | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._main, name="qondor-invoicing-sync", daemon=True
        )
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        async def serve() -> None:
            async with BlockingPortal() as portal:
                self._portal = portal
                self._ready.set()
                await portal.sleep_until_stopped()

        try:
            anyio.run(serve)
        except BaseException as exc:  # pragma: no cover - the loop failed to start
            self._error = exc
            self._ready.set()

    @property
    def portal(self) -> BlockingPortal:
        assert self._portal is not None
        return self._portal

    @classmethod
    def acquire(cls) -> _Loop:
        with cls._lock:
            loop = cls._current
            if loop is None or loop.pid != os.getpid() or not loop._thread.is_alive():
                loop = cls._current = _Loop()
            loop.users += 1
            return loop

    def release(self) -> None:
        with _Loop._lock:
            self.users -= 1
            if self.users > 0 or self.pid != os.getpid():
                return
            if _Loop._current is self:
                _Loop._current = None
        if threading.current_thread() is not self._thread:
            self.portal.call(self.portal.stop)
            self._thread.join()


def _shut(loop: _Loop, target: Any) -> None:
    try:
        if loop.pid == os.getpid() and loop._thread.is_alive():
            close = getattr(target, "aclose", None)
            if close is not None:
                loop.portal.call(close)
    finally:
        loop.release()


class _Bridge(Generic[W]):
    """The wrapped async object, rebuilt in a forked child (a Celery worker, ...)."""

    def __init__(self, owner: object, factory: Callable[[], W]) -> None:
        self._factory = factory
        self._closed = False
        self._start(owner)

    def _start(self, owner: object) -> None:
        loop = _Loop.acquire()
        try:
            self.target: W = loop.portal.call(self._factory)
        except BaseException:
            loop.release()
            raise
        self.loop = loop
        self._finalizer = weakref.finalize(owner, _shut, loop, self.target)

    def ensure(self, owner: object) -> None:
        """Refuse a closed object; after a fork, start a loop and a wrapped object here."""
        if self._closed:
            raise RuntimeError(f"{type(owner).__name__} is closed")
        if self.loop.pid != os.getpid():  # forked: the loop thread stayed in the parent
            self._finalizer.detach()
            self._start(owner)

    def run(self, owner: object, func: Callable[[], Awaitable[R]]) -> R:
        self.ensure(owner)
        return self.loop.portal.call(func)

    def close(self) -> None:
        self._closed = True
        self._finalizer()


class _Bridged(Generic[W]):
    """A sync object wrapping an async one: ``_bridge`` plus the wrapped object."""

    _bridge: _Bridge[Any]
    _path: tuple[str, ...] = ()

    def _target(self) -> W:
        target: Any = self._bridge.target
        for name in self._path:
            target = getattr(target, name)
        return target  # type: ignore[no-any-return]


class _Blocking(Generic[P, R]):
    """A blocking method made from an async one (see `blocking`)."""

    def __init__(self, method: Callable[Concatenate[Any, P], Awaitable[R]]) -> None:
        self._method = method
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> _Blocking[P, R]: ...
    @overload
    def __get__(self, instance: _Bridged[Any], owner: type[Any]) -> Callable[P, R]: ...
    def __get__(
        self, instance: _Bridged[Any] | None, owner: type[Any]
    ) -> _Blocking[P, R] | Callable[P, R]:
        if instance is None:
            return self
        method = self._method

        @functools.wraps(method)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            # The target is looked up on the loop, after `run` rebuilt it in a forked child.
            return instance._bridge.run(
                instance, lambda: method(instance._target(), *args, **kwargs)
            )

        return call


def blocking(method: Callable[Concatenate[Any, P], Awaitable[R]]) -> _Blocking[P, R]:
    """The blocking twin of an async method: same parameters, same result, same errors."""
    return _Blocking(method)


class SyncPaginator(Generic[T]):
    """The blocking twin of `AsyncPaginator`: iterate it, or ask for pages.

    ``for si in qonto.supplier_invoices.list(...)`` fetches one page at a time, as the async
    iteration does; ``first_page()``, ``pages()`` and ``to_list(limit=...)`` mirror the
    async methods.
    """

    def __init__(
        self, paginator: AsyncPaginator[T], run: Callable[[Callable[[], Awaitable[Any]]], Any]
    ) -> None:
        self._paginator = paginator
        self._runner = run

    def __repr__(self) -> str:
        return repr(self._paginator).replace("AsyncPaginator", "SyncPaginator", 1)

    def _run(self, func: Callable[[], Awaitable[R]]) -> R:
        return self._runner(func)  # type: ignore[no-any-return]

    def first_page(self) -> Page[T]:
        """The first page (its ``items`` and ``meta``)."""
        return self._run(self._paginator.first_page)

    def to_list(self, *, limit: int | None = None) -> list[T]:
        """Every item (at most ``limit``), all held in memory."""
        return self._run(functools.partial(self._paginator.to_list, limit=limit))

    def pages(self) -> Iterator[Page[T]]:
        """Iterate page by page."""
        pages = self._paginator.pages()
        while True:
            try:
                yield self._run(pages.__anext__)
            except StopAsyncIteration:
                return

    def __iter__(self) -> Iterator[T]:
        items = self._paginator.__aiter__()
        while True:
            try:
                yield self._run(items.__anext__)
            except StopAsyncIteration:
                return


class _BlockingPages(Generic[P, T]):
    """A method returning a `SyncPaginator`, made from one returning an `AsyncPaginator`."""

    def __init__(self, method: Callable[Concatenate[Any, P], AsyncPaginator[T]]) -> None:
        self._method = method
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> _BlockingPages[P, T]: ...
    @overload
    def __get__(
        self, instance: _Bridged[Any], owner: type[Any]
    ) -> Callable[P, SyncPaginator[T]]: ...
    def __get__(
        self, instance: _Bridged[Any] | None, owner: type[Any]
    ) -> _BlockingPages[P, T] | Callable[P, SyncPaginator[T]]:
        if instance is None:
            return self
        method = self._method

        @functools.wraps(method)
        def call(*args: P.args, **kwargs: P.kwargs) -> SyncPaginator[T]:
            instance._bridge.ensure(instance)
            target = instance._target()
            run = functools.partial(instance._bridge.run, instance)
            return SyncPaginator(method(target, *args, **kwargs), run)

        return call


def blocking_pages(
    method: Callable[Concatenate[Any, P], AsyncPaginator[T]],
) -> _BlockingPages[P, T]:
    """The blocking twin of a method returning an `AsyncPaginator`."""
    return _BlockingPages(method)


def same_parameters(
    source: Callable[Concatenate[Any, P], None],
) -> Callable[[Callable[..., None]], Callable[Concatenate[Any, P], None]]:
    """Give ``__init__(self, *args, **kwargs)`` the parameters of ``source`` (for checkers)."""

    def apply(init: Callable[..., None]) -> Callable[Concatenate[Any, P], None]:
        return init

    return apply
