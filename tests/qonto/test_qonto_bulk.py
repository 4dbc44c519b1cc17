"""bulk_create: multipart shape, chunking, idempotent retries, per-item errors, pairing."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from _qonto_kit import BASE, TOKEN, NoSleep, make_client, make_fake, posts, wire

from qondor_invoicing import (
    BulkCreateResult,
    InvalidInputError,
    QontoClient,
    SupplierInvoiceUpload,
)
from qondor_invoicing.qonto import MAX_FILES_PER_REQUEST, MAX_REQUEST_BYTES
from qondor_invoicing.qonto._bulk_inputs import content_key
from qondor_invoicing.qonto.bulk import IDEMPOTENCY_NAMESPACE, Prepared, pair
from qondor_invoicing.testing import FakeQonto

pytestmark = pytest.mark.anyio

BULK = f"{BASE}supplier_invoices/bulk"


def pdf(n: int, size: int = 0) -> tuple[str, bytes]:
    body = f"%PDF-1.4 invoice {n}\n".encode()
    return (f"invoice-{n:03d}.pdf", body + b"x" * max(0, size - len(body)))


def parse_form(request: httpx.Request) -> list[tuple[str, str | None, str | None, bytes]]:
    """The multipart parts in order: (name, filename, content type, content)."""
    boundary = re.search(r"boundary=(\S+)", request.headers["content-type"])
    assert boundary is not None
    parts = []
    for segment in request.content.split(b"--" + boundary.group(1).encode())[1:-1]:
        head, _, content = segment[2:].partition(b"\r\n\r\n")
        text = head.decode()
        name = re.search(r' name="([^"]*)"', text)
        filename = re.search(r'filename="([^"]*)"', text)
        ctype = re.search(r"Content-Type: (\S+)", text)
        assert name is not None
        parts.append(
            (
                name.group(1),
                filename.group(1) if filename else None,
                ctype.group(1) if ctype else None,
                content[:-2],
            )
        )
    return parts


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
def client() -> QontoClient:
    return QontoClient(access_token=TOKEN, rate_limit=None, sleep=NoSleep())


# -- the multipart request ----------------------------------------------------------------------


async def test_multipart_is_exactly_as_documented(
    api: respx.MockRouter, client: QontoClient, tmp_path: Path
) -> None:
    scan = tmp_path / "scan.png"
    scan.write_bytes(b"\x89PNG fake")
    route = api.post(BULK).respond(
        json={"supplier_invoices": [wire("si-1"), wire("si-2"), wire("si-3")], "errors": []}
    )
    result = await client.supplier_invoices.bulk_create(
        [pdf(1), scan, ("c.bin", b"%PDF-1.7 c", "application/pdf")],
        source="integration",
        meta={"integration_type": "dropbox", "connector": "grover"},
        skip_attachment_matcher=True,
    )
    request = route.calls.last.request
    assert request.url.path == "/v2/supplier_invoices/bulk"
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    parts = parse_form(request)
    key1 = content_key(pdf(1)[1])
    key2 = content_key(b"\x89PNG fake")
    key3 = content_key(b"%PDF-1.7 c")
    assert parts == [
        ("source", None, None, b"integration"),
        ("meta", None, None, b'{"connector":"grover","integration_type":"dropbox"}'),
        ("skip_attachment_matcher", None, None, b"true"),
        ("supplier_invoices[][file]", "invoice-001.pdf", "application/pdf", pdf(1)[1]),
        ("supplier_invoices[][idempotency_key]", None, None, key1.encode()),
        ("supplier_invoices[][file]", "scan.png", "image/png", b"\x89PNG fake"),
        ("supplier_invoices[][idempotency_key]", None, None, key2.encode()),
        ("supplier_invoices[][file]", "c.bin", "application/pdf", b"%PDF-1.7 c"),
        ("supplier_invoices[][idempotency_key]", None, None, key3.encode()),
    ]
    assert [item.invoice.id for item in result if item.invoice] == ["si-1", "si-2", "si-3"]
    assert result.ok
    assert result.requests == 1


async def test_optional_form_fields_are_left_out(
    api: respx.MockRouter, client: QontoClient
) -> None:
    route = api.post(BULK).respond(json={"supplier_invoices": [wire("si-1")], "errors": []})
    await client.supplier_invoices.bulk_create([pdf(1)])
    names = [p[0] for p in parse_form(route.calls.last.request)]
    assert names == ["supplier_invoices[][file]", "supplier_invoices[][idempotency_key]"]


async def test_keys_are_stable_uuids_derived_from_content_unless_given(
    api: respx.MockRouter, client: QontoClient
) -> None:
    route = api.post(BULK).respond(json={"supplier_invoices": [wire("a"), wire("b")], "errors": []})
    result = await client.supplier_invoices.bulk_create(
        [pdf(1), SupplierInvoiceUpload(filename="x.pdf", content=b"%PDF x", idempotency_key="k-1")]
    )
    assert uuid.UUID(result.items[0].idempotency_key).version == 5
    assert result.items[0].idempotency_key == content_key(pdf(1)[1])
    assert result.items[1].idempotency_key == "k-1"
    again = await client.supplier_invoices.bulk_create([pdf(1)])
    assert again.items[0].idempotency_key == result.items[0].idempotency_key
    assert route.call_count == 2


async def test_attachment_ids_are_sent_instead_of_files(
    api: respx.MockRouter, client: QontoClient
) -> None:
    route = api.post(BULK).respond(json={"supplier_invoices": [wire("a")], "errors": []})
    await client.supplier_invoices.bulk_create([SupplierInvoiceUpload(attachment_id="att-9")])
    parts = parse_form(route.calls.last.request)
    assert [(p[0], p[3]) for p in parts] == [
        ("supplier_invoices[][attachment_id]", b"att-9"),
        (
            "supplier_invoices[][idempotency_key]",
            str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, "attachment:att-9")).encode(),
        ),
    ]


@pytest.mark.parametrize(
    ("files", "kwargs"),
    [
        (Path("a.pdf"), {}),
        ([("a.pdf",)], {}),
        ([("a.pdf", "text")], {}),
        (["a.pdf"], {}),
        ([("", b"x")], {}),
        ([pdf(1)], {"source": "email"}),
        ([pdf(1)], {"meta": ["x"]}),
        ([pdf(1)], {"meta": {"x": object()}}),
        ([pdf(1)], {"skip_attachment_matcher": "yes"}),
    ],
)
async def test_bad_inputs_raise_before_anything_is_sent(
    api: respx.MockRouter, client: QontoClient, files: Any, kwargs: dict[str, Any]
) -> None:
    route = api.route()
    with pytest.raises(InvalidInputError):
        await client.supplier_invoices.bulk_create(files, **kwargs)
    assert not route.called


def test_an_upload_needs_exactly_one_source() -> None:
    with pytest.raises(InvalidInputError):
        SupplierInvoiceUpload(filename="a.pdf")
    with pytest.raises(InvalidInputError):
        SupplierInvoiceUpload(filename="a.pdf", content=b"x", attachment_id="att")
    with pytest.raises(InvalidInputError):
        SupplierInvoiceUpload(content=b"x")
    with pytest.raises(InvalidInputError):
        SupplierInvoiceUpload(attachment_id="att", idempotency_key="has space")


# -- against the fake: chunking, idempotency, per-item errors ---------------------------------


async def test_chunks_of_at_most_twenty_files() -> None:
    fake = make_fake()
    client = make_client(fake)
    files_per_request: list[int] = []
    original = fake.handle

    def counting(request: httpx.Request) -> httpx.Response:
        files_per_request.append(request.read().count(b'name="supplier_invoices[][file]"'))
        return original(request)

    fake.handle = counting  # type: ignore[method-assign]
    result = await client.supplier_invoices.bulk_create([pdf(n) for n in range(45)])
    assert result.ok
    assert result.requests == 3
    assert files_per_request == [20, 20, 5]
    assert len(fake.invoices) == 45
    # Every input is paired with the invoice made from its own file.
    for n, item in enumerate(result):
        assert item.index == n
        assert item.invoice is not None
        assert item.invoice.file_name == f"invoice-{n:03d}.pdf"
        assert fake.invoices[item.invoice.id]["file_name"] == f"invoice-{n:03d}.pdf"
    assert len(result.created) == 45


async def test_chunks_of_at_most_fifteen_megabytes() -> None:
    fake = make_fake()
    client = make_client(fake)
    seen: list[int] = []
    original = fake.handle

    def measuring(request: httpx.Request) -> httpx.Response:
        seen.append(len(request.read()))
        return original(request)

    fake.handle = measuring  # type: ignore[method-assign]
    files = [pdf(n, size=4_000_000) for n in range(7)]  # 28 MB in all, 4 MB each
    result = await client.supplier_invoices.bulk_create(files)
    assert result.ok
    assert result.requests == 3  # 3 + 3 + 1 files
    assert all(size <= MAX_REQUEST_BYTES for size in seen)
    assert max(seen) > 12_000_000


async def test_a_file_over_the_request_limit_is_an_error_item_not_a_crash(tmp_path: Path) -> None:
    fake = make_fake()
    client = make_client(fake)
    huge = tmp_path / "huge.pdf"
    with huge.open("wb") as f:
        f.truncate(MAX_REQUEST_BYTES + 1)  # sparse: never read
    result = await client.supplier_invoices.bulk_create(
        [pdf(1), ("big.pdf", b"%PDF" + b"x" * MAX_REQUEST_BYTES), huge, tmp_path / "missing.pdf"]
    )
    codes = [item.error.code if item.error else None for item in result]
    assert codes == [None, "file_too_large", "file_too_large", "file_unreadable"]
    assert result.requests == 1
    assert len(fake.invoices) == 1
    assert not result.ok
    assert [item.index for item in result.failed] == [1, 2, 3]


async def test_empty_files_are_not_sent() -> None:
    fake = make_fake()
    result = await make_client(fake).supplier_invoices.bulk_create([("empty.pdf", b"")])
    assert result.items[0].error is not None
    assert result.items[0].error.code == "empty_file"
    assert result.requests == 0
    assert fake.requests == []


async def test_per_item_errors_are_paired_with_their_inputs() -> None:
    fake = make_fake()
    client = make_client(fake)
    result = await client.supplier_invoices.bulk_create(
        [pdf(1), ("notes.txt", b"hello"), pdf(2), ("huge.pdf", b"%PDF" + b"x" * 10_000_001)]
    )
    assert [r.status for r in fake.requests] == [200]
    assert result.items[0].invoice is not None
    assert result.items[0].invoice.file_name == "invoice-001.pdf"
    assert result.items[1].error is not None
    assert result.items[1].error.code == "invalid"
    assert "text/plain" in result.items[1].error.detail
    assert result.items[1].error.pointer == (
        f"/supplier_invoices/idempotency_key/{content_key(b'hello')}"
    )
    assert result.items[2].invoice is not None
    assert result.items[2].invoice.file_name == "invoice-002.pdf"
    assert result.items[3].error is not None
    assert result.items[3].error.code == "invalid"
    assert "2 created, 2 failed, 1 requests" in str(result)


async def test_a_lost_response_is_retried_with_the_same_keys_and_creates_nothing_twice() -> None:
    fake = make_fake()
    client = make_client(fake)
    fake.faults.inject("lost_response", method="POST")
    result = await client.supplier_invoices.bulk_create([pdf(n) for n in range(5)])
    assert result.ok
    assert len(fake.invoices) == 5  # applied by the lost request, returned by the retry
    bulk = [r for r in fake.requests if r.path == "/supplier_invoices/bulk"]
    assert [(r.fault, r.status) for r in bulk] == [("lost_response", None), (None, 200)]
    assert {item.invoice.id for item in result if item.invoice} == set(fake.invoices)


async def test_a_server_error_is_retried_for_the_chunk() -> None:
    fake = make_fake()
    client = make_client(fake)
    fake.faults.inject("server_error", method="POST")
    result = await client.supplier_invoices.bulk_create([pdf(1)])
    assert result.ok
    assert posts(fake) == 2


async def test_running_the_same_upload_twice_returns_the_same_invoices() -> None:
    fake = make_fake()
    client = make_client(fake)
    first = await client.supplier_invoices.bulk_create([pdf(1), pdf(2)])
    second = await client.supplier_invoices.bulk_create([pdf(2), pdf(1)])
    assert [i.id for i in second.created] == [i.id for i in reversed(first.created)]
    assert len(fake.invoices) == 2


async def test_identical_files_in_one_call_are_sent_once() -> None:
    fake = make_fake()
    client = make_client(fake)
    result = await client.supplier_invoices.bulk_create([pdf(1), pdf(2), pdf(1)])
    assert result.items[2].duplicate_of == 0
    assert result.items[2].invoice == result.items[0].invoice
    assert len(fake.invoices) == 2
    assert len(result.created) == 2


async def test_an_auth_failure_stops_the_remaining_chunks() -> None:
    fake = make_fake(access_token="someone-else")
    client = make_client(fake)
    result = await client.supplier_invoices.bulk_create([pdf(n) for n in range(25)])
    assert result.requests == 1
    assert len(fake.requests) == 1
    codes = {item.error.code for item in result if item.error}
    assert codes == {"request_failed", "not_sent"}
    assert [i.error.code for i in result.items[:20] if i.error] == ["request_failed"] * 20
    assert [i.error.code for i in result.items[20:] if i.error] == ["not_sent"] * 5
    assert result.items[0].error is not None
    assert result.items[0].error.exception is not None


async def test_a_whole_request_refused_marks_only_its_chunk(api: respx.MockRouter) -> None:
    client = QontoClient(access_token=TOKEN, rate_limit=None, sleep=NoSleep())
    api.post(BULK).mock(
        side_effect=[
            httpx.Response(400, json={"errors": [{"code": "invalid", "detail": "bad request"}]}),
            httpx.Response(200, json={"supplier_invoices": [wire("z")], "errors": []}),
        ]
    )
    result = await client.supplier_invoices.bulk_create([pdf(n) for n in range(21)])
    assert [i.error.code for i in result.items[:20] if i.error] == ["request_failed"] * 20
    assert result.items[20].invoice is not None


async def test_an_answer_with_fewer_results_than_files(api: respx.MockRouter) -> None:
    client = QontoClient(access_token=TOKEN, rate_limit=None, sleep=NoSleep())
    api.post(BULK).respond(
        json={"supplier_invoices": [wire("a", file_name="invoice-002.pdf")], "errors": []}
    )
    result = await client.supplier_invoices.bulk_create([pdf(1), pdf(2), pdf(3)])
    assert result.items[1].invoice is not None  # paired by file name, not by position
    assert result.items[1].invoice.id == "a"
    assert [i.error.code for i in result.items if i.error] == ["missing_result", "missing_result"]


def prepared(index: int, key: str, filename: str) -> Prepared:
    return Prepared(index=index, filename=filename, key=key)


def test_pairing_uses_keys_positions_names_then_order() -> None:
    from qondor_invoicing import SupplierInvoice

    chunk = [prepared(10, "k0", "a.pdf"), prepared(11, "k1", "b.pdf"), prepared(12, "k2", "c.pdf")]
    invoices = [
        SupplierInvoice.from_wire({"id": "x", "status": "to_review", "file_name": "c.pdf"}),
        SupplierInvoice.from_wire({"id": "y", "status": "to_review", "file_name": "zzz.pdf"}),
    ]
    errors = [{"code": "invalid", "detail": "bad", "source": {"pointer": "/supplier_invoices/0"}}]
    outcome, left_invoices, left_errors = pair(chunk, invoices, errors)
    assert getattr(outcome[10], "code", None) == "invalid"
    assert getattr(outcome[12], "id", None) == "x"
    assert getattr(outcome[11], "id", None) == "y"
    assert left_invoices == left_errors == []
    # An unattributable error goes to the one input left without a result.
    outcome, _, left = pair(chunk[:1], [], [{"code": "internal_server_error", "detail": "boom"}])
    assert getattr(outcome[10], "code", None) == "internal_server_error"
    assert left == []


def test_result_helpers() -> None:
    result = BulkCreateResult(items=())
    assert result.ok
    assert len(result) == 0
    assert result.created == ()


def test_constants() -> None:
    assert MAX_FILES_PER_REQUEST == 20
    assert MAX_REQUEST_BYTES == 15_000_000
    assert isinstance(FakeQonto(), FakeQonto)


# -- pointers of every form, errors naming no file, duplicates, caller's keys -------------------


def bulk_answer(files: list[str], errors: list[dict[str, Any]]) -> dict[str, Any]:
    invoices = [wire(str(uuid.uuid4()), file_name=name) for name in files]
    return {"supplier_invoices": invoices, "errors": errors}


@pytest.mark.parametrize(
    "pointer",
    [
        "/data/1/file",
        "/data/1",
        "data[1]",
        "data[1][file]",
        "/files/1",
        "/supplier_invoices/1/file",
        "supplier_invoices[1][file]",
        "/supplier_invoices/1",
        "KEY-B",
        "/supplier_invoices/idempotency_key/KEY-B",
    ],
)
async def test_every_pointer_form_pairs_its_file(
    api: respx.MockRouter, client: QontoClient, pointer: str
) -> None:
    error = {"code": "invalid", "detail": "wrong content type", "source": {"pointer": pointer}}
    # The created invoices carry other file names: only the pointer can tell.
    api.post(BULK).respond(json=bulk_answer(["x.pdf", "y.pdf"], [error]))
    result = await client.supplier_invoices.bulk_create(
        [pdf(1), pdf(2), pdf(3)], idempotency_keys=["KEY-A", "KEY-B", "KEY-C"]
    )
    assert [item.ok for item in result] == [True, False, True]
    assert result.items[1].error is not None
    assert (result.items[1].error.code, result.items[1].error.pointer) == ("invalid", pointer)
    assert result.unmatched_errors == ()


@pytest.mark.parametrize("pointer", ["/data/\u00b2", "/data/" + "9" * 5000, "/data/\u0661"])
async def test_a_pointer_with_odd_digits_names_no_file(
    api: respx.MockRouter, client: QontoClient, pointer: str
) -> None:
    # isdigit() is true of each segment, which int() refuses or reads as a position: the
    # error stays unmatched; the files created are reported all the same.
    error = {"code": "invalid", "detail": "x", "source": {"pointer": pointer}}
    names = [pdf(n)[0] for n in (1, 2, 3)]
    api.post(BULK).respond(json=bulk_answer(names, [error]))
    result = await client.supplier_invoices.bulk_create([pdf(1), pdf(2), pdf(3)])
    assert len(result.created) == 3
    assert [e.pointer for e in result.unmatched_errors] == [pointer]


async def test_errors_without_pointer_are_reported_on_every_file_they_may_concern(
    api: respx.MockRouter, client: QontoClient
) -> None:
    errors = [
        {"code": "invalid", "detail": "file too large"},
        {"code": "internal_server_error", "detail": "try later"},
    ]
    api.post(BULK).respond(json={"supplier_invoices": [], "errors": errors})
    result = await client.supplier_invoices.bulk_create([pdf(1), pdf(2)])
    for item in result:
        assert item.error is not None
        assert item.error.code == "unpaired_error"  # never "missing_result, safe to resend"
        assert "invalid: file too large" in item.error.detail
        assert "internal_server_error: try later" in item.error.detail
    assert [e.code for e in result.unmatched_errors] == ["invalid", "internal_server_error"]
    assert not result.ok


async def test_an_unpaired_error_beside_invoices_pairs_nothing_by_order(
    api: respx.MockRouter, client: QontoClient
) -> None:
    # One invoice and one error naming no file, for two files: which is which is unknown.
    answer = bulk_answer(["renamed.pdf"], [{"code": "invalid", "detail": "bad"}])
    api.post(BULK).respond(json=answer)
    result = await client.supplier_invoices.bulk_create([pdf(1), pdf(2)])
    assert all(item.error is not None for item in result)
    assert all(item.error.code == "unpaired_error" for item in result if item.error)
    assert all("1 invoice(s) were created" in item.error.detail for item in result if item.error)
    assert len(result.unmatched_invoices) == 1


async def test_the_same_file_twice_is_reported_and_caller_keys_send_it_twice() -> None:
    fake = make_fake()
    client = make_client(fake)
    result = await client.supplier_invoices.bulk_create([pdf(1), pdf(1)])
    assert [d.index for d in result.duplicates] == [1]
    assert result.items[1].duplicate_of == 0
    assert "1 duplicate(s) not sent" in str(result)
    assert "duplicate of #0, not sent" in str(result)
    assert len(fake.invoices) == 1
    # Distinct keys of the caller's: both are sent, two invoices.
    keys = [str(uuid.uuid4()), str(uuid.uuid4())]
    again = await client.supplier_invoices.bulk_create([pdf(1), pdf(1)], idempotency_keys=keys)
    assert again.duplicates == ()
    assert [item.idempotency_key for item in again] == keys
    assert len({item.invoice.id for item in again if item.invoice}) == 2
    assert len(fake.invoices) == 3


@pytest.mark.parametrize(
    ("keys", "files"),
    [
        (["a"], [pdf(1), pdf(2)]),
        ("ab", [pdf(1), pdf(2)]),
        (["a b", None], [pdf(1), pdf(2)]),
        (["mine"], [SupplierInvoiceUpload(filename="a.pdf", content=b"%PDF", idempotency_key="x")]),
    ],
)
async def test_caller_keys_are_checked_before_anything_is_sent(
    api: respx.MockRouter, client: QontoClient, keys: Any, files: list[Any]
) -> None:
    route = api.post(BULK).respond(json={"supplier_invoices": []})
    with pytest.raises(InvalidInputError, match="idempotency_key"):
        await client.supplier_invoices.bulk_create(files, idempotency_keys=keys)
    assert route.call_count == 0
