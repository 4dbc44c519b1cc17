"""The one test of a number an option may hold: a real number, finite, not a boolean."""

from __future__ import annotations

import math

__all__ = ["is_finite_number"]


def is_finite_number(value: object) -> bool:
    """Whether ``value`` is an ``int`` or a ``float`` (not a ``bool``, which is an int by
    accident) and finite (NaN compares false with everything, so a range test alone would
    let it through)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
