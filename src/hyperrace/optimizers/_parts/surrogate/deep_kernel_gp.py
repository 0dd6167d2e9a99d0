"""DyHPO's surrogate: a neural feature extractor under an exact Gaussian process, in PyTorch.

This module imports torch at import time: import it lazily, never from a module that
``import hyperrace`` loads (:class:`~hyperrace.optimizers._parts.surrogate.deep_kernel.DeepKernel`
imports it on its first fit).

The model (Wistuba, Kadra and Grabocka, NeurIPS 2022, section 4) maps one point, a configuration
``x`` in the unit cube (shape (d,)), a budget ``b`` in [0, 1] and the learning curve observed
before that budget, to a 128-unit embedding::

    h = LeakyReLU(LayerNorm(Linear(d + 1 -> 64)([x, b])))
    c = masked global max over time of Conv1d(1 -> 4, kernel 3)(curve)
    phi = LeakyReLU(Linear(68 -> 128)([h, c]))

and places an exact GP with a constant mean and a squared-exponential kernel (one lengthscale,
an output scale) plus Gaussian noise (at least ``1e-4``) on ``phi``. Network and GP
hyperparameters are trained jointly by Adam on the negative exact marginal log likelihood, full
batch. Changes from the reference, each for a weakness it has:

* targets are standardized per fit (mean 0, variance 1), curves with the same affine map;
* LayerNorm instead of BatchNorm (no batch statistics, so a batch of one point is fine);
* curves are padded on the right and the padding is masked out of the max pooling; a curve of
  one or two values is first padded on the left with its first value (to the kernel's width),
  an empty curve (the first step) gives zero curve features;
* predictions return the latent standard deviation (without the observation noise), for EI.

Determinism: a fit from scratch draws its initial weights from torch's global generator seeded
with 0 inside ``torch.random.fork_rng`` (the caller's torch state is untouched); everything runs
in double precision on one thread (:func:`one_thread`), so the same data and starting state give
the same weights bit for bit in any process of one platform.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from hyperrace._imports import torch_one_thread
from hyperrace.optimizers._parts.surrogate.adam import Adam

__all__ = [
    "FitError",
    "Points",
    "Prediction",
    "State",
    "expected_improvement",
    "fit",
    "nll",
    "one_thread",
    "predict",
]

Array = npt.NDArray[np.float64]
State = dict[str, torch.Tensor]
_DTYPE = torch.float64
_HIDDEN = 64
_CHANNELS = 4
_KERNEL = 3
_EMBED = 128
_NOISE_FLOOR = 1e-4
_JITTERS = (0.0, 1e-8, 1e-6, 1e-4)
#: Held during a fit or prediction: torch's thread count is process-wide.
_lock = threading.Lock()


class FitError(RuntimeError):
    """The kernel matrix was not positive definite, or the loss became NaN, during a fit."""


@dataclass(frozen=True)
class Points:
    """Inputs (and, for training data, targets) of the model.

    Attributes:
        x: configurations in the unit cube, shape (n, d).
        budget: budgets in [0, 1], shape (n,).
        curves: learning curves before the budget, shape (n, L), each row's values first, the
            rest padding (any value: it is masked).
        lengths: how many values of each row are real, shape (n,), in 0..L.
        y: targets (lower is better or not: the model does not care), shape (n,); empty for
            points to predict.
    """

    x: Array
    budget: Array
    curves: Array
    lengths: npt.NDArray[np.int64]
    y: Array

    def __len__(self) -> int:
        return len(self.budget)


@dataclass(frozen=True)
class Prediction:
    """Posterior of the latent function, in the units of the training targets.

    Attributes:
        mean: shape (m,).
        std: the latent standard deviation (observation noise excluded), shape (m,).
    """

    mean: Array
    std: Array


class _Net(nn.Module):
    """The feature extractor and the GP's hyperparameters (raw, before softplus)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.layer1 = nn.Linear(d + 1, _HIDDEN)
        self.norm = nn.LayerNorm(_HIDDEN)
        self.conv = nn.Conv1d(1, _CHANNELS, _KERNEL)
        self.layer2 = nn.Linear(_HIDDEN + _CHANNELS, _EMBED)
        self.act = nn.LeakyReLU()
        self.mean = nn.Parameter(torch.zeros(()))
        # softplus(0.5413) = 1: unit lengthscale and output scale at the start
        self.raw_lengthscale = nn.Parameter(torch.full((), 0.5413))
        self.raw_outputscale = nn.Parameter(torch.full((), 0.5413))
        self.raw_noise = nn.Parameter(torch.full((), -2.0))

    def features(
        self, x: torch.Tensor, b: torch.Tensor, curves: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        h = self.act(self.norm(self.layer1(torch.cat([x, b.unsqueeze(-1)], dim=-1))))
        conv = self.conv(curves.unsqueeze(1))  # (n, channels, L - kernel + 1)
        positions = torch.arange(conv.shape[-1])
        valid = positions.unsqueeze(0) <= (lengths - _KERNEL).unsqueeze(1)  # (n, L - k + 1)
        masked = conv.masked_fill(~valid.unsqueeze(1), -math.inf)
        pooled = masked.amax(dim=-1)
        c = torch.where(valid.any(dim=-1, keepdim=True), pooled, torch.zeros_like(pooled))
        return self.act(self.layer2(torch.cat([h, c], dim=-1)))  # type: ignore[no-any-return]

    def kernel(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        scale = nn.functional.softplus(self.raw_lengthscale)
        sq = torch.cdist(a / scale, b / scale).square()
        return nn.functional.softplus(self.raw_outputscale) * torch.exp(-0.5 * sq)

    def noise(self) -> torch.Tensor:
        return _NOISE_FLOOR + nn.functional.softplus(self.raw_noise)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch single-threaded (restoring the count after), one caller at a time: the matrices
    are small, and one thread makes results independent of the core count."""
    with _lock, torch_one_thread():
        yield


def _tensors(points: Points, shift: float, scale: float) -> tuple[torch.Tensor, ...]:
    """The model's inputs: curves standardized like the targets, short curves left-padded."""
    curves = (np.asarray(points.curves, dtype=np.float64) - shift) / scale
    lengths = np.asarray(points.lengths, dtype=np.int64).copy()
    width = max(_KERNEL, curves.shape[1] if curves.ndim == 2 else 0)
    padded = np.zeros((len(points), width), dtype=np.float64)
    for i, n in enumerate(lengths):
        if n == 0:
            continue
        row = curves[i, :n]
        if n < _KERNEL:
            row = np.concatenate([np.full(_KERNEL - n, row[0]), row])
            lengths[i] = _KERNEL
        padded[i, : len(row)] = row
    return (
        torch.as_tensor(np.asarray(points.x, dtype=np.float64), dtype=_DTYPE),
        torch.as_tensor(np.asarray(points.budget, dtype=np.float64), dtype=_DTYPE),
        torch.as_tensor(padded, dtype=_DTYPE),
        torch.as_tensor(lengths),
    )


def _standardization(y: Array) -> tuple[float, float]:
    shift = float(np.mean(y))
    spread = float(np.std(y))
    return shift, spread if spread > 1e-12 else 1.0


def _cholesky(k: torch.Tensor) -> torch.Tensor:
    eye = torch.eye(k.shape[0], dtype=_DTYPE)
    for jitter in _JITTERS:
        factor, info = torch.linalg.cholesky_ex(k + jitter * eye)
        if int(info) == 0:
            out: torch.Tensor = factor
            return out
    raise FitError(f"the kernel matrix of {k.shape[0]} points is not positive definite")


def _neg_mll(net: _Net, inputs: tuple[torch.Tensor, ...], y: torch.Tensor) -> torch.Tensor:
    phi = net.features(*inputs)
    k = net.kernel(phi, phi) + net.noise() * torch.eye(len(y), dtype=_DTYPE)
    factor = _cholesky(k)
    r = (y - net.mean).unsqueeze(-1)
    alpha = torch.cholesky_solve(r, factor)
    fit_term = 0.5 * (r * alpha).sum()
    return (fit_term + factor.diagonal().log().sum()) / len(y) + 0.5 * math.log(2 * math.pi)


def _new_net(d: int) -> _Net:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return _Net(d).to(_DTYPE)


def fit(
    points: Points, start: Mapping[str, torch.Tensor] | None, steps: int, lr: float = 1e-3
) -> State:
    """Train network and GP on ``points`` by ``steps`` full-batch Adam steps; the new state.

    Args:
        points: the training data (at least 2 points, with targets).
        start: the state to continue from (a warm start) or ``None`` for a fresh network.
        steps: Adam steps (a new Adam each call, as in the reference).
        lr: Adam's learning rate.

    Raises:
        FitError: the kernel matrix was not positive definite or the loss was not finite.
    """
    d = points.x.shape[1]
    shift, scale = _standardization(points.y)
    with one_thread():
        net = _new_net(d)
        if start is not None:
            net.load_state_dict(dict(start))
        inputs = _tensors(points, shift, scale)
        y = torch.as_tensor((points.y - shift) / scale, dtype=_DTYPE)
        opt = Adam(net.parameters(), lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            loss = _neg_mll(net, inputs, y)
            if not torch.isfinite(loss):
                raise FitError("the marginal likelihood became NaN or infinite during the fit")
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
        return {k: v.detach().clone() for k, v in net.state_dict().items()}


def nll(state: Mapping[str, torch.Tensor], points: Points) -> float:
    """The negative marginal log likelihood per point of ``points`` (standardized) under
    ``state``: lower is a better fit."""
    shift, scale = _standardization(points.y)
    with one_thread(), torch.no_grad():
        net = _new_net(points.x.shape[1])
        net.load_state_dict(dict(state))
        y = torch.as_tensor((points.y - shift) / scale, dtype=_DTYPE)
        return float(_neg_mll(net, _tensors(points, shift, scale), y))


def predict(state: Mapping[str, torch.Tensor], train: Points, test: Points) -> Prediction:
    """The GP posterior at ``test`` given ``train`` under the weights and hyperparameters of
    ``state``, in the units of ``train.y``; all test points in one batch.

    Raises:
        FitError: the kernel matrix of ``train`` is not positive definite.
    """
    shift, scale = _standardization(train.y)
    with one_thread(), torch.no_grad():
        net = _new_net(train.x.shape[1])
        net.load_state_dict(dict(state))
        phi = net.features(*_tensors(train, shift, scale))
        psi = net.features(*_tensors(test, shift, scale))
        y = torch.as_tensor((train.y - shift) / scale, dtype=_DTYPE)
        factor = _cholesky(net.kernel(phi, phi) + net.noise() * torch.eye(len(y), dtype=_DTYPE))
        cross = net.kernel(phi, psi)  # (n, m)
        alpha = torch.cholesky_solve((y - net.mean).unsqueeze(-1), factor)
        mean = net.mean + (cross * alpha).sum(0)
        v = torch.linalg.solve_triangular(factor, cross, upper=False)
        prior = nn.functional.softplus(net.raw_outputscale)
        var = (prior - v.square().sum(0)).clamp_min(0.0)
        return Prediction((mean * scale + shift).numpy(), (var.sqrt() * scale).numpy())


def expected_improvement(mean: Array, std: Array, best: Array) -> Array:
    """Expected improvement below ``best`` (lower is better) of Gaussians ``(mean, std)``,
    elementwise: ``(best - mean) * Phi(z) + std * phi(z)`` with ``z = (best - mean) / std``, and
    ``max(best - mean, 0)`` where ``std`` is 0."""
    m, s, b = (torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in (mean, std, best))
    gain = b - m
    safe = s.clamp_min(1e-300)
    z = gain / safe
    density = torch.exp(-0.5 * z.square()) / math.sqrt(2 * math.pi)
    ei = gain * torch.special.ndtr(z) + s * density
    out = torch.where(s > 0, ei, gain.clamp_min(0.0)).clamp_min(0.0)
    return out.numpy()
