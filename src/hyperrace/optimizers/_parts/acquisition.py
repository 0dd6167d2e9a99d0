"""The race's acquisition role: score candidates from a surrogate's predictions.

Contract
--------
An acquisition is named (:data:`ACQUISITIONS`) and is a pure function of the candidates, the
model, the history's incumbents and the decision's generator (:func:`score`): it says at which
fidelity to query each candidate, and returns one score per candidate (higher is better) with
what is worth recording. Candidates are described by their current fidelity (0 for a fresh
configuration) and the fidelity their next step would reach. Losses are "lower is better".

The acquisitions:

``ei_step`` (DyHPO, Wistuba et al., NeurIPS 2022)
    Expected improvement of each candidate's loss after its next step over the best loss reported
    at exactly that budget (the best anywhere when nobody reached it): one step ahead.
``ei_max`` (DPL, Kadra et al., NeurIPS 2023)
    Expected improvement at the maximum fidelity over the best loss reported anywhere.
``pi_random`` (ifBO's MFPI-random, Rakotoarison et al., ICML 2024)
    Probability that the loss after a random number ``h`` of further steps (uniform over 1 ..
    the steps from the lowest to the highest fidelity, capped at the maximum fidelity) falls
    below a random threshold ``incumbent - 10**u * gap``, ``u ~ U(-4, -1)``: an improvement of
    0.01 % to 10 % of ``gap``, the distance from the incumbent to a perfect loss of 0 when every
    loss is >= 0 (errors, cross-entropies), else the range of the losses seen. ``h`` and ``u``
    are drawn once per decision and shared by all candidates, from the decision's generator.

``mixed``
    Each decision draws ``ei_max`` or ``pi_random`` with equal probability, from the decision's
    generator (the race resolves the name before it queries, :func:`resolve`): a portfolio of
    DPL's search for the best final loss and MFPI-random's short, likely improvements.

The incumbent is the best loss reported anywhere, or a running trial's predicted loss at its
granted fidelity where that is lower (running trials are fantasised at their mean, so that
parallel workers do not all chase the same improvement).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hyperrace.history import History

__all__ = ["ACQUISITIONS", "Candidates", "score"]

Array = npt.NDArray[np.float64]
#: Acquisitions by name.
ACQUISITIONS = ("ei_step", "ei_max", "pi_random", "mixed")
#: pi_random's improvement exponents, as in ifBO.
_LOG_GAIN = (-4.0, -1.0)


@dataclass(frozen=True)
class Candidates:
    """The pool to score.

    Attributes:
        current: each candidate's fidelity now (0.0 for a fresh configuration), shape (m,).
        stop: the fidelity its next step reaches, shape (m,).
    """

    current: Array
    stop: Array


def _per_budget_best(
    history: History, per_budget: bool
) -> tuple[dict[float, float], float, list[float]]:
    """The best loss at each fidelity (when ``per_budget``), the best anywhere, and every loss
    reported, in one pass over the history."""
    at: dict[float, float] = {}
    overall = math.inf
    losses: list[float] = []
    for t in history.trials:
        for obs in t.curve:
            loss = history.loss(obs.value)
            losses.append(loss)
            overall = min(overall, loss)
            if per_budget:
                at[obs.fidelity] = min(at.get(obs.fidelity, math.inf), loss)
    return at, overall, losses


def resolve(name: str, rng: np.random.Generator) -> str:
    """The acquisition a decision uses: ``name``, or for ``mixed`` one of ``ei_max`` and
    ``pi_random`` drawn with equal probability from ``rng``."""
    if name == "mixed":
        return "ei_max" if rng.random() < 0.5 else "pi_random"
    return name


def queries(
    name: str,
    candidates: Candidates,
    low: float,
    high: float,
    step: float,
    rng: np.random.Generator,
) -> tuple[Array, dict[str, Any]]:
    """The fidelity at which to query each candidate, and the draws made (recorded)."""
    if name == "ei_step":
        return candidates.stop.copy(), {}
    if name == "ei_max":
        return np.full(len(candidates.stop), high), {}
    steps = max(1, math.ceil((high - low) / step - 1e-9)) if high > low else 1
    h = int(rng.integers(1, steps + 1))
    start = np.where(candidates.current > 0, candidates.current, low - step)
    return np.minimum(start + h * step, high), {"horizon": h}


def score(
    name: str,
    history: History,
    fidelity: Array,
    mean: Array,
    std: Array,
    log_prob_below: Any,
    expected_improvement: Any,
    fantasies: tuple[Array, Array],
    rng: np.random.Generator,
) -> tuple[Array, dict[str, Any]]:
    """Scores (higher is better) of candidates queried at ``fidelity`` whose predictions are
    ``mean``/``std`` (with the distribution's ``log_prob_below`` and ``expected_improvement``;
    ``pi_random`` scores by the log of the probability, which keeps candidates far below the
    threshold ranked where the probability itself underflows);
    ``fantasies`` are the granted fidelities of the running trials and their predicted losses
    there. Returns the scores and the incumbent/threshold used (per candidate where it
    varies)."""
    at, overall, losses = _per_budget_best(history, name == "ei_step")
    for f, loss in zip(*fantasies, strict=True):
        at[float(f)] = min(at.get(float(f), math.inf), float(loss))
        overall = min(overall, float(loss))
    believed = overall
    if name == "ei_step":
        best = np.array([at.get(float(f), believed) for f in fidelity])
        if not np.isfinite(best).all():
            best = np.where(np.isfinite(best), best, np.max(mean) + 3 * np.max(std))
        return expected_improvement(best), {"incumbent": best}
    if not math.isfinite(believed):  # nothing reported yet: any finite prediction improves
        believed = float(np.max(mean + 3 * std))
    if name == "ei_max":
        return expected_improvement(believed), {"incumbent": believed}
    spread = (max(losses) - min(losses)) if losses else 1.0
    gap = believed if losses and min(losses) >= 0 else spread
    u = float(rng.uniform(*_LOG_GAIN))
    threshold = believed - 10.0**u * max(gap, 1e-12)
    return log_prob_below(threshold), {"incumbent": believed, "threshold": threshold}


def describe(info: Mapping[str, Any], i: int) -> dict[str, Any]:
    """The recordable values of ``info`` for candidate ``i`` (per-candidate arrays indexed)."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        if isinstance(value, np.ndarray):
            out[key] = float(value[i])
        else:
            out[key] = value
    return out
