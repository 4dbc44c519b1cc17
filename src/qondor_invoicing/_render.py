"""Plain-text and HTML tables, and JSON-ready values, for reprs, notebooks and the CLI."""

from __future__ import annotations

import enum
import html
import json
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

import attrs

from .money import Money

__all__ = [
    "amount_text",
    "cell",
    "json_text",
    "printable",
    "html_table",
    "jsonable",
    "model_html",
    "lone_surrogate",
    "money_html",
    "model_repr",
    "records_html",
    "text_table",
]


# Characters a terminal acts on instead of showing: C0 controls (ESC starts escape sequences,
# BEL rings), DEL, C1 controls (0x9b is a one-byte CSI), and the bidirectional overrides and
# line separators that reorder or split what is shown; and lone surrogates (JSON's "\ud800"
# decodes to one), which no UTF-8 terminal, log file or database can take.
_CONTROLS: Final = [
    *range(0x00, 0x20),
    *range(0x7F, 0xA0),
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
    0x2028,
    0x2029,
    *range(0xD800, 0xE000),
]
_ESCAPES: Final = {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _CONTROLS}
_ESCAPES_KEEP_LINES: Final = {c: e for c, e in _ESCAPES.items() if c != 0x0A}
_JSON_ESCAPES: Final = {c: f"\\u{c:04x}" for c in _CONTROLS if c != 0x0A}


_LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def lone_surrogate(text: str) -> int | None:
    """Where ``text`` holds its first lone surrogate (which no UTF-8 text, journal or
    request can carry), or ``None``."""
    found = _LONE_SURROGATE.search(text)
    return None if found is None else found.start()


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """Return ``text`` with every control character shown as an escape (``\\x1b``).

    Everything the CLI prints goes through this, and so do the messages of errors built from
    a server's answer and what the reconciler journals and logs: data from a server (a
    failure message, a supplier's name) cannot move the cursor, retitle the window, hide
    text, or make printing, logging or storing the text fail (a lone surrogate).
    """
    return text.translate(_ESCAPES_KEEP_LINES if keep_newlines else _ESCAPES)


def json_text(value: Any) -> str:
    """``value`` as indented JSON in which no character is a control character."""
    text = json.dumps(jsonable(value), indent=2, ensure_ascii=False)
    # json escapes C0 controls inside strings (its own newlines are indentation); DEL, C1 and
    # the bidi controls are valid JSON as they are, so escape them here.
    return text.translate(_JSON_ESCAPES)


def amount_text(amount: Decimal) -> str:
    """``Decimal("1250.5")`` as ``"1 250.50"``: thousands apart, at least two decimals."""
    if not amount.is_finite():
        return str(amount)
    if amount.as_tuple().exponent in (0, -1) or amount == amount.quantize(_CENT):
        amount = amount.quantize(_CENT)
    return f"{amount:,}".replace(",", " ")


_CENT: Final = Decimal("0.01")


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, Decimal, Money, float)) and not isinstance(value, bool)


def cell(value: Any) -> str:
    """Return a value as a short table cell (control characters escaped)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, enum.Enum):
        name = value.name
        return str(value.value) if name.startswith("UNKNOWN[") else name.lower()
    if isinstance(value, Money):
        return f"{amount_text(value.amount)} {printable(value.currency)}"
    if isinstance(value, Decimal):
        return f"{value:,}".replace(",", " ")
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return printable(str(value))


def text_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    max_width: int = 60,
    width: int | None = None,
) -> str:
    """Return rows as an aligned plain-text table.

    Numbers and amounts are right-aligned. Cells longer than ``max_width`` are cut; with
    ``width`` (a terminal's columns), the widest text columns are narrowed until the table
    fits, never below their header or 8 characters.
    """
    cells = [[_clip(cell(v), max_width) for v in row] for row in rows]
    right = [
        bool(rows) and all(_numeric(r[i]) or r[i] is None for r in rows)
        for i in range(len(headers))
    ]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    if width is not None:
        floors = [
            len(h) if right[i] else max(min(len(h), widths[i]), min(8, widths[i]))
            for i, h in enumerate(headers)
        ]
        excess = sum(widths) + 2 * (len(widths) - 1) - width
        while excess > 0:
            narrowable = [i for i, w in enumerate(widths) if not right[i] and w > floors[i]]
            if not narrowable:
                break
            widest = max(narrowable, key=lambda i: widths[i])
            widths[widest] -= 1
            excess -= 1
        cells = [[_clip(text, w) for text, w in zip(row, widths, strict=True)] for row in cells]

    def line(texts: Sequence[str]) -> str:
        return "  ".join(
            t.rjust(w) if r else t.ljust(w) for t, w, r in zip(texts, widths, right, strict=True)
        ).rstrip()

    lines = [line(list(headers)), "  ".join("-" * w for w in widths)]
    lines.extend(line(row) for row in cells)
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
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


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


def money_html(money: Money) -> str:
    """A `Money` as a right-aligned HTML span: ``1 250.50 NOK``."""
    text = html.escape(cell(money))
    return f'<span style="font-variant-numeric: tabular-nums">{text}</span>'


def model_repr(obj: Any, fields: Sequence[str]) -> str:
    """A short, readable repr: the class name and the given fields that are set."""
    parts = []
    for name in fields:
        value = _field_value(obj, name)
        if value is None or value == ():
            continue
        parts.append(f"{name}={cell(value)!r}" if type(value) is str else f"{name}={cell(value)}")
    return f"{type(obj).__name__}({', '.join(parts)})"


def model_html(
    obj: Any, *, lead: Sequence[str] = (), skip: Sequence[str] = (), caption: str | None = None
) -> str:
    """An HTML table of a record's set fields, the ``lead`` ones first.

    ``raw``, ``extra`` and the ``skip`` fields are left out.
    """
    names = [*lead, *(f.name for f in attrs.fields(type(obj)) if f.name not in lead)]
    rows = [
        [name, _field_value(obj, name)]
        for name in names
        if name not in ("raw", "extra", *skip)
        and getattr(obj, name) is not None
        and getattr(obj, name) != ()
    ]
    return html_table(["field", "value"], rows, caption=caption or type(obj).__name__)


def records_html(records: Sequence[Any], fields: Sequence[str], *, caption: str) -> str:
    """An HTML table with one row per record and one column per field."""
    rows = [[_field_value(r, name) for name in fields] for r in records]
    return html_table(list(fields), rows, caption=caption)
