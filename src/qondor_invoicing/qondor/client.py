"""`QondorClient`: the Qondor Invoicing API v1 (the payment processing queue)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Final

import attrs
import cattrs
import httpx

from .. import _env
from .._convert import json_type, make_converter, structure
from .._http import (
    NOT_GIVEN,
    APIResponse,
    BaseClient,
    HeaderAuth,
    NotGiven,
    RateLimiter,
    RetryPolicy,
    Sleep,
    TimeoutTypes,
    logger,
)
from .._http.auth import check_credential
from .._http.client import ClientSettings
from .._http.limits import Limiter, SlidingWindowLimiter
from .._http.options import DEFAULT_MAX_RESPONSE_BYTES, ClientOptions
from .._http.response import stamp
from .._secret import Secret
from .._states import RuleTable
from ..errors import (
    ConfigurationError,
    ResponseValidationError,
)
from ._wire import WIRE_ALIASES, ignored_keys, invoice_fields
from .invoices import (
    MAX_EXTERNAL_REFERENCE_LENGTH,
    MAX_FAILURE_MESSAGE_LENGTH,
    Invoices,
    InvoicesWithRawResponse,
)
from .models import Invoice, InvoiceKind, InvoiceState
from .resolve import DEFAULT_RESOLVER, InvoiceResolver, Resolver
from .rules import QONDOR_RULES, QondorRuleTable

__all__ = [
    "API_KEY_ENV_VAR",
    "ENVIRONMENTS",
    "MAX_EXTERNAL_REFERENCE_LENGTH",
    "MAX_FAILURE_MESSAGE_LENGTH",
    "Invoices",
    "InvoicesWithRawResponse",
    "QondorClient",
]

#: Environment variable read when no ``api_key`` is given.
API_KEY_ENV_VAR: Final = _env.QONDOR_API_KEY
#: The API Management environments and their URL segment.
ENVIRONMENTS: Final[Mapping[str, str]] = {"prod": "Prod", "test": "Test", "dev": "Dev"}
_BASE_URL: Final = "https://qondor.azure-api.net/{segment}/Invoicing/v1/"

_KEY_HEADER: Final = "Ocp-Apim-Subscription-Key"
_OBO_HEADER: Final = "X-OnBehalfOf-Token"
_NON_JSON_HINT: Final = (
    "The Qondor API answers JSON; an HTML page usually means a wrong base_url or environment"
)


@functools.lru_cache(maxsize=16)
def _converter(resolver_keys: frozenset[str]) -> cattrs.Converter:
    """The converter of the clients whose resolver reads ``resolver_keys`` (one per set:
    those keys are ignored, not kept in ``extra``)."""
    ignored = ignored_keys(resolver_keys)
    return make_converter("camel", aliases=WIRE_ALIASES, ignored={Invoice: ignored})


_CONVERTER: Final = _converter(DEFAULT_RESOLVER.consumed_keys())


class QondorClient(BaseClient):
    """Client of the Qondor Invoicing API v1.

    Use as ``async with QondorClient() as qondor:``; the endpoints are on
    ``qondor.invoices``. Every state change is checked against the rule table before anything
    is sent (see `QONDOR_RULES`).

    Args:
        api_key: The API Management subscription key, sent as ``Ocp-Apim-Subscription-Key``.
            Read from ``QONDOR_API_KEY`` when not given.
        environment: ``"prod"``, ``"test"`` or ``"dev"``: which of Qondor's environments
            (``https://qondor.azure-api.net/{Prod|Test|Dev}/Invoicing/v1/``). Keys are
            issued per environment. When neither ``environment`` nor ``base_url`` is given,
            ``QONDOR_BASE_URL`` and then ``QONDOR_ENVIRONMENT`` are read (default ``"prod"``).
        base_url: Any other base URL (the Invoicing API's root, ending in ``/Invoicing/v1/``
            for the real API); overrides ``environment``. ``https``, or ``http`` to a
            loopback host only; no credentials, query or fragment.
        on_behalf_of_token: A delegated JWT sent as ``X-OnBehalfOf-Token``, when your
            subscription needs one.
        timeout: Default timeout in seconds or an ``httpx.Timeout``; ``None`` disables it.
            Defaults to 30 s (10 s to connect).
        retry_policy: How failures are retried (`RetryPolicy`); state changes are repeated
            only as described in `Invoices`.
        max_retries: Shortcut: the retry policy with only its retry count changed.
        rate_limit: Most requests per second (Qondor allows 10), spaced evenly so that
            Qondor's window is never exceeded (a sliding window of 100 ms slices, 5 %
            wider than the rate for pauses and network jitter); ``None`` disables. Or a
            `Limiter` to use instead, e.g. a ``PostgresRateLimiter`` that several worker
            processes share (Qondor's limit is per API key, not per process).
        max_concurrency: Most requests in flight at once.
        http_client: An ``httpx.AsyncClient`` to use (it stays yours to close).
        transport: An ``httpx`` transport, e.g. ``FakeQondor().transport``.
        headers: Extra headers sent with every request.
        log_bodies: Log request and response bodies at DEBUG (credentials scrubbed).
        max_response_bytes: The largest response body read (decompressed; 20 MiB by
            default): reading stops there with `ResponseTooLargeError`. ``None``: any size.
        deadline: Seconds one attempt may last in all, sending to the body's last byte
            (httpx's timeouts bound each read only): past it, `APITimeoutError`. Default
            3 times the longest timeout; ``None``: no deadline.
        sleep: The sleep used between retries (inject one in tests).
        rules: The rule table; defaults to `QONDOR_RULES` (see `QONDOR_RULES_FAQ_RECOVERY`
            and ``QONDOR_RULES.replace(...)``).
        strict: Refuse an UNKNOWN payment kind on rules that depend on the kind.
        resolver: Reads a payment's kind and state from its payload; defaults to
            `InvoiceResolver()`. Any ``(payload) -> (InvoiceKind, InvoiceState)`` callable.

    Raises:
        ConfigurationError: No API key, a key or token that cannot go in a header (the
            error never shows it), an unknown environment or a refused base URL (argument
            or variable).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        environment: str | None = None,
        base_url: str | httpx.URL | None = None,
        on_behalf_of_token: str | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        retry_policy: RetryPolicy | None = None,
        max_retries: int | None = None,
        rate_limit: float | Limiter | None = 10.0,
        max_concurrency: int | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        log_bodies: bool = False,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        deadline: float | NotGiven | None = NOT_GIVEN,
        sleep: Sleep | None = None,
        rules: QondorRuleTable | None = None,
        strict: bool = True,
        resolver: Resolver | None = None,
    ) -> None:
        key = api_key if api_key is not None else _env.read(API_KEY_ENV_VAR, keep_empty=True)
        if key is None:
            raise ConfigurationError(
                f"no Qondor API key: pass api_key= or set the {API_KEY_ENV_VAR} environment "
                "variable (the Ocp-Apim-Subscription-Key from Qondor's API portal)"
            )
        key_source = "api_key" if api_key is not None else f"the {API_KEY_ENV_VAR} variable"
        if not isinstance(key, str) or not key.strip():
            raise ConfigurationError(f"the Qondor API key from {key_source} is empty")
        key = check_credential(key_source, key.strip())
        if on_behalf_of_token is not None:
            if not isinstance(on_behalf_of_token, str) or not on_behalf_of_token.strip():
                raise ConfigurationError("on_behalf_of_token must be a non-empty string or None")
            on_behalf_of_token = check_credential("on_behalf_of_token", on_behalf_of_token.strip())
        url, url_source, env = _base_url(environment, base_url)
        if rules is not None and not isinstance(rules, RuleTable):
            raise ConfigurationError(f"rules must be a RuleTable, not {type(rules).__name__}")
        if resolver is not None and not callable(resolver):
            raise ConfigurationError("resolver must be a callable (payload) -> (kind, state)")

        credentials = {_KEY_HEADER: Secret(key)}
        if on_behalf_of_token is not None:
            credentials[_OBO_HEADER] = Secret(on_behalf_of_token)
        resolver = resolver if resolver is not None else DEFAULT_RESOLVER
        settings = _QondorSettings(
            auth=HeaderAuth(credentials),
            api_name="qondor",
            rate_limiter=_rate_limiter,
            non_json_hint=_NON_JSON_HINT,
            environment=env,
            rules=rules if rules is not None else QONDOR_RULES,
            strict=bool(strict),
            resolver=resolver,
            # Resolvers are immutable: the keys one reads are worked out once, not per payload.
            consumed_keys=(
                resolver.consumed_keys()
                if isinstance(resolver, InvoiceResolver)
                else DEFAULT_RESOLVER.consumed_keys()
            ),
        )
        options = ClientOptions.build(
            base_url=url,
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
        settings = self._settings
        assert isinstance(settings, _QondorSettings)
        self._environment = settings.environment
        self._rules: QondorRuleTable = settings.rules
        self._strict = settings.strict
        self._resolver: Resolver = settings.resolver
        self._consumed_keys = settings.consumed_keys
        self._converter = _converter(settings.consumed_keys)
        self.invoices: Invoices = Invoices(self)
        """The Invoice endpoints: the queue, one payment, and the state changes."""

    def __repr__(self) -> str:
        return (
            f"QondorClient(environment={self._environment!r}, base_url={self.base_url!r}, "
            f"strict={self._strict!r})"
        )

    @property
    def base_url(self) -> str:
        """The base URL every request path is relative to."""
        return self._core.base_url

    @property
    def environment(self) -> str | None:
        """``"prod"``, ``"test"`` or ``"dev"``; ``None`` when a ``base_url`` was given."""
        return self._environment

    @property
    def rules(self) -> QondorRuleTable:
        """The rule table state changes are checked against."""
        return self._rules

    @property
    def strict(self) -> bool:
        """Whether an UNKNOWN kind is refused on rules that depend on the kind."""
        return self._strict

    @property
    def resolver(self) -> Resolver:
        """The function reading a payment's kind and state from its payload."""
        return self._resolver

    def parse_invoice(
        self, payload: Any, *, unprocessed: bool = False, response: APIResponse[Any] | None = None
    ) -> Invoice:
        """Build an `Invoice` from a payload as the API sends it, with this client's resolver.

        Useful when payloads reach you by another route (a file, a message queue).

        Args:
            payload: The decoded JSON object.
            unprocessed: Whether the payload comes from the unprocessed queue (its state is
                then UNPROCESSED whatever the payload says).
            response: The response it came from, for error messages; the invoice carries
                its request id (``_request_id``).

        Returns:
            The invoice.

        Raises:
            ResponseValidationError: The payload is not an object, has no usable id, or a
                field has a value of the wrong type.
        """
        method = response.method if response else None
        url = response.url if response else None
        body = response.text if response else ""
        if type(payload) is not dict and not isinstance(payload, Mapping):
            raise ResponseValidationError(
                f"expected a Qondor invoice object, got {json_type(payload)}",
                errors=[f"expected an object @ $, got {json_type(payload)}"],
                body=body,
                method=method,
                url=url,
            )
        try:
            kind, state = self._resolver(payload)
        except Exception as exc:  # a payload the resolver cannot read is a bad response
            raise ResponseValidationError(
                f"the kind and state of a Qondor invoice could not be read: {exc}",
                errors=[f"{type(exc).__name__}: {exc} @ $"],
                body=body,
                method=method,
                url=url,
            ) from exc
        if not isinstance(kind, InvoiceKind) or not isinstance(state, InvoiceState):
            raise TypeError(
                "the invoice resolver must return (InvoiceKind, InvoiceState), "
                f"not ({type(kind).__name__}, {type(state).__name__})"
            )
        if unprocessed and state is not InvoiceState.UNPROCESSED:
            if state.is_known:
                logger.warning(
                    "qondor: payment %s from GetAllUnprocessedInvoices resolved as %s; "
                    "treating it as unprocessed (check your resolver)",
                    payload.get("id", payload.get("invoiceId")),
                    state.value,
                )
            state = InvoiceState.UNPROCESSED
        data = invoice_fields(payload, kind, state, self._consumed_keys)
        invoice = structure(self._converter, data, Invoice, body=body, method=method, url=url)
        return stamp(invoice, response) if response is not None else invoice


@attrs.frozen(kw_only=True)
class _QondorSettings(ClientSettings):
    environment: str | None
    rules: QondorRuleTable
    strict: bool
    resolver: Resolver
    consumed_keys: frozenset[str]


def _rate_limiter(rate: float) -> RateLimiter:
    # API Management counts a sliding window: a token bucket of 10 plus its refill would
    # send up to 20 requests in one second, and a one-token bucket loses the rate on a busy
    # event loop. A sliding window of 100 ms slices (1 request at 10/s, 10 at 100/s), 5 %
    # wider so that a pause of up to 50 ms per second between taking a slot and the
    # request's arrival (a garbage collection, a loaded machine, network jitter) does not
    # bunch requests into one window, holds the window and 95 % of the rate (see
    # docs/performance.md).
    return SlidingWindowLimiter.per_slice(rate, headroom=0.05)


def _base_url(
    environment: str | None, base_url: str | httpx.URL | None
) -> tuple[str | httpx.URL, str, str | None]:
    """``(url, what to name in an error, environment or None)``.

    Arguments win over the environment: ``base_url=``, then ``environment=``, then
    ``QONDOR_BASE_URL``, then ``QONDOR_ENVIRONMENT``, then ``"prod"``.
    """
    if base_url is not None:
        return base_url, "base_url", None
    if environment is None:
        env_url = _env.read(_env.QONDOR_BASE_URL)
        if env_url is not None:
            return env_url, f"the {_env.QONDOR_BASE_URL} variable", None
        environment = _env.read(_env.QONDOR_ENVIRONMENT) or "prod"
    env = environment.strip().lower() if isinstance(environment, str) else environment
    if env not in ENVIRONMENTS:
        raise ConfigurationError(
            f"unknown Qondor environment {environment!r}; expected one of "
            f"{', '.join(repr(e) for e in ENVIRONMENTS)} (or pass base_url=)"
        )
    return _BASE_URL.format(segment=ENVIRONMENTS[env]), "base_url", env
