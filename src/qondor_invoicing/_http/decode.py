"""Decoding a response body's JSON: the one place bodies are decoded, 2xx and errors alike."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Final

__all__ = ["decode_json"]

# Numbers with a fraction or an exponent become `Decimal`s, never binary floats, so that an
# amount such as 12345678901234567.89 stays exact (its bounds are checked where it is parsed).
_DECODER: Final = json.JSONDecoder(parse_float=Decimal)


def decode_json(text: str) -> Any:
    """Decode ``text`` as JSON; numbers with a fraction or exponent become `Decimal`.

    Raises:
        ValueError: ``text`` is not JSON, nests deeper than the interpreter can decode
            (a `RecursionError` inside the decoder), or holds an integer beyond Python's
            conversion limit (4,300 digits).
    """
    try:
        return _DECODER.decode(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply to decode") from None
