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
    "UsageLimits": "aiml_agent.run_result",
    "ToolFailure": "aiml_agent.tool_failure",
    "FieldError": "aiml_agent.tool_failure",
    "format_tool_failure": "aiml_agent.tool_failure",
    "ToolControls": "aiml_agent.tool_controls",
    "ToolRetry": "aiml_agent.errors",
    "ToolTimeoutError": "aiml_agent.errors",
    "ApprovalError": "aiml_agent.errors",
    "PendingToolCall": "aiml_agent.approval",
    "Deny": "aiml_agent.approval",
    "Edit": "aiml_agent.approval",
    "instrument": "aiml_agent.tracing",
    "uninstrument": "aiml_agent.tracing",
    "Session": "aiml_agent.sessions",
    "SQLiteSession": "aiml_agent.sessions",
    "RunRecord": "aiml_agent.sessions",
    "SessionStoreError": "aiml_agent.errors",
    "run_batch": "aiml_agent.batch",
    "run_batch_async": "aiml_agent.batch",
    "BatchItem": "aiml_agent.batch",
    "BatchResult": "aiml_agent.batch",
    "BatchTotals": "aiml_agent.batch",
    "BatchInterrupted": "aiml_agent.batch",
}

__all__ = [
    "AIMLAPIChatGenerator",
    "AIMLAPIError",
    "AIMLAgentError",
    "Agent",
    "ApprovalError",
    "BatchInterrupted",
    "BatchItem",
    "BatchResult",
    "BatchTotals",
    "Deny",
    "Edit",
    "FieldError",
    "FunctionTool",
    "MissingAPIKeyError",
    "ModelCapabilityError",
    "ModelProfile",
    "OutputValidationError",
    "PendingToolCall",
    "RunContext",
    "RunRecord",
    "SQLiteSession",
    "Session",
    "SessionStoreError",
    "Step",
    "StrictSchemaError",
    "ToolArgumentsError",
    "ToolCallRecord",
    "ToolControls",
    "ToolDefinitionError",
    "ToolFailure",
    "ToolRetry",
    "ToolTimeoutError",
    "Toolset",
    "Usage",
    "UsageLimits",
    "__version__",
    "create_tool",
    "format_tool_failure",
    "instrument",
    "profile_for",
    "refresh_catalogue",
    "run_batch",
    "run_batch_async",
    "to_strict_schema",
    "tool",
    "uninstrument",
]

if TYPE_CHECKING:
    from aiml_agent.agent import Agent
    from aiml_agent.approval import Deny, Edit, PendingToolCall
    from aiml_agent.batch import (
        BatchInterrupted,
        BatchItem,
        BatchResult,
        BatchTotals,
        run_batch,
        run_batch_async,
    )
    from aiml_agent.context import RunContext
    from aiml_agent.errors import (
        AIMLAgentError,
        AIMLAPIError,
        ApprovalError,
        MissingAPIKeyError,
        ModelCapabilityError,
        OutputValidationError,
        SessionStoreError,
        StrictSchemaError,
        ToolArgumentsError,
        ToolDefinitionError,
        ToolRetry,
        ToolTimeoutError,
    )
    from aiml_agent.generator import AIMLAPIChatGenerator
    from aiml_agent.profiles import ModelProfile, profile_for, refresh_catalogue
    from aiml_agent.run_result import Step, ToolCallRecord, Usage, UsageLimits
    from aiml_agent.sessions import RunRecord, Session, SQLiteSession
    from aiml_agent.strict import to_strict_schema
    from aiml_agent.tool_controls import ToolControls
    from aiml_agent.tool_failure import FieldError, ToolFailure, format_tool_failure
    from aiml_agent.tools import FunctionTool, create_tool, tool
    from aiml_agent.toolset import Toolset
    from aiml_agent.tracing import instrument, uninstrument


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'aiml_agent' has no attribute {name!r}")
    value = getattr(import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
