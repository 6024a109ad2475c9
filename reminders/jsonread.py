"""Reading JSON we did not write (an OpenClaw store) without trusting it.

Only regular files are opened (a FIFO, a device or /proc/self/mem is refused before
a byte is read), at most MAX_INPUT_BYTES are read, the text must be UTF-8, and the
parsed value is checked before anything uses it: nesting at most MAX_DEPTH deep,
finite numbers no larger than JavaScript's safe integers (OpenClaw is JavaScript:
a bigger number never meant anything there), and no lone UTF-16 surrogates. Every
refusal is an ImportFormatError (or NotFound) naming the file and the place.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any

from reminders.errors import ImportFormatError, NotFound

MAX_INPUT_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64
MAX_SAFE_INT = 2**53 - 1
# The JSON5 library is a pure-Python parser (about 7 µs a character): only files
# this small go through it; larger ones get the linear comment stripper only.
JSON5_MAX_BYTES = 256 * 1024
_SURROGATE = re.compile("[\ud800-\udfff]")
# A string, a comment, or a trailing comma before } or ]: one left-to-right pass.
_JSON5_LITE = re.compile(
    r'"(?:[^"\\\n]|\\.)*+"|//[^\n]*|/\*(?:[^*]|\*(?!/))*+(?:\*/|\Z)|,(?=\s*[}\]])'
)


def read_bytes(path: Path, what: str = "file", head: int | None = None) -> bytes:
    """The bytes of a regular file (only its first `head` bytes when given),
    refused up front when it is too big or not a regular file."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise NotFound(f"{path} does not exist.") from None
    except OSError as exc:
        raise NotFound(
            f"Cannot open {path} ({exc.strerror}). Check its permissions."
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ImportFormatError(
                f"{path} is not a regular file. Give the {what} itself."
            )
        if head is not None:
            return os.read(fd, head)
        if info.st_size > MAX_INPUT_BYTES:
            raise ImportFormatError(_too_big(path, info.st_size))
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1024 * 1024)
            if not chunk:
                break
            total += len(chunk)
            if total > MAX_INPUT_BYTES:
                raise ImportFormatError(_too_big(path, total))
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise NotFound(f"Cannot read {path} ({exc.strerror}).") from None
    finally:
        os.close(fd)


def _too_big(path: Path, size: int) -> str:
    return (
        f"{path} is {size / 1024 / 1024:.0f} MB or more; the limit is "
        f"{MAX_INPUT_BYTES // 1024 // 1024} MB. Is it really a job store?"
    )


def decode(data: bytes, label: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFormatError(
            f"{label} is not UTF-8 text (bad byte at offset {exc.start}). "
            "Save it as UTF-8."
        ) from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(text: str, label: str, *, json5_fallback: bool = False) -> Any:
    """Parse and check JSON text; JSON5 comments and trailing commas when asked."""
    try:
        value = _loads(text, label, json5_fallback)
    except RecursionError:
        raise ImportFormatError(
            f"{label} is nested too deeply (the limit is {MAX_DEPTH} levels)."
        ) from None
    check(value, label)
    return value


def _loads(text: str, label: str, json5_fallback: bool) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constants)
    except ValueError as first:
        if not json5_fallback:
            raise ImportFormatError(f"{label} is not valid JSON ({first}).") from None
        failure = first
    try:  # comments and trailing commas, in one linear pass
        return json.loads(_strip_json5(text), parse_constant=_no_constants)
    except ValueError:
        pass
    if len(text) <= JSON5_MAX_BYTES:
        import json5

        try:
            return json5.loads(text)
        except RecursionError:
            raise
        except Exception:  # noqa: S110 - the strict parser's message says more
            pass
    where = (
        f"line {failure.lineno}, column {failure.colno}: {failure.msg}"
        if isinstance(failure, json.JSONDecodeError)
        else str(failure)
    )
    raise ImportFormatError(
        f"{label} is not valid JSON ({where}). "
        "Fix the file or import a backup such as jobs.json.bak."
    ) from None


def _strip_json5(text: str) -> str:
    def keep(match: re.Match[str]) -> str:
        token = match.group(0)
        return token if token.startswith('"') else ""

    return _JSON5_LITE.sub(keep, text)


def check(value: Any, label: str) -> None:
    """Refuse what no OpenClaw store holds: deep nesting, odd numbers, surrogates."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ImportFormatError(
                f"{label} is nested too deeply at {where or 'the top'} (the limit is "
                f"{MAX_DEPTH} levels)."
            )
        if isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, label, where)
                stack.append((child, f"{where}.{key}" if where else key, depth + 1))
        elif isinstance(item, list):
            for index, child in enumerate(item):
                stack.append((child, f"{where}[{index}]", depth + 1))
        elif isinstance(item, str):
            _check_text(item, label, where)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, float) and not math.isfinite(item):
            raise ImportFormatError(
                f"{label}: {where or 'the value'} is {item}, not a usable number."
            )
        elif isinstance(item, int | float) and abs(item) > MAX_SAFE_INT:
            raise ImportFormatError(
                f"{label}: {where or 'the value'} is {item:.6g}, out of range "
                f"(at most {MAX_SAFE_INT})."
            )


def _check_text(text: str, label: str, where: str) -> None:
    if not text.isascii() and _SURROGATE.search(text):
        raise ImportFormatError(
            f"{label}: {where or 'a key'} holds a lone UTF-16 surrogate "
            "(such as \\ud800), which is not text. Fix the file."
        )


def load_file(path: Path, *, json5_fallback: bool = False, what: str = "file") -> Any:
    """read_bytes + decode + loads."""
    text = decode(read_bytes(path, what), str(path))
    return loads(text, str(path), json5_fallback=json5_fallback)
