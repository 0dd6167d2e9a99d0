"""Which hyperparameters matter: the share of the value's variance each one explains alone.

The target is each trial's value at one fidelity, so that values of 1 and 50 epochs are never
compared: the highest fidelity that at least ``min_trials`` trials reached (or, when none did,
the fidelity most trials reached). Values are turned into losses (negated when maximizing);
hyperparameters are encoded on the unit cube (:meth:`hyperrace.space.Space.to_unit`).

Two estimators of the first-order (main-effect) share of variance, as in functional ANOVA
(Hutter, Hoos and Leyton-Brown, "An Efficient Approach for Assessing Hyperparameter
Importance", ICML 2014):

``"forest"`` (needs scikit-learn, from the ``torch`` extra)
    A random forest is fitted to (config, loss). The main effect of hyperparameter ``i`` is its
    partial dependence: the forest's mean prediction when ``i`` is set to ``v`` and the others
    keep the values of the observed trials. Its importance is the variance of that function over
    the observed values of ``i``, divided by the variance of the forest's predictions. This is
    fANOVA's marginal taken over the observed configurations instead of the uniform cube.
``"binned"`` (numpy only)
    The trials are grouped by the hyperparameter (by choice for a categorical, into equally
    filled bins of its value otherwise) and the importance is the share of the loss's variance
    between the groups, corrected for the number of groups (epsilon squared, Kelley 1935: an
    irrelevant hyperparameter scores about 0 rather than (groups - 1) / (trials - 1)).

``"auto"`` takes the forest when scikit-learn is installed, else the bins. Scores lie in [0, 1];
their sum is at most about 1 (the rest is interactions and noise).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from hyperrace.exceptions import ConfigurationError
from hyperrace.history import History
from hyperrace.space import Categorical, Space
from hyperrace.trial import gathered

__all__ = ["Importance", "importance"]

Method = Literal["auto", "forest", "binned"]
_METHODS = ("auto", "forest", "binned")


@dataclass(frozen=True, slots=True)
class Importance:
    """The importance of each hyperparameter.

    Attributes:
        names: the hyperparameters, most important first.
        scores: the share of variance each explains alone, in [0, 1], in the order of ``names``.
        method: ``"forest"`` or ``"binned"`` (the one used).
        fidelity: the fidelity whose values were explained.
        n_trials: how many trials had a value there.
        note: why there are no scores (too few trials, constant values), else empty.
    """

    names: tuple[str, ...]
    scores: tuple[float, ...]
    method: str
    fidelity: float
    n_trials: int
    note: str = ""


def _target_fidelity(history: History, min_trials: int) -> float | None:
    # a trial reports a fidelity once: counting reports counts the trials that reached each
    # (over the curves' columns: a study read in columns builds no record for this)
    _, columns = gathered([t.curve for t in history])
    levels, n_reports = np.unique(columns.fidelity, return_counts=True)
    counts: dict[float, int] = dict(zip(levels.tolist(), n_reports.tolist(), strict=True))
    if not counts:
        return None
    enough = [f for f, n in counts.items() if n >= min_trials]
    if enough:
        return max(enough)
    return max(counts, key=lambda f: (counts[f], f))


def _binned(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], categorical: list[bool]
) -> list[float]:
    n = len(y)
    total = float(np.sum((y - y.mean()) ** 2))
    scores = []
    for i, is_cat in enumerate(categorical):
        col = x[:, i]
        if is_cat:
            groups = np.unique(col, return_inverse=True)[1]
        else:
            k = int(max(2, min(10, n // 5)))
            edges = np.quantile(col, np.linspace(0, 1, k + 1)[1:-1])
            groups = np.searchsorted(edges, col, side="right")
        labels = np.unique(groups)
        k_used = len(labels)
        between = sum(
            float(np.sum(groups == g)) * (float(y[groups == g].mean()) - float(y.mean())) ** 2
            for g in labels
        )
        within = total - between
        if k_used < 2 or n <= k_used:
            scores.append(0.0)
            continue
        corrected = between - (k_used - 1) * within / (n - k_used)
        scores.append(float(np.clip(corrected / total, 0.0, 1.0)))
    return scores


def _forest(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    categorical: list[bool],
    seed: int,
) -> list[float]:
    from sklearn.ensemble import RandomForestRegressor

    model: Any = RandomForestRegressor(
        n_estimators=64, min_samples_leaf=2, max_features=0.7, random_state=seed, n_jobs=1
    )
    model.fit(x, y)
    rng = np.random.default_rng(seed)
    background = x if len(x) <= 256 else x[rng.choice(len(x), 256, replace=False)]
    spread = float(np.var(model.predict(background)))
    if spread <= 0.0:
        return [0.0] * x.shape[1]
    scores = []
    for i, is_cat in enumerate(categorical):
        col = x[:, i]
        if is_cat:
            grid, counts = np.unique(col, return_counts=True)
            weights = counts / counts.sum()
        else:
            grid = np.unique(np.quantile(col, np.linspace(0.025, 0.975, 16)))
            weights = np.full(len(grid), 1.0 / len(grid))
        stacked = np.repeat(background[None, :, :], len(grid), axis=0)
        stacked[:, :, i] = grid[:, None]
        means = model.predict(stacked.reshape(-1, x.shape[1])).reshape(len(grid), -1).mean(axis=1)
        centre = float(np.sum(weights * means))
        variance = float(np.sum(weights * (means - centre) ** 2))
        scores.append(float(np.clip(variance / spread, 0.0, 1.0)))
    return scores


def importance(
    history: History,
    space: Space,
    *,
    method: Method = "auto",
    min_trials: int = 10,
    seed: int = 0,
) -> Importance:
    """How much of the loss's variance each hyperparameter explains alone (see the module).

    Args:
        history: the study's history.
        space: its space (for the encoding and which dimensions are categorical).
        method: ``"auto"``, ``"forest"`` (needs scikit-learn) or ``"binned"``.
        min_trials: the explained fidelity is the highest that at least this many trials reached.
        seed: the forest's seed (the result is deterministic for a given seed).

    Raises:
        ConfigurationError: an unknown ``method`` or ``min_trials`` below 2.
        MissingDependencyError: ``method="forest"`` without scikit-learn.
    """
    if method not in _METHODS:
        raise ConfigurationError(f"method={method!r} is not one of {list(_METHODS)!r}")
    if isinstance(min_trials, bool) or not isinstance(min_trials, int) or min_trials < 2:
        raise ConfigurationError(f"min_trials={min_trials!r} must be an integer of at least 2")
    if method == "forest":
        from hyperrace._imports import require

        require("sklearn", "torch", "importance(method='forest')")
    elif method == "auto":
        method = "forest" if importlib.util.find_spec("sklearn") is not None else "binned"
    names = [n for n in space.names if n != space.fidelity_name]
    fidelity = _target_fidelity(history, min_trials)
    if fidelity is None:
        return Importance(tuple(names), (), method, 0.0, 0, "no trial has reported yet")
    # only a trial whose curve reaches the fidelity can have a value there
    rows = [(t, t.value_at(fidelity)) for t in history.trials if t.fidelity >= fidelity]
    pairs = [(t, v) for t, v in rows if v is not None]
    n = len(pairs)
    if n < 4:
        note = f"only {n} trial(s) reached {fidelity:g}; importance needs at least 4"
        return Importance(tuple(names), (), method, fidelity, n, note)
    y = np.array([history.loss(v) for _, v in pairs], dtype=np.float64)
    if float(np.ptp(y)) == 0.0:
        return Importance(tuple(names), (), method, fidelity, n, "every value is the same")
    x = space.to_unit_many(t.config for t, _ in pairs)
    categorical = [isinstance(space[name], Categorical) for name in names]
    scores = _forest(x, y, categorical, seed) if method == "forest" else _binned(x, y, categorical)
    order = sorted(range(len(names)), key=lambda i: (-scores[i], names[i]))
    return Importance(
        tuple(names[i] for i in order), tuple(scores[i] for i in order), method, fidelity, n
    )
