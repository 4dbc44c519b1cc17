"""Argument checks of the Qondor state changes: ids, texts, dates (`InvalidInputError`)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Final

from .._render import lone_surrogate
from ..errors import InvalidInputError


def _check_id(value: object, field: str = "invoice_id") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(
            field, f"must be a positive integer, not {type(value).__name__}", value=value
        )
    if value <= 0:
        raise InvalidInputError(field, f"must be a positive integer, not {value}", value=value)
    return value


# Control characters: none in a reference; tabs and line breaks are kept in a message.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_LINES: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _check_text(value: object, field: str, limit: int, *, what: str, lines: bool = False) -> str:
    """``value`` trimmed: a non-empty string of at most ``limit`` characters, without
    control characters (``lines``: tabs and line breaks allowed) or lone surrogates."""
    if not isinstance(value, str):
        raise InvalidInputError(field, f"must be a string, not {type(value).__name__}", value=value)
    text = value.strip()
    if not text:
        raise InvalidInputError(field, f"must not be empty: {what}", value=value)
    bad = (_CONTROL_BUT_LINES if lines else _CONTROL).search(text)
    if bad is not None:
        raise InvalidInputError(
            field,
            f"holds the control character {bad.group()!a} at position {bad.start()}",
            value=value,
        )
    at = None if text.isascii() else lone_surrogate(text)
    if at is not None:
        raise InvalidInputError(
            field,
            f"holds {text[at]!a} at position {at}, a lone surrogate UTF-8 cannot encode",
            value=value,
        )
    if len(text) > limit:
        raise InvalidInputError(
            field, f"is {len(text)} characters long; at most {limit} are sent", value=value
        )
    return text


def _check_date(value: object, field: str) -> date:
    # datetime is a subclass of date: refuse it so a timezone never shifts the day silently.
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidInputError(
            field,
            f"must be a datetime.date (not {type(value).__name__}); "
            "for a datetime, pass its .date() in the time zone you mean",
            value=value,
        )
    return value
