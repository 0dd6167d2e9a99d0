"""Run the dashboard with uvicorn."""

from __future__ import annotations

from hyperrace._imports import require
from hyperrace.dashboard._app import create_app
from hyperrace.exceptions import ConfigurationError
from hyperrace.storage import Storage

__all__ = ["serve"]


def serve(
    storage: str | Storage,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    refresh_seconds: float = 3.0,
) -> None:
    """Serve the dashboard of ``storage`` until interrupted (Ctrl-C).

    Args:
        storage: a URL or a storage object (a SQLite file must exist already).
        host: the interface to listen on; the default serves this machine only. ``0.0.0.0``
            shows every study to anyone who can reach the port: there is no login.
        port: the TCP port (1-65535).
        refresh_seconds: how often open pages poll for changes.

    Raises:
        ConfigurationError: a port outside 1-65535.
        MissingDependencyError: the ``dashboard`` extra is not installed.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigurationError(f"port={port!r} must be an integer from 1 to 65535, e.g. 8080")
    uvicorn = require("uvicorn", "dashboard", "the dashboard")
    app = create_app(storage, refresh_seconds=refresh_seconds)
    uvicorn.run(app, host=host, port=port, log_level="warning")
