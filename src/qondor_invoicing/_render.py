"""Plain-text and HTML tables, and JSON-ready values, for reprs, notebooks and the CLI."""

from __future__ import annotations

import enum
import html
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import attrs

from .money import Money

__all__ = [
    "cell",
    "html_table",
    "jsonable",
    "model_html",
    "model_repr",
    "records_html",
    "text_table",
]


def cell(value: Any) -> str:
    """Return a value as a short table cell."""
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        name = value.name
        return str(value.value) if name.startswith("UNKNOWN[") else name.lower()
    if isinstance(value, Money):
        return f"{value.amount:,} {value.currency}".replace(",", " ")
    if isinstance(value, Decimal):
        return f"{value:,}".replace(",", " ")
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def text_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, max_width: int = 60
) -> str:
    """Return rows as an aligned plain-text table (cells longer than ``max_width`` are cut)."""
    cells = [[_clip(cell(v), max_width) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    lines = [
        "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
    lines.extend(
        "  ".join(t.ljust(w) for t, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )
    return "\n".join(lines)


def html_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, caption: str | None = None
) -> str:
    """Return rows as an HTML table (every cell escaped)."""
    parts = ["<table>"]
    if caption:
        parts.append(f"<caption>{html.escape(caption)}</caption>")
    parts.append(
        "<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in headers) + "</tr></thead>"
    )
    parts.append("<tbody>")
    for row in rows:
        parts.append("<tr>" + "".join(f"<td>{html.escape(cell(v))}</td>" for v in row) + "</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def jsonable(value: Any) -> Any:
    """Return ``value`` as plain JSON data: Decimals as strings, dates ISO, enums by value."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Money):
        return {"amount": str(value.amount), "currency": value.currency}
    if attrs.has(type(value)):
        return {
            f.name: jsonable(getattr(value, f.name))
            for f in attrs.fields(type(value))
            if f.name not in ("raw", "extra")
        }
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (Sequence, set, frozenset)) and not isinstance(value, (str, bytes)):
        items = [jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    return str(value)


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _field_value(obj: Any, name: str) -> Any:
    value = getattr(obj, name, None)
    if attrs.has(type(value)):
        # Nested records show their most telling attribute.
        for attr in ("name", "id", "number"):
            inner = getattr(value, attr, None)
            if inner is not None:
                return inner
    if isinstance(value, tuple) and value and attrs.has(type(value[0])):
        return f"{len(value)} item(s)"
    return value


def model_repr(obj: Any, fields: Sequence[str]) -> str:
    """A short, readable repr: the class name and the given fields that are set."""
    parts = []
    for name in fields:
        value = _field_value(obj, name)
        if value is None or value == ():
            continue
        parts.append(f"{name}={cell(value)!r}" if type(value) is str else f"{name}={cell(value)}")
    return f"{type(obj).__name__}({', '.join(parts)})"


def model_html(obj: Any) -> str:
    """An HTML table of a record's set fields (``raw`` and ``extra`` left out)."""
    rows = [
        [f.name, _field_value(obj, f.name)]
        for f in attrs.fields(type(obj))
        if f.name not in ("raw", "extra")
        and getattr(obj, f.name) is not None
        and getattr(obj, f.name) != ()
    ]
    return html_table(["field", "value"], rows, caption=type(obj).__name__)


def records_html(records: Sequence[Any], fields: Sequence[str], *, caption: str) -> str:
    """An HTML table with one row per record and one column per field."""
    rows = [[_field_value(r, name) for name in fields] for r in records]
    return html_table(list(fields), rows, caption=caption)
