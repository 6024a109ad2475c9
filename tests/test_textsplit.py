"""Splitting long messages into the parts Telegram takes (pure text, no Telegram)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from reminders.textsplit import split_text, utf16_len


def test_split_short_text_is_one_part() -> None:
    """Text within the limit is not split."""
    assert split_text("hello\nworld") == ["hello\nworld"]


def test_split_prefers_line_breaks_then_spaces() -> None:
    """A split falls after a line break when one is in reach, else after a space."""
    assert split_text("aaaa bbbb\ncc dd", limit=12) == ["aaaa bbbb\n", "cc dd"]
    assert split_text("aaaa bbbb cc", limit=10) == ["aaaa bbbb ", "cc"]
    assert split_text("para one\n\nline\nmore", limit=16) == [
        "para one\n\n",
        "line\nmore",
    ]


def test_split_cuts_hard_when_there_is_no_break() -> None:
    """A word longer than the limit is cut at the limit."""
    assert split_text("x" * 10, limit=4) == ["xxxx", "xxxx", "xx"]


def test_split_counts_utf16_and_never_splits_an_emoji() -> None:
    """Emoji count two units; one straddling the limit moves to the next part."""
    text = "a" * 4095 + "😀" + "b" * 10
    first, second = split_text(text)
    assert first == "a" * 4095
    assert second == "😀" + "b" * 10
    assert utf16_len("😀") == 2


def test_split_keeps_emoji_sequences_together() -> None:
    """A ZWJ family and a skin-toned hand are not cut apart at the limit."""
    family = "👨\u200d👩\u200d👧"
    parts = split_text("a" * 6 + family + "b", limit=10)
    assert parts == ["a" * 6, family + "b"]
    parts = split_text("a" * 7 + "👍🏽", limit=10)
    assert parts == ["a" * 7, "👍🏽"]


def test_split_drops_only_whitespace_parts() -> None:
    """A part that would hold only whitespace is dropped; blank text gives no parts."""
    assert split_text("abcd" + " " * 10, limit=4) == ["abcd"]
    assert split_text("  \n ") == []


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from([*"ab \n\t.é", "😀", "\u0301", "\u200d", "🏽"]),
        max_size=120,
    ),
    limit=st.integers(min_value=2, max_value=20),
)
def test_split_loses_nothing_but_whitespace(text: str, limit: int) -> None:
    """Parts fit the limit and keep order; only whitespace between them may go."""
    parts = split_text(text, limit)
    position = 0
    for part in parts:
        assert part.strip()
        assert utf16_len(part) <= limit
        found = text.find(part, position)
        assert found >= position
        assert not text[position:found].strip()
        position = found + len(part)
    assert not text[position:].strip()
    assert re.sub(r"\s", "", "".join(parts)) == re.sub(r"\s", "", text)
