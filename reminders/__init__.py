"""reminders: a standalone reminder scheduler that delivers to Telegram."""

import os

# pydantic scans every installed package's entry points for plugins when the first
# model is built: about a tenth of a CLI command's time. No pydantic plugin acts on
# this program's models; a user who sets the variable keeps their own choice.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
