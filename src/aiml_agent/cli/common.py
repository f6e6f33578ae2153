"""What the commands share: the error they raise for bad input, and terminal styling."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TextIO


class CLIError(Exception):
    """Bad input or a failed step, reported as one line on stderr (the message names what was wrong)."""


def json_value(text: str) -> Any:
    """A JSON value given inline, or as ``@path`` to a file holding it; a :class:`CLIError` says what is wrong.

    :param text: ``'{"user_id": 42}'`` or ``@deps.json``.
    """
    where = "the value"
    if text.startswith("@"):
        path = Path(text[1:])
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CLIError(f"no such file: {path}") from None
        except (OSError, UnicodeDecodeError) as error:
            raise CLIError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CLIError(
            f"{where} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno} "
            """(e.g. '{"user_id": 42}', or @file.json)"""
        ) from None


class Style:
    """ANSI styling for a terminal; plain text when the stream is not a TTY or ``NO_COLOR`` is set."""

    _CODES: ClassVar[dict[str, str]] = {
        "bold": "1",
        "dim": "2",
        "red": "31",
        "green": "32",
        "yellow": "33",
        "blue": "34",
        "cyan": "36",
    }

    def __init__(self, stream: TextIO) -> None:
        is_tty = bool(getattr(stream, "isatty", lambda: False)())
        self.enabled = is_tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"

    def __call__(self, text: str, *names: str) -> str:
        """Wrap ``text`` in the named styles (e.g. ``style(text, "bold", "red")``) when enabled."""
        if not self.enabled or not names or not text:
            return text
        codes = ";".join(self._CODES[name] for name in names)
        return f"\x1b[{codes}m{text}\x1b[0m"


def number_text(value: object) -> str:
    """A number without exponent notation (AIMLAPI's ``usd_spent`` is often around 0.00002)."""
    if isinstance(value, float):
        return f"{value:.10f}".rstrip("0").rstrip(".") or "0"
    return str(value)


def seconds_text(value: float) -> str:
    """A duration as ``250 ms`` under a second, else ``1.50 s``."""
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def indent(text: str, prefix: str) -> str:
    """Indent every line of ``text`` (including empty ones) with ``prefix``."""
    return "\n".join(prefix + line if line else prefix.rstrip() for line in text.splitlines() or [""])


def usage_text(usage: Mapping[str, Any] | None, cost: Mapping[str, Any] | None = None) -> str:
    """Token usage and AIMLAPI cost as every command shows them; empty when there is neither.

    ``61 tokens (50 prompt + 11 completion) · cost 42 credits, $0.000021``
    """
    usage = usage or {}
    prompt, completion, total = (usage.get(f"{key}_tokens") for key in ("prompt", "completion", "total"))
    parts = []
    if prompt or completion or total:
        total = total if total is not None else (prompt or 0) + (completion or 0)
        split = prompt is not None or completion is not None
        parts.append(f"{total} tokens" + (f" ({prompt or 0} prompt + {completion or 0} completion)" if split else ""))
    shown = []
    for key, value in (cost or {}).items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if key == "credits_used":
            shown.append(f"{number_text(value)} credits")
        elif key == "usd_spent":
            shown.append(f"${number_text(value)}")
        else:
            shown.append(f"{key} {number_text(value)}")
    if shown:
        parts.append("cost " + ", ".join(shown))
    return " · ".join(parts)
