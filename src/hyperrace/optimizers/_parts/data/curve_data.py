"""Every observation of a history as a learning-curve surrogate's training data.

A point is one report ``(configuration, fidelity, loss, the curve reported before it)``. Losses
are "lower is better" whatever the study's direction. A failed trial (it raised, or reported NaN
or inf) adds one *failure point* just after its last report, with loss NaN: a surrogate gives it
the worst loss of the data it trains on, so the region looks bad without an arbitrary constant.

Points are in a canonical order: the order in which the storage recorded the reports
(:attr:`~hyperrace.trial.Observation.seq`, which never ties within a study), then report time,
trial number and fidelity (for histories built by hand, whose reports all have ``seq`` 0); a
failure point comes after its trial's last report and after every report of the study made
before the trial failed (by the reports' times and the failed record's ``updated``), so that a
failure, like a report, adds its point at the end. "The first ``p`` points" then means the same
in every process, and the points of an earlier snapshot of the study are the first points of a
later one (a failure's place depends on the workers' clocks only if they disagree); a
surrogate's fit at ``p`` points is a function of those points only (:meth:`CurveData.key` hashes
them).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hyperrace.history import History
from hyperrace.optimizers._parts.data.onehot import OneHot
from hyperrace.space import Categorical
from hyperrace.trial import TrialRecord, TrialStatus

__all__ = ["CurveData", "Ident", "encode", "ident"]

Array = npt.NDArray[np.float64]
Ident = tuple[tuple[str, type, Any], ...]


def ident(config: Mapping[str, Any]) -> Ident:
    """An exact, hashable identity for configs of one space (types kept apart: ``True`` is not
    ``1``); configs of a space list their names in the space's order."""
    return tuple((k, v.__class__, v) for k, v in config.items())


def encode(
    enc: OneHot,
    configs: Sequence[Mapping[str, Any]],
    memo: dict[Ident, Array] | None = None,
) -> Array:
    """``enc.encode_many_valid(configs)`` (configs of the space, as stored trials' are), with
    rows memoized in ``memo`` by config identity."""
    out = np.zeros((len(configs), enc.width), dtype=np.float64)
    for i, config in enumerate(configs):
        key = ident(config) if memo is not None else ()
        row = memo.get(key) if memo is not None else None
        if row is None:
            row = enc.encode_valid(config)
            if memo is not None:
                memo[key] = row
        out[i] = row
    return out


#: A point's row in :meth:`CurveData.collect`: (other group, seq, time, trial number, fidelity,
#: failure, trial index, curve input, loss); the first six are its sort key.
Row = tuple[int, int, float, int, float, int, int, int, float]


def _after_earlier_reports(reports: list[Row], failures: list[Row]) -> list[Row]:
    """The failure rows with their ``seq`` raised to the largest of the reports made at or
    before their time, so that each sorts after them (and before every later report)."""
    times = np.array([r[2] for r in reports], dtype=np.float64)
    seqs = np.array([r[1] for r in reports], dtype=np.int64)
    order = np.argsort(times, kind="stable")
    times = times[order]
    latest = np.maximum.accumulate(seqs[order]) if len(seqs) else seqs
    out = []
    for row in failures:
        k = int(np.searchsorted(times, row[2], side="right"))
        seq = max(row[1], int(latest[k - 1])) if k else row[1]
        out.append((row[0], seq, *row[2:]))
    return out


@dataclass(frozen=True)
class CurveData:
    """The training points of a history in canonical order (see the module docstring).

    Attributes:
        trials: every trial of the history, in creation order.
        x: their encoded configurations, shape (n_trials, width).
        curves: per trial, its losses in report order.
        trial: per point, its trial's index in ``trials``, shape (n,).
        j: per point, how many reports of its trial precede it (its curve input), shape (n,).
        fidelity: per point, its fidelity, shape (n,).
        loss: per point, its loss; NaN for a failure point, shape (n,).
        table: per point: trial number, fidelity, loss (inf for failures), configuration; what a
            fit's memo key hashes.
        header: what else a fit depends on (encoding width, fidelity range), hashed with it.
        columns: per hyperparameter (in the space's order), ``(start, stop, choices)``: its
            columns of ``x`` and its number of choices for a one-hot categorical block (0 for a
            numeric column); empty when unknown.
        fit_points: how many of the points, from the first, a surrogate fits on; None: all of
            them (:meth:`collect` was given no ``fit_trials``).
    """

    trials: tuple[TrialRecord, ...]
    x: Array
    curves: tuple[Array, ...]
    trial: npt.NDArray[np.int64]
    j: npt.NDArray[np.int64]
    fidelity: Array
    loss: Array
    table: Array
    header: bytes
    columns: tuple[tuple[int, int, int], ...] = ()
    fit_points: int | None = None

    def __len__(self) -> int:
        return len(self.loss)

    @property
    def fittable(self) -> int:
        """How many points, from the first, a surrogate fits on."""
        return len(self.loss) if self.fit_points is None else self.fit_points

    def key(self, p: int, salt: bytes) -> bytes:
        """A hash of ``salt`` (the surrogate's parameters) and the first ``p`` points: what a
        fit at ``p`` is a function of."""
        return hashlib.sha256(salt + self.header + self.table[:p].tobytes()).digest()

    def losses(self, p: int) -> Array:
        """The losses of the first ``p`` points with failure points at the worst finite loss
        among them (0.0 when none is finite)."""
        loss = self.loss[:p]
        finite = loss[np.isfinite(loss)]
        worst = float(finite.max()) if len(finite) else 0.0
        return np.where(np.isfinite(loss), loss, worst)

    @classmethod
    def collect(
        cls,
        enc: OneHot,
        history: History,
        low: float,
        high: float,
        step: float,
        memo: dict[Ident, Array] | None = None,
        fit_trials: frozenset[int] | None = None,
        running_best: bool = False,
    ) -> CurveData:
        """The training points of ``history``; a failure point sits one ``step`` after its
        trial's last report (at ``max(low, step)`` for a trial that failed before reporting).

        ``running_best``: each point's loss (and each curve) is its trial's best loss up to
        that report instead of the loss reported there, so a surrogate learns what continuing a
        trial can still gain; a validation loss that turns back up as the network overfits
        stays at its minimum.

        ``fit_trials``: when given, the ids of the trials a surrogate fits on; their points come
        first (in canonical order among themselves), the other trials' after them, and
        ``fit_points`` counts the first group."""
        # (other group, seq, time, trial number, fidelity, failure, trial index, curve input, loss)
        rows: list[Row] = []
        failures: list[Row] = []
        trials = history.trials
        curves = []
        for i, t in enumerate(trials):
            losses = np.array([history.loss(o.value) for o in t.curve], dtype=np.float64)
            if running_best and len(losses):
                losses = np.fmin.accumulate(losses)
            curves.append(losses)
            other = int(fit_trials is not None and t.trial_id not in fit_trials)
            for j, obs in enumerate(t.curve):
                rows.append(
                    (other, obs.seq, obs.time, t.number, obs.fidelity, 0, i, j, float(losses[j]))
                )
            if t.status is TrialStatus.FAILED and t.fidelity < high:
                at = min(high, t.fidelity + step) if t.curve else max(low, min(high, step))
                seq = max((o.seq for o in t.curve), default=0)  # after its own reports
                when = max([t.updated] + [o.time for o in t.curve])
                failures.append((other, seq, when, t.number, at, 1, i, len(t.curve), math.nan))
        if failures:
            rows.extend(_after_earlier_reports(rows, failures))
        rows.sort(key=lambda r: r[:6])
        x = encode(enc, [t.config for t in trials], memo)
        trial = np.array([r[6] for r in rows], dtype=np.int64)
        fidelity = np.array([r[4] for r in rows], dtype=np.float64)
        loss = np.array([r[8] for r in rows], dtype=np.float64)
        numbers = np.array([trials[k].number for k in trial], dtype=np.float64)
        table = np.column_stack([numbers, fidelity, np.nan_to_num(loss, nan=np.inf)])
        if len(trial):
            table = np.hstack([table, x[trial]])
        return cls(
            trials,
            x,
            tuple(curves),
            trial,
            np.array([r[7] for r in rows], dtype=np.int64),
            fidelity,
            loss,
            np.ascontiguousarray(table),
            repr((enc.width, low, high)).encode(),
            tuple(
                (cols.start, cols.stop, len(dim.choices) if isinstance(dim, Categorical) else 0)
                for dim, cols in zip(enc.space.dimensions.values(), enc.slices, strict=True)
            ),
            None if fit_trials is None else sum(1 for r in rows if not r[0]),
        )
