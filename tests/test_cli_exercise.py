"""``aiml-agent tools TARGET --exercise N``: the tools called as a model may call them, crashes listed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import call_cli, run_cli

SPLIT_BILL = '''
def split_bill(total: float, people: int) -> str:
    """Split a bill evenly.

    Args:
        total: The bill in euros.
        people: How many people pay.
    """
    return f"{total / people:.2f} EUR each"
'''

GREET = '''
def greet(name: str, title: str | None = None) -> str:
    """Greet someone.

    Args:
        name: Their name.
        title: Their title, e.g. "Dr".
    """
    return f"Hello {title + ' ' if title else ''}{name}"
'''


def test_exercise_lists_the_calls_that_crash_and_fails(tmp_path: Path) -> None:
    path = tmp_path / "shop.py"
    path.write_text(SPLIT_BILL + GREET)

    result = run_cli("tools", str(path), "--strict", "--exercise", "25", "--seed", "3")

    assert result.returncode == 1, result.stderr
    assert "exercise_tools(seed=3): 1 of 2 tools failed on arguments their schemas allow" in result.stdout
    assert "- split_bill: " in result.stdout and "ZeroDivisionError" in result.stdout
    assert '"people": 0' in result.stdout and "No failure: greet." in result.stdout


@pytest.mark.usefixtures("isolated_imports")
def test_exercise_passes_clean_tools_and_checks_its_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "greeting.py"
    path.write_text(GREET)

    code, out, _ = call_cli(capsys, "tools", str(path), "--exercise", "10")
    assert code == 0
    assert "exercise_tools(seed=0): 10 calls to 1 tools, none failed." in out

    code, _, err = call_cli(capsys, "tools", str(path), "--exercise", "0")
    assert code == 1 and "--exercise needs a number of calls of at least 1" in err

    monkeypatch.setitem(sys.modules, "hypothesis", None)
    code, _, err = call_cli(capsys, "tools", str(path), "--exercise", "5")
    assert code == 1 and "pip install 'aiml-agent[fuzz]'" in err
