"""Deserialization safety: only the modules whose classes load back are on Haystack's allowlist, no callable of
the package loads from data, and a user's own module gets an error whose advice works.

Every check runs in a fresh interpreter: Haystack's allowlist is process-wide, so a test in this process could
pass only because another test allowed more.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from aiml_agent._haystack import SERIALIZABLE_MODULES

#: Would run any module or .py file, given as the tool's argument: the gadget a crafted YAML looks for.
LOADER = "aiml_agent.cli._shared.load_module"
MARKER = "ran.txt"
EVIL = f"from pathlib import Path\nPath(__file__).with_name({MARKER!r}).write_text('ran')\n"

USER_TOOLS = '''
def get_weather(city: str) -> str:
    """Weather in a city."""
    return f"Sunny in {city}"
'''


def run_python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter in ``cwd`` (importable from there), with no allowlist from outside."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("HAYSTACK_")}
    base.update(HAYSTACK_TELEMETRY_ENABLED="False", PYTHONPATH=str(cwd), **env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=base, capture_output=True, text=True, timeout=120
    )


def outcomes(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def function_tool(handle: str) -> dict[str, Any]:
    return {"type": "aiml_agent.tools.FunctionTool", "data": {"function": handle, "name": "t", "description": "d"}}


def haystack_tool(handle: str) -> dict[str, Any]:
    data = {"function": handle, "name": "t", "description": "d", "parameters": {"type": "object"}}
    return {"type": "haystack.tools.tool.Tool", "data": data}


def agent(tools: list[dict[str, Any]] | None = None, callback: str | None = None) -> dict[str, Any]:
    generator = {"type": "aiml_agent.generator.AIMLAPIChatGenerator", "init_parameters": {"model": "m"}}
    params = {"chat_generator": generator, "tools": tools, "streaming_callback": callback}
    return {"type": "aiml_agent.agent.Agent", "init_parameters": params}


def pipeline_yaml(component: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump({"components": {"c": component}, "connections": [], "metadata": {}})


# Each case is a pipeline YAML; each must be refused when loaded, and nothing it names may run.
CASES = {
    "function tool: the CLI loader": agent([function_tool(LOADER)]),
    "function tool: the loader's file importer": agent([function_tool("aiml_agent.cli._shared._import_file")]),
    "function tool: a function of an allowlisted module": agent([function_tool("aiml_agent.tools.create_tool")]),
    "function tool: a classmethod of ours": agent([function_tool("aiml_agent.agent.Agent.from_dict")]),
    "haystack tool: the CLI loader": agent([haystack_tool(LOADER)]),
    "agent streaming callback: the CLI loader": agent(callback=LOADER),
    "agent streaming callback: a function of ours": agent(callback="aiml_agent.tools.result_to_text"),
    "generator streaming callback": {
        "type": "aiml_agent.generator.AIMLAPIChatGenerator",
        "init_parameters": {"model": "m", "streaming_callback": LOADER},
    },
    "a component class outside the allowlisted modules": {"type": "aiml_agent.cli._shared.LoadedTools"},
    "a loader function as a component": {"type": LOADER, "init_parameters": {"spec": "evil.py"}},
    "a user module that is not allowed": agent([function_tool("evil.get_weather")]),
}

LOAD_EACH = """
import json
from haystack import Pipeline
from haystack.core.errors import DeserializationError, PipelineError
import aiml_agent.agent  # the package's modules are imported: their allowlist entries are in place

results = {}
for name, text in json.loads(open("cases.json").read()).items():
    try:
        Pipeline.loads(text)
        results[name] = "loaded"
    except (DeserializationError, PipelineError) as error:
        results[name] = f"{type(error).__name__}: {error} {error.__cause__ or ''}"
print(json.dumps(results))
"""


@pytest.fixture
def crafted(tmp_path: Path) -> Path:
    """A folder holding the crafted pipelines, and an ``evil`` module that leaves a mark if it ever runs."""
    (tmp_path / "evil.py").write_text(EVIL + USER_TOOLS)
    (tmp_path / "cases.json").write_text(json.dumps({name: pipeline_yaml(c) for name, c in CASES.items()}))
    return tmp_path


def test_crafted_pipelines_naming_the_package_s_functions_are_refused(crafted: Path) -> None:
    results = outcomes(run_python(LOAD_EACH, crafted))

    assert results.keys() == CASES.keys()
    loaded = [name for name, result in results.items() if result == "loaded"]
    assert loaded == []
    assert "never loaded from serialized data" in results["function tool: a function of an allowlisted module"]
    assert "never loaded from serialized data" in results["agent streaming callback: a function of ours"]
    assert "not on the trusted-module allowlist" in results["haystack tool: the CLI loader"]
    assert not (crafted / MARKER).exists()


def test_our_function_tools_stay_refused_when_the_user_allowed_the_whole_package(crafted: Path) -> None:
    """Allowing ``aiml_agent`` (the old advice) no longer makes the loader a tool function or a callback."""
    results = outcomes(run_python(LOAD_EACH, crafted, HAYSTACK_DESERIALIZATION_ALLOWLIST="aiml_agent"))

    for name in (
        "function tool: the CLI loader",
        "function tool: the loader's file importer",
        "agent streaming callback: the CLI loader",
        "generator streaming callback",
    ):
        assert "never loaded from serialized data" in results[name], name
    assert not (crafted / MARKER).exists()


def test_the_allowlist_holds_exactly_the_modules_with_serializable_classes(tmp_path: Path) -> None:
    """Every Tool, Toolset and component class of the package loads by name; no other module is allowed."""
    code = """
    import importlib, inspect, json, pkgutil
    import aiml_agent
    from haystack import component
    from haystack.core.errors import DeserializationError
    from haystack.core.serialization import import_class_by_name
    from haystack.tools import Tool, Toolset

    modules = []
    for info in pkgutil.walk_packages(aiml_agent.__path__, "aiml_agent."):
        if info.name.endswith(".__main__"):
            continue
        try:
            modules.append(importlib.import_module(info.name))
        except ImportError:  # an optional dependency that is not installed
            pass
    serializable, refused = set(), []
    for module in modules:
        for name, value in vars(module).items():
            if not inspect.isclass(value) or value.__module__ != module.__name__:
                continue
            if issubclass(value, (Tool, Toolset)) or value in component.registry.values():
                import_class_by_name(f"{module.__name__}.{name}")
                serializable.add(module.__name__)
        if module.__name__ not in serializable:
            try:
                import_class_by_name(f"{module.__name__}.anything")
            except DeserializationError:
                refused.append(module.__name__)
            except ImportError:  # allowed, and then found no such class
                pass
    print(json.dumps({"serializable": sorted(serializable), "refused": len(refused), "modules": len(modules)}))
    """
    result = outcomes(run_python(code, tmp_path))

    assert result["serializable"] == sorted(SERIALIZABLE_MODULES)
    assert result["refused"] == result["modules"] - len(SERIALIZABLE_MODULES) > 5


USER_AGENT = """
import json, sys
from aiml_agent import Agent, create_tool
from {module} import get_weather

print(json.dumps(Agent(tools=[create_tool(get_weather)]).to_dict()))
"""

LOAD_AGENT = """
import json, sys
from aiml_agent import Agent

data = json.loads(open("agent.json").read())
{setup}
try:
    restored = Agent.from_dict(data)
except Exception as error:
    print(json.dumps({{"error": str(error)}}))
else:
    print(json.dumps({{"answer": restored.tools[0].invoke(city="Oslo")}}))
"""


@pytest.mark.parametrize("module", ["user_tools", "acme.agents.tools"])
def test_a_user_module_off_the_allowlist_gets_advice_that_works(tmp_path: Path, module: str) -> None:
    path = tmp_path.joinpath(*module.split(".")).with_suffix(".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    for parent in list(path.relative_to(tmp_path).parents)[:-1]:
        (tmp_path / parent / "__init__.py").write_text("")
    path.write_text(USER_TOOLS)
    made = run_python(USER_AGENT.format(module=module), tmp_path)
    assert made.returncode == 0, made.stderr
    (tmp_path / "agent.json").write_text(made.stdout)

    error = outcomes(run_python(LOAD_AGENT.format(setup=""), tmp_path))["error"]
    package = module.partition(".")[0]
    assert f"'{module}.get_weather', the function of tool 'get_weather'" in error
    assert "not on Haystack's deserialization allowlist" in error

    # 1. the line of Python the message gives, run as it is
    (statement,) = [line.strip(" -") for line in error.splitlines() if "allow_deserialization_module(" in line]
    assert statement.endswith(f"allow_deserialization_module('{package}')")
    assert outcomes(run_python(LOAD_AGENT.format(setup=statement), tmp_path)) == {"answer": "Sunny in Oslo"}
    # 2. the environment variable it names
    (variable,) = re.findall(r"HAYSTACK_DESERIALIZATION_ALLOWLIST=(\S+)", error)
    loaded = run_python(LOAD_AGENT.format(setup=""), tmp_path, HAYSTACK_DESERIALIZATION_ALLOWLIST=variable)
    assert outcomes(loaded) == {"answer": "Sunny in Oslo"}
    # 3. allowed_modules of a pipeline load
    (allowed,) = re.findall(r"allowed_modules=(\[[^\]]*\])", error)
    pipeline_text = pipeline_yaml(json.loads((tmp_path / "agent.json").read_text()))
    (tmp_path / "pipeline.yaml").write_text(pipeline_text)
    code = f"""
    import json
    from haystack import Pipeline
    import aiml_agent.agent
    pipeline = Pipeline.loads(open("pipeline.yaml").read(), allowed_modules={allowed})
    print(json.dumps({{"answer": pipeline.get_component("c").tools[0].invoke(city="Oslo")}}))
    """
    assert outcomes(run_python(code, tmp_path)) == {"answer": "Sunny in Oslo"}
