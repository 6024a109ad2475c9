"""Splitting a message into the parts Telegram takes: at most 4096 UTF-16 code units
each, cut at a line break or a space where one is in reach, never inside a character
or an emoji sequence. Pure text functions, nothing else."""

from __future__ import annotations

import unicodedata

MAX_TEXT_UNITS = 4096  # Telegram's limit, in UTF-16 code units
# Not a line break, even where str.isspace() says it is whitespace.
_NO_BREAK = "\u00a0\u2007\u202f"
_ZWJ = "\u200d"


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _fit(text: str, limit: int) -> int:
    """Length of the longest prefix of `text` that is at most `limit` UTF-16 units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _extends(char: str) -> bool:
    """Does `char` attach to the one before it (mark, joiner, modifier, selector)?"""
    code = ord(char)
    return (
        char == _ZWJ
        or unicodedata.category(char) in ("Mn", "Mc", "Me")
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # skin tones
        or 0xE0020 <= code <= 0xE007F  # tag characters (flag sequences)
        or 0xDC00 <= code <= 0xDFFF  # the low half of a surrogate pair
    )


def _cut(text: str, limit: int) -> int:
    """Where to end the next part: after a paragraph or line break, else after a
    space, else at the limit without separating a character from its marks or a
    zero-width-joiner sequence. Breaks in the first half of the window are ignored,
    so parts are not needlessly short."""
    hard = _fit(text, limit)
    floor = hard // 2
    window = text[:hard]
    for separator in ("\n\n", "\n"):
        at = window.rfind(separator)
        if at >= floor:
            return at + len(separator)
    for at in range(hard - 1, floor - 1, -1):
        if window[at].isspace() and window[at] not in _NO_BREAK:
            return at + 1
    cut = hard
    while cut > floor and (text[cut - 1] == _ZWJ or _extends(text[cut])):
        cut -= 1
    return cut if cut > floor else hard


def split_text(text: str, limit: int = MAX_TEXT_UNITS) -> list[str]:
    """Split `text` into parts of at most `limit` UTF-16 code units, in order.

    Parts end after a line break where one is in reach, else after a space, else at
    the limit; a character is never cut (Python strings hold whole code points, so
    no surrogate pair is split) and an emoji sequence is kept whole where possible.
    The whitespace at a split point stays at the end of the earlier part, so
    `"".join(split_text(t)) == t`, except that a part made only of whitespace is
    dropped (Telegram refuses an empty message and trims a message's ends anyway);
    blank text gives no parts. The same text always splits the same way, so part
    indexes are stable across runs.
    """
    if limit < 2:
        raise ValueError("limit must be at least 2 UTF-16 code units")
    parts: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        cut = _cut(rest, limit)
        parts.append(rest[:cut])
        rest = rest[cut:]
    parts.append(rest)
    return [part for part in parts if part.strip()]
