"""The `reminders` command line: `main` runs it, `cli` is its click group.

Importing this package loads nothing else, so `main` can pause the cyclic garbage
collector before the program loads (reminders.cli.root holds the group).
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reminders.cli.root import cli as cli


def main() -> None:
    """The `reminders` program. Loading a command makes modules, classes and
    functions that live until exit; the cyclic garbage collector would trace them
    over and over, while they load and again at exit (about a fifth of `reminders
    add`). So it is paused while they load, and the root group, once its command
    has loaded, tells it to leave them alone (gc.freeze) and resumes it."""
    gc.disable()
    from reminders.cli.root import cli

    cli(prog_name="reminders")


def __getattr__(name: str) -> Any:
    if name == "cli":
        from reminders.cli.root import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
