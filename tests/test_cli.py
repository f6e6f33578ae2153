"""The ``aiml-agent`` command line, driven as a user drives it: the console script in a subprocess.

Help, the ``tools`` command and bad input here; ``run`` in test_cli_run.py, ``cassette show`` in
test_cli_cassette.py, and so on; the runners (``run_cli``, ``call_cli``) are in conftest.py.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import WEATHER_TOOLS, assert_one_line_error, call_cli, run_cli

# ------------------------------------------------------------------------------------------------ help


def test_help_does_not_import_haystack() -> None:
    code = textwrap.dedent("""
        import sys
        from aiml_agent.cli import main
        try:
            main(["--help"])
        except SystemExit as exit:
            assert exit.code == 0
        print("heavy:", sorted(m for m in ("haystack", "openai", "pydantic", "vcr", "yaml") if m in sys.modules))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "heavy: []" in result.stdout
    assert all(command in result.stdout for command in ("tools", "run", "models", "sessions", "batch", "cassette"))

    for args, options in [
        (["tools", "--help"], ["--strict", "--json", "--check", "TARGET"]),
        (["run", "--help"], ["--model", "--base-url", "--max-steps", "--system", "--cassette", "--record"]),
        (["cassette", "--help"], ["show"]),
        (["cassette", "show", "--help"], ["FILE", "--full"]),
    ]:
        result = run_cli(*args)
        assert result.returncode == 0, result.stderr
        for option in options:
            assert option in result.stdout


# ----------------------------------------------------------------------------------------------- tools


def test_tools_shows_what_the_model_sees_and_warns_about_missing_docs(weather_file: Path) -> None:
    result = run_cli("tools", str(weather_file))

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "get_weather\n  Get the current weather for a city." in out
    assert "city (string, required)  The city name." in out
    assert 'unit (string, optional, default "celsius")  Temperature unit.' in out
    assert "place (Place | null, optional, default null)" in out
    assert "      city (string, required)" in out  # the model's fields, nested under the parameter
    assert "join" not in out and "_helper" not in out and "Place\n" not in out
    assert "2 tools from" in out
    assert "\x1b[" not in out  # not a terminal: plain text
    warnings = result.stderr.splitlines()
    assert "warning: get_time: function has no docstring (the model gets no description of it)" in warnings
    assert "warning: get_time: parameter 'tz' has no description" in warnings
    assert not any("get_weather" in line for line in warnings)


@pytest.mark.usefixtures("isolated_imports")
def test_tools_check_makes_warnings_fail_for_ci(
    weather_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = run_cli("tools", str(weather_file), "--check")
    assert failing.returncode == 1
    assert "error: get_time: parameter 'tz' has no description" in failing.stderr

    documented = tmp_path / "documented.py"
    documented.write_text('def ping(host: str) -> str:\n    """Ping a host.\n\n    :param host: Host name.\n    """\n')
    assert call_cli(capsys, "tools", str(documented), "--check")[0::2] == (0, "")


@pytest.mark.usefixtures("isolated_imports")
def test_tools_json_is_the_exact_request_field_and_strict_shows_strict_schemas(
    weather_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from aiml_agent._request import tool_definitions
    from aiml_agent.tools import create_tool

    spec = importlib.util.spec_from_file_location("_cli_test_weather_tools", weather_file)
    assert spec is not None and spec.loader is not None
    weather = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = weather  # pydantic resolves the Place annotation through sys.modules
    try:
        spec.loader.exec_module(weather)
    finally:
        del sys.modules[spec.name]
    tools = [create_tool(weather.get_weather), create_tool(weather.get_time)]

    strict = run_cli("tools", str(weather_file), "--json", "--strict")
    code, plain, _ = call_cli(capsys, "tools", str(weather_file), "--json")

    assert strict.returncode == code == 0
    assert json.loads(strict.stdout) == tool_definitions(tools, True)
    assert json.loads(plain) == tool_definitions(tools, False)
    assert all(entry["function"]["strict"] is True for entry in json.loads(strict.stdout))
    assert all("strict" not in entry["function"] for entry in json.loads(plain))


@pytest.mark.usefixtures("isolated_imports")
def test_tools_strict_names_the_tool_that_cannot_be_strict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "scores.py"
    path.write_text(
        textwrap.dedent('''
        def save_scores(scores: dict[str, int]) -> str:
            """Save scores.

            Args:
                scores: Score per player.
            """
            return "ok"


        def ping() -> str:
            """Ping."""
            return "pong"
    ''')
    )

    code, out, err = call_cli(capsys, "tools", str(path), "--strict")

    assert code == 1
    assert "ping  [strict]" in out
    assert "save_scores\n" in out and "save_scores  [strict]" not in out
    assert "cannot be strict: tool 'save_scores', parameter 'scores'" in out
    assert "error: save_scores: cannot be strict" in err
    assert call_cli(capsys, "tools", str(path))[0] == 0  # fine when not strict


@pytest.mark.usefixtures("isolated_imports")
def test_tools_from_a_module_name_marked_tools_and_a_picked_function(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "mytools"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "kit.py").write_text(
        textwrap.dedent('''
        from haystack.tools import Toolset

        from aiml_agent import tool


        @tool
        def add(a: int, b: int) -> int:
            """Add two numbers."""
            return a + b


        def shout(text: str) -> str:
            """Upper-case a text."""
            return text.upper()


        def main() -> None:
            print(add.invoke(a=1, b=2))


        math_tools = Toolset([add])
    ''')
    )

    picked = run_cli("tools", "mytools.kit:shout", cwd=tmp_path)  # the current directory is importable
    monkeypatch.chdir(tmp_path)
    code, whole, err = call_cli(capsys, "tools", "mytools.kit")

    assert picked.returncode == 0, picked.stderr
    assert "shout\n  Upper-case a text." in picked.stdout and "add" not in picked.stdout
    assert code == 0, err
    # The module marks its tools (@tool, a Toolset): those are listed once each, plain functions are not.
    assert whole.count("add\n  Add two numbers.") == 1
    assert "shout" not in whole and "main" not in whole


# ------------------------------------------------------------------------------------------- bad input


def test_bad_input_is_one_line_on_stderr_and_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import json\nraise RuntimeError('database is down')\n")
    (tmp_path / "empty.py").write_text("LIMIT = 3\n")
    (tmp_path / "weather.py").write_text(WEATHER_TOOLS)
    (tmp_path / "bad.yaml").write_text("interactions: [unclosed\n")
    (tmp_path / "other.yaml").write_text("name: not a cassette\n")

    cases = [
        (["tools", "missing.py"], ["no such file: missing.py"]),
        (["tools", "no_such_module_xyz"], ["no module named 'no_such_module_xyz'"]),
        (["tools", "broken.py"], ["could not import broken.py", "RuntimeError: database is down"]),
        (["tools", "empty.py"], ["no tools found in empty.py"]),
        (["tools", "weather.py:nothing"], ["has no attribute 'nothing'"]),
        (["run", "weather.py", "hi", "--modle", "x"], ["unrecognized arguments: --modle"]),
        (["run", "weather.py", "hi", "--max-steps", "0"], ["--max-steps", "at least 1"]),
        (["run", "weather.py", "hi"], ["set AIMLAPI_API_KEY or pass --cassette"]),
        (["run", "weather.py", "hi", "--cassette", "none.yaml"], ["no such cassette: none.yaml"]),
        (["run", "weather.py", "hi", "--record"], ["--record needs --cassette"]),
        (["cassette", "show", "bad.yaml"], ["bad.yaml is not a valid cassette: not valid YAML at line 2"]),
        (
            ["cassette", "show", "other.yaml"],
            ["other.yaml is not a valid cassette: the top level has no 'interactions'"],
        ),
        (["cassette", "show", "gone.yaml"], ["no such file: gone.yaml"]),
        (["frobnicate"], ["invalid choice: 'frobnicate'"]),
    ]
    for args, fragments in cases:
        assert_one_line_error(run_cli(*args, cwd=tmp_path), *fragments)


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('database is down')\n")

    result = run_cli("--debug", "tools", "broken.py", cwd=tmp_path)

    assert result.returncode == 1
    assert "Traceback" in result.stderr and "database is down" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("aiml-agent: error: could not import broken.py")


def test_style_is_plain_unless_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from aiml_agent.cli._shared import Style

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert Style(Terminal())("hi", "bold") == "\x1b[1mhi\x1b[0m"
    assert Style(io.StringIO())("hi", "bold") == "hi"
    monkeypatch.setenv("NO_COLOR", "1")
    assert Style(Terminal())("hi", "bold") == "hi"


def test_parameter_lines_follow_refs_only_to_where_they_point() -> None:
    from aiml_agent.cli.tools import has_description, parameter_lines

    inner = {"type": "object", "description": "A place.", "properties": {"city": {"type": "string"}}}
    schema = {
        "type": "object",
        "properties": {
            "home": {"$ref": "#/definitions/Place"},  # draft-7 spelling
            "work": {"$ref": "#/$defs/Place"},  # no $defs here: points nowhere, so not expanded
        },
        "definitions": {"Place": inner},
    }
    lines = parameter_lines(schema, indent="")
    assert lines == [
        "home (Place, optional)  A place.",
        "  city (string, optional)",
        "work (Place, optional)",
    ]
    assert has_description(schema["properties"]["home"], schema)
    assert not has_description(schema["properties"]["work"], schema)


def test_loading_a_file_target_again_does_not_grow_sys_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aiml_agent.cli._shared import load_module

    monkeypatch.setattr(sys, "path", list(sys.path))
    path = tmp_path / "plain_tools_for_path.py"
    path.write_text("def ping() -> str:\n    return 'pong'\n")
    for _ in range(3):
        module = load_module(str(path))
        sys.modules.pop(module.__name__)  # as when a test (or a failed import) drops it: it is imported again
    assert sys.path.count(str(tmp_path.resolve())) == 1
