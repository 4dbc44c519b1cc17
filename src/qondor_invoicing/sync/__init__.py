"""Blocking clients for code that is not async: Django views, Celery tasks, scripts, threads.

``QondorSyncClient`` and ``QontoSyncClient`` take the same arguments as the async clients
and have the same resources and methods, blocking. They run the async clients on one
background event loop per process, so they work from plain threads and from inside a running
event loop (a Jupyter kernel) alike. ``SyncReconciler`` runs the reconciler on them.
"""

from ._bridge import SyncPaginator as SyncPaginator
from ._clients import QondorSyncClient as QondorSyncClient
from ._clients import QontoSyncClient as QontoSyncClient
from ._clients import SyncInvoices as SyncInvoices
from ._clients import SyncInvoicesWithRawResponse as SyncInvoicesWithRawResponse
from ._clients import SyncReconciler as SyncReconciler
from ._clients import SyncSupplierInvoices as SyncSupplierInvoices
from ._clients import SyncSupplierInvoicesWithRawResponse as SyncSupplierInvoicesWithRawResponse

__all__ = [
    "QondorSyncClient",
    "QontoSyncClient",
    "SyncInvoices",
    "SyncInvoicesWithRawResponse",
    "SyncPaginator",
    "SyncReconciler",
    "SyncSupplierInvoices",
    "SyncSupplierInvoicesWithRawResponse",
]
