"""Files the way a store of secrets and reminders should have them: private,
written atomically, and locked on the real path behind any symlink."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from filelock import BaseFileLock

PRIVATE = 0o600


def write_private(path: Path, text: str) -> None:
    """Write atomically (a temporary file, then rename), readable by the owner only."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, PRIVATE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def daemon_lock_path(database: Path) -> str:
    """The daemon's lock file: beside the real database file, so a symlink or a
    second spelling of the path cannot get a second daemon past the lock."""
    return os.path.realpath(database) + ".daemon.lock"


def create_private(path: Path) -> None:
    """Create an empty file readable by the owner only, unless it exists already;
    SQLite gives the WAL and shared-memory files it makes beside it the same mode."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))
    except FileExistsError:
        pass


def private_lock(path: str, timeout: float = -1) -> BaseFileLock:
    """A file lock whose file only the owner can read or write."""
    from filelock import FileLock

    return FileLock(path, timeout=timeout, mode=PRIVATE)


def lock_held(path: str, wait: float = 0) -> bool:
    """True when some process holds the lock at `path` (for `wait` seconds: another
    process testing the same lock holds it only for an instant)."""
    from filelock import Timeout

    lock = private_lock(path, timeout=wait)
    try:
        lock.acquire()
    except Timeout:
        return True
    lock.release()
    return False
