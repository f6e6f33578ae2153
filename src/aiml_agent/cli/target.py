"""TARGET loading: a ``.py`` file or an importable module (optionally ``:NAME``) turned into tools.

When the module holds ``Tool`` objects (``@tool`` functions included) or ``Toolset`` objects, those are its
tools: the author marked them, and functions such as ``main`` are not meant for the model. Otherwise every
public function defined in the module itself (not imported into it) becomes a tool through ``create_tool``.
``TARGET:NAME`` picks one function, Tool or Toolset.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from aiml_agent.cli.common import CLIError

if TYPE_CHECKING:
    from haystack.tools import Tool


@dataclass
class LoadedTools:
    """What a TARGET gave: its tools, the functions they came from, and functions that could not be tools."""

    target: str
    tools: list[Tool] = field(default_factory=list)
    functions: dict[str, Any] = field(default_factory=dict)  # tool name -> the Python function, when known
    failures: list[str] = field(default_factory=list)  # one line per function create_tool refused


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
    loaded = LoadedTools(target=target)
    if attribute:
        candidates: list[tuple[str, Any]] = [(attribute, getattr(module, attribute))]
    else:
        candidates = [(name, value) for name, value in vars(module).items() if not name.startswith("_")]
    claimed: set[int] = set()
    # Tool and Toolset objects first: they say exactly what the author meant. When nothing has imported
    # Haystack there can be none, and Haystack is not loaded just to find that out.
    if "haystack.tools" in sys.modules:
        from haystack.tools import Tool, Toolset

        for _, value in candidates:
            if isinstance(value, Toolset):
                warm_up = getattr(value, "warm_up", None)
                if callable(warm_up):
                    warm_up()
                for item in value:
                    _add(loaded, item, claimed)
            elif isinstance(value, Tool):
                _add(loaded, value, claimed)
    explicit = bool(attribute) or bool(loaded.tools) or bool(loaded.failures)
    for name, value in candidates:  # plain functions count only when the module marked no tools itself
        if explicit and not attribute:
            break
        if not _is_own_function(value, module, explicit=bool(attribute)) or id(value) in claimed:
            continue
        from aiml_agent.tools import create_tool

        try:
            made = create_tool(value)
        except Exception as error:
            loaded.failures.append(f"{name}: cannot be a tool: {_one_line(error)}")
            continue
        _add(loaded, made, claimed)
    if attribute and not loaded.tools and not loaded.failures:
        raise CLIError(f"{target} is not a function, Tool or Toolset")
    if not loaded.tools and not loaded.failures:
        raise CLIError(f"no tools found in {module_spec}: define public functions, Tool or Toolset objects there")
    return loaded


def _add(loaded: LoadedTools, item: Tool, claimed: set[int]) -> None:
    function = getattr(item, "function", None) or getattr(item, "async_function", None)
    if function is not None:
        claimed.add(id(function))
    if any(existing.name == item.name for existing in loaded.tools):
        return
    try:
        item.tool_spec  # noqa: B018 - tools may build their schema lazily: fail here, naming the tool
    except Exception as error:
        loaded.failures.append(f"{item.name}: cannot be a tool: {_one_line(error)}")
        return
    loaded.tools.append(item)
    if function is not None:
        loaded.functions[item.name] = function


def _is_own_function(value: Any, module: ModuleType, *, explicit: bool) -> bool:
    """A public function written in the module itself; helpers it imported from elsewhere are not tools."""
    if not inspect.isfunction(value):
        return False
    return explicit or value.__module__ == module.__name__


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
