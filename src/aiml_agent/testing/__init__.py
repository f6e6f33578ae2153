"""Testing kit: scripted models (an AIMLAPI-compatible server, and an in-process chat generator playing the same
scripts), vcrpy cassettes with safe defaults, tool fuzzing and run summaries for stable assertions.

Names load lazily so that the pytest plugin costs nothing until used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "ScriptedServer": "aiml_agent.testing.server",
    "Reply": "aiml_agent.testing._script",
    "ToolCallReply": "aiml_agent.testing._script",
    "ScriptedChatGenerator": "aiml_agent.testing.generator",
    "ScriptedRequest": "aiml_agent.testing.generator",
    "ScriptExhaustedError": "aiml_agent.testing.generator",
    "RecordedRequest": "aiml_agent.testing.server",
    "exercise_tools": "aiml_agent.testing.exercise",
    "ToolExerciseReport": "aiml_agent.testing.exercise",
    "FailedToolCall": "aiml_agent.testing.exercise",
    "ToolExerciseError": "aiml_agent.testing.exercise",
    "run_summary": "aiml_agent.testing.summary",
    "cassette": "aiml_agent.testing.cassettes",
    "CassetteFormatError": "aiml_agent.testing.cassettes",
    "UnplayedInteractionsError": "aiml_agent.testing.cassettes",
}

__all__ = [
    "CassetteFormatError",
    "FailedToolCall",
    "RecordedRequest",
    "Reply",
    "ScriptExhaustedError",
    "ScriptedChatGenerator",
    "ScriptedRequest",
    "ScriptedServer",
    "ToolCallReply",
    "ToolExerciseError",
    "ToolExerciseReport",
    "UnplayedInteractionsError",
    "cassette",
    "exercise_tools",
    "run_summary",
]

if TYPE_CHECKING:
    from aiml_agent.testing._script import Reply, ToolCallReply
    from aiml_agent.testing.cassettes import CassetteFormatError, UnplayedInteractionsError, cassette
    from aiml_agent.testing.exercise import FailedToolCall, ToolExerciseError, ToolExerciseReport, exercise_tools
    from aiml_agent.testing.generator import ScriptedChatGenerator, ScriptedRequest, ScriptExhaustedError
    from aiml_agent.testing.server import RecordedRequest, ScriptedServer
    from aiml_agent.testing.summary import run_summary


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'aiml_agent.testing' has no attribute {name!r}")
    value = getattr(import_module(module_name), name)
    globals()[name] = value
    return value
