"""pytest plugin (registered through the ``pytest11`` entry point): safe cassette defaults for agent tests, and
fixtures for tests against a scripted model.

Fixtures:

- ``scripted_server``: a factory, ``scripted_server(script, **options)`` starts a
  :class:`~aiml_agent.testing.ScriptedServer` (every one is stopped after the test);
- ``aimlapi_generator``: a factory, ``aimlapi_generator(script_or_server, **generator_kwargs)`` gives an
  ``AIMLAPIChatGenerator`` pointed at a scripted server (a new one playing ``script``, or the server given) with
  a placeholder key and no retries (both can be overridden).

On top of pytest-recording, for tests marked ``@pytest.mark.vcr``:

- cassettes live in ``<rootdir>/cassettes/<module path without a leading tests/>/<test name>.yaml``;
- the defaults of `aiml_agent.testing.cassettes` (secrets scrubbed, readable YAML, method + path + JSON body
  matching with a diff) are installed on pytest-recording's VCR object, so every key of your own
  ``vcr_config`` fixture (or of the ``vcr`` mark) still overrides them one by one;
- a replay needs no ``AIMLAPI_API_KEY`` (a placeholder is set for the test when none is) and no network
  (connections are blocked while the cassette cannot record, except ``--allowed-hosts``);
- a cassette that cannot be read fails naming the file and what is wrong; a missing one fails with advice
  that records it here (``--record-mode=once``: this plugin's default mode is ``none``);
- a replayed test that leaves recorded interactions unplayed fails. Opt out per test with
  ``@pytest.mark.vcr(allow_unplayed=True)``, in ``vcr_config`` with ``"allow_unplayed": True``, or for the
  whole project with the ini option ``aiml_allow_unplayed = true``.

Importing this module is cheap: vcrpy, the cassette helpers and the scripted models load only when a test uses
them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from aiml_agent.generator import AIMLAPIChatGenerator
    from aiml_agent.testing._script import Script
    from aiml_agent.testing.server import ScriptedServer

_TEST_DIRS = ("tests", "test")
_STRICT_TAPE = pytest.StashKey[Any]()  # the cassette whose interactions must all be played


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "aiml_allow_unplayed",
        type="bool",
        default=False,
        help="aiml-agent: do not fail replayed tests that leave cassette interactions unplayed.",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Registered now, after every entry-point plugin, so these fixtures take precedence over
    # pytest-recording's own defaults (later registration wins); conftest fixtures still override both.
    if not config.pluginmanager.has_plugin("aiml_agent.cassette_fixtures"):
        config.pluginmanager.register(CassetteFixtures(), "aiml_agent.cassette_fixtures")


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_recording_configure(config: pytest.Config, vcr: Any) -> None:
    """Install our defaults first; a conftest's own ``pytest_recording_configure`` runs after and wins."""
    from aiml_agent.testing.cassettes import configure_vcr

    configure_vcr(vcr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """Fail a passing replayed test whose cassette still holds interactions it never requested.

    A test that failed for want of a cassette gets advice that records one under this plugin.
    """
    try:
        result = yield
    except Exception as error:
        if item.get_closest_marker("vcr") is not None:
            from aiml_agent.testing.cassettes import RECORD_WITH_PYTEST, correct_record_advice

            correct_record_advice(error, RECORD_WITH_PYTEST)
        raise
    tape = item.stash.get(_STRICT_TAPE, None)
    if tape is not None:
        from aiml_agent.testing.cassettes import UnplayedInteractionsError, unplayed_message

        message = unplayed_message(tape)
        if message:
            raise UnplayedInteractionsError(message)
    return result


def _allow_unplayed(request: pytest.FixtureRequest) -> bool:
    options: dict[str, Any] = dict(request.getfixturevalue("vcr_config") or {})
    for mark in reversed(list(request.node.iter_markers("vcr"))):
        options.update(mark.kwargs)
    return bool(options.get("allow_unplayed", request.config.getini("aiml_allow_unplayed")))


def cassette_dir(rootdir: Path, module: Path) -> Path:
    """``rootdir/cassettes/<module path relative to rootdir, minus a leading tests/ folder, no suffix>``."""
    try:
        parts = list(module.with_suffix("").relative_to(rootdir).parts)
    except ValueError:
        parts = [module.stem]
    if len(parts) > 1 and parts[0] in _TEST_DIRS:
        parts = parts[1:]
    return rootdir.joinpath("cassettes", *parts)


class CassetteFixtures:
    """Fixtures that replace pytest-recording's defaults (a plugin object, so its registration comes last)."""

    @pytest.fixture(scope="module")
    @classmethod
    def vcr_cassette_dir(cls, request: pytest.FixtureRequest) -> str:
        """Cassettes of a test module: ``<rootdir>/cassettes/<module>/``, one file per test."""
        return os.fspath(cassette_dir(Path(request.config.rootpath), Path(request.node.path)))

    @pytest.fixture(autouse=True)
    def _aiml_cassette_replay(self, request: pytest.FixtureRequest) -> Iterator[None]:
        """While a cassette replays: a placeholder API key when none is set, and no network."""
        if request.node.get_closest_marker("vcr") is None or request.config.getoption(
            "--disable-recording", default=False
        ):
            yield
            return
        from aiml_agent.testing._replay_speed import missing_libraries_fail_fast
        from aiml_agent.testing.cassettes import blocked_network, placeholder_key

        with missing_libraries_fail_fast():  # entering the cassette, vcrpy tries every HTTP library it knows
            tape = request.getfixturevalue("vcr")
        if tape is not None and not _allow_unplayed(request):
            request.node.stash[_STRICT_TAPE] = tape
        if tape is not None and tape.write_protected:
            with placeholder_key(), blocked_network(request.getfixturevalue("allowed_hosts")):
                yield
        else:
            with placeholder_key():
                yield


@pytest.fixture
def scripted_server() -> Iterator[Callable[..., ScriptedServer]]:
    """Start scripted servers: ``server = scripted_server(script, model=..., models=...)`` (the arguments of
    ``ScriptedServer``); each one is stopped when the test ends."""
    from aiml_agent.testing.server import ScriptedServer

    servers: list[ScriptedServer] = []

    def start(script: Script | None = None, **options: Any) -> ScriptedServer:
        server = ScriptedServer(script, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def aimlapi_generator(scripted_server: Callable[..., ScriptedServer]) -> Callable[..., AIMLAPIChatGenerator]:
    """Make generators pointed at scripted servers: ``aimlapi_generator(script)`` starts a server playing
    ``script``; ``aimlapi_generator(server)`` uses a server you started (to read its ``requests``). Keyword
    arguments go to ``AIMLAPIChatGenerator``; by default ``api_key`` is a placeholder and ``max_retries=0``."""
    from haystack.utils import Secret

    from aiml_agent.generator import AIMLAPIChatGenerator
    from aiml_agent.testing.server import ScriptedServer

    def make(script_or_server: Script | ScriptedServer | None = None, **generator_kwargs: Any) -> AIMLAPIChatGenerator:
        server = script_or_server if isinstance(script_or_server, ScriptedServer) else scripted_server(script_or_server)
        options: dict[str, Any] = {"api_key": Secret.from_token("test-key"), "max_retries": 0, **generator_kwargs}
        return AIMLAPIChatGenerator(api_base_url=server.base_url, **options)

    return make
