"""Auto-pagination for Qonto list endpoints: awaitable for one page, iterable for every item.

Qonto pages with ``page`` / ``per_page`` query parameters and answers
``{"<resource>": [...], "meta": {current_page, next_page, prev_page, total_pages,
total_count, per_page}}``. Endpoints disagree on how they say "last page": ``next_page`` is
``null``, missing, ``0``, or not greater than the current page. Every one of these ends the
iteration here, as does an empty page.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Hashable, Mapping
from typing import Any, Generic, TypeVar

import attrs

from .._http import logger
from .._render import records_html

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
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
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

    ``next_page`` null, missing, ``0`` or not greater than the page just fetched all mean
    "last page"; so does an empty page (a server that keeps announcing pages without items
    would otherwise be followed forever). The next page requested is always
    ``requested + 1``, whatever larger number ``next_page`` holds, so no page is skipped.
    """
    if item_count == 0:
        return None
    announced = meta.next_page
    if announced is None or announced <= requested:
        return None
    if announced != requested + 1:
        logger.debug(
            "pagination: page %d announced next_page=%d; fetching page %d",
            requested,
            announced,
            requested + 1,
        )
    return requested + 1


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
class Page(Generic[T]):
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
        return f"<Page {self.page}: {len(self.items)} item(s){of}, next page {self.next_page}>"

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

    Args:
        fetch: Fetches one page by number.
        key: The identity of an item, for the overlap check above (``None`` disables it).
        start_page: The first page to fetch.
    """

    def __init__(
        self,
        fetch: FetchPage[T],
        *,
        key: Callable[[T], Hashable] | None = None,
        start_page: int = 1,
    ) -> None:
        self._fetch = fetch
        self._key = key
        self._start = start_page

    def __await__(self) -> Generator[Any, None, Page[T]]:
        return self._fetch(self._start).__await__()

    async def first_page(self) -> Page[T]:
        """Fetch the first page (same as ``await paginator``)."""
        return await self._fetch(self._start)

    def pages(self) -> AsyncIterator[Page[T]]:
        """Iterate page by page (each page fetched when the previous one is consumed)."""
        return _PageIterator(self._fetch, self._start)

    def __aiter__(self) -> AsyncIterator[T]:
        return _ItemIterator(_PageIterator(self._fetch, self._start), self._key)

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
        return f"<AsyncPaginator from page {self._start}>"


class _PageIterator(Generic[T]):
    # A plain class rather than an async generator: abandoning it half-way needs no
    # finalisation, on asyncio or trio.

    def __init__(self, fetch: FetchPage[T], start: int) -> None:
        self._fetch = fetch
        self._next: int | None = start

    def __aiter__(self) -> _PageIterator[T]:
        return self

    async def __anext__(self) -> Page[T]:
        if self._next is None:
            raise StopAsyncIteration
        page = await self._fetch(self._next)
        self._next = page.next_page
        return page


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
