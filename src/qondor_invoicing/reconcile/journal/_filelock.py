"""The OS file lock that makes an exclusive `SqliteJournal` one process's."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from ._errors import JournalLockedError

_PRIVATE = 0o600


def _create_private(path: str) -> int | None:
    """Create ``path`` readable and writable by its owner only, whatever the umask.

    Returns an open descriptor of the file (new or existing), or ``None`` if it existed:
    an existing file keeps the mode its owner gave it.
    """
    try:
        fd = os.open(
            path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), _PRIVATE
        )
    except FileExistsError:
        return None
    if hasattr(os, "fchmod"):  # the umask can only take bits away; make it exactly 0600
        os.fchmod(fd, _PRIVATE)
    return fd


def _acquire_file_lock(lock_path: str, db_path: str) -> Any:
    fd = _create_private(lock_path)
    # Held open for the journal's lifetime.
    handle = open(lock_path, "a+b") if fd is None else os.fdopen(fd, "a+b")  # noqa: SIM115
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
