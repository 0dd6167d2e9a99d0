"""Deep power laws: an ensemble of small networks, each mapping a configuration to a power law.

Reference: A. Kadra, M. Janowski, M. Wistuba and J. Grabocka, "Scaling Laws for Hyperparameter
Optimization", NeurIPS 2023 (arXiv:2302.00441).

This module imports torch at import time: import it lazily (the race imports it on its first
model-based decision), never from a module that ``import hyperrace`` loads.

The model. Each of ``members`` networks maps a configuration ``x`` in the unit cube (shape
(d,)) through ``Linear(d -> width) -> LeakyReLU -> Linear(width -> width) -> LeakyReLU ->
Linear(width -> 3)`` to ``(alpha, beta, gamma)``, and predicts the loss after budget ``t`` (the
fidelity over the maximum fidelity, in (0, 1]) as::

    y(x, t) = alpha + s(beta) * (t ** (-s(gamma)) - 1),    s = softplus

so the budget enters only through the power law, and at ``t = 1`` the prediction is ``alpha``:
the reference's ``alpha' + s'(beta) * t ** (-s'(gamma))`` anchored at the maximum budget, with
softplus (>= 0) for the reference's SiLU (>= -0.28). Every member is trained on every
observation of every trial (``(x, t, y)`` for each report), with the same data (or, with a
bootstrap, on a resample of the configurations); members differ by their initial weights. The
prediction is the members' mean; its standard deviation combines their spread with a noise term
estimated from the training residuals (``1.4826 * MAD``), since the spread alone is
over-confident near the data (the reference uses the spread alone).

Changes from the reference, each for a documented weakness:

* targets are min-max scaled to [0, 1] over the training data (L1 is scale-dependent);
* the law is anchored at the maximum budget (``alpha`` is the final loss) and a fit from scratch
  starts from a flat curve at the median loss (the last layer's bias): with the reference's
  parametrisation and random start, the final value is the difference of two large terms, and
  full-batch fits of it diverged on curves that start far above where they end;
* full-batch Adam (a fixed number of steps) rather than minibatches of 64: no minibatch of one,
  and the cost of a fit is known in advance;
* the networks run once per distinct configuration, not once per observation (a configuration
  with 50 reports costs one forward pass): the fit is linear in the configurations, plus a cheap
  elementwise power law per observation;
* the noise term above, for calibrated uncertainty.

Determinism: member ``k``'s initial weights are drawn from torch's generator seeded with ``k``
inside ``torch.random.fork_rng`` (the caller's state is untouched), in single precision (the
networks are small; double costs twice the time) on one thread, so the same data and starting
state give the same weights bit for bit in any process of one platform.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from hyperrace.optimizers._parts.surrogate.adam import Adam
from hyperrace.optimizers._parts.surrogate.deep_kernel_gp import one_thread

__all__ = ["PowerLawEnsemble", "PowerLawState", "fit", "predict"]

Array = npt.NDArray[np.float64]
_DTYPE = torch.float32
_SLOPE = 0.01
#: The smallest budget fed to the power law (t = 0 would give t ** -gamma = inf).
_T_MIN = 1e-3
#: MAD to a normal standard deviation.
_MAD_TO_STD = 1.4826
#: The noise term's floor, in scaled units.
_NOISE_FLOOR = 1e-3


@dataclass(frozen=True)
class PowerLawState:
    """A fitted ensemble: weights per layer, stacked over members, and the target scaling.

    Attributes:
        weights: (w1 (K, d, H), b1 (K, 1, H), w2 (K, H, H), b2 (K, 1, H), w3 (K, H, 3),
            b3 (K, 1, 3)).
        shift: the loss that scales to 0.
        scale: the loss range that scales to 1 (> 0).
        noise: the residual noise's standard deviation, in scaled units.
    """

    weights: tuple[torch.Tensor, ...]
    shift: float
    scale: float
    noise: float


@dataclass(frozen=True)
class PowerLawEnsemble:
    """The ensemble's shape.

    Attributes:
        members: networks in the ensemble (>= 1).
        width: units of each hidden layer (>= 1).
    """

    members: int = 5
    width: int = 64

    def initial(self, d: int) -> tuple[torch.Tensor, ...]:
        """Fresh weights for inputs of ``d`` columns (PyTorch's default uniform initialisation
        of linear layers), member ``k`` from seed ``k``."""
        shapes = [(d, self.width), (self.width, self.width), (self.width, 3)]
        layers: list[list[torch.Tensor]] = [[] for _ in range(2 * len(shapes))]
        with torch.random.fork_rng(devices=[]):
            for k in range(self.members):
                torch.manual_seed(k)
                for i, (fan_in, fan_out) in enumerate(shapes):
                    bound = 1.0 / math.sqrt(fan_in)
                    w = (torch.rand(fan_in, fan_out, dtype=_DTYPE) * 2 - 1) * bound
                    b = (torch.rand(1, fan_out, dtype=_DTYPE) * 2 - 1) * bound
                    layers[2 * i].append(w)
                    layers[2 * i + 1].append(b)
        return tuple(torch.stack(layer) for layer in layers)


def _params(weights: tuple[torch.Tensor, ...], x: torch.Tensor) -> torch.Tensor:
    """(alpha, beta, gamma) of every member at every row of ``x``: shape (K, n, 3)."""
    w1, b1, w2, b2, w3, b3 = weights
    xs = x.unsqueeze(0).expand(w1.shape[0], -1, -1)
    h = torch.nn.functional.leaky_relu(torch.baddbmm(b1, xs, w1), _SLOPE)
    h = torch.nn.functional.leaky_relu(torch.baddbmm(b2, h, w2), _SLOPE)
    return torch.baddbmm(b3, h, w3)


def _curve(params: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The power law of ``params`` (K, n, 3) at budgets ``t`` (n,) or (K, n): shape (K, n)."""
    alpha, beta, gamma = params[..., 0], params[..., 1], params[..., 2]
    softplus = torch.nn.functional.softplus
    return alpha + softplus(beta) * (t.clamp_min(_T_MIN) ** (-softplus(gamma)) - 1.0)


def bootstrap_weights(ids: npt.NDArray[np.int64], members: int) -> Array:
    """Per member and configuration, a Poisson(1) count drawn from a hash of (member, id): the
    weights of a bootstrap over configurations that do not change as configurations are added,
    so that a warm-started fit keeps training on the same resample. Shape (members, len(ids))."""
    k = np.arange(members, dtype=np.uint64)[:, None]
    z = (np.asarray(ids, dtype=np.uint64)[None, :] * np.uint64(0x9E3779B97F4A7C15)) ^ (
        k * np.uint64(0xBF58476D1CE4E5B9) + np.uint64(0x94D049BB133111EB)
    )
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(11)).astype(np.float64) / float(2**53)
    cdf = np.cumsum([math.exp(-1) / math.factorial(j) for j in range(12)])
    out: Array = np.searchsorted(cdf, u).astype(np.float64)
    return out


def fit(
    shape: PowerLawEnsemble,
    x: Array,
    row: npt.NDArray[np.int64],
    t: Array,
    y: Array,
    start: PowerLawState | None,
    steps: int,
    lr: float = 1e-2,
    weights_per_config: Array | None = None,
    point_weights: Array | None = None,
) -> PowerLawState:
    """Train the ensemble on observations ``(x[row[i]], t[i], y[i])`` by ``steps`` full-batch
    Adam steps on the L1 loss (a new Adam each call), from ``start`` or fresh weights.

    Args:
        shape: members and width.
        x: distinct configurations in the unit cube, shape (m, d).
        row: per observation, its configuration's row of ``x``, shape (n,).
        t: per observation, its budget in (0, 1], shape (n,).
        y: per observation, its loss (finite), shape (n,).
        start: the state to continue from (its weights; the scaling is recomputed), or None.
        steps: Adam steps (>= 0).
        lr: Adam's learning rate (on targets scaled to [0, 1]).
        weights_per_config: optional (members, m) weights of each configuration's observations
            in each member's loss (a bootstrap: :func:`bootstrap_weights`); None: all 1.
        point_weights: optional (n,) weights of the observations in every member's loss.
    """
    shift = float(np.min(y))
    spread = float(np.max(y)) - shift
    scale = spread if spread > 1e-12 else 1.0
    with one_thread():
        if start is None:
            weights = shape.initial(x.shape[1])
            # start near a flat curve at the median loss (the reference starts at random)
            bias = torch.tensor([float(np.median((y - shift) / scale)), -2.0, 0.0])
            weights[5][:] = bias.to(_DTYPE)
        else:
            weights = tuple(w.clone() for w in start.weights)
        params = [w.requires_grad_() for w in weights]
        xt = torch.as_tensor(x, dtype=_DTYPE)
        rows = torch.as_tensor(row, dtype=torch.int64)
        tt = torch.as_tensor(t, dtype=_DTYPE)
        yt = torch.as_tensor((y - shift) / scale, dtype=_DTYPE)
        w = (
            torch.ones((1, len(row)), dtype=_DTYPE)
            if weights_per_config is None
            else torch.as_tensor(weights_per_config, dtype=_DTYPE)[:, rows]
        )
        if point_weights is not None:
            w = w * torch.as_tensor(point_weights, dtype=_DTYPE).unsqueeze(0)
        point_w = w / w.sum(dim=1, keepdim=True).clamp_min(1e-12)
        opt = Adam(params, lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            pred = _curve(_params(tuple(params), xt)[:, rows, :], tt)
            loss = ((pred - yt).abs() * point_w).sum()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
        with torch.no_grad():
            pred = _curve(_params(tuple(params), xt)[:, rows, :], tt).mean(dim=0)
            residual = (pred - yt).numpy()
    mad = float(np.median(np.abs(residual - np.median(residual)))) if len(residual) else 0.0
    noise = max(_MAD_TO_STD * mad, _NOISE_FLOOR)
    return PowerLawState(tuple(p.detach() for p in params), shift, scale, noise)


def predict(state: PowerLawState, x: Array, t: Array) -> tuple[Array, Array]:
    """Mean and standard deviation of the loss of configurations ``x`` (m, d) at budgets ``t``
    (m,) or (m, h) (several budgets per configuration), in loss units."""
    with one_thread(), torch.no_grad():
        params = _params(state.weights, torch.as_tensor(x, dtype=_DTYPE)).double()  # (K, m, 3)
        tt = torch.as_tensor(t, dtype=torch.float64)
        if tt.ndim == 2:
            pred = _curve(params.unsqueeze(2).expand(-1, -1, tt.shape[1], -1), tt)
        else:
            pred = _curve(params, tt)
        mean = pred.mean(dim=0).numpy()
        spread = pred.std(dim=0, unbiased=False).numpy() if pred.shape[0] > 1 else 0 * mean
    std = np.sqrt(spread**2 + state.noise**2)
    return mean * state.scale + state.shift, std * state.scale
