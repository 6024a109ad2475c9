"""`reminders mcp`: the management commands as Model Context Protocol tools (stdio).

Every tool calls the same use-cases in `app` as the CLI, so an agent gets the same
time grammar, validation and messages. Bad input comes back as a tool error whose
text is the line the CLI prints (`Error: ...`), and changes nothing. Only this
module imports the `mcp` SDK (the `reminders[mcp]` extra).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolResult, TextContent
from pydantic import Field
from pydantic import ValidationError as ArgumentError

from reminders import app, cron_api, render
from reminders.app import AppContext, ReminderSpec
from reminders.errors import ReminderError
from reminders.schema import Reminder

INSTRUCTIONS = (
    "Reminders delivered to Telegram by the `reminders` daemon. Add one with "
    "add_reminder (one of at/every/cron), check it with next_fire_times, and see "
    "what was sent with recent_runs. The `cron` tool takes OpenClaw's cron job "
    "objects unchanged. Errors say what to fix."
)

Ref = Annotated[
    str, Field(description="The reminder's id, a unique id prefix, or its exact name.")
]
Text = Annotated[str, Field(description="The message to send, exactly as written.")]
At = Annotated[
    str | None,
    Field(
        description="One time: ISO 8601 (2026-12-24T09:00+01:00, or without an "
        "offset, read in tz), a date, epoch ms, 20m, in 1h30m, 18:00, "
        "'tomorrow 9:00'. A time more than a minute past is refused."
    ),
]
Every = Annotated[
    str | None,
    Field(description="A fixed interval: 30s, 10m, 1.5h, 1h30m, 1d (no tz)."),
]
CronExpr = Annotated[
    str | None,
    Field(
        description="A cron expression, 5 fields or 6 with seconds first: "
        "'0 9 * * 1-5' (weekdays at 9:00 in tz)."
    ),
]
Zone = Annotated[
    str | None,
    Field(
        description="IANA zone (Europe/Berlin) for cron and offset-less at; "
        "default: the configured zone."
    ),
]
Name = Annotated[
    str | None, Field(description="A short name (default: the first line of text).")
]
To = Annotated[
    str | None,
    Field(
        description="Telegram chat: 123456789, -1001234567890, @channel, "
        "-100...:topic:42. Default: delivery.default_to from the config."
    ),
]
Flat = Annotated[
    Any, Field(description="The job field of the same name, given flat (for add).")
]
DeleteAfterRun = Annotated[
    bool | None,
    Field(description="One-shots: delete after delivery (default true) or keep."),
]


# The `cron` tool takes whatever else an OpenClaw agent sends beside its job
# (gatewayUrl, timeoutMs, contextMessages ...), as OpenClaw's own tool does.
LENIENT_TOOLS = {"cron"}


def _error(line: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=line)], is_error=True)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _argument_line(tool: str, exc: ArgumentError) -> str:
    """The first argument the SDK refused, as our one-line error."""
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"]) or "arguments"
    if error["type"] == "missing":
        return f"Error: {tool} needs `{field}`; pass it and call again."
    what = str(error["msg"]).removeprefix("Input ").removeprefix("Value ")
    return f"Error: {tool}: `{field}` {what}, not {_short(error['input'])}."


class _Server(MCPServer):
    """MCPServer whose refusals of arguments are our one-line errors, not the
    SDK's multi-line pydantic report; an unknown argument is refused too, so a
    misspelt one (`chat` for `to`) never leaves a reminder going elsewhere."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context | None = None
    ) -> Any:
        tool = self._tool_manager.get_tool(name)
        if tool is not None and name not in LENIENT_TOOLS:
            known = tool.parameters.get("properties", {})
            unknown = sorted(set(arguments) - set(known))
            if unknown:
                return _error(
                    f"Error: {name} has no argument {unknown[0]!r}: use "
                    + ", ".join(known)
                    + "."
                )
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if not isinstance(exc, UnexpectedToolError) and isinstance(
                exc.__cause__, ArgumentError
            ):
                return _error(_argument_line(name, exc.__cause__))
            raise


def _iso(ms: int | None, zone: str) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=ZoneInfo(zone)).isoformat()


def describe(ctx: AppContext, reminder: Reminder) -> dict[str, Any]:
    """The OpenClaw job object plus readable fields: next fire in its zone, target."""
    zone = app.zone_of(ctx, reminder)
    return {
        **reminder.to_json(),
        "nextRunAt": _iso(reminder.state.nextRunAtMs, zone),
        "zone": zone,
        "scheduleText": render.schedule_text(reminder, zone),
        "target": render.target_text(reminder),
    }


def _spec(
    text: str | None,
    at: str | None,
    every: str | None,
    cron: str | None,
    tz: str | None,
    name: str | None,
    to: str | None,
    delete_after_run: bool | None,
) -> ReminderSpec:
    return ReminderSpec(
        system_event=text,
        at=at,
        every=every,
        cron=cron,
        tz=tz,
        name=name,
        to=to,
        delete_after_run=delete_after_run,
    )


def build_server(ctx: AppContext) -> MCPServer:
    """An MCP server whose tools act on this context's store."""
    server = _Server("reminders", instructions=INSTRUCTIONS)
    store = _StoreFile(ctx)

    def tool(func: Callable[..., dict[str, Any]]) -> None:
        @functools.wraps(func)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                with store.current():
                    return func(*args, **kwargs)
            except ReminderError as exc:
                return _error(f"Error: {exc}")

        server.add_tool(call, name=func.__name__, description=func.__doc__)

    @tool
    def add_reminder(
        text: Text,
        at: At = None,
        every: Every = None,
        cron: CronExpr = None,
        tz: Zone = None,
        name: Name = None,
        to: To = None,
        delete_after_run: DeleteAfterRun = None,
    ) -> dict[str, Any]:
        """Add a reminder: give text and exactly one of at, every or cron.

        Returns its id, its first fire time (ISO with offset, and its zone) and
        the Telegram target.
        """
        spec = _spec(text, at, every, cron, tz, name, to, delete_after_run)
        return describe(ctx, app.add(ctx, spec))

    @tool
    def list_reminders(
        include_disabled: Annotated[
            bool, Field(description="Include disabled reminders.")
        ] = False,
    ) -> dict[str, Any]:
        """List reminders, soonest first."""
        found = app.list_reminders(ctx, include_disabled=include_disabled)
        return {"reminders": [describe(ctx, reminder) for reminder in found]}

    @tool
    def show_reminder(id_or_name: Ref) -> dict[str, Any]:
        """Show one reminder with its state (next fire, last run, last error)."""
        return describe(ctx, app.show(ctx, id_or_name))

    @tool
    def edit_reminder(
        id_or_name: Ref,
        text: Annotated[str | None, Field(description="New text.")] = None,
        at: At = None,
        every: Every = None,
        cron: CronExpr = None,
        tz: Zone = None,
        name: Name = None,
        to: To = None,
        delete_after_run: DeleteAfterRun = None,
        enabled: Annotated[
            bool | None, Field(description="Resume (true) or pause (false).")
        ] = None,
    ) -> dict[str, Any]:
        """Change a reminder: pass only what changes (a new at/every/cron replaces
        the schedule; tz alone re-zones a cron schedule)."""
        spec = _spec(text, at, every, cron, tz, name, to, delete_after_run)
        spec.enabled = enabled
        return describe(ctx, app.edit(ctx, id_or_name, spec))

    @tool
    def remove_reminder(id_or_name: Ref) -> dict[str, Any]:
        """Delete a reminder (its run history stays)."""
        reminder = app.remove(ctx, id_or_name)
        return {"id": reminder.id, "name": reminder.name, "removed": True}

    @tool
    def next_fire_times(
        id_or_name: Ref,
        count: Annotated[int, Field(ge=1, le=1000, description="How many.")] = 5,
    ) -> dict[str, Any]:
        """The next fire times of a reminder, to check a schedule before trusting it."""
        reminder = app.show(ctx, id_or_name)
        zone = app.zone_of(ctx, reminder)
        times = app.upcoming(ctx, reminder, count)
        return {
            "id": reminder.id,
            "zone": zone,
            "times": [{"atMs": ms, "at": _iso(ms, zone)} for ms in times],
        }

    @tool
    def recent_runs(
        id_or_name: Annotated[
            str | None, Field(description="One reminder (default: all).")
        ] = None,
        limit: Annotated[int, Field(ge=1, le=10_000, description="How many.")] = 20,
    ) -> dict[str, Any]:
        """Run history, newest first: scheduled-for, lateness, status, error."""
        history = app.run_history(ctx, id_or_name or None, limit)  # "": all
        zone = ctx.default_tz
        runs = [
            {
                **run.model_dump(exclude_none=True),
                "scheduledFor": _iso(run.scheduledForMs, zone),
                "latenessMs": run.lateness_ms,
            }
            for run in history
        ]
        return {"runs": runs}

    @tool
    def cron(  # parameter names are OpenClaw's, camelCase included
        action: Annotated[
            str,
            Field(
                description="status | list | add | update | remove | run | runs",
                json_schema_extra={"enum": list(cron_api.ACTIONS)},
            ),
        ],
        job: Annotated[
            dict[str, Any] | None,
            Field(
                description="For add: OpenClaw's job object, e.g. {name, schedule: "
                "{kind: at, at: ISO}, payload: {kind: systemEvent, text}, delivery: "
                "{mode: announce, channel: telegram, to}, deleteAfterRun}."
            ),
        ] = None,
        jobId: Annotated[
            str | None, Field(description="For update/remove/run/runs.")
        ] = None,
        id: Annotated[str | None, Field(description="Same as jobId.")] = None,
        patch: Annotated[
            dict[str, Any] | None,
            Field(description="For update: the job fields to change."),
        ] = None,
        includeDisabled: Annotated[bool | None, Field(description="For list.")] = None,
        runMode: Annotated[
            str | None, Field(description="For run: force (default) or due.")
        ] = None,
        limit: Annotated[int | None, Field(description="For runs.")] = None,
        name: Flat = None,
        schedule: Flat = None,
        payload: Flat = None,
        delivery: Flat = None,
        deleteAfterRun: Flat = None,
        enabled: Flat = None,
        description: Flat = None,
        sessionTarget: Flat = None,
        wakeMode: Flat = None,
        agentId: Flat = None,
        sessionKey: Flat = None,
        message: Flat = None,
        text: Flat = None,
    ) -> dict[str, Any]:
        """Manage reminders with OpenClaw's cron tool: the same actions, job objects
        (nested under job, or flat) and replies (the job with id and
        state.nextRunAtMs). Jobs are delivered to Telegram; no gateway needed."""
        params = {
            "action": action,
            "job": job,
            "jobId": jobId,
            "id": id,
            "patch": patch,
            "includeDisabled": includeDisabled,
            "runMode": runMode,
            "limit": limit,
            **dict(name=name, schedule=schedule, payload=payload, delivery=delivery),
            **dict(deleteAfterRun=deleteAfterRun, enabled=enabled, text=text),
            **dict(description=description, sessionTarget=sessionTarget),
            **dict(wakeMode=wakeMode, agentId=agentId, sessionKey=sessionKey),
            "message": message,
        }
        return cron_api.call(ctx, params)

    return server


class _StoreFile:
    """The server outlives any one command: before each call, make sure the
    database it has open is still the file at its path. One deleted or replaced
    underneath (a restored backup moved into place) is opened afresh, as the next
    CLI command would open it, instead of writing to a file nobody else sees."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.lock = threading.Lock()  # one call at a time: reopening closes
        self.opened = self._identity()

    def _identity(self) -> tuple[int, int] | None:
        from reminders.store_watch import file_identity

        return file_identity(
            self.ctx.store.path if "store" in self.ctx.__dict__ else None
        )

    @contextlib.contextmanager
    def current(self) -> Iterator[None]:
        with self.lock:
            if "store" in self.ctx.__dict__ and self._identity() != self.opened:
                self.ctx.store.close()
                del self.ctx.__dict__["store"]
            if "store" not in self.ctx.__dict__:
                self.ctx.store  # noqa: B018 - open (create, migrate) or say why not
                self.opened = self._identity()
            yield


def serve(ctx: AppContext) -> None:
    """Open the store (migrating it if needed), then answer on stdin/stdout."""
    ctx.store  # noqa: B018 - open and migrate before the first call
    build_server(ctx).run()
