"""Helpers for the Qondor tests (imported as `_qondor_kit`)."""

from __future__ import annotations

from typing import Any

from qondor_invoicing import QondorClient
from qondor_invoicing.testing import FakeQondor

API_KEY = "qk-test-4f1c9a7e2b6d8053"
BASE = "https://qondor.azure-api.net/Prod/Invoicing/v1/"


class NoSleep:
    """A sleep that records the delays it was asked for and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make_fake(**kwargs: Any) -> FakeQondor:
    """A fake with no rate limit (tests that exercise the limit build their own)."""
    kwargs.setdefault("rate_limit", None)
    return FakeQondor(API_KEY, **kwargs)


def make_client(fake: FakeQondor, **kwargs: Any) -> QondorClient:
    """A client on ``fake``'s transport that never really sleeps nor throttles."""
    kwargs.setdefault("rate_limit", None)
    kwargs.setdefault("sleep", NoSleep())
    return QondorClient(fake.api_key, transport=fake.transport, **kwargs)


def puts(fake: FakeQondor) -> int:
    return len(fake.requests_to("PUT"))


def gets(fake: FakeQondor) -> int:
    return len(fake.requests_to("GET"))
