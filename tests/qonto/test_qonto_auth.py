"""QontoClient credentials: env resolution, header forms, sandbox, refresh, redaction."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import anyio
import anyio.lowlevel
import httpx
import pytest
import respx
from _qonto_kit import (
    BASE,
    LOGIN,
    QONTO_ENV,
    SANDBOX,
    SECRET_KEY,
    SEED_ID,
    STAGING,
    TOKEN,
    NoSleep,
    make_client,
    make_fake,
    wire,
)

from qondor_invoicing import (
    APIConnectionError,
    AuthenticationError,
    ConfigurationError,
    QontoClient,
    ResponseValidationError,
    UnexpectedRedirectError,
)
from qondor_invoicing.testing import FakeQonto

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in QONTO_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


# -- construction ------------------------------------------------------------------------------


def test_no_credentials_names_every_variable() -> None:
    with pytest.raises(ConfigurationError) as info:
        QontoClient()
    message = str(info.value)
    for name in ("QONTO_ACCESS_TOKEN", "QONTO_LOGIN", "QONTO_SECRET_KEY", "access_token="):
        assert name in message


def test_both_kinds_of_credentials_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="ambiguous") as info:
        QontoClient(access_token=TOKEN, login=LOGIN, secret_key=SECRET_KEY)
    assert TOKEN not in str(info.value)
    assert SECRET_KEY not in str(info.value)


def test_both_kinds_in_the_environment_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QONTO_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("QONTO_LOGIN", LOGIN)
    monkeypatch.setenv("QONTO_SECRET_KEY", SECRET_KEY)
    with pytest.raises(ConfigurationError) as info:
        QontoClient()
    message = str(info.value)
    assert "QONTO_ACCESS_TOKEN" in message
    assert "QONTO_LOGIN" in message
    assert TOKEN not in message


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"QONTO_LOGIN": LOGIN}, "QONTO_SECRET_KEY"),
        ({"QONTO_SECRET_KEY": SECRET_KEY}, "QONTO_LOGIN"),
    ],
)
def test_half_an_api_key_in_the_environment_names_the_missing_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], missing: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=f"{missing} is missing"):
        QontoClient()


def test_login_without_secret_argument() -> None:
    with pytest.raises(ConfigurationError, match="secret_key= is missing"):
        QontoClient(login=LOGIN)


def test_token_provider_with_an_api_key_is_ambiguous() -> None:
    async def provider() -> str:
        return TOKEN

    with pytest.raises(ConfigurationError, match="token_provider="):
        QontoClient(token_provider=provider, login=LOGIN, secret_key=SECRET_KEY)


@pytest.mark.parametrize("bad", ["", "Bearer abc123", "abc\n123", "two words"])
def test_malformed_tokens_are_refused(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        QontoClient(access_token=bad)


def test_login_with_a_colon_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="':'"):
        QontoClient(login="acme:x", secret_key=SECRET_KEY)


def test_explicit_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QONTO_LOGIN", LOGIN)  # half an API key, ignored: a token is given
    client = QontoClient(access_token=TOKEN)
    assert "BearerAuth" in repr(client)


def test_environment_token_and_production_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QONTO_ACCESS_TOKEN", TOKEN)
    client = QontoClient()
    assert client.base_url == BASE
    assert not client.is_sandbox


def test_staging_token_selects_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    assert QontoClient(access_token=TOKEN, staging_token=STAGING).base_url == SANDBOX
    monkeypatch.setenv("QONTO_STAGING_TOKEN", STAGING)
    client = QontoClient(access_token=TOKEN)
    assert client.is_sandbox
    assert client.base_url == SANDBOX


@pytest.mark.parametrize(
    "url",
    [
        "http://thirdparty.qonto.com/v2/",
        "ftp://example.com/",
        "https://user:pw@example.com/v2/",
        "not a url",
    ],
)
def test_unsafe_base_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError):
        QontoClient(access_token=TOKEN, base_url=url)


def test_plain_http_is_accepted_on_loopback() -> None:
    client = QontoClient(access_token=TOKEN, base_url="http://127.0.0.1:8123/v2")
    assert client.base_url == "http://127.0.0.1:8123/v2/"


def test_repr_never_shows_credentials() -> None:
    for client in (
        QontoClient(access_token=TOKEN, staging_token=STAGING),
        QontoClient(login=LOGIN, secret_key=SECRET_KEY),
    ):
        text = repr(client) + repr(client.supplier_invoices) + repr(client.with_options())
        assert TOKEN not in text
        assert SECRET_KEY not in text
        assert STAGING not in text
    assert "login='acme-sas-4821'" in repr(QontoClient(login=LOGIN, secret_key=SECRET_KEY))


# -- headers on the wire ------------------------------------------------------------------------


async def test_bearer_header(api: respx.MockRouter) -> None:
    route = api.get(f"{BASE}supplier_invoices/{SEED_ID}").respond(json={"supplier_invoice": wire()})
    async with QontoClient(access_token=TOKEN, rate_limit=None) as client:
        await client.supplier_invoices.get(SEED_ID)
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "X-Qonto-Staging-Token" not in request.headers


async def test_api_key_header_has_no_scheme(api: respx.MockRouter) -> None:
    route = api.get(f"{BASE}supplier_invoices/{SEED_ID}").respond(json={"supplier_invoice": wire()})
    async with QontoClient(login=LOGIN, secret_key=SECRET_KEY, rate_limit=None) as client:
        await client.supplier_invoices.get(SEED_ID)
    assert route.calls.last.request.headers["Authorization"] == f"{LOGIN}:{SECRET_KEY}"


async def test_sandbox_sends_the_staging_token_on_every_request(api: respx.MockRouter) -> None:
    get = api.get(f"{SANDBOX}supplier_invoices/{SEED_ID}").respond(
        json={"supplier_invoice": wire(status="paid")}
    )
    post = api.post(f"{SANDBOX}supplier_invoices/{SEED_ID}/unmark_as_paid").respond(json=wire())
    async with QontoClient(access_token=TOKEN, staging_token=STAGING, rate_limit=None) as client:
        await client.supplier_invoices.unmark_as_paid(SEED_ID)
    for route in (get, post):
        raw = route.calls.last.request.headers.raw
        # Case-sensitive name, as the docs insist.
        assert (b"X-Qonto-Staging-Token", STAGING.encode()) in raw


async def test_sandbox_login_page_explains_the_missing_staging_token() -> None:
    fake = make_fake(staging_token=STAGING)
    fake.seed(3)
    invoice_id = next(iter(fake.invoices))
    client = make_client(fake, base_url=SANDBOX)  # sandbox URL but no staging token
    with pytest.raises(ResponseValidationError) as info:
        await client.supplier_invoices.get(invoice_id)
    message = str(info.value)
    assert "X-Qonto-Staging-Token" in message
    assert "text/html" in message
    assert "<form" in info.value.body
    good = make_client(fake, staging_token=STAGING)
    assert (await good.supplier_invoices.get(invoice_id)).id == invoice_id


async def test_sandbox_redirect_to_login_is_not_followed() -> None:
    fake = make_fake(staging_token=STAGING, sandbox_login="redirect")
    client = make_client(fake, base_url=SANDBOX)
    with pytest.raises(UnexpectedRedirectError) as info:
        await client.supplier_invoices.get("x")
    assert info.value.location == "https://sso.staging.qonto.co/login"


# -- token provider -----------------------------------------------------------------------------


class Provider:
    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        await anyio.lowlevel.checkpoint()
        return self.tokens[min(self.calls, len(self.tokens)) - 1]


async def test_provider_is_called_lazily_and_again_once_after_a_401() -> None:
    fake = make_fake(access_token="fresh-token-2")
    [invoice_id] = fake.seed(1)
    provider = Provider("stale-token-1", "fresh-token-2")
    client = make_client(fake, token_provider=provider)
    assert provider.calls == 0
    si = await client.supplier_invoices.get(invoice_id)
    assert si.id == invoice_id
    assert provider.calls == 2
    assert [r.status for r in fake.requests] == [401, 200]
    await client.supplier_invoices.get(invoice_id)
    assert provider.calls == 2  # the fresh token is kept


async def test_a_second_401_surfaces_after_one_refresh() -> None:
    fake = make_fake(access_token="the-only-valid-token")
    provider = Provider("wrong-token-1", "wrong-token-2", "wrong-token-3")
    client = make_client(fake, token_provider=provider)
    with pytest.raises(AuthenticationError) as info:
        await client.supplier_invoices.get("si-1")
    assert provider.calls == 2
    assert len(fake.requests) == 2
    assert "wrong-token" not in str(info.value)


async def test_static_token_is_not_refreshed() -> None:
    fake = make_fake(access_token="something-else")
    client = make_client(fake)
    with pytest.raises(AuthenticationError):
        await client.supplier_invoices.get("si-1")
    assert len(fake.requests) == 1


async def test_initial_token_then_provider_on_401() -> None:
    fake = make_fake(access_token="rotated-token")
    [invoice_id] = fake.seed(1)
    provider = Provider("rotated-token")
    client = make_client(fake, access_token="expired-token", token_provider=provider)
    await client.supplier_invoices.get(invoice_id)
    assert provider.calls == 1


async def test_concurrent_401s_share_one_refresh() -> None:
    fake = make_fake(access_token="fresh-token-2")
    ids = fake.seed(8)
    provider = Provider("fresh-token-2", "fresh-token-3")
    client = make_client(fake, token_provider=provider, access_token="stale-token-1")

    async def read(invoice_id: str) -> None:
        await client.supplier_invoices.get(invoice_id)

    async with anyio.create_task_group() as tg:
        for invoice_id in ids:
            tg.start_soon(read, invoice_id)
    assert provider.calls == 1
    assert sum(r.status == 200 for r in fake.requests) == 8


async def test_provider_tokens_never_reach_logs_or_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = make_fake(access_token="never-valid")
    provider = Provider("provided-secret-aaaa", "provided-secret-bbbb")
    client = make_client(fake, token_provider=provider, log_bodies=True)
    caplog.set_level(logging.DEBUG, logger="qondor_invoicing")
    with pytest.raises(AuthenticationError) as info:
        await client.supplier_invoices.get("si-1")
    text = caplog.text + str(info.value) + repr(info.value.body) + repr(client)
    assert "provided-secret" not in text


async def test_provider_returning_a_non_string_is_a_configuration_error() -> None:
    async def provider() -> str:
        return None  # type: ignore[return-value]

    client = make_client(make_fake(), token_provider=provider)
    with pytest.raises(ConfigurationError, match="token_provider returned NoneType"):
        await client.supplier_invoices.get("si-1")


# -- redaction ---------------------------------------------------------------------------------


async def test_credentials_echoed_by_the_server_are_scrubbed(
    api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    echo = {
        "errors": [{"code": "unauthorized", "detail": f"bad key {LOGIN}:{SECRET_KEY} ({STAGING})"}]
    }
    api.get(f"{SANDBOX}supplier_invoices/{SEED_ID}").respond(401, json=echo)
    caplog.set_level(logging.DEBUG, logger="qondor_invoicing")
    client = QontoClient(
        login=LOGIN,
        secret_key=SECRET_KEY,
        staging_token=STAGING,
        rate_limit=None,
        log_bodies=True,
        sleep=NoSleep(),
    )
    with pytest.raises(AuthenticationError) as info:
        await client.supplier_invoices.get(SEED_ID)
    text = (
        caplog.text
        + str(info.value)
        + info.value.body.raw
        + repr(info.value.body)
        + repr(info.value.__dict__)
    )
    assert SECRET_KEY not in text
    assert STAGING not in text
    assert "**********" in str(info.value)


async def test_debug_logs_of_a_whole_session_hold_no_credential(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = make_fake(login=LOGIN, secret_key=SECRET_KEY, staging_token=STAGING)
    ids = fake.seed(5)
    caplog.set_level(logging.DEBUG, logger="qondor_invoicing")
    client = make_client(
        fake, login=LOGIN, secret_key=SECRET_KEY, staging_token=STAGING, log_bodies=True
    )
    async for _ in client.supplier_invoices.list(per_page=2):
        pass
    await client.supplier_invoices.bulk_create([("a.pdf", b"%PDF-1.4 hello")])
    await client.supplier_invoices.get(ids[0])
    assert caplog.records
    assert "multipart/form-data body of" in caplog.text
    for secret in (SECRET_KEY, STAGING, f"{LOGIN}:{SECRET_KEY}"):
        assert secret not in caplog.text


def test_fake_refuses_half_an_api_key() -> None:
    with pytest.raises(ValueError, match="both login and secret_key"):
        FakeQonto(login=LOGIN)


async def test_connection_error_text_is_scrubbed() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach, token was {TOKEN}", request=request)

    client = QontoClient(
        access_token=TOKEN,
        transport=httpx.MockTransport(boom),
        rate_limit=None,
        sleep=NoSleep(),
    )
    with pytest.raises(APIConnectionError) as info:
        await client.supplier_invoices.get(SEED_ID)
    assert TOKEN not in str(info.value)


async def test_a_plain_function_can_provide_tokens() -> None:
    fake = make_fake(access_token="sync-token-1")
    [invoice_id] = fake.seed(1)
    client = make_client(fake, token_provider=lambda: "sync-token-1")
    assert (await client.supplier_invoices.get(invoice_id)).id == invoice_id


def test_a_tiny_rate_limit_still_builds_a_client() -> None:
    client = QontoClient(access_token=TOKEN, rate_limit=0.5)
    assert client.base_url == BASE
