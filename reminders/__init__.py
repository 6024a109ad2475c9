"""reminders: a standalone reminder scheduler that delivers to Telegram."""
