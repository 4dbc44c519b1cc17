"""`Redactor`: scrubs credential values (and their escaped forms) out of text."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final
from urllib.parse import quote, quote_plus

__all__ = ["Masked", "Redactor"]

_MASK: Final = "**********"
_MAX_REDACTED: Final = 32


def _encoded_forms(secret: str) -> set[str]:
    # How a credential looks once a server or a URL has escaped it: JSON (with and without
    # ASCII escapes, with and without escaped slashes) and percent-encoding.
    as_json = json.dumps(secret)[1:-1]
    as_utf8_json = json.dumps(secret, ensure_ascii=False)[1:-1]
    return {
        secret,
        as_json,
        as_utf8_json,
        as_json.replace("/", "\\/"),
        as_utf8_json.replace("/", "\\/"),
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
    }


class Masked(tuple[str, ...]):
    """Credentials kept for comparison, never shown (e.g. by a debugger listing locals)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{len(self)} redacted>"


class Redactor:
    """Scrubs credential values out of any text before it is logged or raised.

    Each credential is also masked in its JSON-escaped and percent-encoded forms, so a
    server that echoes it back escaped does not smuggle it into a log line.
    """

    __slots__ = ("_secrets", "sources")

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        # Very short values would mask innocent text; credentials are never that short.
        self.sources: tuple[str, ...] = Masked(dict.fromkeys(s for s in secrets if len(s) >= 4))
        forms = {form for s in self.sources for form in _encoded_forms(s)}
        self._secrets = Masked(sorted(forms, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, _MASK)
        return text

    def extended(self, secrets: Sequence[str]) -> Redactor:
        """Return a redactor that also masks ``secrets`` (earlier ones stay masked)."""
        # Bounded, for long-running processes whose tokens rotate every hour.
        return Redactor((*self.sources, *secrets)[-_MAX_REDACTED:])

    def __repr__(self) -> str:
        return f"Redactor({len(self.sources)} secrets)"
