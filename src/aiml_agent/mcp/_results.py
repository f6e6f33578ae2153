"""What the model reads for an MCP tool's result: text joined, structured content as JSON, other content as a note.

By the protocol's convention a tool that returns structured content also returns it serialized in a text
block; the structured content is what is sent then (as JSON), not both. Images, audio and binary resources
cannot be put in a tool message's text: each becomes a one-line note saying what was left out.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.types import (
    AudioContent,
    BlobResourceContents,
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
)


def result_text(result: CallToolResult) -> str:
    """The text of a successful call: the structured content as JSON when there is some, else the text blocks
    joined by newlines; a note for each block that is not text."""
    parts: list[str] = []
    if result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    for block in result.content:
        if isinstance(block, TextContent):
            if result.structured_content is None:
                parts.append(block.text)
        else:
            parts.append(_describe_block(block))
    return "\n".join(parts)


def error_text(result: CallToolResult) -> str:
    """What the server said about a failed call (``isError``): its text, or a note that it gave none."""
    text = result_text(result).strip()
    return text or "the server reported an error without a message"


def _describe_block(block: Any) -> str:
    if isinstance(block, EmbeddedResource):
        resource = block.resource
        if isinstance(resource, TextResourceContents):
            return f"[resource {resource.uri}]\n{resource.text}"
        if isinstance(resource, BlobResourceContents):
            size = _decoded_size(resource.blob)
            return f"[resource {resource.uri}: {resource.mime_type or 'binary'} data, {size} bytes, not shown]"
    if isinstance(block, (ImageContent, AudioContent)):
        return f"[{block.type}: {block.mime_type}, {_decoded_size(block.data)} bytes, not shown]"
    if isinstance(block, ResourceLink):
        about = f" - {block.description}" if block.description else ""
        return f"[resource link: {block.uri} ({block.name}){about}]"
    kind = getattr(block, "type", type(block).__name__)
    return f"[{kind} content, not shown]"


def _decoded_size(data: str) -> int:
    """The size in bytes of base64 ``data``, without decoding it."""
    return len(data) * 3 // 4 - data[-2:].count("=")
