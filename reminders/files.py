"""Files the way a store of secrets and reminders should have them: private,
written atomically, and locked on the real path behind any symlink."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_private(path: Path, text: str) -> None:
    """Write atomically (a temporary file, then rename), readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def daemon_lock_path(database: Path) -> str:
    """The daemon's lock file: beside the real database file, so a symlink or a
    second spelling of the path cannot get a second daemon past the lock."""
    return os.path.realpath(database) + ".daemon.lock"
