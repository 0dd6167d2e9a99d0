"""The dashboard's FastAPI application: JSON endpoints and three small pages.

Read-only: it only calls the storage's reading methods (``list_studies``, ``get_study``,
``history``) and lists checkpoint folders; it never writes, so it cannot disturb a running
study. The pages only check that the study is there (their data comes through the API, so a
study of 100,000 trials opens at once); each API request reads a fresh snapshot of the study
(incrementally after the first: only what changed); the figures computed from it are cached
under the study's :func:`~hyperrace.visual.marker`, which changes with every decision, report
and change of status. A page polls ``/api/studies/{name}?since=MARKER`` every few seconds and
gets the figures again only when the marker changed.

Endpoints (all ``GET``)::

    /                                     the studies
    /studies/{name}                       a study's overview
    /studies/{name}/trials/{trial_id}     one trial
    /api/studies                          [{name, direction, n_trials, ...}]
    /api/studies/{name}?since=MARKER&colour=rung|value|time|auto
                                          {marker, changed, summary, figures{race,best,timeline,
                                          parallel}} (summary and figures only when changed; the
                                          race coloured as asked)
    /api/studies/{name}/importance        {marker, figure}
    /api/studies/{name}/trials?offset=&limit=&order=best|number   a page of the trial table
    /api/studies/{name}/trials/{trial_id} {detail, figure, checkpoints}
    /static/...                           plotly.min.js (from the plotly package), app.js, app.css

At start-up (the application's lifespan, before the first request is served) the libraries that
only the pages' computations import are imported in a worker thread: scikit-learn's forest for
the importance view, 1.5 s in a fresh process, which would otherwise fall on the first person to
open a study's page.

With a token (``create_app(..., token=...)``; :func:`~hyperrace.dashboard.serve` gives one
whenever it listens off loopback) every endpoint answers 401 to a request without it.
"""

from __future__ import annotations

import contextlib
import html
import importlib
import json
import math
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperrace._gc import collector_paused
from hyperrace._imports import require
from hyperrace.dashboard._auth import check_token
from hyperrace.dashboard._auth import install as install_token
from hyperrace.exceptions import ConfigurationError, StorageError, StudyNotFoundError
from hyperrace.history import History
from hyperrace.storage import MEMORY_NAMES, Storage, mask_url, open_storage
from hyperrace.study import find_study
from hyperrace.trial import TrialRecord, trial_folder
from hyperrace.visual import (
    COLOUR_BY,
    Snapshot,
    figure,
    importance,
    importance_figure,
    marker,
    metric_of,
    plotly_js_path,
    read,
    summary,
    trial_detail,
    trial_figure,
)

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["create_app"]

_STATIC = Path(__file__).parent / "static"
_OVERVIEW_VIEWS = ("race", "best", "timeline", "parallel")


class _Cache:
    """Figures per (study, marker, what); only the newest marker of each study is kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[str, dict[str, Any]]] = {}

    def get(self, name: str, mark: str, what: str, compute: Callable[[], Any]) -> Any:
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None and entry[0] == mark and what in entry[1]:
                return entry[1][what]
        value = compute()
        with self._lock:
            entry = self._entries.get(name)
            if entry is None or entry[0] != mark:
                entry = (mark, {})
                self._entries[name] = entry
            entry[1][what] = value
        return value


def _by_best(history: History) -> list[TrialRecord]:
    """The trials for the table's ``best`` order: the highest fidelity reached first, then the
    best value there, then the oldest (each trial's last point read once)."""
    keyed = []
    for t in history.trials:
        curve = t.curve
        if curve:
            last = curve[-1]
            keyed.append((-last.fidelity, history.loss(last.value), t.number, t))
        else:
            keyed.append((-0.0, math.inf, t.number, t))
    keyed.sort(key=lambda k: k[:3])
    return [k[3] for k in keyed]


def _check_readable(storage: str | Storage) -> Storage:
    if not isinstance(storage, str):
        return storage
    if storage in MEMORY_NAMES:
        raise ConfigurationError(
            f"storage {mask_url(storage)!r} is empty in every new process: point the dashboard "
            "at a SQLite file or PostgreSQL URL"
        )
    path: Path | None = None
    if "://" not in storage:
        path = Path(storage).expanduser()
    elif storage.startswith("sqlite:///"):
        path = Path(storage[len("sqlite:///") :]).expanduser()
    if path is not None and not path.is_file():
        raise StorageError(
            f"there is no database at {path} (storage {mask_url(storage)}); the dashboard only "
            "reads: point it at the file a study writes to"
        )
    return open_storage(storage)


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities (which JSON has not) as ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _paused(compute: Callable[[], Any]) -> Any:
    """``compute()`` with the cyclic garbage collector paused (see :mod:`hyperrace._gc`)."""
    with collector_paused():
        return compute()


def _json(payload: Any) -> str:
    """Strict JSON (a browser's ``JSON.parse`` reads no NaN): a NaN or infinity, which only a
    row edited by hand brings in, is sent as null."""
    try:
        return json.dumps(payload, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(payload), allow_nan=False)


def _page(title: str, kind: str, **data: str) -> str:
    attrs = " ".join(f'data-{k}="{html.escape(v, quote=True)}"' for k, v in data.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · hyperrace</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/app.css">
<script src="/static/plotly.min.js"></script>
<script src="/static/app.js" defer></script>
</head><body data-page="{kind}" {attrs}>
<header><a href="/" class="brand">hyperrace</a> <span id="crumbs"></span>
<span id="live" title="refreshes while the study runs"></span></header>
<main id="main"></main>
</body></html>
"""


#: Imported at start-up (see the module docstring), where installed.
WARM_UP = ("sklearn.ensemble",)


def _warm_up() -> None:
    """Import :data:`WARM_UP` (a missing optional one is skipped: the importance view then
    falls back on its own)."""
    for name in WARM_UP:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


@contextlib.asynccontextmanager
async def _lifespan(app: Any) -> AsyncIterator[None]:
    import anyio.to_thread

    await anyio.to_thread.run_sync(_warm_up)
    yield


def create_app(
    storage: str | Storage, *, refresh_seconds: float = 3.0, token: str | None = None
) -> FastAPI:
    """The dashboard of the studies in ``storage`` (a URL or a storage object).

    Args:
        storage: where the studies are; a SQLite file must exist already (nothing is created).
        refresh_seconds: how often open pages poll for changes.
        token: when given, every request must carry it (header ``Authorization: Bearer``, or
            ``?token=``, which sets a cookie for the page's own requests); a request without it
            gets 401. :func:`~hyperrace.dashboard.serve` gives one whenever it listens off
            loopback. ``None``: open to whoever reaches the server.

    Raises:
        ConfigurationError: ``memory://`` (empty in a new process), a bad ``refresh_seconds``,
            or a token too short or with characters that do not travel in a URL.
        StorageError: a SQLite file that does not exist.
        MissingDependencyError: fastapi or plotly is not installed (the ``dashboard`` extra).
    """
    if not isinstance(refresh_seconds, int | float) or not refresh_seconds > 0:
        raise ConfigurationError(f"refresh_seconds={refresh_seconds!r} must be a positive number")
    if token is not None:
        check_token(token)
    require("fastapi", "dashboard", "the dashboard")
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

    plotly_js = plotly_js_path()
    store = _check_readable(storage)
    cache = _Cache()
    app = FastAPI(title="hyperrace dashboard", docs_url=None, redoc_url=None, lifespan=_lifespan)

    @app.exception_handler(StorageError)
    async def storage_failed(request: Any, exc: StorageError) -> Any:
        # a database that fails, or a row edited by hand: say what, instead of a bare 500
        return JSONResponse({"detail": str(exc)}, status_code=500)

    if token is not None:
        install_token(app, token)

    def as_json(payload: Any) -> Any:
        # json.dumps straight away: FastAPI's own encoder walks every value and is slow on
        # figures of 10,000 trials
        return Response(content=_json(payload), media_type="application/json")

    refresh_ms = str(int(refresh_seconds * 1000))

    latest: dict[int, History] = {}  # by study id: each poll reads only what changed since

    def snapshot(name: str) -> Snapshot:
        try:
            snap = read(store, name, since=latest)
        except StudyNotFoundError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        latest[snap.info.study_id] = snap.history
        return snap

    def known(name: str) -> None:
        # a page needs only to know the study is there: its data comes through the API
        try:
            find_study(store, name)
        except StudyNotFoundError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None

    @app.get("/", response_class=HTMLResponse)
    def studies_page() -> str:
        return _page("studies", "studies", refresh=refresh_ms)

    @app.get("/studies/{name}", response_class=HTMLResponse)
    def study_page(name: str) -> str:
        known(name)
        return _page(name, "study", study=name, refresh=refresh_ms)

    @app.get("/studies/{name}/trials/{trial_id}", response_class=HTMLResponse)
    def trial_page(name: str, trial_id: int) -> str:
        known(name)
        return _page(
            f"{name}, trial {trial_id}",
            "trial",
            study=name,
            trial=str(trial_id),
            refresh=refresh_ms,
        )

    @app.get("/static/plotly.min.js")
    def plotly() -> Any:
        return FileResponse(plotly_js, media_type="text/javascript")

    @app.get("/static/{file}")
    def static(file: str) -> Any:
        path = _STATIC / file
        if file not in ("app.js", "app.css") or not path.is_file():
            raise HTTPException(status_code=404, detail=f"no static file {file!r}")
        media = "text/javascript" if file.endswith(".js") else "text/css"
        return FileResponse(path, media_type=media)

    @app.get("/api/studies")
    def api_studies() -> list[dict[str, Any]]:
        return [
            {
                "name": s.name,
                "direction": s.direction,
                "n_trials": s.n_trials,
                "n_running": s.n_running,
                "n_completed": s.n_completed,
                "n_failed": s.n_failed,
                "created": s.created,
                "best_value": s.best_value,
            }
            for s in store.list_studies()
        ]

    @app.get("/api/studies/{name}")
    def api_study(name: str, since: str | None = None, colour: str = "auto") -> Any:
        if colour not in COLOUR_BY:
            raise HTTPException(
                status_code=422, detail=f"colour={colour!r} must be one of {list(COLOUR_BY)}"
            )
        snap = snapshot(name)
        mark = marker(snap.history)
        if since == mark:
            return as_json({"marker": mark, "changed": False})

        def compute() -> str:
            # hundreds of thousands of short-lived objects for a big study, none in a cycle
            with collector_paused():
                figures = {
                    view: figure(snap, view, colour=colour)
                    if view == "race"
                    else figure(snap, view)
                    for view in _OVERVIEW_VIEWS
                }
                body = _json({"summary": summary(snap), "figures": figures})
            return body[1:]  # without its opening brace: the marker goes first

        body: str = cache.get(name, mark, f"overview-{colour}", compute)
        head = json.dumps({"marker": mark, "changed": True})[:-1]
        return Response(content=f"{head}, {body}", media_type="application/json")

    @app.get("/api/studies/{name}/importance")
    def api_importance(name: str) -> Any:
        snap = snapshot(name)
        mark = marker(snap.history)
        fig = cache.get(
            name,
            mark,
            "importance",
            lambda: _paused(lambda: importance_figure(importance(snap.history, snap.space))),
        )
        return as_json({"marker": mark, "figure": fig})

    @app.get("/api/studies/{name}/trials")
    def api_trials(name: str, offset: int = 0, limit: int = 50, order: str = "best") -> Any:
        if order not in ("best", "number") or offset < 0 or not 1 <= limit <= 1000:
            raise HTTPException(
                status_code=422,
                detail=f"order={order!r} must be 'best' or 'number', offset={offset} at least 0, "
                f"limit={limit} from 1 to 1000",
            )
        snap = snapshot(name)
        h = snap.history
        rows: Sequence[TrialRecord] = h.trials
        if order == "best":  # sorted once per marker: the pages that follow are slices
            rows = cache.get(name, marker(h), "trials-best", lambda: _by_best(h))
        page = rows[offset : offset + limit]
        return as_json(
            {
                "total": len(rows),
                "offset": offset,
                "trials": [
                    {
                        "trial_id": t.trial_id,
                        "number": t.number,
                        "status": t.status.value,
                        "fidelity": t.fidelity,
                        "value": t.last_value,
                        "work": t.work,
                        "config": dict(t.config),
                    }
                    for t in page
                ],
            }
        )

    @app.get("/api/studies/{name}/trials/{trial_id}")
    def api_trial(name: str, trial_id: int) -> Any:
        snap = snapshot(name)
        try:
            detail = trial_detail(snap.history, trial_id, snap.space)
        except KeyError as exc:
            raise HTTPException(status_code=404, detail=str(exc.args[0])) from None
        folder_name = snap.info.attrs.get("artifacts")
        files: list[dict[str, Any]] = []
        folder = None
        if folder_name:
            folder = trial_folder(folder_name, detail.trial_id)
            if folder.is_dir():
                files = [
                    {"name": p.name, "bytes": p.stat().st_size}
                    for p in sorted(folder.iterdir())
                    if p.is_file()
                ]
        fidelity_name = snap.space.fidelity_name or "fidelity"
        return as_json(
            {
                "marker": marker(snap.history),
                "detail": {
                    "number": detail.number,
                    "trial_id": detail.trial_id,
                    "status": detail.status,
                    "reason": detail.reason,
                    "message": detail.message,
                    "config": dict(detail.config),
                    "fidelity": detail.fidelity,
                    "value": detail.value,
                    "target": detail.target,
                    "work": detail.work,
                    "wall_seconds": detail.wall_seconds,
                    "cpu_seconds": detail.cpu_seconds,
                    "devices": list(detail.devices),
                    "fidelity_name": fidelity_name,
                    "metric": metric_of(snap),
                    "decisions": [
                        {
                            "index": i,
                            "kind": kind,
                            "start": start,
                            "stop": stop,
                            "optimizer": opt,
                            "seconds": seconds,
                            "info": dict(info),
                        }
                        for i, kind, start, stop, opt, seconds, info in detail.decisions
                    ],
                },
                "checkpoints": {
                    "fidelity": detail.checkpoint_fidelity,
                    "folder": None if folder is None else str(folder),
                    "files": files,
                },
                "figure": trial_figure(detail, fidelity_name=fidelity_name, metric=metric_of(snap)),
            }
        )

    return app
