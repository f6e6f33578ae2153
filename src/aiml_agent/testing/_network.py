"""Block outgoing connections while a cassette replays: a replay must never reach a server by accident.

The guard wraps whatever ``socket.socket.connect`` is in place (another blocker's guard included), so guards
nest: a connection goes through only when every active guard allows its host, and leaving the block puts back
exactly what was there before.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_state = threading.local()  # set while socket.socketpair() runs: its loopback connect is not network traffic


def _host_allowed(host: Any, allowed: re.Pattern[str] | None) -> bool:
    if isinstance(host, (bytes, bytearray)):
        host = host.decode(errors="replace")
    return allowed is not None and allowed.match(str(host)) is not None


def _guarded(original: Callable[..., Any], allowed: re.Pattern[str] | None) -> Callable[..., Any]:
    def connect(sock: socket.socket, address: Any, *args: Any, **kwargs: Any) -> Any:
        is_inet = sock.family in (socket.AF_INET, socket.AF_INET6)
        if is_inet and not getattr(_state, "in_socketpair", False):
            host = address[0]
            if not _host_allowed(host, allowed):
                shown = f" (allowed hosts: {allowed.pattern})" if allowed is not None else ""
                raise RuntimeError(f"Network is disabled for host {host!r} while a cassette replays{shown}")
        return original(sock, address, *args, **kwargs)

    return connect


def _socketpair_guard(original: Callable[..., Any]) -> Callable[..., Any]:
    def socketpair(*args: Any, **kwargs: Any) -> Any:
        previous = getattr(_state, "in_socketpair", False)
        _state.in_socketpair = True  # on Windows asyncio's self-pipe is a socketpair made with a loopback connect
        try:
            return original(*args, **kwargs)
        finally:
            _state.in_socketpair = previous

    return socketpair


@contextmanager
def blocked_network(allowed_hosts: list[str] | None = None) -> Iterator[None]:
    """Refuse TCP/UDP connections except to hosts matching one of ``allowed_hosts`` (regexes, from the start).

    :param allowed_hosts: Host regexes still reachable, e.g. ``["127.0.0.1", "localhost"]``; ``None`` blocks all.
    :raises RuntimeError: From a connection attempt to any other host ("Network is disabled for host ...").
    """
    allowed = re.compile("|".join(f"(?:{host})" for host in allowed_hosts)) if allowed_hosts else None
    saved = socket.socket.connect, socket.socket.connect_ex, socket.socketpair
    socket.socket.connect = _guarded(saved[0], allowed)  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded(saved[1], allowed)  # type: ignore[method-assign]
    socket.socketpair = _socketpair_guard(saved[2])
    try:
        yield
    finally:
        socket.socket.connect, socket.socket.connect_ex, socket.socketpair = saved  # type: ignore[method-assign]
