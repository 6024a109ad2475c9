"""The error tree. Each error is a sentence for the user and carries its exit code.

Exit codes follow sysexits: 64 usage, 65 bad data, 66 not found, 69 unavailable,
75 temporary failure, 78 configuration. Anything else that escapes is a bug (70).
"""

from __future__ import annotations

EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_TEMPFAIL = 75
EX_CONFIG = 78


class ReminderError(Exception):
    """Base of every error meant for the user: the message says what to do next."""

    exit_code = EX_SOFTWARE


class UsageError(ReminderError):
    """An argument or command that cannot mean anything (an empty id, a folder to
    write to, an edit with no change asked for)."""

    exit_code = EX_USAGE


class ValidationError(ReminderError):
    """Input that cannot be turned into a valid reminder."""

    exit_code = EX_DATAERR


class ScheduleError(ValidationError):
    """A schedule (time, duration, cron expression, zone) that is not valid."""


class ImportFormatError(ValidationError):
    """A store to import that cannot be read."""


class NotFound(ReminderError):
    """A reminder or file that does not exist."""

    exit_code = EX_NOINPUT


class ReminderNotFound(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(
            f"No reminder with id or name {ref!r}. "
            "Run `reminders list --all` to see ids."
        )
        self.ref = ref


class DeliveryError(ReminderError):
    """Telegram refused the message for good (bad chat, bot blocked, bad token)."""

    exit_code = EX_UNAVAILABLE


class DeliveryFailure(ReminderError):
    """A message (or some of its parts) could not be delivered.

    `permanent`: retrying will not help (bad chat, blocked, bad token, or an
    ambiguous send that `on_ambiguous="skip"` will not repeat); exit 69, else 75.
    `ambiguous`: the last request may have been delivered. `error_class` and `text`
    go on the run; `attempts` has one line per request; `sent_ids`: the parts this
    call did deliver.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        error_class: str,
        text: str,
        ambiguous: bool = False,
        attempts: list[str] | None = None,
        sent_ids: list[int] | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.ambiguous = ambiguous
        self.error_class = error_class
        self.text = text
        self.attempts = attempts or []
        self.sent_ids = sent_ids or []
        self.exit_code = EX_UNAVAILABLE if permanent else EX_TEMPFAIL


class Unavailable(ReminderError):
    """A service or optional part this command needs is not there."""

    exit_code = EX_UNAVAILABLE


class TransientError(ReminderError):
    """Something that may work if tried again later."""

    exit_code = EX_TEMPFAIL


class StoreBusy(TransientError):
    """The database stayed locked longer than the busy timeout."""


class StoreUnwritable(TransientError):
    """The database cannot take writes now: a full disk, a read-only file or
    filesystem, an I/O error. Nothing was changed; it works again once fixed."""


class DaemonRunning(ReminderError):
    """Another daemon already holds the database."""

    exit_code = EX_TEMPFAIL


class ConfigError(ReminderError):
    """The configuration file, an environment variable or a flag is wrong."""

    exit_code = EX_CONFIG


class StoreError(ConfigError):
    """The database cannot be opened, is damaged, or is newer than this program."""
