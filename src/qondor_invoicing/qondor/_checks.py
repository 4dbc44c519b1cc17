"""Argument checks of the Qondor state changes: ids, texts, dates (`InvalidInputError`)."""

from __future__ import annotations

from datetime import date, datetime

from ..errors import InvalidInputError


def _check_id(value: object, field: str = "invoice_id") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(
            field, f"must be a positive integer, not {type(value).__name__}", value=value
        )
    if value <= 0:
        raise InvalidInputError(field, f"must be a positive integer, not {value}", value=value)
    return value


def _check_text(value: object, field: str, limit: int, *, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(field, f"must be a string, not {type(value).__name__}", value=value)
    text = value.strip()
    if not text:
        raise InvalidInputError(field, f"must not be empty: {what}", value=value)
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
