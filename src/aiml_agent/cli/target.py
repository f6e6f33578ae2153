"""TARGET loading: a ``.py`` file or an importable module (optionally ``:NAME``) turned into tools.

Which of a module's objects are its tools is decided by the rule ``Toolset.from_module`` follows (see
:mod:`aiml_agent._module_tools`): its Tool and Toolset objects when it has any, else the public functions
defined in it. ``TARGET:NAME`` picks one function, Tool or Toolset.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from aiml_agent.cli.common import CLIError

if TYPE_CHECKING:
    from haystack.tools import Tool


@dataclass
class LoadedTools:
    """What a TARGET gave: its tools, and one line per function or tool that could not be a tool."""

    target: str
    tools: list[Tool] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def load_module(spec: str) -> ModuleType:
    """Import ``spec`` (a .py path or a module name); any failure becomes a one-line :class:`CLIError`."""
    path = Path(spec)
    if spec.endswith(".py") or os.sep in spec or (os.altsep and os.altsep in spec):
        if not path.is_file():
            raise CLIError(f"no such file: {spec}")
        return _import_file(path)
    if path.is_dir() and not (path / "__init__.py").is_file():
        raise CLIError(f"{spec} is a directory, not a .py file or a package")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`: modules in the current directory are importable
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as error:
        if error.name and (spec == error.name or spec.startswith(error.name + ".")):
            raise CLIError(f"no module named {spec!r} (and no file of that name)") from error
        raise CLIError(f"could not import {spec}: {_one_line(error)}") from error
    except Exception as error:
        raise CLIError(f"could not import {spec}: {_one_line(error)}") from error


def _import_file(path: Path) -> ModuleType:
    resolved = path.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:8]
    name = f"_aiml_agent_target_{resolved.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise CLIError(f"cannot import {path}: not a Python source file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pydantic resolve annotations through sys.modules
    if str(resolved.parent) not in sys.path:  # once: main() may load targets many times in one process
        sys.path.insert(0, str(resolved.parent))  # so the file can import its neighbours
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as error:  # a module may call sys.exit() at import time
        sys.modules.pop(name, None)
        raise CLIError(f"could not import {path}: {_one_line(error)}") from error
    return module


def load_tools(target: str) -> LoadedTools:
    """Load TARGET and collect its tools; raises :class:`CLIError` when it has none."""
    module_spec, _, attribute = target.partition(":")
    if len(module_spec) == 1 and attribute and os.name == "nt":  # pragma: no cover - "C:\\path.py"
        module_spec, attribute = target, ""
    module = load_module(module_spec)
    if attribute and not hasattr(module, attribute):
        raise CLIError(f"{module_spec} has no attribute {attribute!r}")
    from aiml_agent._module_tools import module_tools

    try:
        found = module_tools(module, [attribute] if attribute else None)
    except TypeError as error:
        raise CLIError(f"{target} is not a function, Tool or Toolset") from error
    except ValueError as error:  # two different tools with one name
        raise CLIError(f"{target}: {error}") from error
    loaded = LoadedTools(target=target)
    loaded.failures = [f"{name}: cannot be a tool: {_one_line(error)}" for name, error in found.failures]
    for tool in found.tools:
        try:
            tool.tool_spec  # noqa: B018 - tools may build their schema lazily: fail here, naming the tool
        except Exception as error:
            loaded.failures.append(f"{tool.name}: cannot be a tool: {_one_line(error)}")
        else:
            loaded.tools.append(tool)
    if not loaded.tools and not loaded.failures:
        raise CLIError(f"no tools found in {module_spec}: define public functions, Tool or Toolset objects there")
    return loaded


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
