"""Credentials as request headers, kept out of every repr, log line and exception."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .._secret import Secret

__all__ = ["Auth", "HeaderAuth"]


class Auth:
    """How a client authenticates. Subclass to supply refreshable credentials."""

    async def headers(self) -> Mapping[str, str]:
        """Return the headers that carry the credentials for the next request."""
        return {}

    async def refresh(self) -> bool:
        """Obtain new credentials after a 401. Return ``True`` if the request may be retried."""
        return False

    def secrets(self) -> Sequence[str]:
        """Return every credential value, so that it can be scrubbed from text."""
        return ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<redacted>)"


class HeaderAuth(Auth):
    """Static credentials sent as headers (API keys, static bearer tokens)."""

    def __init__(self, headers: Mapping[str, Secret]) -> None:
        self._headers = dict(headers)
        secrets: list[str] = []
        for value in self._headers.values():
            raw = value.get_secret_value()
            secrets.append(raw)
            # The credential inside a scheme ("Bearer <token>") or after a login
            # ("<login>:<secret-key>", Qonto's API key), in case a server echoes only it.
            _, space, token = raw.partition(" ")
            if space and token:
                secrets.append(token)
            _, colon, key = raw.rpartition(":")
            if colon and key:
                secrets.append(key)
        self._secrets = tuple(secrets)

    async def headers(self) -> Mapping[str, str]:
        return {name: value.get_secret_value() for name, value in self._headers.items()}

    def secrets(self) -> Sequence[str]:
        return self._secrets

    def __repr__(self) -> str:
        return f"HeaderAuth(headers={sorted(self._headers)!r})"
