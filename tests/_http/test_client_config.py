"""How both clients are built: one base-URL check, credentials checked at construction, one
environment (read by the library and the CLI alike), the log variable, and ``with_options``."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from qondor_invoicing import ConfigurationError, QondorClient, QontoClient, RetryPolicy
from qondor_invoicing._env import setup_logging
from qondor_invoicing._http.options import check_base_url
from qondor_invoicing.cli import ClientFactory

pytestmark = pytest.mark.anyio

ENV_VARS = [
    "QONDOR_API_KEY",
    "QONDOR_ENVIRONMENT",
    "QONDOR_BASE_URL",
    "QONTO_BASE_URL",
    "QONTO_ACCESS_TOKEN",
    "QONTO_LOGIN",
    "QONTO_SECRET_KEY",
    "QONTO_STAGING_TOKEN",
    "QONDOR_INVOICING_LOG",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def qondor(**kwargs: Any) -> QondorClient:
    kwargs.setdefault("api_key", "k" * 32)
    return QondorClient(**kwargs)


def qonto(**kwargs: Any) -> QontoClient:
    if not {"access_token", "login", "secret_key"} & kwargs.keys():
        kwargs["access_token"] = "t" * 32
    return QontoClient(**kwargs)


CLIENTS: list[Callable[..., Any]] = [qondor, qonto]

# --- one base-URL check ------------------------------------------------------------------

SECRET_IN_URL = "s3cr3t-in-the-url"
HOSTILE_URLS = [
    ("https://api.example.com/v1/?key=" + SECRET_IN_URL, "query"),
    ("https://api.example.com/v1/?", "query"),
    ("https://api.example.com/v1/#" + SECRET_IN_URL, "fragment"),
    ("https://api.example.com/v1/\t", "whitespace"),
    ("https://api.exa\tmple.com/v1/", "whitespace"),
    ("https://api.example.com/v1/\x00", "control"),
    ("https://api.example.com/v 1/", "whitespace"),
    ("https://user:" + SECRET_IN_URL + "@api.example.com/v1/", "credentials"),
    ("https://" + SECRET_IN_URL + "@api.example.com/v1/", "credentials"),
    ("http://api.example.com/v1/", "https"),
    ("http://10.0.0.1/v1/", "https"),
    ("http://localhost.example.com/", "https"),
    ("ftp://api.example.com/v1/", "http"),
    ("api.example.com/v1/", "http"),
    ("https:///v1/", "http"),
    ("https://api.example.com:99999/v1/", "valid"),
    ("https://[::1/v1/", "valid"),
    ("", "empty"),
]


@pytest.mark.parametrize("make", CLIENTS)
@pytest.mark.parametrize(("url", "why"), HOSTILE_URLS)
def test_hostile_base_urls_are_refused(make: Callable[..., Any], url: str, why: str) -> None:
    with pytest.raises(ConfigurationError, match=why) as info:
        make(base_url=url)
    assert not isinstance(info.value, httpx.InvalidURL)
    assert SECRET_IN_URL not in str(info.value)
    assert SECRET_IN_URL not in repr(info.value.args)


@pytest.mark.parametrize(
    ("make", "variable"), [(qondor, "QONDOR_BASE_URL"), (qonto, "QONTO_BASE_URL")]
)
@pytest.mark.parametrize(("url", "why"), [(u, w) for u, w in HOSTILE_URLS if u and "\x00" not in u])
def test_hostile_base_urls_from_the_environment_are_refused(
    monkeypatch: pytest.MonkeyPatch, make: Callable[..., Any], variable: str, url: str, why: str
) -> None:
    monkeypatch.setenv(variable, url)
    with pytest.raises(ConfigurationError, match=why) as info:
        make()
    assert variable in str(info.value)
    assert SECRET_IN_URL not in str(info.value)


@pytest.mark.parametrize("make", CLIENTS)
@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com/v1/",
        "http://localhost:8000/v1/",
        "http://127.0.0.1:8000/",
        "http://127.1.2.3/",
        "http://[::1]:8080/v1/",
        "http://fake.localhost/",
        httpx.URL("https://api.example.com/v1"),
    ],
)
def test_https_and_loopback_http_are_accepted(make: Callable[..., Any], url: Any) -> None:
    client = make(base_url=url)
    assert client.base_url.startswith(str(url).rstrip("/"))


def test_both_apis_share_the_check() -> None:
    # Qondor used to accept http:// to any host, sending the key in clear text.
    with pytest.raises(ConfigurationError, match="https"):
        QondorClient("k" * 32, base_url="http://qondor.example.com/Invoicing/v1/")
    assert check_base_url("https://a.example/x") == "https://a.example/x"


# --- credentials checked at construction --------------------------------------------------

CORE = "abcdefghijklmnop0123456789"
BAD_CREDENTIALS = [
    ("\ufeff" + CORE, "byte-order mark"),
    (CORE + "\r\nX-Injected: 1", "line break"),
    (CORE[:5] + "\n" + CORE[5:], "line break"),
    (CORE + "\x00", "NUL"),
    (CORE[:5] + "é" + CORE[5:], "non-ASCII"),
    (CORE[:5] + "\u200b" + CORE[5:], "non-ASCII"),
    (CORE[:5] + "\x1b" + CORE[5:], "control"),
    (CORE[:5] + " " + CORE[5:], "whitespace"),
]


def _assert_hidden(error: BaseException, value: str) -> None:
    texts = [str(error), repr(error), repr(error.args), repr(pickle.loads(pickle.dumps(error)))]
    for part in (value, CORE, CORE[:5], CORE[5:]):
        for text in texts:
            assert part not in text


@pytest.mark.parametrize(("value", "why"), BAD_CREDENTIALS)
@pytest.mark.parametrize(
    "build",
    [
        lambda v: QondorClient(v),
        lambda v: QondorClient("k" * 32, on_behalf_of_token=v),
        lambda v: QontoClient(access_token=v),
        lambda v: QontoClient(login=v, secret_key="s" * 32),
        lambda v: QontoClient(login="acme-1234", secret_key=v),
        lambda v: QontoClient(access_token="t" * 32, staging_token=v),
    ],
    ids=["qondor-key", "on-behalf-of", "qonto-token", "qonto-login", "qonto-secret", "staging"],
)
def test_credentials_that_cannot_go_in_a_header_are_refused_unseen(
    build: Callable[[str], Any], value: str, why: str
) -> None:
    with pytest.raises(ConfigurationError, match=why) as info:
        build(value)
    _assert_hidden(info.value, value)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None


@pytest.mark.parametrize(
    ("variable", "make"),
    [
        ("QONDOR_API_KEY", lambda: QondorClient()),
        ("QONTO_ACCESS_TOKEN", lambda: QontoClient()),
        ("QONTO_STAGING_TOKEN", lambda: QontoClient(access_token="t" * 32)),
    ],
)
def test_credentials_from_the_environment_are_checked_too(
    monkeypatch: pytest.MonkeyPatch, variable: str, make: Callable[[], Any]
) -> None:
    value = "\ufeff" + CORE
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match="byte-order mark") as info:
        make()
    _assert_hidden(info.value, value)


# --- one environment ------------------------------------------------------------------------


def test_qondor_reads_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QONDOR_API_KEY", "k" * 32)
    monkeypatch.setenv("QONDOR_ENVIRONMENT", "test")
    client = QondorClient()
    assert client.environment == "test"
    assert client.base_url == "https://qondor.azure-api.net/Test/Invoicing/v1/"
    # The base URL variable wins over the environment variable ...
    monkeypatch.setenv("QONDOR_BASE_URL", "http://127.0.0.1:9/Invoicing/v1/")
    client = QondorClient()
    assert client.environment is None
    assert client.base_url == "http://127.0.0.1:9/Invoicing/v1/"
    # ... and arguments win over both.
    assert QondorClient(environment="dev").base_url.endswith("/Dev/Invoicing/v1/")
    assert QondorClient(base_url="https://x.example/v1/").base_url == "https://x.example/v1/"


def test_qondor_refuses_an_unknown_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QONDOR_ENVIRONMENT", "staging")
    with pytest.raises(ConfigurationError, match="unknown Qondor environment 'staging'"):
        qondor()


def test_qonto_reads_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QONTO_LOGIN", "acme-1234")
    monkeypatch.setenv("QONTO_SECRET_KEY", "s" * 32)
    monkeypatch.setenv("QONTO_BASE_URL", "http://localhost:8001/v2/")
    client = QontoClient()
    assert client.base_url == "http://localhost:8001/v2/"
    assert "acme-1234" in repr(client)
    assert QontoClient(base_url="https://x.example/v2/").base_url == "https://x.example/v2/"


def test_the_cli_builds_its_clients_as_the_library_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QONDOR_API_KEY", "k" * 32)
    monkeypatch.setenv("QONDOR_ENVIRONMENT", "dev")
    monkeypatch.setenv("QONTO_ACCESS_TOKEN", "t" * 32)
    monkeypatch.setenv("QONTO_BASE_URL", "http://127.0.0.1:8002/v2/")
    factory = ClientFactory()
    assert factory.qondor().base_url == QondorClient().base_url
    assert factory.qondor().environment == "dev"
    assert factory.qonto().base_url == "http://127.0.0.1:8002/v2/"
    monkeypatch.setenv("QONDOR_BASE_URL", "http://qondor.example.com/")
    with pytest.raises(ConfigurationError, match="QONDOR_BASE_URL"):
        factory.qondor()


@pytest.fixture
def library_logger() -> Any:
    logger = logging.getLogger("qondor_invoicing")
    level, handlers = logger.level, list(logger.handlers)
    logger.handlers = []
    yield logger
    logger.setLevel(level)
    logger.handlers = handlers


@pytest.mark.parametrize(("value", "level"), [("debug", logging.DEBUG), (" INFO ", logging.INFO)])
def test_the_log_variable_sets_the_level_and_a_handler(
    library_logger: logging.Logger, value: str, level: int
) -> None:
    setup_logging({"QONDOR_INVOICING_LOG": value})
    assert library_logger.level == level
    assert len(library_logger.handlers) == 1
    setup_logging({"QONDOR_INVOICING_LOG": value})
    assert len(library_logger.handlers) == 1  # never twice


@pytest.mark.parametrize("value", ["", "verbose", "warning"])
def test_other_log_values_leave_logging_alone(library_logger: logging.Logger, value: str) -> None:
    before = library_logger.level
    setup_logging({"QONDOR_INVOICING_LOG": value})
    assert library_logger.level == before
    assert library_logger.handlers == []


async def test_debug_logging_from_the_variable_stays_redacted(
    library_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    key = "k3y-" + "z" * 28
    setup_logging({"QONDOR_INVOICING_LOG": "debug"})

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["ocp-apim-subscription-key"] == key
        return httpx.Response(200, json=[], headers={"x-request-id": "r-1"})

    async with QondorClient(
        key,
        base_url="https://q.example/v1/",
        transport=httpx.MockTransport(handler),
        log_bodies=True,
    ) as client:
        await client.invoices.list_unprocessed()
    err = capsys.readouterr().err
    assert "GET https://q.example/v1/Invoice/GetAllUnprocessedInvoices" in err
    assert key not in err


# --- one construction path ------------------------------------------------------------------


@pytest.mark.parametrize("make", CLIENTS)
async def test_max_retries_shortcut(make: Callable[..., Any]) -> None:
    client = make(max_retries=0)
    assert client.retry_policy == RetryPolicy(max_retries=0)
    custom = make(retry_policy=RetryPolicy(max_retries=9, initial_delay=0.1), max_retries=1)
    assert custom.retry_policy == RetryPolicy(max_retries=1, initial_delay=0.1)
    with pytest.raises(ConfigurationError, match="max_retries"):
        make(max_retries=-1)
    await client.aclose()
    await custom.aclose()


@pytest.mark.parametrize("make", CLIENTS)
async def test_with_options_goes_through_the_constructor_path(make: Callable[..., Any]) -> None:
    client = make(rate_limit=5.0, max_concurrency=2, headers={"X-A": "1"})
    copy = client.with_options(max_retries=0, headers={"X-B": "2"}, timeout=3.0)
    assert type(copy) is type(client)
    assert copy._core._shared is client._core._shared  # pool, limiter, concurrency
    assert copy._core.options.headers == {"X-A": "1", "X-B": "2"}
    assert copy.retry_policy.max_retries == 0
    assert copy.timeout == 3.0
    assert copy.rules is client.rules
    assert copy.base_url == client.base_url
    await copy.aclose()
    assert not client.is_closed
    await client.aclose()
    assert copy.is_closed


@pytest.mark.parametrize("make", CLIENTS)
def test_rules_are_read_only(make: Callable[..., Any]) -> None:
    client = make()
    with pytest.raises(AttributeError):
        client.rules = client.rules


@pytest.mark.parametrize("make", CLIENTS)
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rate_limit": 0}, "rate_limit"),
        ({"rate_limit": -1.0}, "rate_limit"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"headers": {"X-Note": "caf\u00e9"}}, "X-Note must be printable ASCII"),
        ({"headers": {"X-Note": "a\r\nX-Evil: 1"}}, "without line breaks"),
        ({"headers": {"X Note": "a"}}, "not an HTTP header name"),
        ({"headers": {"X-Count": 5}}, "must be a str"),
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"timeout": (5, 5, 5, 5)}, "timeout"),
        ({"timeout": httpx.Timeout(5.0, pool=float("nan"))}, "every part"),
        ({"http_client": httpx.AsyncClient(timeout=-1)}, "http_client's timeout"),
        (
            {
                "transport": httpx.MockTransport(lambda r: httpx.Response(200)),
                "http_client": httpx.AsyncClient(),
            },
            "either",
        ),
    ],
)
def test_options_are_checked_alike(
    make: Callable[..., Any], kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match):
        make(**kwargs)


@pytest.mark.parametrize("make", CLIENTS)
@pytest.mark.parametrize("timeout", [None, 0.5, 30, float("inf"), httpx.Timeout(5.0, connect=None)])
def test_usable_timeouts_are_accepted(make: Callable[..., Any], timeout: Any) -> None:
    assert make(timeout=timeout)._core.timeout == timeout


@pytest.mark.parametrize("make", CLIENTS)
def test_a_refused_header_value_is_never_repeated(make: Callable[..., Any]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make(headers={"X-Api-Token": "s3cr3t-t\u00f6ken\n"})
    assert "s3cr3t" not in str(caught.value)
    assert make(headers={"X-Empty": "", "X-Tabbed": "a\tb"})._core.headers["X-Tabbed"] == "a\tb"
