"""The OS file lock that makes an exclusive `SqliteJournal` one process's."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ._errors import JournalLockedError


def _acquire_file_lock(lock_path: str, db_path: str) -> Any:
    handle = open(lock_path, "a+b")  # noqa: SIM115 - held open for the journal's lifetime
    try:
        if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise JournalLockedError(
            f"another process has the journal {Path(db_path).name!r} open (lock {lock_path}); "
            "run one reconciler per journal file, or open it with exclusive=False to share "
            "it through leases"
        ) from None
    return handle


def _release_file_lock(handle: Any) -> None:
    try:
        if sys.platform == "win32":  # pragma: no cover
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()
