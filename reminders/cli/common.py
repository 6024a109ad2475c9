"""What every command shares: the lazily built context, output helpers, error mapping."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import click

from reminders.clock import Clock, SystemClock
from reminders.config import (
    Paths,
    Settings,
    load_settings,
    resolve_paths,
    token_exposure,
)
from reminders.errors import EX_SOFTWARE, EX_USAGE, ReminderError

if TYPE_CHECKING:
    from reminders.app import AppContext

F = TypeVar("F", bound=Callable[..., Any])
_SURROGATE = re.compile("[\ud800-\udfff]")


class Runtime:
    """Built once per invocation; settings and the store are loaded on first use."""

    def __init__(
        self,
        config_path: str | None = None,
        clock: Clock | None = None,
        flags: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.config_path = config_path
        self.clock = clock or SystemClock()
        self.flags = flags or {}

    @cached_property
    def paths(self) -> Paths:
        return resolve_paths(self.config_path)

    @cached_property
    def settings(self) -> Settings:
        settings = load_settings(self.paths, self.flags)
        exposed = token_exposure(self.paths.config)
        if exposed:
            warn(exposed)
        return settings

    @cached_property
    def app(self) -> AppContext:
        from reminders.app import AppContext

        return AppContext(settings=self.settings, paths=self.paths, clock=self.clock)

    def close(self) -> None:
        """Close the database if this invocation opened it."""
        app = self.__dict__.get("app")
        if app is not None and "store" in app.__dict__:
            app.store.close()


pass_runtime = click.make_pass_decorator(Runtime, ensure=True)


def pass_app(func: F) -> F:
    """Hand the command an AppContext instead of the Runtime."""

    @pass_runtime
    @click.pass_context
    def wrapper(ctx: click.Context, runtime: Runtime, *args: Any, **kwargs: Any) -> Any:
        return ctx.invoke(func, runtime.app, *args, **kwargs)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper  # type: ignore[return-value]


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(func)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def warn(message: str) -> None:
    click.echo(f"Warning: {message}", err=True)


class ReminderGroup(click.Group):
    """A group that turns our errors into one line on stderr and the right exit code."""

    def main(self, args: Any = None, *pos: Any, **kwargs: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        for arg in argv:
            # Bytes that are not UTF-8 reach Python as lone surrogates; nothing
            # downstream (the database, Telegram) can store or send them.
            if isinstance(arg, str) and not arg.isascii() and _SURROGATE.search(arg):
                try:
                    shown = arg.encode("utf-8", "surrogateescape").decode(
                        "ascii", "replace"
                    )
                except UnicodeEncodeError:  # a surrogate no undecodable byte makes
                    shown = arg.encode("ascii", "backslashreplace").decode("ascii")
                click.echo(
                    f"Error: the argument {shown!r} is not valid UTF-8 text. "
                    "Retype it, or set a UTF-8 locale (LANG=C.UTF-8).",
                    err=True,
                )
                sys.exit(EX_USAGE)
        return super().main(argv, *pos, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ReminderError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except Exception:  # a bug: show it in full
            import traceback

            click.echo(traceback.format_exc(), err=True, nl=False)
            click.echo(
                "Error: unexpected failure (a bug); the trace is above.", err=True
            )
            sys.stderr.flush()
            ctx.exit(EX_SOFTWARE)
