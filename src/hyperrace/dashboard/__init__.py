"""The read-only web dashboard of a storage's studies (the ``dashboard`` extra).

``hyperrace dashboard --storage URL`` serves it on http://127.0.0.1:8080; :func:`create_app`
builds the FastAPI application for any ASGI server, and :func:`serve` runs it with uvicorn.
Plotly.js is served from the installed ``plotly`` package: the pages need no network.
"""

from hyperrace.dashboard._app import create_app
from hyperrace.dashboard._serve import serve

__all__ = ["create_app", "serve"]
