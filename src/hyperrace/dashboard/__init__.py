"""The read-only web dashboard of a storage's studies (the ``dashboard`` extra).

``hyperrace dashboard --storage URL`` serves it on http://127.0.0.1:8080; :func:`create_app`
builds the FastAPI application for any ASGI server, and :func:`serve` runs it with uvicorn.
Plotly.js is served from the installed ``plotly`` package: the pages need no network.

Off loopback (``--host 0.0.0.0``) every request needs a token: ``--token``, the environment
variable ``HYPERRACE_DASHBOARD_TOKEN``, or one generated and printed once on start.
"""

from hyperrace.dashboard._app import create_app
from hyperrace.dashboard._auth import TOKEN_ENV, check_token, is_loopback, require_token
from hyperrace.dashboard._serve import reachable_url, serve

__all__ = [
    "TOKEN_ENV",
    "check_token",
    "create_app",
    "is_loopback",
    "reachable_url",
    "require_token",
    "serve",
]
