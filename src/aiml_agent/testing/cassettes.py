"""Safe, readable vcrpy cassettes: the defaults shared by the pytest plugin and `cassette()`.

- Secrets are never written, and neither are run-dependent request headers (the rules are in
  :mod:`aiml_agent.testing._scrubbing`). It runs inside the serializer, whichever one ``vcr_config`` picks,
  so no override turns it off by accident.
- Files are readable: JSON bodies become YAML mappings (``body: {json: ...}``), SSE streams literal text blocks,
  gzip/deflate bodies are decoded. Loading gives back exactly the bytes that were recorded.
- A file that is not a cassette fails with :class:`CassetteFormatError`, naming the file and what is wrong.
- Requests match on method, path and JSON body (key order ignored); a mismatch explains itself with a diff.
- MCP traffic (JSON-RPC over streamable HTTP) replays too (see :mod:`aiml_agent.testing._mcp_traffic`).
- Replays are cheap (parsed cassettes kept, bodies parsed and diffed once, no needless copies): see
  :mod:`aiml_agent.testing._replay_speed`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from aiml_agent.testing._cassette_format import CassetteFormatError, FileNamingPersister, checked_shape, yaml_problem
from aiml_agent.testing._mcp_traffic import matched_part
from aiml_agent.testing._network import blocked_network
from aiml_agent.testing._replay_speed import (
    body_diff,
    missing_libraries_fail_fast,
    parsed_body,
    parsed_once,
    skip_needless_request_copies,
)
from aiml_agent.testing._scrubbing import (
    PLACEHOLDER_KEY,
    REDACTED,
    SECRET_HEADER_WORDS,
    is_noise_header,
    is_secret_header,
    scrubbed,
)

if TYPE_CHECKING:
    from vcr import VCR
    from vcr.cassette import Cassette

__all__ = [
    "KEY_ENV",
    "MATCH_ON",
    "PLACEHOLDER_KEY",
    "RECORD_MODES",
    "REDACTED",
    "SECRET_HEADER_WORDS",
    "CassetteFormatError",
    "ReadableYAMLSerializer",
    "ScrubbingSerializer",
    "UnplayedInteractionsError",
    "cassette",
    "cassette_path",
    "configure_vcr",
    "is_noise_header",
    "is_secret_header",
    "json_body",
    "scrubbed",
]

KEY_ENV = "AIMLAPI_API_KEY"  #: the variable the API key is read from (a placeholder is set while replaying)
MATCH_ON = ("method", "path", "json_body")
RECORD_MODES = ("none", "once", "new_episodes", "all", "rewrite")

_JSON_STYLES: dict[str, dict[str, Any]] = {
    "compact": {"separators": (",", ":"), "ensure_ascii": False},
    "compact-ascii": {"separators": (",", ":")},
    "spaced": {"ensure_ascii": False},
    "spaced-ascii": {},
    "indented": {"indent": 2, "ensure_ascii": False},
    "indented-ascii": {"indent": 2},
}
_DEFAULT_STYLE = "compact"


class UnplayedInteractionsError(AssertionError):
    """A replayed cassette still holds interactions the code never requested: the recording is stale."""


def cassette_path(path: str | os.PathLike[str]) -> Path:
    """The file a cassette named ``path`` lives in: ``.yaml`` is added when the name has no suffix."""
    file = Path(path)
    return file if file.suffix else file.with_suffix(".yaml")


# --- serializer -------------------------------------------------------------------------------------------


def _json_form(text: str) -> dict[str, Any] | None:
    """``{"json": value[, "format": style]}`` when the text re-dumps to exactly itself, else None."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, (dict, list)):
        return None
    for name, options in _JSON_STYLES.items():
        for suffix, tail in (("", ""), ("+newline", "\n")):
            if json.dumps(value, **options) + tail == text:
                style = name + suffix
                return {"json": value} if style == _DEFAULT_STYLE else {"format": style, "json": value}
    return None


def _json_text(form: dict[str, Any]) -> str:
    style = form.get("format", _DEFAULT_STYLE)
    name, _, newline = style.partition("+")
    return json.dumps(form["json"], **_JSON_STYLES[name]) + ("\n" if newline else "")


class _Quoted(str):
    """A body written double-quoted (every odd character escaped): the last resort for exact text."""


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Writes multi-line text as literal blocks, so SSE streams read as they were sent."""


def _represent_str(dumper: Any, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_quoted(dumper: Any, value: _Quoted) -> Any:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style='"')


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_Quoted, _represent_quoted)


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


def _readable(body: Any) -> Any:
    """The readable stored form of a body: a ``{"json": ...}`` mapping when it is exactly re-dumpable JSON."""
    form = _json_form(body) if isinstance(body, str) else None
    return body if form is None else form


def _restored(stored: Any) -> Any:
    """The body text a stored form loads back as (what ``deserialize`` hands vcrpy)."""
    return _json_text(stored) if isinstance(stored, dict) and "json" in stored else stored


def _fallback(form: Any, body: Any) -> Any:
    """The next, plainer form to try for a body whose stored form did not load back exactly."""
    if isinstance(form, dict):
        return body
    return _Quoted(body) if isinstance(body, str) and not isinstance(form, _Quoted) else form


def _loads_back(form: Any, body: Any) -> bool:
    try:
        return _restored(_load(_dump(form))) == body
    except (UnicodeError, yaml.YAMLError):
        return False


def _load(text: str) -> Any:
    from vcr.serializers import yamlserializer

    return yamlserializer.deserialize(text)


def _ordered(mapping: dict[str, Any], first: tuple[str, ...]) -> dict[str, Any]:
    """The same mapping with `first` keys leading, so each body comes last in the file."""
    return {**{k: mapping[k] for k in first if k in mapping}, **mapping}


def _written(
    data: dict[str, Any], bodies: list[tuple[Any, Any]], forms: list[list[Any]]
) -> tuple[str | None, list[tuple[int, int]]]:
    """The cassette text when every body loads back exactly; else the (interaction, 0 request/1 response) that do not.

    One dump and one load of the whole file: far cheaper than checking each body on its own, which is done only
    when the file cannot be written at all, to find the body responsible.
    """
    try:
        text = _dump(data)
        loaded = _load(text)["interactions"]
    except (UnicodeError, yaml.YAMLError):
        wrong = [
            (i, part) for i, pair in enumerate(bodies) for part in (0, 1) if not _loads_back(forms[i][part], pair[part])
        ]
        if not wrong:
            raise  # not a body: nothing a plainer body form could fix
        return None, wrong
    wrong = []
    for index, (interaction, (request_body, response_body)) in enumerate(zip(loaded, bodies)):
        if _restored(interaction["request"].get("body")) != request_body:
            wrong.append((index, 0))
        stored = interaction["response"].get("body") or {}
        if _restored(stored if "json" in stored else stored.get("string")) != response_body:
            wrong.append((index, 1))
    return (None if wrong else text), wrong


class ReadableYAMLSerializer:
    """vcrpy serializer (registered as "yaml"): scrubs secrets, decodes bodies, writes JSON/SSE readably.

    Loading the file gives back exactly the recorded bodies: the written text is loaded once and compared;
    a body that did not survive (rare: odd characters, JSON that YAML retypes) is written plainer and the
    file written again -- JSON as its text, then text double-quoted with escapes.
    """

    @staticmethod
    def serialize(cassette_dict: dict[str, Any]) -> str:
        data = scrubbed(cassette_dict)
        interactions = data.get("interactions", [])
        bodies = [(i["request"].get("body"), i["response"].get("body", {}).get("string")) for i in interactions]
        forms = [[_readable(body) for body in pair] for pair in bodies]
        for interaction in interactions:
            interaction["request"] = _ordered(interaction["request"], ("method", "uri", "headers", "body"))
            interaction["response"] = _ordered(interaction["response"], ("status", "headers", "body"))
        for _ in range(3):  # readable form, then raw text, then quoted text
            for interaction, (request_form, response_form) in zip(interactions, forms):
                interaction["request"]["body"] = request_form
                stored = response_form if isinstance(response_form, dict) else {"string": response_form}
                interaction["response"]["body"] = stored
            text, wrong = _written(data, bodies, forms)
            if text is not None:
                return text
            for index, part in wrong:
                forms[index][part] = _fallback(forms[index][part], bodies[index][part])
        unwritable = [bodies[index][part] for index, part in wrong]
        raise ValueError(f"cannot write recorded bodies so that they load back exactly: {unwritable!r}")

    @staticmethod
    def deserialize(cassette_string: str) -> dict[str, Any]:
        return parsed_once(cassette_string, ReadableYAMLSerializer._parse)

    @staticmethod
    def _parse(cassette_string: str) -> dict[str, Any]:
        try:
            data = _load(cassette_string)
        except yaml.YAMLError as error:
            raise CassetteFormatError(yaml_problem(error)) from error
        data = checked_shape(data)
        for interaction in data["interactions"]:
            request, response = interaction["request"], interaction["response"]
            if isinstance(request.get("body"), dict) and "json" in request["body"]:
                request["body"] = _json_text(request["body"])
            if isinstance(response.get("body"), dict) and "json" in response["body"]:
                response["body"] = {"string": _json_text(response["body"])}
        return data


class ScrubbingSerializer:
    """Another vcrpy serializer (e.g. ``"serializer": "json"`` in ``vcr_config``) behind the same scrubbing."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def serialize(self, cassette_dict: dict[str, Any]) -> str:
        return self.inner.serialize(scrubbed(cassette_dict))

    def deserialize(self, cassette_string: str) -> Any:
        return parsed_once(cassette_string, self._parse)

    def _parse(self, cassette_string: str) -> Any:
        try:
            data = self.inner.deserialize(cassette_string)
        except (ValueError, yaml.YAMLError) as error:  # json.JSONDecodeError is a ValueError
            if isinstance(error, CassetteFormatError):
                raise
            raise CassetteFormatError(f"cannot be read: {' '.join(str(error).split())}") from error
        return checked_shape(data)


# --- matcher ----------------------------------------------------------------------------------------------


def json_body(r1: Any, r2: Any) -> None:
    """Match request bodies as JSON (key order ignored); raise AssertionError with a diff when they differ.

    vcrpy passes the request being made first and the recorded one second. JSON-RPC messages (MCP) match on
    method and params: ids and the client's ``_meta`` / ``clientInfo`` are not compared.
    """
    if matched_part(parsed_body(r1.body)) == matched_part(parsed_body(r2.body)):
        return
    new, recorded = (body if body is not None else b"" for body in (r1.body, r2.body))
    if not isinstance(new, (bytes, str)) or not isinstance(recorded, (bytes, str)):
        raise AssertionError(f"bodies differ: recorded {recorded!r}, this request {new!r}")
    raise AssertionError(body_diff(recorded, new))


# --- configuration ----------------------------------------------------------------------------------------


def configure_vcr(vcr: VCR) -> VCR:
    """Install the defaults on a VCR instance; options passed to ``use_cassette`` still override them."""
    for name, serializer in list(vcr.serializers.items()):
        if not isinstance(serializer, ScrubbingSerializer):
            vcr.register_serializer(name, ScrubbingSerializer(serializer))
    vcr.register_serializer("yaml", ReadableYAMLSerializer)
    if not isinstance(vcr.persister, FileNamingPersister):
        vcr.register_persister(FileNamingPersister(vcr.persister))
    vcr.register_matcher("json_body", json_body)
    skip_needless_request_copies(vcr)
    vcr.serializer = "yaml"
    vcr.match_on = MATCH_ON
    vcr.decode_compressed_response = True
    return vcr


def unplayed_message(cassette: Cassette) -> str | None:
    """A message naming the recorded interactions a write-protected cassette never played, or None."""
    if not cassette.write_protected or cassette.all_played:
        return None
    missing = [
        f"  #{i + 1} {req.method} {req.uri}" for i, (req, _) in enumerate(cassette.data) if not cassette.play_counts[i]
    ]
    return (
        f"{len(missing)} of {len(cassette)} recorded interactions in {cassette.path} were never "
        f"requested; the code no longer makes them:\n"
        + "\n".join(missing)
        + "\nRe-record the cassette (pytest --record-mode=rewrite), or allow it with allow_unplayed=True."
    )


#: How to record a missing cassette, in the words of each way of replaying one.
RECORD_WITH_PYTEST = (
    "Record it: run the test with pytest --record-mode=once (aiml-agent's plugin only replays by default: "
    "record mode 'none'); with AIMLAPI_API_KEY set it records the real API"
)
RECORD_WITH_CASSETTE = (
    "Record it: cassette(path, mode='once') (the default mode 'none' only replays); with AIMLAPI_API_KEY set "
    "it records the real API"
)


def correct_record_advice(error: BaseException, advice: str) -> None:
    """Put ``advice`` in place of vcrpy's in a "cassette not found" error raised by a replay (in ``error``'s chain).

    vcrpy advises "record_mode='once' (the default)", but here the default is ``none``: the advice names the
    step that records under the plugin or :func:`cassette`. The message is changed in place, so the error
    keeps its type and its place in the traceback.
    """
    from vcr.errors import CannotOverwriteExistingCassetteException

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, CannotOverwriteExistingCassetteException) and current.reason == "cassette_not_found":
            head = str(current).split("\nHow to fix:", 1)[0].rstrip()
            fixes = f"  * {advice}.\n  * If you expected the cassette to exist, check its path: {current.cassette.path}"
            current.args = (f"{head}\n\nHow to fix:\n{fixes}",)
        current = current.__cause__ or current.__context__


@contextmanager
def placeholder_key(env: str = KEY_ENV) -> Iterator[None]:
    """Set a placeholder API key while replaying when none is set, so clients can be built without one."""
    if os.environ.get(env):
        yield
        return
    os.environ[env] = PLACEHOLDER_KEY
    try:
        yield
    finally:
        if os.environ.get(env) == PLACEHOLDER_KEY:
            del os.environ[env]


@contextmanager
def cassette(
    path: str | os.PathLike[str],
    mode: str = "none",
    *,
    allow_unplayed: bool = False,
    block_network: bool | None = None,
    allowed_hosts: list[str] | None = None,
    **vcr_options: Any,
) -> Iterator[Cassette]:
    """Record or replay HTTP traffic (httpx2, httpx, requests, ...) to a YAML cassette, with the safe defaults.

    :param path: The cassette file (``.yaml`` is added when there is no suffix).
    :param mode: ``"none"`` replays only; ``"once"`` records if the file does not exist; ``"new_episodes"``
        adds requests that are not in it; ``"all"`` records everything again; ``"rewrite"`` records a new file
        and puts it in place of the old one on a clean exit (after an error, the old file stays as it was).
    :param allow_unplayed: Do not fail when a replayed cassette has interactions that were never requested.
    :param block_network: Block real connections while the cassette cannot record (default: when replaying).
    :param allowed_hosts: Host regexes still reachable while the network is blocked.
    :param vcr_options: Other ``vcr.VCR.use_cassette`` options; they override the defaults.
    :raises UnplayedInteractionsError: On a clean exit from a replay that left interactions unplayed.
    """
    import vcr as vcrpy

    if mode not in RECORD_MODES:
        raise ValueError(f"Unknown cassette mode {mode!r}; expected one of {', '.join(RECORD_MODES)}")
    target = cassette_path(path)
    file = target
    if mode == "rewrite":
        # Recorded beside the old file, which is replaced in one step at the end: nobody replaying it meanwhile
        # (another process, a test run) finds it missing or half written, and a failed run leaves it intact.
        file = target.with_name(f".{target.stem}.recording{target.suffix}")
        file.unlink(missing_ok=True)
        mode = "new_episodes"
    recorder = configure_vcr(vcrpy.VCR(record_mode=mode))
    try:
        with ExitStack() as stack:
            with missing_libraries_fail_fast():
                tape = stack.enter_context(recorder.use_cassette(str(file), **vcr_options))
            blocking = tape.write_protected if block_network is None else block_network
            try:
                with placeholder_key(), blocked_network(allowed_hosts) if blocking else nullcontext():
                    yield tape
            except Exception as error:
                correct_record_advice(error, RECORD_WITH_CASSETTE)
                raise
            message = None if allow_unplayed else unplayed_message(tape)
        if file != target:
            if file.exists():
                os.replace(file, target)
            else:  # nothing was requested: the new recording is empty
                target.unlink(missing_ok=True)
    finally:
        if file != target:
            file.unlink(missing_ok=True)
    if message:
        raise UnplayedInteractionsError(message)
