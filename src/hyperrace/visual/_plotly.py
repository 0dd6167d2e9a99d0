"""Plotly figures, as plain JSON-able dicts, drawn from the records of :mod:`._data`.

No plotly Python package is needed: the dicts go to Plotly.js as they are (in the dashboard's
pages and in the HTML export). Figures stay light with 10,000 trials: curves are grouped into a
handful of WebGL traces (one per colour, segments separated by gaps) instead of one trace per
trial, and :func:`race_figure` thins long curves to at most ``max_points`` points in all.

The race (after the first figure of Wistuba, Kadra and Grabocka, "Supervising the Multi-Fidelity
Race of Hyperparameter Configurations", NeurIPS 2022): every run of every trial is drawn over the
fidelity axis, with a marker where it ended: promoted, paused, stopped, completed, failed or still
running. The best trial is drawn on top in black. Curves are coloured (:func:`race_colouring`)
by how far their trial got in the race (the highest fidelity it reached; bright went furthest),
by its last value (bright is better), or by when the run began (bright is late). Hovering a curve
shows the trial's hyperparameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hyperrace.exceptions import ConfigurationError
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
    "COLOUR_BY",
    "OUTCOME_STYLE",
    "TIME_COLOURS",
    "Colouring",
    "best_figure",
    "importance_figure",
    "parallel_figure",
    "race_colouring",
    "race_figure",
    "time_unit",
    "timeline_figure",
    "trial_figure",
]

Figure = dict[str, Any]

#: What the race can be coloured by; ``"auto"`` is ``"rung"`` when trials reached different
#: fidelities, else ``"value"``.
COLOUR_BY = ("auto", "rung", "value", "time")
ColourBy = Literal["auto", "rung", "value", "time"]
#: The race's colour bins, dark to bright (the viridis scale at eight points).
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


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def config_text(config: Mapping[str, Any]) -> str:
    """A trial's hyperparameters as hover text, one ``name=value`` a line (4 digits)."""
    return "<br>".join(f"{k}={_fmt(v)}" for k, v in config.items())


@dataclass(frozen=True, slots=True)
class Colouring:
    """How the race is coloured.

    Attributes:
        by: ``"rung"``, ``"value"`` or ``"time"``.
        title: the legend's title for the colours.
        bins: (label, colour) per bin, in legend order (increasing fidelity, value or time).
        of: the bin of each segment of the race, in its order.
    """

    by: str
    title: str
    bins: tuple[tuple[str, str], ...]
    of: tuple[int, ...]


def _quantile_bins(values: Sequence[float], k: int) -> tuple[list[float], list[int]]:
    """Edges (k' + 1 values, k' <= k) and the bin of each value: one bin per distinct value when
    there are at most ``k``, else ``k`` bins of about equal counts."""
    distinct = sorted(set(values))
    if len(distinct) <= k:
        index = {v: i for i, v in enumerate(distinct)}
        return [*distinct, distinct[-1]] if distinct else [], [index[v] for v in values]
    ordered = sorted(values)
    edges = [
        ordered[min(len(ordered) - 1, round(i * (len(ordered) - 1) / k))] for i in range(k + 1)
    ]
    edges = sorted(set(edges))
    inner = edges[1:-1]
    return edges, [sum(v >= e for e in inner) for v in values]


def race_colouring(race: Race, by: str = "auto", *, bins: int = 8) -> Colouring:
    """The colour bin of every segment of ``race``, coloured ``by`` one of :data:`COLOUR_BY`.

    ``"rung"``: the highest fidelity the segment's trial reached, so the survivors of the race
    stand out (bright: furthest); ``"value"``: the trial's last value (bright: better);
    ``"time"``: when the run began (bright: late). Up to ``bins`` (at most 8) bins, in legend
    order.
    """
    if by not in COLOUR_BY:
        raise ConfigurationError(f"colour={by!r} is not one of {list(COLOUR_BY)!r}")
    bins = max(1, min(bins, len(TIME_COLOURS)))
    segs = race.segments
    reached: dict[int, float] = {}
    last: dict[int, tuple[float, float]] = {}
    for s in segs:
        if s.fidelities:
            reached[s.trial_id] = max(reached.get(s.trial_id, -math.inf), s.reached)
            if s.fidelities[-1] >= last.get(s.trial_id, (-math.inf, 0.0))[0]:
                last[s.trial_id] = (s.fidelities[-1], s.values[-1])
    if by == "auto":
        by = "rung" if len(set(reached.values())) > 1 else "value"
    unit, per = time_unit(race.duration)

    def palette(n: int, bright_first: bool = False) -> list[str]:
        cols = [TIME_COLOURS[round(i * (len(TIME_COLOURS) - 1) / max(1, n - 1))] for i in range(n)]
        return cols[::-1] if bright_first else cols

    if by == "time":
        span = race.duration or 1.0
        of = tuple(min(bins - 1, int(bins * s.began / span)) for s in segs)
        labels = [
            f"{b * span / bins / per:.3g}–{(b + 1) * span / bins / per:.3g} {unit}"
            for b in range(bins)
        ]
        return Colouring("time", "run began", tuple(zip(labels, palette(bins), strict=True)), of)
    per_trial = dict(reached) if by == "rung" else {n: v for n, (_, v) in last.items()}
    numbers = sorted(per_trial)
    values = [per_trial[n] for n in numbers]
    edges, which = _quantile_bins(values, bins)
    exact = len(set(values)) <= bins
    k = max(0, len(edges) - 1)
    trial_bin = dict(zip(numbers, which, strict=True))
    of = tuple(trial_bin.get(s.trial_id, 0) for s in segs)
    if by == "rung":
        name = race.fidelity_name
        labels = [f"{edges[i]:g}" if exact else f"{edges[i]:g}–{edges[i + 1]:g}" for i in range(k)]
        colours = palette(k)
        title = f"{name} reached"
    else:
        labels = [
            f"{edges[i]:.4g}" if exact else f"{edges[i]:.4g}–{edges[i + 1]:.4g}" for i in range(k)
        ]
        colours = palette(k, bright_first=race.direction == "minimize")
        title = f"last {race.metric}"
    return Colouring(by, title, tuple(zip(labels, colours, strict=True)), of)


def race_figure(
    race: Race, *, colour: str = "auto", max_points: int = 60_000, bins: int = 8
) -> Figure:
    """The race: every run over the fidelity axis, coloured as :func:`race_colouring` says.

    Args:
        race: from :func:`hyperrace.visual.race`.
        colour: one of :data:`COLOUR_BY`.
        max_points: the most curve points drawn in all; longer curves are thinned evenly (their
            first and last points kept). Every point's hover text names the trial's
            hyperparameters while at most 30,000 points are drawn; beyond, only the markers where
            runs ended carry them.
        bins: how many colours (at most 8).
    """
    paint = race_colouring(race, colour, bins=bins)
    drawn = [(s, b) for s, b in zip(race.segments, paint.of, strict=True) if s.fidelities]
    cap = max(2, max_points // max(1, len(drawn)))
    n_points = sum(min(cap, len(s.fidelities)) for s, _ in drawn)
    full_hover = n_points <= 30_000
    lines: list[tuple[list[float | None], list[float | None], list[str | None]]] = [
        ([], [], []) for _ in paint.bins
    ]
    for s, b in drawn:
        xs, ys, texts = lines[b]
        fx, fy = _thin(s, cap)
        xs.extend([*fx, None])
        ys.extend([*fy, None])
        label = f"trial {s.trial_id}, run {s.run + 1}"
        if full_hover:
            label += "<br>" + config_text(race.configs.get(s.trial_id, {}))
        texts.extend([label] * len(fx) + [None])
    traces: list[dict[str, Any]] = []
    for (name, colour_hex), (xs, ys, texts) in zip(paint.bins, lines, strict=True):
        if not xs:
            continue
        traces.append(
            {
                "type": "scattergl",
                "mode": "lines",
                "x": xs,
                "y": ys,
                "text": texts,
                "hovertemplate": "%{text}<br>%{x:g}: %{y:.4g}<extra></extra>",
                "line": {"color": colour_hex, "width": 1.3},
                "opacity": 0.8,
                "name": name,
                "legendgroup": "colour",
                **({"legendgrouptitle": {"text": paint.title}} if not traces else {}),
            }
        )
    segments = [s for s, _ in drawn]
    best = [s for s in segments if s.trial_id == race.best_trial]
    if best:
        xs2: list[float | None] = []
        ys2: list[float | None] = []
        for s in best:
            xs2.extend([*s.fidelities, None])
            ys2.extend([*s.values, None])
        best_config = config_text(race.configs.get(race.best_trial or 0, {}))
        traces.append(
            {
                "type": "scattergl",
                "mode": "lines",
                "x": xs2,
                "y": ys2,
                "line": {"color": "#000000", "width": 2.6},
                "name": f"best: trial {race.best_trial}",
                "hovertemplate": f"best trial {race.best_trial}<br>{best_config}<br>"
                "%{x:g}: %{y:.4g}<extra></extra>",
            }
        )
    for outcome in OUTCOMES:
        ends = [s for s in segments if s.outcome == outcome]
        if not ends:
            continue
        label, symbol, colour_hex = OUTCOME_STYLE[outcome]
        traces.append(
            {
                "type": "scattergl",
                "mode": "markers",
                "x": [s.fidelities[-1] for s in ends],
                "y": [s.values[-1] for s in ends],
                "text": [
                    f"trial {s.trial_id}: {label} at {s.reached:g}<br>"
                    + config_text(race.configs.get(s.trial_id, {}))
                    for s in ends
                ],
                "hovertemplate": "%{text}<br>" + race.metric + " %{y:.4g}<extra></extra>",
                "marker": {
                    "symbol": symbol,
                    "color": colour_hex,
                    "size": 9 if outcome in ("running", "completed", "failed") else 7,
                    "line": {"width": 1.2, "color": colour_hex},
                },
                "name": f"{label} ({len(ends)})",
                "legendgroup": "outcome",
                **(
                    {"legendgrouptitle": {"text": "run ended"}}
                    if outcome == _first(segments)
                    else {}
                ),
            }
        )
    log_x = race.max_fidelity is not None and race.max_fidelity >= 20
    rungs = sorted({s.reached for s in segments})
    ticks = {"tickvals": rungs, "ticktext": [f"{r:g}" for r in rungs]} if len(rungs) <= 12 else {}
    what = {
        "rung": "how far its trial got",
        "value": "its trial's last value",
        "time": "when it was trained",
    }[paint.by]
    better = " (lower is better)" if race.direction == "minimize" else " (higher is better)"
    title = f"The race: every learning curve, coloured by {what}"
    if race.drawn:
        title = f"The race, coloured by {what} ({race.drawn})"
    return {
        "data": traces,
        "layout": _layout(
            title,
            xaxis=_axis(race.fidelity_name, **({"type": "log", **ticks} if log_x else {})),
            yaxis=_axis(race.metric + better),
            legend={"orientation": "v", "x": 1.01, "y": 1, "font": {"size": 11}},
        ),
    }


def _first(segments: Sequence[Segment]) -> Outcome | None:
    present = {s.outcome for s in segments}
    return next((o for o in OUTCOMES if o in present), None)


def best_figure(
    best: BestSoFar, *, fidelity_name: str = "fidelity", metric: str = "value"
) -> Figure:
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
            yaxis=_axis(f"best {metric}"),
            legend={"x": 0.99, "xanchor": "right", "y": 0.99},
        ),
    }


def timeline_figure(race: Race) -> Figure:
    """Budget per trial over time: each run a bar from when its training began to its end, at its
    trial's row, coloured by how it ended; the time between the decision and the start of
    training (a worker process starting, the objective not yet called) is a thin grey line, not
    counted as training."""
    unit, per = time_unit(race.duration)
    traces: list[dict[str, Any]] = []
    waits = [s for s in race.segments if s.trained_from > s.began]
    if waits:
        xw: list[float | None] = []
        yw: list[float | None] = []
        tw: list[str | None] = []
        for s in waits:
            xw.extend([s.began / per, s.trained_from / per, None])
            yw.extend([s.trial_id, s.trial_id, None])
            text = f"trial {s.trial_id}: starting, {s.trained_from - s.began:.3g} s before training"
            tw.extend([text, text, None])
        traces.append(
            {
                "type": "scattergl",
                "mode": "lines",
                "x": xw,
                "y": yw,
                "text": tw,
                "hovertemplate": "%{text}<extra></extra>",
                "line": {"color": "#ced4da", "width": 1.5},
                "name": "starting (not training)",
            }
        )
    for outcome in OUTCOMES:
        runs = [s for s in race.segments if s.outcome == outcome]
        if not runs:
            continue
        label, _symbol, colour = OUTCOME_STYLE[outcome]
        xs: list[float | None] = []
        ys: list[float | None] = []
        texts: list[str | None] = []
        for s in runs:
            xs.extend([s.trained_from / per, s.ended / per, None])
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
            "Runs over time: which trial trained when, and how each run ended"
            + (f" ({race.drawn})" if race.drawn else ""),
            xaxis=_axis(f"time since the study began ({unit})"),
            yaxis=_axis("trial", autorange="reversed"),
        ),
    }


def _log_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Tick positions (log10) and labels (real values) for a log axis over [low, high]: the
    decades inside, with 2 and 5 between them when the range spans fewer than three decades."""
    lo, hi = math.log10(low), math.log10(high)
    steps = (1.0, 2.0, 5.0) if hi - lo < 3 else (1.0,)
    vals = [
        m * 10.0**e
        for e in range(math.floor(lo), math.ceil(hi) + 1)
        for m in steps
        if lo - 1e-9 <= math.log10(m * 10.0**e) <= hi + 1e-9
    ]
    if len(vals) < 2:
        vals = [low, high]
    return [math.log10(v) for v in vals], [f"{v:g}" for v in vals]


def parallel_figure(table: ParallelTable, *, direction: str = "minimize") -> Figure:
    """Parallel coordinates: one line per trial, coloured by its last value. A log-scaled
    hyperparameter gets a log axis labelled with real values; a conditional one's inactive
    trials sit on a separate tick "inactive" below its range."""
    dims: list[dict[str, Any]] = []
    for col in table.columns:
        dim: dict[str, Any] = {"label": col.name}
        if col.labels is not None:
            tickvals: list[float] = list(range(len(col.labels)))
            ticktext = list(col.labels)
            lo, hi = -0.2, len(col.labels) - 0.8
            values = [v for v in col.values]
        else:
            low = col.low if col.low is not None else min(v for v in col.values if v is not None)
            high = col.high if col.high is not None else max(v for v in col.values if v is not None)
            if col.log:
                values = [None if v is None else math.log10(v) for v in col.values]
                tickvals, ticktext = _log_ticks(low, high)
                lo, hi = math.log10(low), math.log10(high)
            else:
                values = list(col.values)
                tickvals, ticktext = [], []
                lo, hi = low, high
        if any(v is None for v in values):  # inactive: one tick below the range
            gap = lo - 0.12 * (hi - lo if hi > lo else 1.0)
            values = [gap if v is None else v for v in values]
            if not tickvals:  # a linear axis: spell out its range so the extra tick is labelled
                tickvals = [lo + i * (hi - lo) / 4 for i in range(5)]
                ticktext = [f"{v:.4g}" for v in tickvals]
            tickvals, ticktext, lo = [gap, *tickvals], ["inactive", *ticktext], gap
        dim["values"] = values
        dim["range"] = [lo, hi]
        if tickvals:
            dim["tickvals"], dim["ticktext"] = tickvals, ticktext
        dims.append(dim)
    dims.append({"label": table.fidelity_name, "values": list(table.fidelity)})
    dims.append({"label": table.metric, "values": list(table.value)})
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
                    "colorbar": {"title": {"text": table.metric}},
                },
            }
        ],
        "layout": _layout(
            f"Parallel coordinates ({table.drawn or f'{len(table.numbers)} trials'}; "
            "bright is better)",
            margin={"l": 70, "r": 70, "t": 80, "b": 30},
        ),
    }


def importance_figure(imp: Importance) -> Figure:
    """A horizontal bar per hyperparameter, most important on top; the left margin fits the
    longest name, so no label is cut."""
    title = (
        f"Parameter importance ({imp.method}, values at {imp.fidelity:g}, {imp.n_trials} trials)"
        if imp.scores
        else f"Parameter importance: {imp.note}"
    )
    names = list(imp.names[: len(imp.scores)])
    left = 20 + 8 * max((len(n) for n in names), default=4)
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "x": list(imp.scores),
                "y": names,
                "marker": {"color": "#457b9d"},
                "hovertemplate": "%{y}: %{x:.1%} of the variance<extra></extra>",
            }
        ],
        "layout": _layout(
            title,
            xaxis=_axis("share of the variance explained alone", range=[0, 1], tickformat=".0%"),
            yaxis=_axis("", autorange="reversed", automargin=True, ticksuffix=" "),
            margin={**_LAYOUT["margin"], "l": left},
        ),
    }


def trial_figure(
    detail: TrialDetail, *, fidelity_name: str = "fidelity", metric: str = "value"
) -> Figure:
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
            yaxis=_axis(metric),
        ),
    }
