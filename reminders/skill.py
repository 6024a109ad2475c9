"""The Agent Skills file that teaches an AI agent to set reminders with this CLI.

`reminders skill install` writes it into the agent's skills folder. The front
matter is YAML (`name`, `description`, and OpenClaw's `metadata` as one JSON line,
which is also valid YAML) and the body is Markdown.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from reminders.errors import ValidationError
from reminders.files import write_private

NAME = "reminders"
DESCRIPTION = (
    "Set, list, change and cancel reminders that arrive in Telegram at a given "
    "time or on a schedule: 'remind me in 20 minutes', 'remind me tomorrow at 9', "
    "'every weekday at 8:30', 'what reminders do I have?', 'cancel the tea "
    "reminder'. Uses the `reminders` command, not the gateway's cron tool."
)
METADATA = {"openclaw": {"emoji": "⏰", "requires": {"bins": ["reminders"]}}}

BODY = """\
# Reminders

Reminders are kept and delivered by the `reminders` daemon straight to Telegram;
no gateway, no pairing. Use the `reminders` command below instead of the gateway's
`cron` tool. Every command takes `--json`: read the reply, and tell the user the
time it gives (`state.nextRunAtMs`; `reminders next NAME` prints it in the zone).

## Adding one

    reminders add --at WHEN --system-event "TEXT" --json

- One time, `--at`: `20m`, `in 1h30m`, `18:00` (its next occurrence),
  `tomorrow 9:00`, `2026-12-24T09:00` (read in `--tz` or the configured zone),
  `2026-12-24T09:00+01:00`. A time more than a minute in the past is refused.
- Recurring, `--every`: `30m`, `2h`, `1d` (a fixed interval from now).
- Recurring, `--cron "MIN HOUR DOM MONTH DOW"` with `--tz Europe/Berlin`:
  `"0 9 * * 1-5"` is weekdays at 9:00, `"30 8 1 * *"` the 1st of each month.
- `--name NAME` gives it a name to refer to later (default: its first line).
- `--to CHAT` picks the Telegram chat (`123456789`, `-1001234567890`,
  `-1001234567890:topic:42`); leave it out to use the configured default chat.
- One-shots are deleted after delivery; `--keep-after-run` keeps them, disabled.

## Managing them

    reminders list --json              # enabled ones, soonest first (--all: all)
    reminders next NAME -n 5           # check a schedule before trusting it
    reminders edit NAME --at 30m       # change only what is given
    reminders disable NAME             # pause; `reminders enable NAME` resumes
    reminders rm NAME                  # delete
    reminders runs NAME --json         # what was sent, when, and any error

NAME is the reminder's name, its id, or a unique id prefix.

## Worked examples

"Remind me in 20 minutes to take the tea out":

```
reminders add --name Tea --at 20m --system-event "Take the tea out" --json
```

"Every weekday at 9:00 Berlin time, remind the team about standup":

```
reminders add --name Standup --cron "0 9 * * 1-5" --tz Europe/Berlin \\
  --system-event "Standup in 5 minutes" --json
reminders next Standup -n 3
```

"What reminders do I have? Cancel the tea one, and move standup to 9:30":

```
reminders list --json
reminders rm Tea
reminders edit Standup --cron "30 9 * * 1-5" --json
```

## When it fails

Errors are one line on stderr saying what to fix, with a non-zero exit code
(65 bad time, zone or chat; 66 no such reminder). Nothing is changed by a refused
command: fix the argument and run it again. "Missing --to" means no default chat
is configured: ask the user for their Telegram chat id and pass `--to`.
"""


def render() -> str:
    """SKILL.md: YAML front matter, then the Markdown body."""
    return (
        "---\n"
        f"name: {NAME}\n"
        f"description: {json.dumps(DESCRIPTION, ensure_ascii=False)}\n"
        f"metadata: {json.dumps(METADATA, ensure_ascii=False)}\n"
        "---\n\n" + BODY
    )


def skills_dir(target: str) -> Path:
    """The skills folder of `openclaw`, `claude`, or a folder given as a path."""
    if target == "openclaw":
        state = os.environ.get("OPENCLAW_STATE_DIR")
        base = Path(state).expanduser() if state else Path.home() / ".openclaw"
        return base / "skills"
    if target == "claude":
        return Path.home() / ".claude" / "skills"
    return Path(target).expanduser()


@dataclass
class Installed:
    path: Path
    changed: bool


def install(target: str) -> Installed:
    """Write `<skills>/reminders/SKILL.md`; writing the same text again is a no-op."""
    path = skills_dir(target) / NAME / "SKILL.md"
    text = render()
    try:
        if path.read_text(encoding="utf-8") == text:
            return Installed(path, changed=False)
    except OSError:
        pass
    try:
        write_private(path, text)
        path.chmod(0o644)
    except OSError as exc:
        raise ValidationError(
            f"Cannot write {path} ({exc.strerror}). Pick a writable --target folder."
        ) from None
    return Installed(path, changed=True)
