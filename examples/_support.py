"""Plumbing shared by the examples (not part of the library): replay a cassette, run live, or re-record.

Each example wraps its work in ``with example_session("<name>") as api_base_url:`` and passes that URL to its
generator. What happens then depends on the environment and the command line:

    python examples/<name>.py                          # no AIMLAPI_API_KEY: replay cassettes/examples/<name>.yaml
    AIMLAPI_API_KEY=... python examples/<name>.py       # live, against AIMLAPI
    AIMLAPI_API_KEY=... python examples/<name>.py --record   # live, and re-record the cassette
    python examples/<name>.py --record [--offline]      # re-record against a local ScriptedServer
                                                        # (scripted answers from examples/_recording.py)

Live runs go to ``AIMLAPI_BASE_URL`` when it is set (the tests point it at a ScriptedServer), else to AIMLAPI.

An example that runs in more than one process (``chat_session.py``) passes ``part=1``, ``part=2``, ...: the
parts share one cassette, each replaying the requests it makes (part 1 re-records it, later parts add to it),
and each has its own script in ``_recording.py`` (``"<name>/<part>"``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vcr.errors import CannotOverwriteExistingCassetteException

from aiml_agent.testing import ScriptedServer, cassette
from aiml_agent.testing.cassettes import UnplayedInteractionsError

ROOT = Path(__file__).resolve().parents[1]
CASSETTES = ROOT / "cassettes" / "examples"
AIMLAPI_BASE_URL = os.environ.get("AIMLAPI_BASE_URL", "https://api.aimlapi.com/v1")
OFFLINE_KEY = "offline-recording-key"  # sent only to the local ScriptedServer; scrubbed from the cassette
_session = {"replaying": False}


def replaying() -> bool:
    """Whether the current ``example_session`` replays its cassette (so no local server needs to run)."""
    return _session["replaying"]


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run this example: replayed, live, or re-recording it.")
    parser.add_argument(
        "--record",
        action="store_true",
        help="re-record the cassette (against AIMLAPI when AIMLAPI_API_KEY is set, "
        "else against a local ScriptedServer)",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="with --record: record against the local ScriptedServer even when a key is set",
    )
    return parser.parse_known_args()[0]  # an example may take options of its own


@contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


@contextmanager
def scripted_server(name: str) -> Iterator[ScriptedServer]:
    """A ScriptedServer playing the model for script `name`, with a fake key; checks the script was used up."""
    # examples/ is on sys.path: it is the running script's folder
    from _recording import SCRIPTS

    with ScriptedServer(SCRIPTS[name]) as server, _env("AIMLAPI_API_KEY", OFFLINE_KEY):
        yield server
        if server.remaining:
            raise RuntimeError(
                f"The example made fewer model calls than scripted for {name!r} in _recording.py "
                f"({server.remaining} replies left): update the script."
            )


@contextmanager
def example_session(name: str, *, part: int | None = None) -> Iterator[str]:
    """Replay, run live or re-record example `name`; yields the ``api_base_url`` its generator should use.

    :param part: For an example that runs in several processes, which one this is (1, 2, ...).
    """
    options = _options()
    path = CASSETTES / f"{name}.yaml"
    shown = path.relative_to(ROOT)
    has_key = bool(os.environ.get("AIMLAPI_API_KEY"))
    record_mode = "rewrite" if part in (None, 1) else "new_episodes"  # later parts add to what part 1 recorded
    if options.record and (options.offline or not has_key):
        script = name if part is None else f"{name}/{part}"
        with scripted_server(script) as server, cassette(path, mode=record_mode):
            print(f"[recording {shown} against a local ScriptedServer: scripted answers, not a real model]")
            yield server.base_url
        print(f"[recorded {shown}]")
    elif options.record:
        with cassette(path, mode=record_mode):
            print(f"[recording {shown} against {AIMLAPI_BASE_URL}]")
            yield AIMLAPI_BASE_URL
        print(f"[recorded {shown}]")
    elif has_key:
        yield AIMLAPI_BASE_URL
    else:
        print(f"[replay: no AIMLAPI_API_KEY set, so the model's answers come from {shown}; set a key to run live]")
        try:
            # a request with no recording fails at once: it is never retried; a part leaves the others' requests
            with cassette(path, mode="none", allow_unplayed=part is not None):
                _session["replaying"] = True
                try:
                    yield AIMLAPI_BASE_URL
                finally:
                    _session["replaying"] = False
        except (CannotOverwriteExistingCassetteException, UnplayedInteractionsError) as exc:
            print(
                f"\nThis run no longer matches the recording in {shown}:\n\n{exc}\n\nIf you changed the "
                f"example on purpose, re-record it: python examples/{name}.py --record",
                file=sys.stderr,
            )
            raise SystemExit(1) from None
