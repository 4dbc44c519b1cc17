"""Response bodies decode to the same values with and without the optional msgspec decoder.

`decode_json_bytes` tries msgspec's decoder first when it is installed and falls back to the
standard one on anything it refuses. The guarantee is that a body msgspec accepts is one the
standard decoder reads to the same value: same types, same `Decimal` digits, same key order.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from qondor_invoicing._http import decode
from qondor_invoicing._http.decode import FAST_DECODER, decode_json_bytes

needs_msgspec = pytest.mark.skipif(FAST_DECODER is None, reason="msgspec is not installed")

NUMBER = st.from_regex(
    r"-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,12})?([eE][-+]?[0-9]{1,4})?", fullmatch=True
)
STRING = st.text(max_size=8).map(lambda t: json.dumps(t, ensure_ascii=False)) | st.sampled_from(
    ['"\\ud800"', '"\\u00e9"', '"a\\tb"', '"\\/"', '"\u00e9"', '"\x01"']
)
SCALAR = NUMBER | STRING | st.sampled_from(["true", "false", "null", "NaN", "-Infinity"])
SPACE = st.sampled_from(["", " ", "\n", "\t", "\r\n"])


def _array(items: list[tuple[str, str]]) -> str:
    return "[" + ",".join(space + item for space, item in items) + "]"


def _object(items: list[tuple[str, str, str]]) -> str:
    return "{" + ",".join(f"{key}{space}:{value}" for key, space, value in items) + "}"


DOCUMENT = st.recursive(
    SCALAR,
    lambda inner: (
        st.lists(st.tuples(SPACE, inner), max_size=4).map(_array)
        | st.lists(st.tuples(STRING, SPACE, inner), max_size=4).map(_object)
    ),
    max_leaves=12,
)
ENCODED = st.tuples(DOCUMENT, st.sampled_from(["utf-8", "utf-16", "utf-32", "utf-8-sig"])).map(
    lambda pair: pair[0].encode(pair[1], "surrogatepass")
)


def _standard(content: bytes) -> tuple[str, Any]:
    try:
        return "value", decode_json_bytes(content, fast=False)
    except ValueError as exc:
        return "error", type(exc)


@needs_msgspec
@example(b"NaN")
@example(b'"\\ud800"')
@example(b"1" * 5000)
@example(b"[" * 5000 + b"]" * 5000)
@example(b'{"a": 1, "a": [1.50, -0.0, 1e400]}')
@example(b"\xef\xbb\xbf{}")
@example(b'"\xff"')
@example(b'"\xed\xa0\x80"')
@given(
    content=ENCODED
    | st.binary(max_size=40)
    | DOCUMENT.map(str.encode).flatmap(
        lambda b: st.integers(0, max(len(b) - 1, 0)).map(lambda i: b[:i] + b[i + 1 :])
    )
)
def test_what_msgspec_accepts_the_standard_decoder_reads_alike(content: bytes) -> None:
    assert FAST_DECODER is not None
    try:
        fast = FAST_DECODER(content)
    except Exception:
        return  # refused: the standard decoder decides (the fallback)
    kind, standard = _standard(content)
    assert kind == "value"
    # repr tells Decimal('1.5') from Decimal('1.50'), 1 from True, and shows key order.
    assert repr(fast) == repr(standard)


@given(content=ENCODED)
def test_the_answer_does_not_depend_on_msgspec(content: bytes) -> None:
    expected = _standard(content)
    try:
        got: tuple[str, Any] = ("value", decode_json_bytes(content))
    except ValueError as exc:
        got = ("error", type(exc))
    assert repr(got) == repr(expected)


def test_fractions_are_decimals_on_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    body = b'{"amount": 12345678901234567.89, "rate": 0.20, "n": 3}'
    expected = {"amount": Decimal("12345678901234567.89"), "rate": Decimal("0.20"), "n": 3}
    assert repr(decode_json_bytes(body)) == repr(expected)
    monkeypatch.setattr(decode, "FAST_DECODER", None)
    assert repr(decode_json_bytes(body)) == repr(expected)


def test_errors_are_the_standard_decoders() -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        decode_json_bytes(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(json.JSONDecodeError):
        decode_json_bytes(b'{"a": 1,}')
    with pytest.raises(ValueError, match="integer"):
        decode_json_bytes(b"1" * 5000)  # beyond Python's integer conversion limit
