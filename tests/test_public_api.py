"""The public names (``aiml_agent`` and ``aiml_agent.testing``), importable from the package roots, and cheap to
import."""

from __future__ import annotations

import subprocess
import sys

import aiml_agent
import aiml_agent.testing


def test_every_public_name_resolves_and_is_listed() -> None:
    promised = {
        "AIMLAPIChatGenerator",
        "tool",
        "create_tool",
        "Toolset",
        "RunContext",
        "to_strict_schema",
        "StrictSchemaError",
        "Agent",
        "ToolFailure",
        "format_tool_failure",
        "ToolControls",
        "ToolRetry",
        "UsageLimits",
        "PendingToolCall",
        "Deny",
        "Edit",
    }
    assert promised <= set(aiml_agent.__all__)
    for name in aiml_agent.__all__:
        assert getattr(aiml_agent, name) is not None, name
    assert {"ScriptedServer", "ScriptedChatGenerator", "cassette", "exercise_tools", "run_summary"} <= set(
        aiml_agent.testing.__all__
    )
    for name in aiml_agent.testing.__all__:
        assert getattr(aiml_agent.testing, name) is not None, name


def test_unknown_name_is_a_clear_attribute_error() -> None:
    try:
        aiml_agent.Agnet  # noqa: B018 - a typo a user could make
    except AttributeError as error:
        assert "Agnet" in str(error)
    else:
        raise AssertionError("a misspelt name must raise AttributeError")


def test_importing_the_package_loads_nothing_heavy() -> None:
    code = (
        "import sys, aiml_agent, aiml_agent.testing\n"
        "print(sorted(m for m in ('haystack', 'openai', 'pydantic', 'vcr', 'httpx2') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_every_library_error_derives_from_the_base_and_keeps_its_builtin_base() -> None:
    from haystack.tools.errors import ToolInvocationError

    from aiml_agent import errors

    expected = {
        errors.StrictSchemaError: ValueError,
        errors.ToolDefinitionError: TypeError,
        errors.ToolArgumentsError: ToolInvocationError,
        errors.AIMLAPIError: RuntimeError,
        errors.MissingAPIKeyError: ValueError,
        errors.OutputValidationError: ValueError,
        errors.ToolTimeoutError: TimeoutError,
        errors.ApprovalError: ValueError,
        errors.ToolRetry: Exception,
        errors.SessionStoreError: RuntimeError,
    }
    for error_class, builtin in expected.items():
        assert issubclass(error_class, errors.AIMLAgentError), error_class
        assert issubclass(error_class, builtin), error_class
