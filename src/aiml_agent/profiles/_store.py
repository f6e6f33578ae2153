"""Which catalogue is in force, and refreshing it from AIMLAPI's ``GET /models``.

In force is, first found: the catalogue refreshed in this process, the on-disk cache a refresh wrote (in this or
an earlier process), the snapshot embedded in the package. The cache lives in ``$AIML_AGENT_CACHE_DIR``, else the
user cache directory (``$XDG_CACHE_HOME/aiml-agent``, ``~/Library/Caches/aiml-agent``,
``%LOCALAPPDATA%\\aiml-agent``). Nothing is read before the first profile is asked for.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

from aiml_agent.profiles._catalogue import Catalogue, parse_models

logger = logging.getLogger(__name__)

CACHE_ENV = "AIML_AGENT_CACHE_DIR"
CACHE_FILE = "catalogue.json"
EMBEDDED = Path(__file__).resolve().parent / "catalogue.json"
DEFAULT_BASE_URL = "https://api.aimlapi.com/v1"
REFRESH_TIMEOUT = 15.0

_lock = threading.Lock()
_current: Catalogue | None = None


def default_cache_dir() -> Path:
    """Where the refreshed catalogue is cached when no ``cache_dir`` is given."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "aiml-agent"


def current_catalogue() -> Catalogue:
    """The catalogue in force (loaded on first use; see the module docstring)."""
    global _current
    catalogue = _current
    if catalogue is not None:
        return catalogue
    with _lock:
        if _current is None:
            _current = _read_cache(default_cache_dir()) or embedded_catalogue()
        return _current


def embedded_catalogue() -> Catalogue:
    """The snapshot shipped with the package."""
    return Catalogue.from_json(json.loads(EMBEDDED.read_bytes()), source="embedded")


def reset_catalogue() -> None:
    """Forget the catalogue in force, so the next lookup reads the cache or the snapshot again (for tests)."""
    global _current
    with _lock:
        _current = None


def refresh_catalogue(base_url: str | None = None, cache_dir: str | os.PathLike[str] | None = None) -> Catalogue:
    """Fetch AIMLAPI's model list (``GET {base_url}/models``, no key needed) and put it in force.

    The answer is cached on disk with its ETag; the next refresh sends ``If-None-Match`` and a ``304 Not
    Modified`` keeps the cache. After a refresh, `profile_for` answers from the new catalogue at once in this
    process, and through the cache in later ones. When the server cannot be reached or answers nonsense, the
    cache (or else the embedded snapshot) stays in force and a warning says why.

    :param base_url: The API base URL; default ``AIMLAPI_BASE_URL``, else ``https://api.aimlapi.com/v1``.
    :param cache_dir: Where to cache it; default ``AIML_AGENT_CACHE_DIR``, else the user cache directory.
    :returns: The catalogue now in force; its ``source`` says where it came from (``"network"``, ``"cache"``
        or ``"embedded"``).
    """
    global _current
    url_base = (base_url or os.environ.get("AIMLAPI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    cached = _read_cache(directory)
    etag = cached.etag if cached is not None and cached.base_url == url_base else None
    try:
        status, body, new_etag = _fetch(f"{url_base}/models?include=capabilities", etag)
        if status == 304 and cached is not None:
            fresh = Catalogue(
                cached.models, source="network", fetched_at=_now(), base_url=url_base, etag=new_etag or cached.etag
            )
        else:
            models = parse_models(json.loads(body))
            if not models:
                raise ValueError("the answer lists no text model")
            fresh = Catalogue(models, source="network", fetched_at=_now(), base_url=url_base, etag=new_etag)
    except (OSError, ValueError) as error:  # urllib's errors are OSErrors; bad JSON or shape a ValueError
        kept = cached or embedded_catalogue()
        warning = (
            f"Could not refresh the model catalogue from {url_base}/models ({_reason(error)}); using the "
            f"{'cached one' if cached is not None else 'snapshot embedded in aiml-agent'} ({len(kept)} models)."
        )
        logger.warning(warning)
        fallback = Catalogue(
            kept.models,
            source=kept.source,
            fetched_at=kept.fetched_at,
            base_url=kept.base_url,
            etag=kept.etag,
            warning=warning,
        )
        with _lock:
            _current = fallback
        return fallback
    _write_cache(directory, fresh)
    with _lock:
        _current = fresh
    return fresh


def _fetch(url: str, etag: str | None) -> tuple[int, bytes, str | None]:
    """``(status, body, etag)`` of a GET; a 304 comes back as a status, other HTTP errors raise."""
    import urllib.error
    import urllib.request

    headers = {"Accept": "application/json", "User-Agent": "aiml-agent"}
    if etag:
        headers["If-None-Match"] = etag
    request = urllib.request.Request(url, headers=headers, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=REFRESH_TIMEOUT) as response:
            return response.status, response.read(), response.headers.get("ETag")
    except urllib.error.HTTPError as error:
        if error.code == 304:
            return 304, b"", error.headers.get("ETag")
        raise


def _read_cache(directory: Path) -> Catalogue | None:
    file = directory / CACHE_FILE
    try:
        raw = file.read_bytes()
    except OSError:
        return None
    try:
        return Catalogue.from_json(json.loads(raw), source="cache")
    except ValueError as error:
        logger.warning("Ignoring the model catalogue cache %s: %s", file, error)
        return None


def _write_cache(directory: Path, catalogue: Catalogue) -> None:
    """Write the cache atomically (a reader never sees half a file); a failure only warns."""
    file = directory / CACHE_FILE
    temporary = file.with_name(f"{CACHE_FILE}.{os.getpid()}.tmp")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(catalogue.to_json(), separators=(",", ":")), encoding="utf-8")
        os.replace(temporary, file)
    except OSError as error:
        logger.warning("Could not write the model catalogue cache %s: %s", file, error)
        temporary.unlink(missing_ok=True)


def _reason(error: BaseException) -> str:
    import urllib.error

    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    if isinstance(error, json.JSONDecodeError):
        return f"the answer is not JSON: {error}"
    return str(error) or type(error).__name__


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
