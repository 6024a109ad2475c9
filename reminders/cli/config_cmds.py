"""Set-up and checks: config show/check/init, db upgrade/backup."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import click

from reminders.cli.common import Runtime, echo_json, json_option, pass_runtime
from reminders.config import (
    bot_token,
    check_chat,
    database_url,
    default_timezone,
    hide_password,
    mask,
    new_webhook_secret,
    render_example,
    render_settings,
)
from reminders.declare import as_dict
from reminders.errors import ConfigError, StoreError
from reminders.files import write_private


@click.group()
def config() -> None:
    """Show, check or create the configuration file."""


@config.command("show")
@json_option
@pass_runtime
def config_show(runtime: Runtime, as_json: bool) -> None:
    """The effective settings as TOML, with the bot token masked."""
    settings = copy.deepcopy(runtime.settings)
    settings.telegram.bot_token = mask(bot_token(settings))
    settings.delivery.webhook_secret = mask(settings.delivery.webhook_secret)
    settings.database.url = hide_password(settings.database.url)
    data = as_dict(settings)
    data["paths"] = {
        "config": str(runtime.paths.config),
        "database": hide_password(database_url(runtime.settings, runtime.paths)),
        "timezone": default_timezone(runtime.settings),
    }
    if as_json:
        echo_json(data)
        return
    click.echo(render_settings(runtime.settings, data["paths"]), nl=False)


@config.command("check")
@pass_runtime
def config_check(runtime: Runtime) -> None:
    """Validate the configuration; exit 0 when it is good, 78 when not."""
    settings = runtime.settings
    check_chat(settings)
    token = bot_token(settings)
    where = runtime.paths.config if runtime.paths.config.exists() else "defaults"
    click.echo(f"Config OK ({where}).")
    if not token:
        click.echo(
            "No bot token yet: set REMINDERS_TELEGRAM_BOT_TOKEN or telegram.bot_token "
            f"in {runtime.paths.config}."
        )


@config.command("init")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option(
    "--print", "print_only", is_flag=True, help="Print it instead of writing."
)
@pass_runtime
def config_init(runtime: Runtime, force: bool, print_only: bool) -> None:
    """Write a commented config.toml listing every key and its default.

    The file gets a fresh webhook signing secret (delivery.webhook_secret); --print
    leaves it out, so the secret never reaches a terminal or a log.
    """
    if print_only:
        click.echo(render_example(), nl=False)
        return
    path = runtime.paths.config
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists. Pass --force to overwrite it.")
    secret = new_webhook_secret()
    write_private(path, render_example(webhook_secret=secret))
    click.echo(
        f"Wrote {path}. Set telegram.bot_token there "
        "(or REMINDERS_TELEGRAM_BOT_TOKEN).\n"
        f"It holds a new webhook signing secret ({mask(secret)}): give receivers "
        "the delivery.webhook_secret line from that file."
    )


@click.group()
def db() -> None:
    """Database upkeep: upgrade the schema, write a backup."""


@db.command("upgrade")
@pass_runtime
def db_upgrade(runtime: Runtime) -> None:
    """Create the database or bring its schema up to date (after a backup)."""
    from reminders.migrate import upgrade
    from reminders.store import HEAD_REVISION, Store

    store = Store(database_url(runtime.settings, runtime.paths))
    if store.path:
        store.path.parent.mkdir(parents=True, exist_ok=True)
    try:
        backup = upgrade(store)
    finally:
        store.close()
    if backup:
        click.echo(f"Backed up to {backup}.")
    click.echo(f"Database {store.label} is at schema {HEAD_REVISION}.")


@db.command("backup")
@click.argument("dest", required=False, type=click.Path(dir_okay=False))
@pass_runtime
def db_backup(runtime: Runtime, dest: str | None) -> None:
    """Write a consistent copy of the database (safe while the daemon runs).

    Restore: stop the daemon, copy the backup over the database file, start it.
    """
    from reminders.migrate import write_backup

    store = runtime.app.store
    if store.path is None:
        raise StoreError(
            f"`db backup` copies SQLite files; back up {store.label} with "
            "PostgreSQL's own tools (pg_dump)."
        )
    stamp = datetime.fromtimestamp(runtime.app.clock.now_ms() / 1000, UTC).strftime(
        "%Y%m%dT%H%M%SZ"
    )
    target = Path(dest) if dest else store.path.with_name(f"reminders-{stamp}.db")
    write_backup(store, target)
    click.echo(f"Backed up {store.path} to {target}.")


COMMANDS = [config, db]
