"""The clients' own connection pool's shortcuts over httpx: a cookie jar that keeps no
server cookie, and the test of headers that may be set on a built request directly."""

from __future__ import annotations

import http.cookiejar
from collections.abc import Mapping
from typing import Any

__all__ = ["NoServerCookies", "plain_headers"]


class NoServerCookies(http.cookiejar.CookieJar):
    """The cookie jar of the clients' own connection pool: keeps no cookie a server sets.

    Both APIs authenticate every request by its headers and keep no session: a cookie a
    server or gateway sets (load-balancer affinity) has no use here, and reading the
    ``Set-Cookie`` headers of every answer costs a tenth of a raw httpx request. Cookies set
    on the jar by hand are still sent; an injected ``httpx.AsyncClient`` keeps its own jar.
    """

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


def plain_headers(headers: Mapping[str, str]) -> bool:
    """Whether every name and value is an ASCII ``str``, no name twice in another case.

    Those can be set one by one on a built request. Others (bytes, non-ASCII text, wrong
    types, a name repeated) go through ``build_request``, which accepts, repeats or refuses
    them as it always has.
    """
    names = set()
    for name, value in headers.items():
        if type(name) is not str or type(value) is not str:
            return False
        if not (name.isascii() and value.isascii()):
            return False
        names.add(name.lower())
    return len(names) == len(headers)
