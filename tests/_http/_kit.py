"""Helpers for the transport-core tests (imported as `_kit`): a core on an in-process handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from qondor_invoicing._http import BaseClient, HeaderAuth, HTTPCore, RateLimiter, Resource
from qondor_invoicing._http.client import ClientSettings
from qondor_invoicing._http.options import ClientOptions
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


_CORE_ARGUMENTS = ("auth", "api_name", "rate_limiter", "non_json_hint")


def make_core(handler: Any, **kwargs: Any) -> HTTPCore:
    """Return a core on ``handler`` with an API-key header carrying ``SECRET``.

    Takes the options of `ClientOptions` plus ``rate_limit`` / ``rate_limit_burst`` (a token
    bucket) and the core's own arguments.
    """
    core_kwargs = {name: kwargs.pop(name) for name in _CORE_ARGUMENTS if name in kwargs}
    core_kwargs.setdefault("auth", HeaderAuth({"X-Api-Key": Secret(SECRET)}))
    core_kwargs.setdefault("api_name", "test")
    burst = kwargs.pop("rate_limit_burst", None)
    if kwargs.get("rate_limit"):
        core_kwargs["rate_limiter"] = RateLimiter(kwargs["rate_limit"], burst=burst)
    kwargs.setdefault("base_url", BASE_URL)
    if "http_client" not in kwargs:
        kwargs.setdefault("transport", httpx.MockTransport(handler))
    return HTTPCore(ClientOptions.build(**kwargs), **core_kwargs)


class Things(Resource):
    async def get(self) -> Any:
        return (await self._client._core.request("GET", "things")).data


class DemoClient(BaseClient):
    """A client built as the real ones are (`BaseClient._start`), with one resource."""

    def __init__(self, handler: Any = None, *, auth: Any = None, **options: Any) -> None:
        settings = ClientSettings(
            auth=auth or HeaderAuth({"X-Api-Key": Secret(SECRET)}), api_name="test"
        )
        options.setdefault("base_url", BASE_URL)
        if "http_client" not in options:
            options.setdefault("transport", httpx.MockTransport(handler or (lambda r: ok())))
        self._start(settings, ClientOptions.build(**options))

    def _bind(self) -> None:
        self.things = Things(self)


def ok(data: Any = None, **kwargs: Any) -> httpx.Response:
    return httpx.Response(200, json={"ok": True} if data is None else data, **kwargs)
