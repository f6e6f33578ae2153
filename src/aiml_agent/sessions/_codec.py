"""Messages as stored text: Haystack's ``ChatMessage.to_dict`` / ``from_dict`` in compact JSON.

Everything a message holds survives: text, tool calls (malformed-argument extras included), tool results (text or
content parts), reasoning, images, files, name and meta. A meta value JSON cannot hold is stored as its text,
with a warning naming it, so a finished run is never lost to an odd value a caller put in ``meta``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from haystack.dataclasses import ChatMessage

logger = logging.getLogger(__name__)


def dumps(message: ChatMessage) -> str:
    """The message as compact JSON text."""
    return json.dumps(message.to_dict(), ensure_ascii=False, separators=(",", ":"), default=_as_text)


def loads(text: str) -> ChatMessage:
    """The message :func:`dumps` wrote (raises ``ValueError``/``TypeError``/``KeyError`` on damaged text)."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    return ChatMessage.from_dict(data)


def _as_text(value: Any) -> str:
    logger.warning(
        "A message holds a %s, which JSON cannot store; the session stores its text instead", type(value).__name__
    )
    return str(value)
