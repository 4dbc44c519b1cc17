"""Blocking clients and reconciler, for code that is not async (Django, Celery, scripts)."""

from __future__ import annotations

import functools
from types import TracebackType
from typing import Any, Final, TypeVar

from .._http.client import BaseClient
from ..errors import ConfigurationError
from ..qondor.client import Invoices, InvoicesWithRawResponse, QondorClient
from ..qonto.client import QontoClient, SupplierInvoices, SupplierInvoicesWithRawResponse
from ..reconcile import FinanceSystem, Reconciler
from ._bridge import _Bridge, _Bridged, blocking, blocking_pages, same_parameters

__all__ = [
    "QondorSyncClient",
    "QontoSyncClient",
    "SyncInvoices",
    "SyncInvoicesWithRawResponse",
    "SyncReconciler",
    "SyncSupplierInvoices",
    "SyncSupplierInvoicesWithRawResponse",
]

C = TypeVar("C", bound=BaseClient)
W = TypeVar("W")
_O = TypeVar("_O", bound="_Owner[Any]")


class _Owner(_Bridged[W]):
    """A sync object that owns its bridge (a client, a reconciler): ``with`` and ``close()``."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._bridge.target!r}>"

    def __enter__(self: _O) -> _O:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close it (a client's connection pool); the background loop stops with the last
        sync object. Calling it again does nothing; a method called afterwards raises
        ``RuntimeError``."""
        self._bridge.close()


class _SyncClient(_Owner[C]):
    """Lifecycle shared by the sync clients: ``with``, ``close()``, the async client."""

    @property
    def async_client(self) -> C:
        """The async client doing the work, on the background event loop.

        Use it only from that loop (e.g. in a coroutine passed to ``run()``).
        """
        return self._target()

    @property
    def is_closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._target().is_closed


class SyncInvoicesWithRawResponse(_Bridged[InvoicesWithRawResponse]):
    """``qondor.invoices.with_raw_response``, blocking: each method returns `APIResponse`."""

    _path = ("invoices", "with_raw_response")

    def __init__(self, client: QondorSyncClient) -> None:
        self._bridge = client._bridge

    def __repr__(self) -> str:
        return f"<SyncInvoicesWithRawResponse of {self._bridge.target!r}>"

    list_unprocessed: Final = blocking(InvoicesWithRawResponse.list_unprocessed)
    get: Final = blocking(InvoicesWithRawResponse.get)
    set_as_processed: Final = blocking(InvoicesWithRawResponse.set_as_processed)
    set_as_failed: Final = blocking(InvoicesWithRawResponse.set_as_failed)
    set_as_paid: Final = blocking(InvoicesWithRawResponse.set_as_paid)
    set_as_unprocessed: Final = blocking(InvoicesWithRawResponse.set_as_unprocessed)


class SyncInvoices(_Bridged[Invoices]):
    """The blocking Invoice endpoints: ``qondor.invoices``; see `Invoices` for each method."""

    _path = ("invoices",)

    def __init__(self, client: QondorSyncClient) -> None:
        self._bridge = client._bridge
        self.with_raw_response: SyncInvoicesWithRawResponse = SyncInvoicesWithRawResponse(client)
        """The same methods, returning the `APIResponse` with the model (``.parse()``)."""

    def __repr__(self) -> str:
        return f"<SyncInvoices of {self._bridge.target!r}>"

    list_unprocessed: Final = blocking(Invoices.list_unprocessed)
    get: Final = blocking(Invoices.get)
    set_as_processed: Final = blocking(Invoices.set_as_processed)
    set_as_failed: Final = blocking(Invoices.set_as_failed)
    set_as_paid: Final = blocking(Invoices.set_as_paid)
    set_as_unprocessed: Final = blocking(Invoices.set_as_unprocessed)


class QondorSyncClient(_SyncClient[QondorClient]):
    """A blocking `QondorClient`, for code that is not async: Django views, Celery tasks,
    scripts, threads, or a running Jupyter kernel.

    It takes the same arguments as `QondorClient`, and ``qondor.invoices`` has the same
    methods, blocking: ``qondor.invoices.list_unprocessed()``. The work is done by an async
    `QondorClient` on a background event loop (one thread per process, shared by every sync
    client), so every rule, retry and rate limit is the async client's. Safe to share between
    threads; after a ``fork`` (Celery's prefork pool) the child gets a fresh connection pool.
    Use as ``with QondorSyncClient() as qondor:`` or call ``close()``.
    """

    @same_parameters(QondorClient.__init__)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._bridge = _Bridge(self, functools.partial(QondorClient, *args, **kwargs))
        self.invoices: SyncInvoices = SyncInvoices(self)
        """The Invoice endpoints, blocking (see `Invoices`)."""


class SyncSupplierInvoicesWithRawResponse(_Bridged[SupplierInvoicesWithRawResponse]):
    """``qonto.supplier_invoices.with_raw_response``, blocking: each returns `APIResponse`.

    ``list()`` returns the first page's response (``parse()`` is the `Page`).
    """

    _path = ("supplier_invoices", "with_raw_response")

    def __init__(self, client: QontoSyncClient) -> None:
        self._bridge = client._bridge

    def __repr__(self) -> str:
        return f"<SyncSupplierInvoicesWithRawResponse of {self._bridge.target!r}>"

    list: Final = blocking(SupplierInvoicesWithRawResponse.list)
    get: Final = blocking(SupplierInvoicesWithRawResponse.get)
    mark_as_paid: Final = blocking(SupplierInvoicesWithRawResponse.mark_as_paid)
    unmark_as_paid: Final = blocking(SupplierInvoicesWithRawResponse.unmark_as_paid)
    reject: Final = blocking(SupplierInvoicesWithRawResponse.reject)
    bulk_create: Final = blocking(SupplierInvoicesWithRawResponse.bulk_create)


class SyncSupplierInvoices(_Bridged[SupplierInvoices]):
    """The blocking supplier-invoice endpoints: ``qonto.supplier_invoices``.

    ``list()`` returns a `SyncPaginator`: iterate it (``for si in ...``) or call
    ``first_page()``; see `SupplierInvoices` for each method.
    """

    _path = ("supplier_invoices",)

    def __init__(self, client: QontoSyncClient) -> None:
        self._bridge = client._bridge
        self.with_raw_response: SyncSupplierInvoicesWithRawResponse = (
            SyncSupplierInvoicesWithRawResponse(client)
        )
        """The same methods, returning the `APIResponse` with the model (``.parse()``)."""

    def __repr__(self) -> str:
        return f"<SyncSupplierInvoices of {self._bridge.target!r}>"

    list: Final = blocking_pages(SupplierInvoices.list)
    get: Final = blocking(SupplierInvoices.get)
    mark_as_paid: Final = blocking(SupplierInvoices.mark_as_paid)
    unmark_as_paid: Final = blocking(SupplierInvoices.unmark_as_paid)
    reject: Final = blocking(SupplierInvoices.reject)
    bulk_create: Final = blocking(SupplierInvoices.bulk_create)


class QontoSyncClient(_SyncClient[QontoClient]):
    """A blocking `QontoClient` (see `QondorSyncClient` for how it works).

    It takes the same arguments as `QontoClient`; ``qonto.supplier_invoices`` has the same
    methods, blocking, and ``list()`` iterates with a plain ``for``.
    """

    @same_parameters(QontoClient.__init__)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._bridge = _Bridge(self, functools.partial(QontoClient, *args, **kwargs))
        self.supplier_invoices: SyncSupplierInvoices = SyncSupplierInvoices(self)
        """The supplier-invoice endpoints, blocking (see `SupplierInvoices`)."""


class SyncReconciler(_Owner[Reconciler]):
    """A blocking `Reconciler` on sync clients: ``plan()``, ``apply(plan)``, ``run()``.

    Args:
        qondor: The Qondor client.
        finance: Your finance system. Its methods run on the background event loop: make
            blocking ones (a database) coroutines that use ``anyio.to_thread.run_sync``.
        qonto: The Qonto client, to settle paid payments.
        **options: Any other `Reconciler` argument (``journal``, ``policy``, ...).

    Use as ``with SyncReconciler(...) as reconciler:`` or call ``close()``: that lets go
    of the background loop (the clients and the journal stay open: they are yours).

    Raises:
        ConfigurationError: The two clients were made in different processes.
    """

    def __init__(
        self,
        qondor: QondorSyncClient,
        *,
        finance: FinanceSystem,
        qonto: QontoSyncClient | None = None,
        **options: Any,
    ) -> None:
        if qonto is not None and qonto._bridge.loop is not qondor._bridge.loop:
            raise ConfigurationError(
                "the Qondor and Qonto sync clients run on different event loops; "
                "create both in the process that runs the reconciler"
            )
        self._clients = (qondor, qonto)  # kept alive as long as the reconciler
        build = functools.partial(
            Reconciler,
            qondor.async_client,
            finance=finance,
            qonto=qonto.async_client if qonto is not None else None,
            **options,
        )
        self._bridge = _Bridge(self, build)

    plan: Final = blocking(Reconciler.plan)
    apply: Final = blocking(Reconciler.apply)
    run: Final = blocking(Reconciler.run)
