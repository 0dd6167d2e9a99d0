"""Static exports of a view: a self-contained HTML page, or a PNG drawn with matplotlib.

The HTML page holds the same figure JSON the dashboard draws and Plotly.js inlined from the
installed ``plotly`` package (no network needed to open it). The PNG is drawn with matplotlib from
the same extracted records (:mod:`._data`), not from the figure JSON. Both need the ``dashboard``
extra: ``pip install 'hyperrace[dashboard]'``.
"""

from __future__ import annotations

import html
import importlib.util
import json
from pathlib import Path
from typing import Any

from hyperrace._imports import require
from hyperrace.exceptions import ConfigurationError, MissingDependencyError
from hyperrace.visual._data import OUTCOMES, best_so_far, parallel_table, race
from hyperrace.visual._importance import importance
from hyperrace.visual._plotly import OUTCOME_STYLE, race_colouring, time_unit
from hyperrace.visual._views import VIEWS, Snapshot, figure, metric_of

__all__ = ["IMAGE_SUFFIXES", "plotly_js_path", "write_html", "write_image", "write_png"]

_MARKERS = {
    "triangle-up": "^",
    "diamond-open": "D",
    "circle-open": "o",
    "x-thin-open": "x",
    "star": "*",
    "x": "X",
    "circle": "o",
}


def plotly_js_path() -> Path:
    """The ``plotly.min.js`` bundled with the installed ``plotly`` package.

    Raises:
        MissingDependencyError: plotly is not installed (it comes with the ``dashboard`` extra).
    """
    spec = importlib.util.find_spec("plotly")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / "package_data" / "plotly.min.js"
        if path.is_file():
            return path
    raise MissingDependencyError(
        "the dashboard and HTML plots need Plotly.js from the optional package 'plotly', which is "
        "not installed (or has no package_data/plotly.min.js); install it with: "
        "pip install 'hyperrace[dashboard]'"
    )


def write_html(snap: Snapshot, view: str, path: str | Path) -> Path:
    """Write ``view`` of the study as one self-contained HTML file; return its path."""
    spec = figure(snap, view)
    js = plotly_js_path().read_text(encoding="utf-8")
    title = html.escape(f"{snap.info.name}: {view}")
    data = json.dumps(spec, allow_nan=False).replace("</", "<\\/")
    page = (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>\n'
        f"<script>{js}</script></head>\n"
        '<body style="margin:0"><div id="plot" style="width:100vw;height:100vh"></div>\n'
        f"<script>const fig = {data};\n"
        "Plotly.newPlot('plot', fig.data, fig.layout, {responsive: true});</script>\n"
        "</body></html>\n"
    )
    out = Path(path)
    out.write_text(page, encoding="utf-8")
    return out


def write_png(snap: Snapshot, view: str, path: str | Path, *, dpi: int = 130) -> Path:
    """Draw ``view`` of the study with matplotlib into a PNG file (or the format the suffix of
    ``path`` names, as :func:`write_image` checks); return its path.

    Raises:
        ConfigurationError: ``view`` is not one of :data:`~hyperrace.visual.VIEWS`.
        MissingDependencyError: matplotlib is not installed.
    """
    if view not in VIEWS:
        raise ConfigurationError(f"view={view!r} is not one of {list(VIEWS)!r}")
    require("matplotlib", "dashboard", f"a PNG of the {view} view")
    from matplotlib.figure import Figure

    canvas = Figure(figsize=(11, 6.2), layout="constrained")
    ax = canvas.add_subplot()
    fidelity_name = snap.space.fidelity_name or "fidelity"
    if view in ("race", "timeline"):
        data = race(snap.history, snap.space, metric=metric_of(snap))
        (_race if view == "race" else _timeline)(ax, data)
    elif view == "best":
        _best(ax, snap, fidelity_name)
    elif view == "parallel":
        _parallel(ax, snap)
    else:
        _importance(ax, snap)
    out = Path(path)
    canvas.savefig(out, dpi=dpi, facecolor="white")
    return out


#: The picture formats :func:`write_image` draws, by the suffix of the file.
IMAGE_SUFFIXES = (".png", ".svg", ".pdf")


def write_image(snap: Snapshot, view: str, path: str | Path, *, dpi: int = 130) -> Path:
    """Draw ``view`` of the study with matplotlib into a PNG, SVG or PDF file, as the suffix of
    ``path`` says (:data:`IMAGE_SUFFIXES`); return its path.

    Raises:
        ConfigurationError: another suffix, or ``view`` is not one of
            :data:`~hyperrace.visual.VIEWS`.
        MissingDependencyError: matplotlib is not installed.
    """
    if Path(path).suffix.lower() not in IMAGE_SUFFIXES:
        raise ConfigurationError(
            f"{str(path)!r} must end in one of {', '.join(IMAGE_SUFFIXES)}; write_html writes .html"
        )
    return write_png(snap, view, path, dpi=dpi)


def _race(ax: Any, data: Any, colour: str = "auto") -> None:
    paint = race_colouring(data, colour)
    for s, b in zip(data.segments, paint.of, strict=True):
        if s.fidelities:
            ax.plot(s.fidelities, s.values, color=paint.bins[b][1], lw=1.1, alpha=0.8)
    # the colour legend in bin order (time, fidelity or value order), whatever order the
    # curves were drawn in
    from matplotlib.lines import Line2D

    used = sorted({b for s, b in zip(data.segments, paint.of, strict=True) if s.fidelities})
    colour_handles = [Line2D([], [], color=paint.bins[b][1], lw=1.6) for b in used]
    colour_labels = [paint.bins[b][0] for b in used]
    for s in data.segments:
        if s.trial_id == data.best_trial and s.fidelities:
            first = s.run == 0
            label = f"best: trial {s.trial_id}" if first else None
            ax.plot(s.fidelities, s.values, color="black", lw=2.4, label=label, zorder=4)
    for outcome in OUTCOMES:
        ends = [s for s in data.segments if s.outcome == outcome and s.fidelities]
        if not ends:
            continue
        name, symbol, colour = OUTCOME_STYLE[outcome]
        marker = _MARKERS[symbol]
        filled = marker not in ("x", "+") and not symbol.endswith("open")
        ax.scatter(
            [s.fidelities[-1] for s in ends],
            [s.values[-1] for s in ends],
            marker=marker,
            facecolors=colour if filled or marker in ("x", "+") else "none",
            **({} if marker in ("x", "+") else {"edgecolors": colour}),
            s=30,
            label=f"{name} ({len(ends)})",
            zorder=5,
        )
    if data.max_fidelity is not None and data.max_fidelity >= 20:
        ax.set_xscale("log")
    ax.set_xlabel(data.fidelity_name)
    better = " (lower is better)" if data.direction == "minimize" else " (higher is better)"
    ax.set_ylabel(data.metric + better)
    what = {"rung": "how far its trial got", "value": "its trial's last value"}
    ax.set_title(
        f"The race: every learning curve, coloured by {what.get(paint.by, 'when it was trained')}",
        loc="left",
    )
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    spacer = Line2D([], [], lw=0)
    ax.legend(
        [spacer, *colour_handles, spacer, *handles],
        [paint.title, *colour_labels, "", *labels],
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        fontsize=8,
        frameon=False,
    )


def _timeline(ax: Any, data: Any) -> None:
    unit, per = time_unit(data.duration)
    for outcome in OUTCOMES:
        runs = [s for s in data.segments if s.outcome == outcome]
        if not runs:
            continue
        name, _symbol, colour = OUTCOME_STYLE[outcome]
        ax.hlines(
            [s.trial_id for s in runs],
            [s.trained_from / per for s in runs],
            [s.ended / per for s in runs],
            colors=colour,
            lw=3,
            label=name,
        )
    waits = [s for s in data.segments if s.trained_from > s.began]
    if waits:
        ax.hlines(
            [s.trial_id for s in waits],
            [s.began / per for s in waits],
            [s.trained_from / per for s in waits],
            colors="#ced4da",
            lw=1,
            label="starting (not training)",
        )
    ax.invert_yaxis()
    ax.set_xlabel(f"time since the study began ({unit})")
    ax.set_ylabel("trial")
    ax.set_title("Runs over time: which trial trained when, and how each run ended", loc="left")
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)


def _best(ax: Any, snap: Snapshot, fidelity_name: str) -> None:
    best = best_so_far(snap.history, snap.space)
    for points, label, colour in (
        (best.any_fidelity, "best at any fidelity", "#adb5bd"),
        (best.at_max, f"best at {fidelity_name} = {best.max_fidelity or 0:g}", "#1d3557"),
    ):
        if points:
            ax.step(
                [p.work for p in points],
                [p.value for p in points],
                where="post",
                color=colour,
                lw=2,
                marker="o",
                ms=3,
                label=label,
            )
    ax.set_xlabel(f"{fidelity_name} trained, all trials")
    ax.set_ylabel(f"best {metric_of(snap)}")
    ax.set_title("Best so far against budget consumed", loc="left")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, frameon=False)


def _parallel(ax: Any, snap: Snapshot) -> None:
    import math

    import numpy as np

    table = parallel_table(snap.history, snap.space, metric=metric_of(snap))
    if not table.numbers:
        ax.set_title("Parallel coordinates: no trial has reported yet", loc="left")
        return
    columns: list[tuple[str, list[float]]] = []
    for c in table.columns:  # log axes in log10; an inactive value below the range
        vals = [math.log10(v) if c.log and v is not None else v for v in c.values]
        present = [v for v in vals if v is not None]
        floor = min(present, default=0.0) - 0.12 * (np.ptp(present) if present else 1.0)
        label = c.name + (" (log scale)" if c.log else "")
        columns.append((label, [floor if v is None else v for v in vals]))
    columns += [(table.fidelity_name, list(table.fidelity)), (table.metric, list(table.value))]
    matrix = np.array([values for _, values in columns], dtype=float).T
    low, high = matrix.min(axis=0), matrix.max(axis=0)
    scaled = (matrix - low) / np.where(high > low, high - low, 1.0)
    values = np.array(table.value)
    order = np.argsort(values if snap.history.direction == "maximize" else -values)
    from matplotlib import colormaps

    cmap = colormaps["viridis" if snap.history.direction == "maximize" else "viridis_r"]
    shade = (values - values.min()) / max(float(np.ptp(values)), 1e-12)
    xs = np.arange(len(columns))
    for i in order:
        ax.plot(xs, scaled[i], color=cmap(shade[i]), lw=0.8, alpha=0.7)
    ax.set_xticks(xs, [name for name, _ in columns], rotation=20)
    ax.set_yticks([])
    for x in xs:
        ax.axvline(x, color="#adb5bd", lw=0.8)
    ax.set_title(
        f"Parallel coordinates ({len(table.numbers)} trials; bright is better)", loc="left"
    )


def _importance(ax: Any, snap: Snapshot) -> None:
    imp = importance(snap.history, snap.space)
    if not imp.scores:
        ax.set_title(f"Parameter importance: {imp.note}", loc="left")
        return
    ax.barh(list(imp.names), list(imp.scores), color="#457b9d")
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the variance explained alone")
    ax.set_title(
        f"Parameter importance ({imp.method}, values at {imp.fidelity:g}, {imp.n_trials} trials)",
        loc="left",
    )
