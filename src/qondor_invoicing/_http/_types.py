"""Small types every layer of the transport uses: the "not given" sentinel and timeouts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final, Literal

import httpx

__all__ = ["DEFAULT_TIMEOUT", "NOT_GIVEN", "NotGiven", "Sleep", "TimeoutTypes"]


class NotGiven:
    """Sentinel for "argument not given", distinct from ``None`` (which means "no timeout")."""

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()

TimeoutTypes = float | httpx.Timeout | None
DEFAULT_TIMEOUT: Final = httpx.Timeout(30.0, connect=10.0)

Sleep = Callable[[float], Awaitable[None]]
