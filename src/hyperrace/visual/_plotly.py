"""Plotly figures, as plain JSON-able dicts, drawn from the records of :mod:`._data`.

No plotly Python package is needed: the dicts go to Plotly.js as they are (in the dashboard's
pages and in the HTML export). Figures stay light with 10,000 trials: curves are grouped into a
handful of WebGL traces (one per colour, segments separated by gaps) instead of one trace per
trial, and :func:`race_figure` thins long curves to at most ``max_points`` points in all.

The race (after the first figure of Wistuba, Kadra and Grabocka, "Supervising the Multi-Fidelity
Race of Hyperparameter Configurations", NeurIPS 2022): every run of every trial is drawn over the
fidelity axis, coloured by when the run began (early runs dark, late runs bright), with a marker
where it ended: promoted, paused, stopped, completed, failed or still running. The best trial is
drawn on top in black.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hyperrace.visual._data import (
    OUTCOMES,
    BestSoFar,
    Outcome,
    ParallelTable,
    Race,
    Segment,
    TrialDetail,
)
from hyperrace.visual._importance import Importance

__all__ = [
    "OUTCOME_STYLE",
    "TIME_COLOURS",
    "best_figure",
    "importance_figure",
    "parallel_figure",
    "race_figure",
    "time_unit",
    "timeline_figure",
    "trial_figure",
]

Figure = dict[str, Any]

#: Colours of the race's time bins, early to late (the viridis scale at eight points).
TIME_COLOURS = (
    "#440154",
    "#46327e",
    "#365c8d",
    "#277f8e",
    "#1fa187",
    "#4ac16d",
    "#a0da39",
    "#e8d21d",
)
#: How each outcome is marked: (label, marker symbol, colour).
OUTCOME_STYLE: dict[Outcome, tuple[str, str, str]] = {
    "promoted": ("promoted", "triangle-up", "#2a9d8f"),
    "interrupted": ("interrupted", "diamond-open", "#8d6e63"),
    "paused": ("paused", "circle-open", "#6c757d"),
    "stopped": ("stopped", "x-thin-open", "#e76f51"),
    "completed": ("completed", "star", "#264653"),
    "failed": ("failed", "x", "#d62828"),
    "running": ("running", "circle", "#f77f00"),
}
_LAYOUT: dict[str, Any] = {
    "template": None,
    "paper_bgcolor": "#ffffff",
    "plot_bgcolor": "#ffffff",
    "font": {"family": "system-ui, sans-serif", "size": 12, "color": "#222"},
    "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
    "hovermode": "closest",
}


def _axis(title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "gridcolor": "#e9ecef",
        "zeroline": False,
        "showline": True,
        "linecolor": "#adb5bd",
        **extra,
    }


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {**_LAYOUT, "title": {"text": title, "x": 0.01, "font": {"size": 15}}, **extra}


def time_unit(seconds: float) -> tuple[str, float]:
    """A readable unit for a span of ``seconds``: (name, seconds per unit)."""
    if seconds >= 3 * 3600:
        return "hours", 3600.0
    if seconds >= 3 * 60:
        return "minutes", 60.0
    return "seconds", 1.0


def _thin(segment: Segment, cap: int) -> tuple[Sequence[float], Sequence[float]]:
    n = len(segment.fidelities)
    if n <= cap:
        return segment.fidelities, segment.values
    step = (n - 1) / (cap - 1)
    keep = sorted({round(i * step) for i in range(cap)} | {0, n - 1})
    return [segment.fidelities[i] for i in keep], [segment.values[i] for i in keep]


def race_figure(race: Race, *, max_points: int = 60_000, bins: int = 8) -> Figure:
    """The race: every run over the fidelity axis, coloured by when it began.

    Args:
        race: from :func:`hyperrace.visual.race`.
        max_points: the most curve points drawn in all; longer curves are thinned evenly (their
            first and last points kept).
        bins: how many colours time is cut into (at most 8).
    """
    bins = max(1, min(bins, len(TIME_COLOURS)))
    unit, per = time_unit(race.duration)
    span = race.duration or 1.0
    drawn = [s for s in race.segments if s.fidelities]
    cap = max(2, max_points // max(1, len(drawn)))
    lines: list[tuple[list[float | None], list[float | None], list[str | None]]] = [
        ([], [], []) for _ in range(bins)
    ]
    for s in drawn:
        b = min(bins - 1, int(bins * s.began / span))
        xs, ys, texts = lines[b]
        fx, fy = _thin(s, cap)
        xs.extend([*fx, None])
        ys.extend([*fy, None])
        label = f"trial {s.trial_id}, run {s.run + 1}"
        texts.extend([label] * len(fx) + [None])
    palette = [
        TIME_COLOURS[round(i * (len(TIME_COLOURS) - 1) / max(1, bins - 1))] for i in range(bins)
    ]
    traces: list[dict[str, Any]] = []
    for b, (xs, ys, texts) in enumerate(lines):
        if not xs:
            continue
        lo, hi = b * span / bins / per, (b + 1) * span / bins / per
        traces.append(
            {
                "type": "scattergl",
                "mode": "lines",
                "x": xs,
                "y": ys,
                "text": texts,
                "hovertemplate": "%{text}<br>%{x:g}: %{y:.4g}<extra></extra>",
                "line": {"color": palette[b], "width": 1.3},
                "opacity": 0.8,
                "name": f"began {lo:.3g}–{hi:.3g} {unit}",
                "legendgroup": "time",
                **({"legendgrouptitle": {"text": "run began"}} if not traces else {}),
            }
        )
    best = [s for s in drawn if s.trial_id == race.best_trial]
    if best:
        xs2: list[float | None] = []
        ys2: list[float | None] = []
        for s in best:
            xs2.extend([*s.fidelities, None])
            ys2.extend([*s.values, None])
        traces.append(
            {
                "type": "scattergl",
                "mode": "lines",
                "x": xs2,
                "y": ys2,
                "line": {"color": "#000000", "width": 2.6},
                "name": f"best: trial {race.best_trial}",
                "hovertemplate": f"best trial {race.best_trial}<br>"
                "%{x:g}: %{y:.4g}<extra></extra>",
            }
        )
    for outcome in OUTCOMES:
        ends = [s for s in drawn if s.outcome == outcome]
        if not ends:
            continue
        label, symbol, colour = OUTCOME_STYLE[outcome]
        traces.append(
            {
                "type": "scattergl",
                "mode": "markers",
                "x": [s.fidelities[-1] for s in ends],
                "y": [s.values[-1] for s in ends],
                "text": [f"trial {s.trial_id}: {label} at {s.reached:g}" for s in ends],
                "hovertemplate": "%{text}<br>value %{y:.4g}<extra></extra>",
                "marker": {
                    "symbol": symbol,
                    "color": colour,
                    "size": 9 if outcome in ("running", "completed", "failed") else 7,
                    "line": {"width": 1.2, "color": colour},
                },
                "name": f"{label} ({len(ends)})",
                "legendgroup": "outcome",
                **({"legendgrouptitle": {"text": "run ended"}} if outcome == _first(drawn) else {}),
            }
        )
    log_x = race.max_fidelity is not None and race.max_fidelity >= 20
    rungs = sorted({s.reached for s in drawn})
    ticks = {"tickvals": rungs, "ticktext": [f"{r:g}" for r in rungs]} if len(rungs) <= 12 else {}
    return {
        "data": traces,
        "layout": _layout(
            "The race: every learning curve, coloured by when it was trained",
            xaxis=_axis(race.fidelity_name, **({"type": "log", **ticks} if log_x else {})),
            yaxis=_axis("value" + (" (lower is better)" if race.direction == "minimize" else "")),
            legend={"orientation": "v", "x": 1.01, "y": 1, "font": {"size": 11}},
        ),
    }


def _first(segments: Sequence[Segment]) -> Outcome | None:
    present = {s.outcome for s in segments}
    return next((o for o in OUTCOMES if o in present), None)


def best_figure(best: BestSoFar, *, fidelity_name: str = "fidelity") -> Figure:
    """The incumbent against the budget consumed (a step chart per series)."""
    traces: list[dict[str, Any]] = []
    for points, name, colour in (
        (best.any_fidelity, "best at any fidelity", "#adb5bd"),
        (best.at_max, f"best at {fidelity_name} = {best.max_fidelity or 0:g}", "#1d3557"),
    ):
        if not points:
            continue
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "line": {"shape": "hv", "color": colour, "width": 2},
                "marker": {"size": 5},
                "x": [p.work for p in points],
                "y": [p.value for p in points],
                "text": [f"trial {p.trial_id} at {fidelity_name} {p.fidelity:g}" for p in points],
                "hovertemplate": "%{text}<br>after %{x:g}: %{y:.4g}<extra></extra>",
                "name": name,
            }
        )
    return {
        "data": traces,
        "layout": _layout(
            "Best so far against budget consumed",
            xaxis=_axis(f"{fidelity_name} trained, all trials"),
            yaxis=_axis("best value"),
            legend={"x": 0.99, "xanchor": "right", "y": 0.99},
        ),
    }


def timeline_figure(race: Race) -> Figure:
    """Budget per trial over time: each run a bar from its start to its end, at its trial's row,
    coloured by how it ended."""
    unit, per = time_unit(race.duration)
    traces: list[dict[str, Any]] = []
    for outcome in OUTCOMES:
        runs = [s for s in race.segments if s.outcome == outcome]
        if not runs:
            continue
        label, _symbol, colour = OUTCOME_STYLE[outcome]
        xs: list[float | None] = []
        ys: list[float | None] = []
        texts: list[str | None] = []
        for s in runs:
            xs.extend([s.began / per, s.ended / per, None])
            ys.extend([s.trial_id, s.trial_id, None])
            text = (
                f"trial {s.trial_id}: {s.start:g} → {s.reached:g} (granted {s.granted:g}), {label}"
            )
            texts.extend([text, text, None])
        traces.append(
            {
                "type": "scattergl",
                "mode": "lines+markers",
                "x": xs,
                "y": ys,
                "text": texts,
                "hovertemplate": "%{text}<extra></extra>",
                "line": {"color": colour, "width": 4},
                "marker": {"size": 4, "color": colour},
                "name": label,
            }
        )
    return {
        "data": traces,
        "layout": _layout(
            "Runs over time: which trial trained when, and how each run ended",
            xaxis=_axis(f"time since the study began ({unit})"),
            yaxis=_axis("trial", autorange="reversed"),
        ),
    }


def parallel_figure(table: ParallelTable, *, direction: str = "minimize") -> Figure:
    """Parallel coordinates: one line per trial, coloured by its last value."""
    dims: list[dict[str, Any]] = []
    for col in table.columns:
        dim: dict[str, Any] = {"label": col.name, "values": list(col.values)}
        if col.labels is not None:
            dim["tickvals"] = list(range(len(col.labels)))
            dim["ticktext"] = list(col.labels)
            dim["range"] = [-0.2, len(col.labels) - 0.8]
        elif col.log:
            dim["label"] = f"{col.name} (log10)"
        dims.append(dim)
    dims.append({"label": table.fidelity_name, "values": list(table.fidelity)})
    dims.append({"label": "value", "values": list(table.value)})
    return {
        "data": [
            {
                "type": "parcoords",
                "dimensions": dims,
                "line": {
                    "color": list(table.value),
                    "colorscale": "Viridis",
                    "reversescale": direction == "minimize",
                    "showscale": True,
                    "colorbar": {"title": {"text": "value"}},
                },
            }
        ],
        "layout": _layout(
            f"Parallel coordinates ({len(table.numbers)} trials; bright is better)",
            margin={"l": 70, "r": 70, "t": 80, "b": 30},
        ),
    }


def importance_figure(imp: Importance) -> Figure:
    """A horizontal bar per hyperparameter, most important on top."""
    title = (
        f"Parameter importance ({imp.method}, values at {imp.fidelity:g}, {imp.n_trials} trials)"
        if imp.scores
        else f"Parameter importance: {imp.note}"
    )
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "x": list(imp.scores),
                "y": list(imp.names[: len(imp.scores)]),
                "marker": {"color": "#457b9d"},
                "hovertemplate": "%{y}: %{x:.1%} of the variance<extra></extra>",
            }
        ],
        "layout": _layout(
            title,
            xaxis=_axis("share of the variance explained alone", range=[0, 1], tickformat=".0%"),
            yaxis=_axis("", autorange="reversed"),
        ),
    }


def trial_figure(detail: TrialDetail, *, fidelity_name: str = "fidelity") -> Figure:
    """One trial's curve, one colour per run, with a marker where each run ended."""
    traces: list[dict[str, Any]] = []
    for s in detail.segments:
        label, symbol, colour = OUTCOME_STYLE[s.outcome]
        run_colour = TIME_COLOURS[(2 * s.run) % len(TIME_COLOURS)]
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": list(s.fidelities),
                "y": list(s.values),
                "line": {"color": run_colour, "width": 2},
                "marker": {"size": 5, "color": run_colour},
                "name": f"run {s.run + 1}: {s.start:g} → {s.reached:g}, {label}",
                "hovertemplate": f"run {s.run + 1}<br>%{{x:g}}: %{{y:.4g}}<extra></extra>",
            }
        )
        if s.fidelities:
            traces.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "x": [s.fidelities[-1]],
                    "y": [s.values[-1]],
                    "marker": {"symbol": symbol, "color": colour, "size": 12},
                    "showlegend": False,
                    "hovertemplate": f"{label}<extra></extra>",
                }
            )
    return {
        "data": traces,
        "layout": _layout(
            f"Trial {detail.trial_id}: its learning curve, run by run",
            xaxis=_axis(fidelity_name),
            yaxis=_axis("value"),
        ),
    }
