"""Shared test settings and helpers: no telemetry, no real key, the real recorded traffic, a generator for a
ScriptedServer, a weather tool, and the command-line runners the CLI tests use."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from aiml_agent.generator import AIMLAPIChatGenerator
    from aiml_agent.testing import ScriptedServer

os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"
os.environ.pop("AIMLAPI_API_KEY", None)
os.environ.pop("OPENAI_API_KEY", None)
os.environ.pop("AIMLAPI_BASE_URL", None)
# Model profiles come from the embedded catalogue, never from a refresh cached on this machine.
os.environ["AIML_AGENT_CACHE_DIR"] = tempfile.mkdtemp(prefix="aiml-agent-test-cache-")

#: Real recorded OpenAI-format traffic with tool calls (public projects' cassettes; licences and sources in its
#: README). ``providers/`` holds other providers' models (DeepSeek, Gemini, Mistral, Groq, xAI, ...).
REAL_CASSETTES = Path(__file__).resolve().parent / "real_cassettes"


# ---- a model server ----------------------------------------------------------------------------------------


def generator_for(server: ScriptedServer, **kwargs: Any) -> AIMLAPIChatGenerator:
    """A generator pointed at ``server`` with a placeholder key and no retries (keyword arguments override), as
    the plugin's ``aimlapi_generator`` fixture makes them."""
    from haystack.utils import Secret

    from aiml_agent.generator import AIMLAPIChatGenerator

    options: dict[str, Any] = {"api_key": Secret.from_token("test-key"), "max_retries": 0, **kwargs}
    return AIMLAPIChatGenerator(api_base_url=server.base_url, **options)


def unreachable_base_url() -> str:
    """An API base URL on 127.0.0.1 where nothing listens (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def get_weather(city: str) -> str:
    """The weather of a city.

    :param city: The city.
    """
    if city == "Atlantis":
        raise LookupError("Atlantis is not on the map")
    return f"Sunny in {city}"


# ---- the command line --------------------------------------------------------------------------------------

#: A TARGET module for the CLI tests: a documented tool, an undocumented one that raises, a private helper.
WEATHER_TOOLS = '''
"""Tools for the CLI tests."""
from os.path import join  # imported helpers are not tools

from pydantic import BaseModel


class Place(BaseModel):
    """A place on Earth."""

    city: str
    country: str | None = None


def get_weather(city: str, unit: str = "celsius") -> str:
    """Get the current weather for a city.

    Args:
        city: The city name.
        unit: Temperature unit.
    """
    return f"Sunny, 22 {unit} in {city}"


def get_time(tz: str, place: Place | None = None) -> str:
    if tz.startswith("Mars"):
        raise ValueError(f"unknown time zone {tz!r}")
    return "12:00"


def _helper() -> None:
    """Private: not a tool."""
'''


def cli_command() -> list[str]:
    """The installed ``aiml-agent`` console script (pyproject's entry point), exactly what a user runs."""
    beside = Path(sys.executable).with_name("aiml-agent")
    found = str(beside) if beside.is_file() else shutil.which("aiml-agent")
    assert found, "the aiml-agent console script is not installed (pip install -e .)"
    return [found]


def run_cli(*args: str, cwd: Path | None = None, key: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI with no API key (unless ``key``), no telemetry, output captured (not a terminal)."""
    env = {k: v for k, v in os.environ.items() if k not in ("AIMLAPI_API_KEY", "OPENAI_API_KEY", "NO_COLOR")}
    env["HAYSTACK_TELEMETRY_ENABLED"] = "False"
    if key is not None:
        env["AIMLAPI_API_KEY"] = key
    return subprocess.run(
        [*cli_command(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def call_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``main()`` in this process (cheaper than a subprocess where the process itself is not the point)."""
    from aiml_agent.cli import main

    try:
        code = main(list(args))
    except SystemExit as exit:
        code = int(exit.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """A failure the CLI way: non-zero exit, one line on stderr naming the problem, no traceback."""
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def isolated_imports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Undo what in-process TARGET loading adds: sys.path entries and the modules loaded from tmp_path."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if str(getattr(sys.modules[name], "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


@pytest.fixture
def weather_file(tmp_path: Path) -> Path:
    """:data:`WEATHER_TOOLS` as ``weather.py`` in the test's temporary folder."""
    path = tmp_path / "weather.py"
    path.write_text(WEATHER_TOOLS)
    return path
