"""Decoding a response body's JSON: the one place bodies are decoded, 2xx and errors alike."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

__all__ = ["FAST_DECODER", "decode_json", "decode_json_bytes", "json_text"]

# Numbers with a fraction or an exponent become `Decimal`s, never binary floats, so that an
# amount such as 12345678901234567.89 stays exact (its bounds are checked where it is parsed).
_DECODER: Final = json.JSONDecoder(parse_float=Decimal)
_OPENERS: Final = ("{", "[")
_JSON_WHITESPACE: Final = " \t\n\r"


# msgspec 0.19 fixed the decoding of some integers beyond 64 bits; 0.18 added float_hook.
_MSGSPEC_MINIMUM: Final = (0, 19)


def _fast_decoder() -> Callable[[bytes], Any] | None:
    # The optional speed-up (``pip install qondor-invoicing[speedups]``): msgspec's decoder,
    # which hands the text of every fraction to `Decimal` as the standard one does. An
    # older msgspec, or one that fails to load, is not used.
    try:
        import msgspec
        from msgspec.json import Decoder

        version = tuple(int(part) for part in msgspec.__version__.split(".")[:2])
        if version < _MSGSPEC_MINIMUM:
            return None
        decode: Callable[[bytes], Any] = Decoder(float_hook=Decimal).decode
    except Exception:
        return None
    return decode


FAST_DECODER: Final = _fast_decoder()
"""msgspec's JSON decoder when it is installed, else ``None``: see `decode_json_bytes`."""


# How a JSON document without leading whitespace starts (object, array).
_JSON_OPENERS: Final = (b"{", b"[")


def json_text(content: bytes) -> str:
    """The text of a JSON body as ``json.loads(content)`` reads it: UTF-8, -16 or -32, told
    by its first bytes whatever charset a header names; encoded surrogates are kept."""
    if content[:1] in _JSON_OPENERS and content[1:2] != b"\x00":
        # What detect_encoding says of every text starting this way, without the call:
        # not a byte-order mark, and not UTF-16/32 (no NUL second).
        return content.decode("utf-8", "surrogatepass")
    return content.decode(json.detect_encoding(content), "surrogatepass")


def decode_json(text: str) -> Any:
    """Decode ``text`` as JSON; numbers with a fraction or exponent become `Decimal`.

    Raises:
        ValueError: ``text`` is not JSON, nests deeper than the interpreter can decode
            (a `RecursionError` inside the decoder), or holds an integer beyond Python's
            conversion limit (4,300 digits).
    """
    try:
        if text[:1] in _OPENERS:
            # What ``decode`` does for a document without leading whitespace, without
            # its two whitespace scans when nothing but JSON whitespace follows it.
            value, end = _DECODER.raw_decode(text)
            if end == len(text) or not text[end:].strip(_JSON_WHITESPACE):
                return value
        return _DECODER.decode(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply to decode") from None


def decode_json_bytes(content: bytes, text: str | None = None, *, fast: bool = True) -> Any:
    """Decode a body as ``json.loads(content)`` would, with `decode_json`'s numbers.

    The encoding is UTF-8, -16 or -32, told by the first bytes as ``json.loads`` tells it
    (whatever charset a header names); encoded surrogates are kept. With msgspec installed
    (and ``fast``), its decoder reads the body first: it is about twice as fast, and a body
    it accepts is one the standard decoder reads to the same value (same types, same
    `Decimal` digits; property-tested). Whatever it refuses (not UTF-8, ``NaN``, lone
    surrogates, too deep, invalid) goes to the standard decoder, whose value or error is
    the answer, so results never depend on whether msgspec is installed.

    ``text``: ``json_text(content)`` when the caller has it already (not decoded again).

    Raises:
        ValueError: As `decode_json`, and `UnicodeDecodeError` for bytes that are not text.
    """
    if fast and FAST_DECODER is not None:
        try:
            return FAST_DECODER(content)
        except Exception:
            pass  # the standard decoder decides, below
    return decode_json(json_text(content) if text is None else text)
