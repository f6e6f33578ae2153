"""Replaying a cassette cheaply: what vcrpy, as configured here, would otherwise spend on every replayed test.

A short agent test replays in a few milliseconds of its own, and vcrpy used to spend more than that around it:

- each cassette file is parsed once per process (YAML is slow to load): the parsed data is kept, keyed by the
  file's text, and every load gets its own copy (vcrpy changes what it loads);
- vcrpy compares every incoming request with every recorded one, several times per request, and turns each
  mismatch into its message at once: the JSON-body matcher parses each body once and builds each diff once;
- vcrpy deep-copies the incoming request before each comparison, so that request filters cannot change it:
  without any request filter configured there is nothing to protect, and no copy is made;
- entering a cassette, vcrpy tries to import every HTTP library it knows how to patch; the ones that are not
  installed fail at once (they are looked up once per process), instead of a search of ``sys.path`` each time.
"""

from __future__ import annotations

import copy
import difflib
import importlib.util
import json
import marshal
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache, lru_cache
from typing import Any

#: Parsed cassettes kept (least recently used ones are dropped first).
PARSED_CASSETTES = 64
#: The HTTP libraries vcrpy (9.x) tries to patch, by top-level package.
VCR_OPTIONAL_LIBRARIES = (
    "boto3",
    "botocore",
    "urllib3",
    "requests",
    "httplib2",
    "tornado",
    "aiohttp",
    "httpx",
    "httpx_curl_cffi",
    "pyreqwest",
    "httpx2",
)

_parsed: OrderedDict[str, Any] = OrderedDict()
_parsed_lock = threading.Lock()


def copied(data: Any) -> Any:
    """A deep copy of plain data (dicts, lists, text, bytes, numbers), fast; other data through ``copy``."""
    try:
        return marshal.loads(marshal.dumps(data))
    except ValueError:  # something marshal does not take (a datetime YAML found, say)
        return copy.deepcopy(data)


def parsed_once(text: str, parse: Callable[[str], Any]) -> Any:
    """``parse(text)``, computed once per distinct text (within the last `PARSED_CASSETTES`); a copy each time."""
    with _parsed_lock:
        data = _parsed.get(text)
        if data is not None:
            _parsed.move_to_end(text)
    if data is None:
        data = parse(text)  # a file that is not a cassette raises here, and nothing is kept
        with _parsed_lock:
            _parsed[text] = data
            while len(_parsed) > PARSED_CASSETTES:
                _parsed.popitem(last=False)
    return copied(data)


# --- the JSON-body matcher's work ---------------------------------------------------------------------------


class _NotJSON:
    """A body that is not JSON, compared (and shown) as its text."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _NotJSON) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def _parse_body(body: Any) -> Any:
    if body is None or body in (b"", ""):
        return None
    try:
        return json.loads(body)
    except (ValueError, TypeError):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        return _NotJSON(text)


@lru_cache(maxsize=1024)
def _parse_cached(body: bytes | str) -> Any:
    return _parse_body(body)


def parsed_body(body: Any) -> Any:
    """A request body as JSON data (``None`` when empty, a `_NotJSON` when not JSON); each body parsed once.

    The result is shared: compare it, never change it.
    """
    if isinstance(body, (bytes, str)):
        return _parse_cached(body)
    return _parse_body(body)


@lru_cache(maxsize=512)
def _pretty_lines(body: bytes | str) -> tuple[str, ...]:
    value = parsed_body(body)
    if isinstance(value, _NotJSON):
        return tuple(value.text.splitlines())
    return tuple(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).splitlines())


@lru_cache(maxsize=512)
def body_diff(recorded: bytes | str, new: bytes | str) -> str:
    """A unified diff of two request bodies (JSON pretty-printed with sorted keys), at most 40 lines."""
    diff = difflib.unified_diff(
        _pretty_lines(recorded), _pretty_lines(new), "recorded", "this request", n=2, lineterm=""
    )
    lines = [line if len(line) <= 200 else line[:200] + "…" for line in diff]
    if len(lines) > 40:
        lines = [*lines[:40], f"… ({len(lines) - 40} more diff lines)"]
    return "\n".join(lines)


# --- vcrpy's request copies and imports ---------------------------------------------------------------------


_REQUEST_FILTER_OPTIONS = (
    "filter_headers",
    "filter_query_parameters",
    "filter_post_data_parameters",
    "before_record_request",
    "before_record",
    "ignore_hosts",
    "ignore_localhost",
)


def _unchanged(request: Any) -> Any:
    return request


def skip_needless_request_copies(vcr: Any) -> None:
    """Make ``vcr`` hand cassettes a request filter that copies nothing when no request filter is configured.

    vcrpy's own one deep-copies the request every time a cassette looks at it (to keep filters from changing
    it); with no filter configured (by the VCR or by ``use_cassette`` options) that copy protects nothing.
    """
    build = getattr(vcr, "_build_before_record_request", None)
    if build is None or getattr(build, "_skips_needless_copies", False):
        return

    def build_filter(options: dict[str, Any]) -> Callable[[Any], Any]:
        configured = any(options.get(name, getattr(vcr, name, None)) for name in _REQUEST_FILTER_OPTIONS)
        return build(options) if configured else _unchanged

    build_filter._skips_needless_copies = True  # type: ignore[attr-defined]
    vcr._build_before_record_request = build_filter


@cache
def _not_installed() -> tuple[str, ...]:
    missing = []
    for name in VCR_OPTIONAL_LIBRARIES:
        try:
            if name not in sys.modules and importlib.util.find_spec(name) is None:
                missing.append(name)
        except (ImportError, ValueError):
            missing.append(name)
    return tuple(missing)


@contextmanager
def missing_libraries_fail_fast() -> Iterator[None]:
    """While vcrpy patches the HTTP libraries it knows, the ones not installed fail to import at once.

    They are marked absent in ``sys.modules`` (what makes an import fail without a search) for the duration of
    the block only.
    """
    marked = [name for name in _not_installed() if name not in sys.modules]
    for name in marked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in marked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
