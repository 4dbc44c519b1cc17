"""Auto-pagination for Qonto list endpoints: awaitable for one page, iterable for every item.

Qonto pages with ``page`` / ``per_page`` query parameters and answers
``{"<resource>": [...], "meta": {current_page, next_page, prev_page, total_pages,
total_count, per_page}}``. Endpoints disagree on how they say "last page": ``next_page`` is
``null``, missing or ``0``. Each of these ends the iteration here, as does an empty page.
Iteration follows the ``next_page`` the server announces (a jump from 1 to 3 asks for
page 3) and stops with `PaginationError` when the listing cannot end: a ``next_page`` that
is not after the page just read, a page that is not the one asked for, a page repeating
one already read, or ``max_pages`` pages read with more announced.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Hashable, Mapping
from typing import Any, Generic, TypeVar

import attrs

from .._digits import ascii_int
from .._http import logger
from .._render import records_html
from .._request_id import RequestIdSlot
from ..errors import PaginationError

__all__ = ["AsyncPaginator", "Page", "PaginationMeta", "next_page_number", "parse_meta"]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class PaginationMeta:
    """The ``meta`` object of a Qonto list response.

    Attributes:
        current_page: The page this is (1-based).
        next_page: The next page, or ``None`` on the last page (however the API says so).
        prev_page: The previous page, or ``None`` on the first.
        total_pages: How many pages there are.
        total_count: How many items match in all.
        per_page: The page size the server used.
        extra: Keys this library does not know.
    """

    current_page: int | None = None
    next_page: int | None = None
    prev_page: int | None = None
    total_pages: int | None = None
    total_count: int | None = None
    per_page: int | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=False)


_META_FIELDS = ("current_page", "next_page", "prev_page", "total_pages", "total_count", "per_page")


def _int_or_none(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"meta.{name} is a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        number = ascii_int(value.strip(), signed=True)
        if number is not None:
            return number
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"meta.{name} is not an integer: {value!r}")


def parse_meta(data: Any) -> PaginationMeta:
    """Parse a ``meta`` object; a missing or ``null`` one gives an empty `PaginationMeta`.

    Raises:
        ValueError: When a field holds something that is not an integer.
        TypeError: When ``meta`` is not an object, or a field is a boolean.
    """
    if data is None:
        return PaginationMeta()
    if not isinstance(data, Mapping):
        raise TypeError(f"meta is not an object: {type(data).__name__}")
    values = {name: _int_or_none(name, data.get(name)) for name in _META_FIELDS}
    extra = {k: v for k, v in data.items() if k not in _META_FIELDS}
    return PaginationMeta(**values, extra=extra)


def next_page_number(meta: PaginationMeta, requested: int, item_count: int) -> int | None:
    """Return the page to fetch after page ``requested``, or ``None`` when it was the last.

    ``next_page`` null, missing or ``0`` means "last page"; so does an empty page (a server
    that keeps announcing pages without items would otherwise be followed forever). The
    page requested next is the one the server announces, also when it skips numbers.

    Raises:
        PaginationError: ``next_page`` is not after ``requested`` (``reason``
            ``"not_advancing"``): following it would read the same pages again.
    """
    if item_count == 0:
        return None
    announced = meta.next_page
    if announced is None or announced == 0:
        return None
    if announced <= requested:
        raise PaginationError(
            f"page {requested} announced next_page={announced}: the listing does not advance",
            reason="not_advancing",
            page=requested,
            next_page=announced,
        )
    if announced != requested + 1:
        logger.debug("pagination: page %d announced next_page=%d", requested, announced)
    return announced


_TABLE_FIELDS = (
    "id",
    "status",
    "invoice_number",
    "supplier_name",
    "total_amount",
    "due_date",
    "payment_date",
)


@attrs.frozen(kw_only=True, repr=False)
class Page(RequestIdSlot, Generic[T]):
    """One page of a list response.

    Attributes:
        items: The items on this page.
        meta: The pagination metadata the server sent.
        page: The page number that was requested.
    """

    items: tuple[T, ...]
    meta: PaginationMeta
    page: int

    @property
    def next_page(self) -> int | None:
        """The page that follows this one, or ``None`` if this is the last."""
        return next_page_number(self.meta, self.page, len(self.items))

    @property
    def has_next(self) -> bool:
        """Whether another page follows."""
        return self.next_page is not None

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        total = self.meta.total_count
        of = f" of {total}" if total is not None else ""
        try:
            following: object = self.next_page
        except PaginationError:
            following = f"{self.meta.next_page} (not after this page)"
        return f"<Page {self.page}: {len(self.items)} item(s){of}, next page {following}>"

    def _repr_html_(self) -> str:
        fields = [name for name in _TABLE_FIELDS if self.items and hasattr(self.items[0], name)]
        caption = repr(self)[1:-1]
        return records_html(self.items, fields, caption=caption)


FetchPage = Callable[[int], Awaitable[Page[T]]]


class AsyncPaginator(Generic[T]):
    """A list call: ``await`` it for the first page, ``async for`` over it for every item.

    Iterating fetches one page at a time and keeps only that page in memory, so memory
    stays flat however many items there are. Each ``await`` or ``async for`` starts over
    from the first page. Items whose key appeared on the previous page are skipped: an item
    inserted at the top of the list while iterating shifts the next page down by one, and
    would otherwise be seen twice. (Items removed from the list while iterating, e.g.
    because their status no longer matches the filter, shift the other way and can be
    missed; see the Qonto guide.)

    Iteration (``async for``, `pages`, `to_list`) raises `PaginationError` instead of
    running forever: on a ``next_page`` that is not after the page just read, on a page
    whose ``meta.current_page`` is not the page asked for, on a page holding exactly the
    items of one already read (not yielded again), and when ``max_pages`` pages were read
    and the last announced another. Items yielded before the error are genuine.

    Args:
        fetch: Fetches one page by number.
        key: The identity of an item, for the overlap and repeat checks (``None`` disables
            them).
        start_page: The first page to fetch.
        max_pages: Most pages one iteration reads (``None``: no limit).
    """

    def __init__(
        self,
        fetch: FetchPage[T],
        *,
        key: Callable[[T], Hashable] | None = None,
        start_page: int = 1,
        max_pages: int | None = None,
    ) -> None:
        if max_pages is not None and (isinstance(max_pages, bool) or max_pages < 1):
            raise ValueError(f"max_pages must be >= 1 or None, not {max_pages!r}")
        self._fetch = fetch
        self._key = key
        self._start = start_page
        self.max_pages = max_pages

    def __await__(self) -> Generator[Any, None, Page[T]]:
        return self._fetch(self._start).__await__()

    async def first_page(self) -> Page[T]:
        """Fetch the first page (same as ``await paginator``)."""
        return await self._fetch(self._start)

    def pages(self) -> AsyncIterator[Page[T]]:
        """Iterate page by page (each page fetched when the previous one is consumed)."""
        return self._page_iterator()

    def __aiter__(self) -> AsyncIterator[T]:
        return _ItemIterator(self._page_iterator(), self._key)

    def _page_iterator(self) -> _PageIterator[T]:
        return _PageIterator(self._fetch, self._start, self._key, self.max_pages)

    async def to_list(self, *, limit: int | None = None) -> list[T]:
        """Collect items into a list (this holds them all in memory).

        Args:
            limit: Stop after this many items.
        """
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0")
        items: list[T] = []
        if limit == 0:
            return items
        async for item in self:
            items.append(item)
            if limit is not None and len(items) >= limit:
                break
        return items

    def __repr__(self) -> str:
        bound = f", at most {self.max_pages} pages" if self.max_pages is not None else ""
        return f"<AsyncPaginator from page {self._start}{bound}>"


class _PageIterator(Generic[T]):
    # A plain class rather than an async generator: abandoning it half-way needs no
    # finalisation, on asyncio or trio.

    def __init__(
        self,
        fetch: FetchPage[T],
        start: int,
        key: Callable[[T], Hashable] | None,
        max_pages: int | None,
    ) -> None:
        self._fetch = fetch
        self._key = key
        self._max_pages = max_pages
        self._next: int | PaginationError | None = start
        self._read = 0
        # One hash per page read: a server ignoring the page number is caught, in flat
        # memory, however long the listing.
        self._fingerprints: set[int] = set()

    def __aiter__(self) -> _PageIterator[T]:
        return self

    async def __anext__(self) -> Page[T]:
        requested = self._next
        if requested is None:
            raise StopAsyncIteration
        if isinstance(requested, PaginationError):
            raise requested
        if self._max_pages is not None and self._read >= self._max_pages:
            self._next = None
            raise self._error(
                f"max_pages={self._max_pages} pages read and page {requested} announced",
                "max_pages",
                requested - 1,
                requested,
            )
        page = await self._fetch(requested)
        self._read += 1
        current = page.meta.current_page
        if current is not None and current != requested:
            self._next = None
            raise self._error(
                f"page {requested} was asked for and page {current} answered",
                "not_advancing",
                requested,
                page.meta.next_page,
            )
        if self._key is not None and page.items:
            fingerprint = hash(tuple(self._key(item) for item in page.items))
            if fingerprint in self._fingerprints:
                self._next = None
                raise self._error(
                    f"page {requested} repeats the items of a page already read",
                    "repeated",
                    requested,
                    page.meta.next_page,
                )
            self._fingerprints.add(fingerprint)
        try:
            self._next = page.next_page
        except PaginationError as exc:
            # This page is genuine: yield it, and stop on the next call.
            self._next = self._error(str(exc), exc.reason, requested, exc.next_page)
        return page

    def _error(
        self, message: str, reason: str, page: int, next_page: int | None
    ) -> PaginationError:
        return PaginationError(
            f"pagination stopped after {self._read} page(s): {message}",
            reason=reason,
            page=page,
            next_page=next_page,
            pages_read=self._read,
        )


class _ItemIterator(Generic[T]):
    def __init__(self, pages: _PageIterator[T], key: Callable[[T], Hashable] | None) -> None:
        self._pages = pages
        self._key = key
        self._items: tuple[T, ...] = ()
        self._index = 0
        self._previous_keys: frozenset[Hashable] = frozenset()
        self._current_keys: set[Hashable] = set()

    def __aiter__(self) -> _ItemIterator[T]:
        return self

    async def __anext__(self) -> T:
        while True:
            while self._index < len(self._items):
                item = self._items[self._index]
                self._index += 1
                if self._key is not None:
                    k = self._key(item)
                    if k in self._previous_keys:
                        logger.log(
                            logging.DEBUG, "pagination: skipping %r, already on previous page", k
                        )
                        continue
                    self._current_keys.add(k)
                return item
            page = await self._pages.__anext__()
            self._previous_keys = frozenset(self._current_keys)
            self._current_keys = set()
            self._items = page.items
            self._index = 0
