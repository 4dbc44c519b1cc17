"""Helpers for the transport-core tests (imported as `_kit`): a core on an in-process handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from qondor_invoicing._http import HeaderAuth, HTTPCore
from qondor_invoicing._secret import Secret

BASE_URL = "https://api.example.test/v1"
SECRET = "sk-test-9f8e7d6c5b4a3210"

Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


class Recorder:
    """A MockTransport handler that answers from a script and records every request."""

    def __init__(self, *responses: httpx.Response | Exception | Handler) -> None:
        self.script = list(responses)
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        # The last entry repeats once the script runs out.
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, Exception):
            raise item
        if callable(item):
            result = item(request)
            if not isinstance(result, httpx.Response):
                result = await result
            return result
        return item

    @property
    def calls(self) -> int:
        return len(self.requests)


def make_core(handler: Any, **kwargs: Any) -> HTTPCore:
    """Return a core on ``handler`` with an API-key header carrying ``SECRET``."""
    kwargs.setdefault("auth", HeaderAuth({"X-Api-Key": Secret(SECRET)}))
    kwargs.setdefault("api_name", "test")
    kwargs.setdefault("base_url", BASE_URL)
    if "http_client" not in kwargs:
        kwargs.setdefault("transport", httpx.MockTransport(handler))
    return HTTPCore(**kwargs)


def ok(data: Any = None, **kwargs: Any) -> httpx.Response:
    return httpx.Response(200, json={"ok": True} if data is None else data, **kwargs)
