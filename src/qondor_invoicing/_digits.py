"""Integers written in a response (a header, a pointer, a page number), read one way.

``str.isdigit()`` is true of superscripts and of digits of other scripts, which ``int()``
refuses or reads; ``int()`` of more than 4,300 digits raises. Every integer the library
reads from a response's text goes through `ascii_int`, which says ``None`` to all of those.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ascii_int"]

_MAX_DIGITS: Final = 30  # beyond any count, size or position a server means


def ascii_int(text: str, *, signed: bool = False) -> int | None:
    """``text`` as an integer when it is ASCII digits only (after one ``-`` when
    ``signed``), at most 30 of them; else ``None``. No whitespace, ``+`` or ``_``."""
    digits = text[1:] if signed and text[:1] == "-" else text
    if not (digits.isascii() and digits.isdigit() and len(digits) <= _MAX_DIGITS):
        return None
    return int(text)
