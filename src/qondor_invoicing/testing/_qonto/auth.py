"""Who the Qonto fake lets in: credentials, OAuth scopes, the 401 throttle, the sandbox gate."""

from __future__ import annotations

from collections import deque
from collections.abc import Collection
from typing import Final, Literal

from ...qonto.auth import STAGING_TOKEN_HEADER
from .._server import FakeRequest, FakeResponse
from .wire import error, errors

__all__ = [
    "READ_SCOPE",
    "WRITE_SCOPE",
    "UnauthorizedThrottle",
    "credentials_refusal",
    "sandbox_refusal",
]

READ_SCOPE: Final = "supplier_invoice.read"
WRITE_SCOPE: Final = "supplier_invoice.write"
_THROTTLE_AFTER: Final = 200  # "more than 200 responses with status 401 within one hour"
_THROTTLE_WINDOW: Final = 3600.0
_LOGIN_PAGE: Final = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - Qonto sandbox</title></head>
<body><form method="post" action="/login"><h1>Sign in</h1>
<label>Email <input name="email" type="email"></label>
<label>Password <input name="password" type="password"></label>
<button type="submit">Sign in</button></form></body></html>
"""


def sandbox_refusal(
    request: FakeRequest, staging_token: str | None, login: Literal["page", "redirect"]
) -> FakeResponse | None:
    """What a sandbox answers without its staging token (``None`` when it may pass)."""
    if staging_token is None or request.headers.get(STAGING_TOKEN_HEADER) == staging_token:
        return None
    if login == "redirect":
        return FakeResponse(status=302, headers={"Location": "https://sso.staging.qonto.co/login"})
    return FakeResponse(status=200, text=_LOGIN_PAGE, content_type="text/html; charset=utf-8")


class UnauthorizedThrottle:
    """Counts the 401 answers of the last hour; beyond 200 every request is throttled."""

    def __init__(self) -> None:
        self._times: deque[float] = deque()

    def throttled(self, now: float) -> bool:
        """Whether more than 200 answers were 401 in the hour before ``now``."""
        while self._times and self._times[0] <= now - _THROTTLE_WINDOW:
            self._times.popleft()
        return len(self._times) > _THROTTLE_AFTER

    def record(self, now: float) -> None:
        """Count one 401 answer at ``now``."""
        self._times.append(now)


def credentials_refusal(
    request: FakeRequest,
    *,
    access_token: str | None,
    login: str | None,
    secret_key: str | None,
    scopes: Collection[str],
    api_key_write: bool,
) -> FakeResponse | None:
    """The 401 or 403 for the request's credentials, or ``None`` when they are good.

    Args:
        request: The request.
        access_token: The OAuth token accepted (``None``: no OAuth).
        login: The API key login accepted (``None``: no API key).
        secret_key: The API key secret accepted.
        scopes: The OAuth token's scopes.
        api_key_write: Whether an API key may use the write endpoints.
    """
    header = request.headers.get("authorization")
    mode: Literal["oauth", "api_key"] | None = None
    if header is not None:
        if header.startswith("Bearer "):
            if access_token is not None and header[7:] == access_token:
                mode = "oauth"
        elif login is not None and header == f"{login}:{secret_key}":
            mode = "api_key"
    if mode is None:
        detail = (
            "missing Authorization header" if header is None else "invalid or expired credentials"
        )
        return errors(401, error("unauthorized", detail))
    write = request.method != "GET"
    if mode == "oauth":
        needed = WRITE_SCOPE if write else READ_SCOPE
        if needed not in scopes:
            return errors(403, error("forbidden", f"missing required oauth scope: {needed}"))
    elif write and not api_key_write:
        return errors(
            403, error("forbidden", "this endpoint is not available with API key authentication")
        )
    return None
