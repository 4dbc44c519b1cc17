"""Qonto credentials: an OAuth access token (static or refreshable) or an API key.

Qonto accepts two ``Authorization`` forms on the supplier-invoice endpoints:

- OAuth 2.0: ``Authorization: Bearer <access token>``;
- API key: ``Authorization: <login>:<secret key>`` (no scheme, no Base64).

The sandbox additionally needs ``X-Qonto-Staging-Token`` on every request. All of these are
credentials: they are kept as `Secret` and scrubbed from every repr, log line and error.
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence

import anyio

from .. import _env
from .._http import Auth
from .._http.auth import check_credential
from .._secret import Secret
from ..errors import ConfigurationError

__all__ = [
    "ENV_ACCESS_TOKEN",
    "ENV_LOGIN",
    "ENV_SECRET_KEY",
    "ENV_STAGING_TOKEN",
    "STAGING_TOKEN_HEADER",
    "APIKeyAuth",
    "BearerAuth",
    "QontoAuth",
    "TokenProvider",
    "resolve_auth",
]

ENV_ACCESS_TOKEN = _env.QONTO_ACCESS_TOKEN
ENV_LOGIN = _env.QONTO_LOGIN
ENV_SECRET_KEY = _env.QONTO_SECRET_KEY
ENV_STAGING_TOKEN = _env.QONTO_STAGING_TOKEN
STAGING_TOKEN_HEADER = "X-Qonto-Staging-Token"

TokenProvider = Callable[[], "Awaitable[str] | str"]
"""A callable (async or not) returning a current OAuth access token, without ``Bearer``."""

# Which token generation the current task's request carries, keyed by the auth object's id:
# HTTPCore calls headers() and, after a 401, refresh() from the same task.
_USED_TOKEN: contextvars.ContextVar[tuple[int, int]] = contextvars.ContextVar(
    "qondor_invoicing_qonto_token", default=(0, -1)
)

# Old tokens stay scrubbed for a while: a log line or error may still mention one.
_REMEMBERED_TOKENS = 8


def _check_credential(name: str, value: str) -> str:
    if isinstance(value, str) and value.startswith("Bearer "):
        raise ConfigurationError(
            f"{name} contains whitespace (pass the token alone, without 'Bearer ')"
        )
    return check_credential(name, value)


class QontoAuth(Auth):
    """Base class of Qonto credentials: adds the sandbox staging token to every request.

    Args:
        staging_token: The sandbox staging token, or ``None`` for production.
    """

    def __init__(self, *, staging_token: str | None = None) -> None:
        self._staging = (
            Secret(_check_credential("staging_token", staging_token))
            if staging_token is not None
            else None
        )

    @property
    def is_sandbox(self) -> bool:
        """Whether a staging token is set (the requests go to Qonto's sandbox)."""
        return self._staging is not None

    def _staging_headers(self) -> dict[str, str]:
        if self._staging is None:
            return {}
        return {STAGING_TOKEN_HEADER: self._staging.get_secret_value()}

    def secrets(self) -> Sequence[str]:
        return [self._staging.get_secret_value()] if self._staging is not None else []


class APIKeyAuth(QontoAuth):
    """Qonto API key: ``Authorization: <login>:<secret key>``.

    Args:
        login: The organization's login (its slug).
        secret_key: The secret key.
        staging_token: The sandbox staging token, if any.
    """

    def __init__(self, login: str, secret_key: str, *, staging_token: str | None = None) -> None:
        super().__init__(staging_token=staging_token)
        _check_credential("login", login)
        if ":" in login:
            raise ConfigurationError("login must not contain ':' (it is joined with the key)")
        self.login = login
        self._value = Secret(f"{login}:{_check_credential('secret_key', secret_key)}")
        self._secret_key = Secret(secret_key)

    async def headers(self) -> Mapping[str, str]:
        return {"Authorization": self._value.get_secret_value(), **self._staging_headers()}

    def secrets(self) -> Sequence[str]:
        return [
            self._value.get_secret_value(),
            self._secret_key.get_secret_value(),
            *super().secrets(),
        ]

    def __repr__(self) -> str:
        return f"APIKeyAuth(login={self.login!r}, secret_key=<redacted>, sandbox={self.is_sandbox})"


class BearerAuth(QontoAuth):
    """OAuth 2.0 access token: ``Authorization: Bearer <token>``.

    With a ``token_provider``, the token is obtained from it (on the first request when no
    ``access_token`` is given) and obtained again once after a 401; if the request still
    answers 401, the `AuthenticationError` surfaces. Concurrent requests that fail with the
    same expired token share one call to the provider.

    Args:
        access_token: A static (or initial) access token.
        token_provider: A callable (async or not) returning a fresh access token.
        staging_token: The sandbox staging token, if any.
    """

    def __init__(
        self,
        access_token: str | None = None,
        *,
        token_provider: TokenProvider | None = None,
        staging_token: str | None = None,
    ) -> None:
        super().__init__(staging_token=staging_token)
        if access_token is None and token_provider is None:
            raise ConfigurationError("BearerAuth needs an access_token or a token_provider")
        if token_provider is not None and not callable(token_provider):
            raise ConfigurationError("token_provider must be a callable")
        self._token = (
            Secret(_check_credential("access_token", access_token))
            if access_token is not None
            else None
        )
        self._provider = token_provider
        self._generation = 0
        self._lock: anyio.Lock | None = None
        self._seen: list[str] = [self._token.get_secret_value()] if self._token else []

    @property
    def refreshable(self) -> bool:
        """Whether a token provider can supply a new token after a 401."""
        return self._provider is not None

    async def _fetch(self) -> None:
        assert self._provider is not None
        token: object = self._provider()
        if inspect.isawaitable(token):
            token = await token
        if not isinstance(token, str):
            raise ConfigurationError(
                f"token_provider returned {type(token).__name__}, expected a str"
            )
        self._token = Secret(_check_credential("token from token_provider", token))
        self._generation += 1
        self._seen = [token, *(t for t in self._seen if t != token)][:_REMEMBERED_TOKENS]

    def _get_lock(self) -> anyio.Lock:
        if self._lock is None:
            # Created on first use: anyio primitives belong to the running event loop.
            self._lock = anyio.Lock()
        return self._lock

    async def headers(self) -> Mapping[str, str]:
        if self._token is None:
            async with self._get_lock():
                if self._token is None:
                    await self._fetch()
        assert self._token is not None
        # Remember, per task, which token this request carries (see refresh()).
        _USED_TOKEN.set((id(self), self._generation))
        return {
            "Authorization": f"Bearer {self._token.get_secret_value()}",
            **self._staging_headers(),
        }

    async def refresh(self) -> bool:
        if self._provider is None:
            return False
        owner, used = _USED_TOKEN.get()
        if owner != id(self):
            used = self._generation
        async with self._get_lock():
            if self._generation != used:
                # Another request already replaced the token this one was sent with.
                return True
            await self._fetch()
        return True

    def secrets(self) -> Sequence[str]:
        return [*self._seen, *super().secrets()]

    def __repr__(self) -> str:
        return (
            f"BearerAuth(access_token=<redacted>, refreshable={self.refreshable}, "
            f"sandbox={self.is_sandbox})"
        )


def resolve_auth(
    *,
    access_token: str | None = None,
    login: str | None = None,
    secret_key: str | None = None,
    staging_token: str | None = None,
    token_provider: TokenProvider | None = None,
    environ: Mapping[str, str] | None = None,
) -> QontoAuth:
    """Decide the credentials from the arguments, else from the environment.

    Credentials given as arguments win: the environment's credential variables are read
    only when none of ``access_token``, ``login``, ``secret_key`` and ``token_provider``
    is given. The staging token comes from ``staging_token`` or ``QONTO_STAGING_TOKEN``.

    Args:
        access_token: OAuth access token (or ``QONTO_ACCESS_TOKEN``).
        login: API key login (or ``QONTO_LOGIN``).
        secret_key: API key secret (or ``QONTO_SECRET_KEY``).
        staging_token: Sandbox staging token (or ``QONTO_STAGING_TOKEN``).
        token_provider: Callable (async or not) returning a fresh OAuth access token.
        environ: The environment to read (default ``os.environ``).

    Returns:
        The credentials.

    Raises:
        ConfigurationError: No credentials, both kinds at once, or half an API key.
    """
    explicit = any(v is not None for v in (access_token, login, secret_key, token_provider))
    if explicit:
        names = {
            "token": "access_token=",
            "provider": "token_provider=",
            "login": "login=",
            "secret": "secret_key=",
        }
    else:
        access_token = _env.read(ENV_ACCESS_TOKEN, environ)
        login = _env.read(ENV_LOGIN, environ)
        secret_key = _env.read(ENV_SECRET_KEY, environ)
        names = {
            "token": ENV_ACCESS_TOKEN,
            "provider": "token_provider=",
            "login": ENV_LOGIN,
            "secret": ENV_SECRET_KEY,
        }
    if staging_token is None:
        staging_token = _env.read(ENV_STAGING_TOKEN, environ)

    bearer = access_token is not None or token_provider is not None
    api_key = login is not None or secret_key is not None
    if bearer and api_key:
        given = [names["token"] if access_token is not None else names["provider"]]
        given += [names[k] for k, v in (("login", login), ("secret", secret_key)) if v is not None]
        raise ConfigurationError(
            "ambiguous Qonto credentials: both an OAuth token and an API key were given "
            f"({', '.join(given)}); use either access_token= (or {ENV_ACCESS_TOKEN}) or "
            f"login= + secret_key= (or {ENV_LOGIN} + {ENV_SECRET_KEY})"
        )
    if api_key:
        if login is None or secret_key is None:
            missing = names["login"] if login is None else names["secret"]
            present = names["secret"] if login is None else names["login"]
            raise ConfigurationError(
                f"incomplete Qonto API key: {present} is set but {missing} is missing "
                f"(an API key needs both {ENV_LOGIN} and {ENV_SECRET_KEY}, or login= and "
                "secret_key=)"
            )
        return APIKeyAuth(login, secret_key, staging_token=staging_token)
    if bearer:
        return BearerAuth(access_token, token_provider=token_provider, staging_token=staging_token)
    raise ConfigurationError(
        "no Qonto credentials: pass access_token= (OAuth) or login= and secret_key= "
        f"(API key), or set {ENV_ACCESS_TOKEN}, or {ENV_LOGIN} and {ENV_SECRET_KEY}"
    )
