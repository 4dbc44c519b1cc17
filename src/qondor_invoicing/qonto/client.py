"""`QontoClient`: the Qonto Business API v2 supplier-invoice endpoints.

Six operations: list (auto-paginated), retrieve, bulk create from files, mark as paid,
unmark as paid and reject. State changes are checked against `QONTO_RULES` before anything
is sent, and are never repeated blindly: after an ambiguous failure the invoice is read
again and the change is sent again only if it did not happen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import attrs
import httpx

from .. import _env
from .._http import (
    NOT_GIVEN,
    BaseClient,
    NotGiven,
    RateLimiter,
    RetryPolicy,
    TimeoutTypes,
)
from .._http.client import ClientSettings
from .._http.core import Sleep
from .._http.options import DEFAULT_MAX_RESPONSE_BYTES, ClientOptions
from .auth import ENV_STAGING_TOKEN, STAGING_TOKEN_HEADER, QontoAuth, TokenProvider, resolve_auth
from .filters import (
    ARRAY_FILTER_SUFFIX,
    SORT_PROPERTIES,
    DocumentTypeFilter,
    DueDateFilter,
    QueryField,
    RelativeDateFilter,
)
from .rules import QONTO_RULES, QontoRuleTable
from .supplier_invoices import SupplierInvoices, SupplierInvoicesWithRawResponse

__all__ = [
    "ARRAY_FILTER_SUFFIX",
    "PRODUCTION_BASE_URL",
    "SANDBOX_BASE_URL",
    "SORT_PROPERTIES",
    "DocumentTypeFilter",
    "DueDateFilter",
    "QontoClient",
    "QueryField",
    "RelativeDateFilter",
    "SupplierInvoices",
    "SupplierInvoicesWithRawResponse",
]

PRODUCTION_BASE_URL = "https://thirdparty.qonto.com/v2/"
SANDBOX_BASE_URL = "https://thirdparty-sandbox.staging.qonto.co/v2/"

_NON_JSON_HINT = (
    "Qonto's sandbox answers with an HTML login page (status 200) when the "
    f"{STAGING_TOKEN_HEADER} header is missing or wrong: pass staging_token= or set "
    f"{ENV_STAGING_TOKEN}"
)

T = TypeVar("T")


class QontoClient(BaseClient):
    """Async client for Qonto supplier invoices (Business API v2).

    Credentials: an OAuth access token (``Authorization: Bearer ...``), optionally with a
    ``token_provider`` that supplies a fresh one after a 401, or an API key (``login`` and
    ``secret_key``, sent as ``Authorization: login:secret-key``). When none is given they
    are read from ``QONTO_ACCESS_TOKEN``, or ``QONTO_LOGIN`` and ``QONTO_SECRET_KEY``. A
    staging token (argument or ``QONTO_STAGING_TOKEN``) selects the sandbox and is sent as
    ``X-Qonto-Staging-Token`` on every request.

    Args:
        access_token: OAuth access token.
        login: API key login (the organization's slug).
        secret_key: API key secret.
        staging_token: Sandbox staging token; selects the sandbox base URL.
        base_url: Another base URL (e.g. a fake served over HTTP); read from
            ``QONTO_BASE_URL`` when not given. ``https``, or ``http`` to a loopback host
            only; no credentials, query or fragment.
        token_provider: Callable (async or not) returning a fresh OAuth access token; called when no
            ``access_token`` is given and once again after a 401.
        timeout: Default timeout (``None`` disables; ``NOT_GIVEN``: 30 s, 10 s to connect).
        retry_policy: How failures are retried.
        max_retries: Shortcut: the retry policy with only its retry count changed.
        rate_limit: Most requests per second (Qonto allows 1,000 per 10 s per IP address),
            or ``None`` to disable the client-side limit.
        max_concurrency: Most requests in flight at once.
        http_client: An ``httpx.AsyncClient`` to use (you close it).
        transport: An ``httpx`` transport, e.g. ``FakeQonto().transport``.
        headers: Extra headers for every request.
        log_bodies: Log request and response bodies at DEBUG (credentials scrubbed).
        max_response_bytes: The largest response body read (decompressed; 20 MiB by
            default): reading stops there with `ResponseTooLargeError`. ``None``: any size.
        deadline: Seconds one attempt may last in all, sending to the body's last byte
            (httpx's timeouts bound each read only): past it, `APITimeoutError`. Default
            3 times the longest timeout; ``None``: no deadline.
        sleep: The sleep between retries (inject one in tests).
        rules: The state-machine rules to enforce (default `QONTO_RULES`).

    Raises:
        ConfigurationError: Missing, incomplete or ambiguous credentials, a credential
            that cannot go in a header (the error never shows it), or a refused base URL
            (argument or variable).
    """

    def __init__(
        self,
        *,
        access_token: str | None = None,
        login: str | None = None,
        secret_key: str | None = None,
        staging_token: str | None = None,
        base_url: str | None = None,
        token_provider: TokenProvider | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        retry_policy: RetryPolicy | None = None,
        max_retries: int | None = None,
        rate_limit: float | None = 100.0,
        max_concurrency: int | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        log_bodies: bool = False,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        deadline: float | NotGiven | None = NOT_GIVEN,
        sleep: Sleep | None = None,
        rules: QontoRuleTable | None = None,
    ) -> None:
        auth = resolve_auth(
            access_token=access_token,
            login=login,
            secret_key=secret_key,
            staging_token=staging_token,
            token_provider=token_provider,
        )
        url_source = "base_url"
        if base_url is None:
            base_url = _env.read(_env.QONTO_BASE_URL)
            url_source = f"the {_env.QONTO_BASE_URL} variable"
        if base_url is None:
            base_url = SANDBOX_BASE_URL if auth.is_sandbox else PRODUCTION_BASE_URL
        settings = _QontoSettings(
            auth=auth,
            api_name="qonto",
            rate_limiter=_rate_limiter,
            non_json_hint=_NON_JSON_HINT,
            rules=rules if rules is not None else QONTO_RULES,
        )
        options = ClientOptions.build(
            base_url=base_url,
            base_url_source=url_source,
            timeout=timeout,
            retry_policy=retry_policy,
            max_retries=max_retries,
            rate_limit=rate_limit,
            max_concurrency=max_concurrency,
            http_client=http_client,
            transport=transport,
            headers=headers,
            log_bodies=log_bodies,
            sleep=sleep,
            max_response_bytes=max_response_bytes,
            deadline=deadline,
        )
        self._start(settings, options)

    def _bind(self) -> None:
        self.supplier_invoices: SupplierInvoices = SupplierInvoices(self)

    @property
    def _auth(self) -> QontoAuth:
        settings = self._settings
        assert isinstance(settings, _QontoSettings)
        return settings.auth

    @property
    def rules(self) -> QontoRuleTable:
        """The rule table state changes are checked against."""
        settings = self._settings
        assert isinstance(settings, _QontoSettings)
        return settings.rules

    @property
    def base_url(self) -> str:
        """The base URL requests go to."""
        return self._core.base_url

    @property
    def is_sandbox(self) -> bool:
        """Whether a staging token is set (requests carry ``X-Qonto-Staging-Token``)."""
        return self._auth.is_sandbox

    def __repr__(self) -> str:
        return f"QontoClient(base_url={self.base_url!r}, auth={self._auth!r})"


@attrs.frozen(kw_only=True)
class _QontoSettings(ClientSettings):
    auth: QontoAuth
    rules: QontoRuleTable


def _rate_limiter(rate: float) -> RateLimiter:
    # Small bursts: the server counts 1,000 requests in any 10 s window.
    return RateLimiter(rate, burst=max(1.0, min(10.0, rate)))
