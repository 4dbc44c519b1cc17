"""A string wrapper that never shows its value in a repr, str or log line."""

from __future__ import annotations

import hmac
from typing import Final

__all__ = ["Secret"]

_MASK: Final = "**********"


class Secret:
    """Holds a credential. ``repr()`` and ``str()`` show a mask, never the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        """Return the credential itself, for building a request header."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{_MASK}')"

    def __str__(self) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        # In constant time, so a comparison never tells how much of a guess was right.
        return isinstance(other, Secret) and hmac.compare_digest(
            other._value.encode(), self._value.encode()
        )

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> str:
        # Pickling would copy the credential somewhere it is not expected.
        raise TypeError("credentials cannot be pickled")
