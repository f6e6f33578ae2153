"""aiml-agent: tool-using assistants on the AIMLAPI chat completion API.

Public names are imported lazily so that ``import aiml_agent`` stays cheap: the generator, the agent
and the tools load Haystack and the openai SDK only when first used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "AIMLAPIChatGenerator": "aiml_agent.generator",
    "AIMLAPIError": "aiml_agent.errors",
    "AIMLAgentError": "aiml_agent.errors",
    "MissingAPIKeyError": "aiml_agent.errors",
    "ModelCapabilityError": "aiml_agent.errors",
    "ModelProfile": "aiml_agent.profiles",
    "profile_for": "aiml_agent.profiles",
    "refresh_catalogue": "aiml_agent.profiles",
    "tool": "aiml_agent.tools",
    "create_tool": "aiml_agent.tools",
    "FunctionTool": "aiml_agent.tools",
    "Toolset": "aiml_agent.toolset",
    "RunContext": "aiml_agent.context",
    "to_strict_schema": "aiml_agent.strict",
    "StrictSchemaError": "aiml_agent.errors",
    "ToolArgumentsError": "aiml_agent.errors",
    "ToolDefinitionError": "aiml_agent.errors",
    "OutputValidationError": "aiml_agent.errors",
    "Agent": "aiml_agent.agent",
    "Step": "aiml_agent.run_result",
    "ToolCallRecord": "aiml_agent.run_result",
    "Usage": "aiml_agent.run_result",
}

__all__ = [
    "AIMLAPIChatGenerator",
    "AIMLAPIError",
    "AIMLAgentError",
    "Agent",
    "FunctionTool",
    "MissingAPIKeyError",
    "ModelCapabilityError",
    "ModelProfile",
    "OutputValidationError",
    "RunContext",
    "Step",
    "StrictSchemaError",
    "ToolArgumentsError",
    "ToolCallRecord",
    "ToolDefinitionError",
    "Toolset",
    "Usage",
    "__version__",
    "create_tool",
    "profile_for",
    "refresh_catalogue",
    "to_strict_schema",
    "tool",
]

if TYPE_CHECKING:
    from aiml_agent.agent import Agent
    from aiml_agent.context import RunContext
    from aiml_agent.errors import (
        AIMLAgentError,
        AIMLAPIError,
        MissingAPIKeyError,
        ModelCapabilityError,
        OutputValidationError,
        StrictSchemaError,
        ToolArgumentsError,
        ToolDefinitionError,
    )
    from aiml_agent.generator import AIMLAPIChatGenerator
    from aiml_agent.profiles import ModelProfile, profile_for, refresh_catalogue
    from aiml_agent.run_result import Step, ToolCallRecord, Usage
    from aiml_agent.strict import to_strict_schema
    from aiml_agent.tools import FunctionTool, create_tool, tool
    from aiml_agent.toolset import Toolset


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'aiml_agent' has no attribute {name!r}")
    value = getattr(import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
