"""``MCPToolset``: the tools of one MCP server (stdio command or streamable HTTP URL) as a Haystack Toolset.

```python
from aiml_agent.mcp import MCPToolset

weather = MCPToolset.stdio("python", ["weather_server.py"], tool_filter=["forecast"], prefix="wx_", timeout=30)
docs = MCPToolset.http("http://127.0.0.1:8000/mcp", headers={"Authorization": "Bearer ${DOCS_TOKEN}"})
agent = Agent(tools=[weather, docs, get_time])
```

The toolset connects when warmed up (the Agent warms its tools before its first run; ``with`` does too) and
lists the server's tools then; a tool call made while disconnected connects first. ``close()`` (or leaving the
``with`` block) ends the session and stops a stdio server.
"""

from __future__ import annotations

import logging
import re
import shlex
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from haystack.core.errors import SerializationError
from haystack.core.serialization import generate_qualified_class_name
from haystack.tools import Toolset
from haystack.utils.callable_serialization import serialize_callable

from aiml_agent._haystack import load_callable  # also puts this module on the deserialization allowlist
from aiml_agent._schema import copy_json
from aiml_agent.errors import StrictSchemaError
from aiml_agent.mcp._connection import MCPConnection
from aiml_agent.mcp._transports import http_client_for, stdio_client_for
from aiml_agent.mcp._values import ConfigValue, check_values, deserialize_values, resolve_values, serialize_values
from aiml_agent.mcp.tool import MCPTool
from aiml_agent.strict import to_strict_schema

if TYPE_CHECKING:
    from mcp import Client
    from mcp.types import Tool as ServerTool

__all__ = ["MCPToolset", "ToolFilter"]

logger = logging.getLogger(__name__)

#: Seconds allowed by default for each tool call.
DEFAULT_TIMEOUT = 30.0
#: Seconds allowed by default for connecting: starting a stdio server (``npx`` may install it first) or
#: reaching a URL, and the MCP handshake.
DEFAULT_CONNECT_TIMEOUT = 60.0
#: Tool names the chat completion API accepts.
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9_-]")

#: Which server tools to offer: their names on the server, or a function of the server's tool description.
ToolFilter = Sequence[str] | Callable[["ServerTool"], bool]


class MCPToolset(Toolset):
    """The tools of one MCP server, usable by an Agent next to function tools and other toolsets.

    Build it with :meth:`stdio` or :meth:`http`. Arguments the model gives are checked against each tool's
    input schema before the server is called; every failure is a tool error the model can act on; a lost
    connection is reopened on the next call.

    :param transport: ``"stdio"`` (start ``command`` and talk over its stdin/stdout) or ``"http"``
        (streamable HTTP at ``url``).
    :param command: The program that starts the server (stdio).
    :param args: Its arguments (stdio).
    :param env: Environment variables for the server, on top of a safe default set (``PATH``, ``HOME``, ...);
        values are text, which may refer to this process's variables as ``${NAME}``, or Haystack Secrets.
    :param cwd: The server's working directory (stdio).
    :param url: The server's endpoint, e.g. ``http://127.0.0.1:8000/mcp`` (http).
    :param headers: Headers sent with every request (http); values as for ``env``.
    :param tool_filter: Offer only these tools (their names on the server), or those the function accepts
        (it gets each tool as the server describes it: ``name``, ``description``, ``annotations``, ...).
    :param prefix: Put before every tool name the model sees (e.g. ``"wx_"``), to tell servers' tools apart.
    :param timeout: Seconds allowed for each tool call (and for listing the tools); None for no limit.
    :param connect_timeout: Seconds allowed for connecting: starting the server or reaching the URL, and
        the MCP handshake; None for no limit.
    :raises ValueError: A missing or malformed setting (the message names it).
    """

    def __init__(
        self,
        *,
        transport: Literal["stdio", "http"],
        command: str | None = None,
        args: Sequence[str] = (),
        env: Mapping[str, ConfigValue] | None = None,
        cwd: str | Path | None = None,
        url: str | None = None,
        headers: Mapping[str, ConfigValue] | None = None,
        tool_filter: ToolFilter | None = None,
        prefix: str = "",
        timeout: float | None = DEFAULT_TIMEOUT,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        if transport == "stdio":
            if not isinstance(command, str) or not command.strip():
                raise ValueError("MCPToolset.stdio needs the command that starts the server, e.g. 'python'")
            if isinstance(args, str):
                raise TypeError(f"args must be a list of strings, got the string {args!r}: use shlex.split() or a list")
            if url is not None or headers:
                raise ValueError("url and headers are settings of MCPToolset.http, not of a stdio server")
        elif transport == "http":
            if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
                raise ValueError(f"MCPToolset.http needs an http:// or https:// URL, got {url!r}")
            if command is not None or args or env or cwd is not None:
                raise ValueError("command, args, env and cwd are settings of MCPToolset.stdio, not of an HTTP server")
        else:
            raise ValueError(f"transport must be 'stdio' or 'http', got {transport!r}")
        if prefix and not re.fullmatch(r"[A-Za-z0-9_-]+", prefix):
            raise ValueError(f"prefix may hold only letters, digits, '_' and '-', got {prefix!r}")
        for name, value in (("timeout", timeout), ("connect_timeout", connect_timeout)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise ValueError(f"{name} must be a positive number of seconds or None, got {value!r}")
        super().__init__(tools=[])
        self.transport = transport
        self.command = command
        self.args = [str(arg) for arg in args]
        self.env = check_values(env, "environment variable")
        self.cwd = cwd
        self.url = url
        self.headers = check_values(headers, "header")
        self.tool_filter = _checked_filter(tool_filter)
        self.prefix = prefix
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._connection = MCPConnection(self._label(), self._make_client, timeout, connect_timeout)
        self._loaded = False
        self._load_lock = threading.Lock()

    @classmethod
    def stdio(
        cls,
        command: str,
        args: Sequence[str] = (),
        env: Mapping[str, ConfigValue] | None = None,
        *,
        cwd: str | Path | None = None,
        tool_filter: ToolFilter | None = None,
        prefix: str = "",
        timeout: float | None = DEFAULT_TIMEOUT,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
    ) -> MCPToolset:
        """The tools of a server this process starts as ``command args`` and talks to over stdin/stdout.

        The server is started on warm-up and stopped by :meth:`close` (stdin closed, then terminated, then
        killed). It gets a safe default environment (``PATH``, ``HOME``, ...) plus ``env``: pass what it needs,
        e.g. ``env={"WEATHER_KEY": "${WEATHER_KEY}"}``. See the class for the other parameters.
        """
        return cls(
            transport="stdio",
            command=command,
            args=args,
            env=env,
            cwd=cwd,
            tool_filter=tool_filter,
            prefix=prefix,
            timeout=timeout,
            connect_timeout=connect_timeout,
        )

    @classmethod
    def http(
        cls,
        url: str,
        headers: Mapping[str, ConfigValue] | None = None,
        *,
        tool_filter: ToolFilter | None = None,
        prefix: str = "",
        timeout: float | None = DEFAULT_TIMEOUT,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
    ) -> MCPToolset:
        """The tools of a server reached over MCP's streamable HTTP transport at ``url``.

        ``headers`` go with every request; write credentials as ``${NAME}`` references to environment
        variables (``{"Authorization": "Bearer ${DOCS_TOKEN}"}``) or as Secrets, so :meth:`to_dict` can be
        saved. See the class for the other parameters.
        """
        return cls(
            transport="http",
            url=url,
            headers=headers,
            tool_filter=tool_filter,
            prefix=prefix,
            timeout=timeout,
            connect_timeout=connect_timeout,
        )

    # ------------------------------------------------------------------------------------------ lifecycle

    def warm_up(self) -> None:
        """Connect and list the server's tools, unless connected with the tools listed (idempotent).

        :raises MCPConnectionError: The server cannot be started or reached.
        :raises ValueError: ``tool_filter`` names a tool the server does not offer, or two tools end up with
            one name.
        """
        if self._loaded and self._connection.is_open:
            return
        listed = self._connection.list_tools()
        with self._load_lock:
            self._load(listed)

    async def warm_up_async(self) -> None:
        """:meth:`warm_up` for async callers: the caller's event loop is not blocked."""
        if self._loaded and self._connection.is_open:
            return
        listed = await self._connection.list_tools_async()
        with self._load_lock:
            self._load(listed)

    def close(self) -> None:
        """End the session and stop a stdio server (bounded: it is killed if it will not exit). Idempotent.

        The listed tools stay; a later call (or warm-up) connects again.
        """
        self._connection.close()

    async def close_async(self) -> None:
        """:meth:`close` for async callers."""
        await self._connection.close_async()

    def __enter__(self) -> MCPToolset:
        self.warm_up()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> MCPToolset:
        await self.warm_up_async()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close_async()

    # ------------------------------------------------------------------------------------------ tools

    def _make_client(self) -> Client:
        """A fresh client for a new session (on the connection's loop): references resolved now."""
        if self.transport == "stdio":
            assert self.command is not None
            env = resolve_values(self.env, "environment variable")
            return stdio_client_for(self.command, self.args, env, self.cwd)
        assert self.url is not None
        return http_client_for(self.url, resolve_values(self.headers, "header"), self.connect_timeout)

    def _load(self, listed: list[ServerTool]) -> None:
        """Make the tools of a listing: filtered, prefixed, names made valid and unique, strict where possible."""
        offered = [spec.name for spec in listed]
        if isinstance(self.tool_filter, list):
            missing = [name for name in self.tool_filter if name not in offered]
            if missing:
                raise ValueError(
                    f"tool_filter names tools {self._label()} does not offer: {', '.join(map(repr, missing))}; "
                    f"it offers: {', '.join(offered) or 'no tools'}"
                )
        tools = [self._tool(spec) for spec in listed if self._wanted(spec)]
        counts = Counter(tool.name for tool in tools)
        clashes = sorted(name for name, count in counts.items() if count > 1)
        if clashes:
            raise ValueError(
                f"{self._label()} offers several tools named {', '.join(map(repr, clashes))} once made valid "
                "tool names; leave all but one out with tool_filter"
            )
        self.tools = list(tools)
        self._loaded = True

    def _wanted(self, spec: ServerTool) -> bool:
        if self.tool_filter is None:
            return True
        if isinstance(self.tool_filter, list):
            return spec.name in self.tool_filter
        return bool(self.tool_filter(spec))

    def _tool(self, spec: ServerTool) -> MCPTool:
        name = self.prefix + _NOT_IN_NAMES.sub("_", spec.name)
        if not _TOOL_NAME.match(name):
            raise ValueError(
                f"{self._label()}: tool {spec.name!r} would be named {name!r}, longer than the 64 characters a "
                "tool name may have; use a shorter prefix, or leave the tool out with tool_filter"
            )
        parameters = copy_json(spec.input_schema) if spec.input_schema else {"type": "object", "properties": {}}
        reason = None
        try:
            to_strict_schema(parameters, tool_name=name)
        except StrictSchemaError as error:
            reason = str(error)
            logger.info("MCP tool %r is always sent non-strict: its schema has no strict form (%s)", name, reason)
        return MCPTool(
            name=name,
            server_name=spec.name,
            description=spec.description or spec.title or "",
            parameters=parameters,
            connection=self._connection,
            strict=False if reason is not None else None,
            non_strict_reason=reason,
        )

    def _label(self) -> str:
        """The server as messages name it (an HTTP URL without credentials or query)."""
        if self.transport == "stdio":
            return f"MCP server '{shlex.join([self.command or '', *self.args])}'"
        parts = urlsplit(self.url or "")
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"MCP server at {parts.scheme}://{host}{port}{parts.path}"

    # ------------------------------------------------------------------------------------------ serialization

    def to_dict(self) -> dict[str, Any]:
        """The connection settings (not the listed tools, not a live session), without credentials in clear.

        :raises SerializationError: A header or environment value that looks like a credential is literal
            text (write it as ``${NAME}``, or as ``Secret.from_env_var``), or ``tool_filter`` is a function
            that cannot be imported back by name (a lambda, a nested function).
        """
        data: dict[str, Any] = {"transport": self.transport}
        if self.transport == "stdio":
            data.update(
                command=self.command,
                args=list(self.args),
                env=serialize_values(self.env, "environment variable") or None,
                cwd=str(self.cwd) if self.cwd is not None else None,
            )
        else:
            data.update(url=self.url, headers=serialize_values(self.headers, "header") or None)
        data.update(
            tool_filter=_serialized_filter(self.tool_filter),
            prefix=self.prefix,
            timeout=self.timeout,
            connect_timeout=self.connect_timeout,
        )
        return {"type": generate_qualified_class_name(type(self)), "data": data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MCPToolset:
        """Rebuild a toolset from :meth:`to_dict` output; it connects when warmed up, not now."""
        settings = dict(data["data"])
        for key in ("env", "headers"):
            if settings.get(key) is not None:
                settings[key] = deserialize_values(settings[key])
        if isinstance(settings.get("tool_filter"), str):
            settings["tool_filter"] = load_callable(settings["tool_filter"], what="the tool_filter of an MCPToolset")
        return cls(**settings)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MCPToolset):
            return NotImplemented
        return self._settings() == other._settings()

    __hash__ = None  # type: ignore[assignment]

    def _settings(self) -> tuple[Any, ...]:
        return (
            self.transport,
            self.command,
            self.args,
            self.env,
            self.cwd,
            self.url,
            self.headers,
            self.tool_filter,
            self.prefix,
            self.timeout,
            self.connect_timeout,
        )

    def __repr__(self) -> str:
        where = f"{self.command!r}, {self.args!r}" if self.transport == "stdio" else repr(self.url)
        options = "".join(f", {key}={value!r}" for key, value in (("prefix", self.prefix),) if value)
        return f"MCPToolset.{self.transport}({where}{options}, tools={[tool.name for tool in self.tools]!r})"


def _checked_filter(tool_filter: Any) -> list[str] | Callable[[ServerTool], bool] | None:
    if tool_filter is None or callable(tool_filter):
        return tool_filter
    if isinstance(tool_filter, str):
        raise TypeError(f"tool_filter takes a list of tool names or a function, got the string {tool_filter!r}")
    if isinstance(tool_filter, Iterable):
        names = list(tool_filter)
        if all(isinstance(name, str) for name in names):
            return names
    raise TypeError(f"tool_filter takes a list of tool names or a function, got {tool_filter!r}")


def _serialized_filter(tool_filter: list[str] | Callable[[ServerTool], bool] | None) -> list[str] | str | None:
    if tool_filter is None or isinstance(tool_filter, list):
        return tool_filter
    try:
        path = serialize_callable(tool_filter)
    except SerializationError as error:
        raise SerializationError(
            f"tool_filter {tool_filter!r} cannot be serialized: use a list of tool names, or a module-level function"
        ) from error
    if "<lambda>" in path or "<locals>" in path:
        raise SerializationError(
            f"tool_filter {tool_filter!r} cannot be serialized: use a list of tool names, or a module-level function"
        )
    return path
