"""Run the dashboard with uvicorn, on a socket bound first: a taken port is said at once."""

from __future__ import annotations

import errno
import socket
import sys
from collections.abc import Callable

from hyperrace._imports import require
from hyperrace.dashboard._app import create_app
from hyperrace.dashboard._auth import check_token, require_token
from hyperrace.exceptions import ConfigurationError
from hyperrace.storage import Storage

__all__ = ["bind", "reachable_url", "serve"]


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


def reachable_url(host: str, port: int) -> str:
    """The dashboard's URL as others open it: with this machine's name for a wildcard
    address (``0.0.0.0``, ``::``)."""
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def serve(
    storage: str | Storage,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    refresh_seconds: float = 3.0,
    on_listen: Callable[[str], None] | None = None,
    token: str | None = None,
) -> None:
    """Serve the dashboard of ``storage`` until interrupted (Ctrl-C).

    Off loopback the dashboard requires a token on every request: ``token``, else the
    environment variable ``HYPERRACE_DASHBOARD_TOKEN``, else one generated now, which
    ``on_listen`` is given in the URL to open (or, without ``on_listen``, that URL is printed
    to standard error). On loopback it is open, unless a token is given.

    Args:
        storage: a URL or a storage object (a SQLite file must exist already).
        host: the interface to listen on; the default serves this machine only. ``0.0.0.0``
            serves every interface, and then requires a token.
        port: the TCP port (1-65535).
        refresh_seconds: how often open pages poll for changes.
        on_listen: called with the dashboard's URL once its socket listens (before that,
            nothing is said: a taken port is the first and only thing reported); the URL ends
            in ``/?token=...`` when the token was generated here.
        token: the token every request must carry (at least 16 letters, digits or ``-._~``).

    Raises:
        ConfigurationError: a port outside 1-65535, or one that is taken (see :func:`bind`),
            or a token too short or with other characters.
        MissingDependencyError: the ``dashboard`` extra is not installed.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigurationError(f"port={port!r} must be an integer from 1 to 65535, e.g. 8080")
    if token is not None:
        check_token(token)
    uvicorn = require("uvicorn", "dashboard", "the dashboard")
    sock = bind(host, port)
    try:
        token, generated = require_token(str(sock.getsockname()[0]), token)
        app = create_app(storage, refresh_seconds=refresh_seconds, token=token)
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{port}"
        if generated:
            url = f"{reachable_url(host, port)}/?token={token}"
        if on_listen is not None:
            on_listen(url)
        elif generated:
            sys.stderr.write(f"hyperrace dashboard with a generated token: open {url}\n")
        server.run(sockets=[sock])
    finally:
        sock.close()
