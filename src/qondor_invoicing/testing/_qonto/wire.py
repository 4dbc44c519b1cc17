"""How the Qonto fake reads and writes wire values: error bodies, dates, amounts."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Final

from ..._convert import parse_date, parse_datetime
from .._server import FakeResponse

__all__ = ["amount", "error", "errors", "iso", "maybe_date", "maybe_dt", "money"]

CENT: Final = Decimal("0.01")


def error(
    code: str, detail: str, *, pointer: str | None = None, parameter: str | None = None
) -> dict[str, Any]:
    """One item of Qonto's ``errors`` list, with its ``source`` when one is given."""
    item: dict[str, Any] = {"code": code, "detail": detail}
    if pointer is not None:
        item["source"] = {"pointer": pointer}
    elif parameter is not None:
        item["source"] = {"parameter": parameter}
    return item


def errors(status: int, *items: dict[str, Any], refused: bool = False) -> FakeResponse:
    """An error answer in Qonto's shape, ``{"errors": [...]}``."""
    return FakeResponse(status=status, body={"errors": list(items)}, refused=refused)


@functools.lru_cache(maxsize=65536)
def _dt(text: str) -> datetime:
    value = parse_datetime(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def maybe_dt(value: Any) -> datetime | None:
    """A wire datetime (UTC when it has no offset), or ``None`` for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return _dt(value)
    except (ValueError, TypeError):
        return None


def maybe_date(value: Any) -> date | None:
    """A wire date, or ``None`` for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_date(value)
    except (ValueError, TypeError):
        return None


def amount(value: Any) -> tuple[Decimal, str] | None:
    """A wire money object as ``(amount, currency)``, or ``None`` for anything else."""
    if not isinstance(value, Mapping):
        return None
    try:
        return Decimal(str(value.get("value"))), str(value.get("currency"))
    except (InvalidOperation, ValueError):
        return None


def money(value: Decimal, currency: str = "EUR") -> dict[str, str]:
    """A wire money object, rounded to the cent."""
    return {"value": str(value.quantize(CENT, rounding=ROUND_HALF_UP)), "currency": currency}


def iso(moment: datetime) -> str:
    """A wire datetime as Qonto writes it: UTC, milliseconds, ``Z``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
