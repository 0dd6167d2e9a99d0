"""Run the dashboard with uvicorn, on a socket bound first: a taken port is said at once."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable

from hyperrace._imports import require
from hyperrace.dashboard._app import create_app
from hyperrace.exceptions import ConfigurationError
from hyperrace.storage import Storage

__all__ = ["bind", "serve"]


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening (as uvicorn binds its own).

    Raises:
        ConfigurationError: the port is taken (another dashboard, or another server), the host
            is not an address of this machine, or the port needs privileges.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ConfigurationError(f"--host {host} is not a known host name ({exc})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            other = port + 1 if port < 65535 else 8080
            raise ConfigurationError(
                f"port {port} on {host} is taken (another dashboard, or another server, listens "
                f"there); pick another, e.g. --port {other} (serve(port=...) from Python), or "
                "stop what listens there"
            ) from None
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def serve(
    storage: str | Storage,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    refresh_seconds: float = 3.0,
    on_listen: Callable[[str], None] | None = None,
) -> None:
    """Serve the dashboard of ``storage`` until interrupted (Ctrl-C).

    Args:
        storage: a URL or a storage object (a SQLite file must exist already).
        host: the interface to listen on; the default serves this machine only. ``0.0.0.0``
            shows every study to anyone who can reach the port: there is no login.
        port: the TCP port (1-65535).
        refresh_seconds: how often open pages poll for changes.
        on_listen: called with the dashboard's URL once its socket listens (before that,
            nothing is said: a taken port is the first and only thing reported).

    Raises:
        ConfigurationError: a port outside 1-65535, or one that is taken (see :func:`bind`).
        MissingDependencyError: the ``dashboard`` extra is not installed.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigurationError(f"port={port!r} must be an integer from 1 to 65535, e.g. 8080")
    uvicorn = require("uvicorn", "dashboard", "the dashboard")
    sock = bind(host, port)
    try:
        app = create_app(storage, refresh_seconds=refresh_seconds)
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
        if on_listen is not None:
            shown = f"[{host}]" if ":" in host else host
            on_listen(f"http://{shown}:{port}")
        server.run(sockets=[sock])
    finally:
        sock.close()
