"""The Qonto fake's bulk route: supplier invoices created from a multipart upload.

Limits, field names and request sources are the client's (`qonto.bulk`), so what the
client sends is exactly what the fake reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Final

from ...qonto._bulk_inputs import _SOURCES
from ...qonto.bulk import MAX_FILES_PER_REQUEST, MAX_REQUEST_BYTES
from .._server import FakeRequest, FakeResponse
from .multipart import Part, parse_multipart
from .wire import error, errors

__all__ = ["ACCEPTED_FILE_TYPES", "MAX_FILE_BYTES", "bulk_upload"]

MAX_FILE_BYTES: Final = 10_000_000  # "PDF max 10 MB" (bulk upload guide)
ACCEPTED_FILE_TYPES: Final = frozenset({"application/pdf", "image/png", "image/jpeg"})
_ITEM_FIELD: Final = re.compile(r"supplier_invoices\[\]\[(\w+)\]")

#: Creates one invoice from ``file_name``, ``attachment_id``, ``source`` and ``meta``.
Create = Callable[..., dict[str, Any]]


def bulk_upload(
    request: FakeRequest,
    *,
    invoices: dict[str, dict[str, Any]],
    keys: dict[str, str],
    create: Create,
) -> FakeResponse:
    """Answer a bulk request: create an invoice per valid item, once per idempotency key.

    Args:
        request: The request (``multipart/form-data``).
        invoices: The fake's invoices by id; new ones are added.
        keys: The invoice id each idempotency key created; new keys are added.
        create: Builds a new invoice (keyword arguments ``file_name``, ``attachment_id``,
            ``source`` and ``meta``).

    Returns:
        200 with ``{"supplier_invoices": [...], "errors": [...]}``, or a 400 for a request
        that cannot be read at all.
    """
    if len(request.body) > MAX_REQUEST_BYTES:
        return errors(400, error("invalid", f"the request exceeds {MAX_REQUEST_BYTES} bytes"))
    parts = parse_multipart(request.headers.get("content-type", ""), request.body)
    if parts is None:
        return errors(400, error("invalid", "multipart/form-data body expected"))
    items: list[dict[str, Part]] = []
    top: dict[str, str] = {}
    for part in parts:
        inner = _ITEM_FIELD.fullmatch(part.name)
        if inner is None:
            top[part.name] = part.content.decode("utf-8", "replace")
            continue
        key = inner[1]
        # Rails builds arrays of hashes this way: a repeated key starts a new item.
        if not items or key in items[-1]:
            items.append({})
        items[-1][key] = part
    if not items:
        return errors(
            400,
            error("required", "supplier_invoices is required", parameter="supplier_invoices"),
        )
    source = top.get("source")
    if source is not None and source not in _SOURCES:
        return errors(
            400,
            error("not_in_list", f"source must be one of {sorted(_SOURCES)}", parameter="source"),
        )
    meta: Any = None
    if "meta" in top:
        try:
            meta = json.loads(top["meta"])
        except ValueError:
            meta = None
        if not isinstance(meta, dict):
            return errors(400, error("invalid", "meta must be a JSON object", parameter="meta"))

    created: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        key_part = item.get("idempotency_key")
        key = key_part.content.decode("utf-8", "replace") if key_part else None
        pointer = (
            f"/supplier_invoices/idempotency_key/{key}"
            if key
            else f"/supplier_invoices/{position}/idempotency_key"
        )
        if position >= MAX_FILES_PER_REQUEST:
            failed.append(
                error(
                    "limit_reached",
                    f"at most {MAX_FILES_PER_REQUEST} supplier invoices per request",
                    pointer=pointer,
                )
            )
            continue
        if not key:
            failed.append(error("required", "idempotency_key is required", pointer=pointer))
            continue
        if key in keys and keys[key] in invoices:
            created.append(invoices[keys[key]])
            continue
        file_part = item.get("file")
        attachment = item.get("attachment_id")
        if (file_part is None) == (attachment is None):
            failed.append(
                error("invalid", "give exactly one of file or attachment_id", pointer=pointer)
            )
            continue
        if file_part is not None:
            problem = _file_problem(file_part)
            if problem is not None:
                failed.append(error("invalid", problem, pointer=pointer))
                continue
        invoice = create(
            file_name=file_part.filename if file_part else None,
            attachment_id=attachment.content.decode() if attachment else None,
            source=source,
            meta=meta,
        )
        invoices[invoice["id"]] = invoice
        keys[key] = invoice["id"]
        created.append(invoice)
    return FakeResponse(body={"supplier_invoices": created, "errors": failed})


def _file_problem(part: Part) -> str | None:
    ctype = (part.content_type or "").split(";")[0].strip().lower()
    if ctype not in ACCEPTED_FILE_TYPES:
        return f"unsupported content type {ctype or 'none'}"
    if len(part.content) > MAX_FILE_BYTES:
        return f"the file exceeds {MAX_FILE_BYTES} bytes"
    if not part.content:
        return "the file is empty"
    return None
