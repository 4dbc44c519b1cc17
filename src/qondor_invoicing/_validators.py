"""Checks of option values, one way for every policy and client: a typed error naming the
option, raised when the value is given, not when it is first used.

``prefix`` names the object in the message (``"ReconcilePolicy: "``); the rest reads
``<option> must be <what>, not <value>``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NoReturn

from .errors import ConfigurationError

__all__ = ["flag", "is_finite_number", "refuse", "whole"]

Validator = Callable[[Any, Any, Any], None]


def is_finite_number(value: object) -> bool:
    """Whether ``value`` is an ``int`` or a ``float`` (not a ``bool``, which is an int by
    accident) and finite (NaN compares false with everything, so a range test alone would
    let it through)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def refuse(name: str, what: str, value: object, prefix: str = "") -> NoReturn:
    raise ConfigurationError(f"{prefix}{name} must be {what}, not {value!r}")


def flag(prefix: str = "") -> Validator:
    """An attrs validator: ``True`` or ``False`` only (``"no"`` would be true)."""

    def check(instance: object, attribute: Any, value: object) -> None:
        if not isinstance(value, bool):
            refuse(attribute.name, "True or False", value, prefix)

    return check


def whole(
    low: int, high: int | None = None, *, optional: bool = False, prefix: str = ""
) -> Validator:
    """An attrs validator: an integer (not a bool) from ``low`` (to ``high``), or ``None``
    when ``optional``."""

    def check(instance: object, attribute: Any, value: object) -> None:
        if optional and value is None:
            return
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < low
            or (high is not None and value > high)
        ):
            bounds = f">= {low}" if high is None else f"from {low} to {high}"
            what = f"an integer {bounds}" + (" (or None)" if optional else "")
            refuse(attribute.name, what, value, prefix)

    return check
