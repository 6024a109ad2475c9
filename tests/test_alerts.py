"""Failure alerts: after N failures in a row, one message to the admin chat per cooldown."""

from __future__ import annotations

import asyncio
from pathlib import Path

from reminders.clock import FakeClock
from reminders.db import sqlite_url
from reminders.delivery import make_sender
from reminders.firing import make_firer
from reminders.migrate import open_store
from reminders.schema import Reminder
from reminders.settings import validate_settings
from tests.fake_bot_api import TOKEN, FakeBotApi

T0 = 1795514400000


def test_alert_after_three_failures_then_cooldown(tmp_path: Path) -> None:
    """Three failures send one alert naming the reminder; more wait for the cooldown."""
    store = open_store(sqlite_url(tmp_path / "r.db"))
    clock = FakeClock(T0)
    reminder = Reminder.model_validate(
        {
            "id": "r-1",
            "name": "Pay rent",
            "createdAtMs": T0,
            "updatedAtMs": T0,
            "schedule": {"kind": "every", "everyMs": 60_000, "anchorMs": T0},
            "payload": {"kind": "systemEvent", "text": "rent"},
            "delivery": {"to": "404"},
        }
    )
    with store.write() as db:
        db.save(reminder, T0)
    with FakeBotApi() as api:
        api.unknown_chats.add(404)
        settings = validate_settings(
            {
                "telegram": {"bot_token": TOKEN, "api_base_url": api.base_url},
                "delivery": {"failure_alert_to": "999", "failure_alert_cooldown": "1h"},
            }
        )

        async def fire_times(count: int) -> None:
            async with make_sender(settings) as sender:
                firer = make_firer(store, sender, settings, clock)
                for _ in range(count):
                    clock.advance(1000)
                    await firer.run_now(reminder)

        asyncio.run(fire_times(2))
        assert api.messages() == []
        asyncio.run(fire_times(2))
        [alert] = api.messages()
        assert str(alert.params["chat_id"]) == "999"
        assert 'Reminder "Pay rent" failed 3 times in a row' in alert.params["text"]
        assert "Chat not found" in alert.params["text"]
        clock.advance(3_600_000)
        asyncio.run(fire_times(1))
        assert len(api.messages()) == 2
    store.close()
