"""The GP-EI proposal step on BoTorch: fit a GP, rank candidates by log expected improvement.

This module imports torch, BoTorch and GPyTorch at import time: import it lazily, never from a
module that ``import hyperrace`` loads (:class:`~hyperrace.optimizers._gp.GPEI` imports it in
its first model-based decision).

Everything is in double precision, over inputs in the unit cube (any encoding, e.g.
:class:`~hyperrace.optimizers._parts.data.onehot.OneHot`), maximising ``y`` (pass ``-loss``).

Determinism: the fitted model is a function of the data alone (the global torch generator, which
``fit_gpytorch_mll`` draws from when it retries a fit from the priors, is seeded with 0 inside
``torch.random.fork_rng``, so the caller's torch state is untouched); the candidates are a
function of ``seed`` (seeded scrambled Sobol points and a local ``torch.Generator``). Fitted
hyperparameters are memoized by the exact bytes of the data, so several decisions on the same
results (parallel workers asking in turn) fit once; the memo returns what a refit would. torch
runs single-threaded during a proposal (:func:`hyperrace._imports.torch_one_thread`);
proposals in several threads take turns.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hyperrace._imports import torch_one_thread

with warnings.catch_warnings():
    # linear_operator (under GPyTorch) decorates functions with torch.jit.script, which torch
    # >= 2.10 deprecates with a DeprecationWarning at import time: nothing for us to act on.
    warnings.filterwarnings("ignore", r"`torch\.jit\.script` is deprecated", DeprecationWarning)
    import torch
    from botorch.acquisition.analytic import LogExpectedImprovement
    from botorch.exceptions.errors import ModelFittingError
    from botorch.exceptions.warnings import OptimizationWarning
    from botorch.fit import fit_gpytorch_mll
    from botorch.generation.gen import gen_candidates_scipy
    from botorch.models import SingleTaskGP
    from botorch.models.model import Model
    from botorch.models.transforms.outcome import Standardize
    from botorch.models.utils.gpytorch_modules import get_matern_kernel_with_gamma_prior
    from botorch.utils.sampling import draw_sobol_samples
    from gpytorch.mlls import ExactMarginalLogLikelihood
    from gpytorch.utils.warnings import NumericalWarning
    from linear_operator.utils.errors import NotPSDError  # type: ignore[import-untyped]

__all__ = ["Proposal", "rank_candidates"]

Array = npt.NDArray[np.float64]
_DTYPE = torch.float64
#: Local candidates: this share of ``n_candidates``, around the best few observed points, with
#: perturbation scales log-uniform between _SCALES (unit-cube coordinates).
_LOCAL_SHARE = 0.25
_N_CENTRES = 5
_SCALES = (0.01, 0.2)
#: Candidates refined by L-BFGS-B on log EI, and its iteration cap.
_N_REFINE = 4
_MAXITER = 10
#: L-BFGS-B settings of the marginal-likelihood fit: a relative tolerance of 1e-5 on the loss
#: (scipy's default, 2.2e-9, takes two to three times the iterations for hyperparameters that
#: change EI's choice very little) and an iteration cap, which bound the time of a fit.
_FIT_OPTIONS = {"ftol": 1e-5, "maxiter": 100}
_MEMO_SIZE = 16
_memo: OrderedDict[bytes, dict[str, torch.Tensor]] = OrderedDict()
#: Held for a whole proposal: the memo, torch's thread count and the warning filters are shared.
_lock = threading.Lock()


@dataclass(frozen=True)
class Proposal:
    """Candidates ranked by log EI, best first.

    Attributes:
        x: shape (k, d), each row projected onto a valid encoding.
        log_ei: shape (k,), their log expected improvement (``log`` of units of ``y``).
        fitted: False when the model could not be fitted or its covariance was not positive
            definite even with jitter (``x`` is then empty).
    """

    x: Array
    log_ei: Array
    fitted: bool = True


def rank_candidates(
    x: Array,
    y: Array,
    pending: Array,
    *,
    n_candidates: int,
    seed: int,
    project: Callable[[Array], Array],
) -> Proposal:
    """Fit a GP to (``x``, ``y``) and rank candidates for the next evaluation by log EI.

    Args:
        x: observed inputs, shape (n, d) in [0, 1].
        y: observed values to maximise, shape (n,) (finite).
        pending: inputs being evaluated now, shape (m, d); the fitted model is conditioned on
            them at the mean of ``y`` (a constant liar), which lowers EI around them.
        n_candidates: scrambled Sobol candidates in the unit cube; a quarter as many are added
            around the best points, and the best few of all are refined by L-BFGS-B.
        seed: the seed of the candidates' random draws.
        project: maps rows of the relaxation onto valid encodings (one-hot blocks, rounded ints).
    """
    with _lock, torch_one_thread(), torch.random.fork_rng(devices=[]), _quiet():
        torch.default_generator.manual_seed(0)
        try:
            return _rank(_as_tensor(x), _as_tensor(y), pending, n_candidates, seed, project)
        except (ModelFittingError, NotPSDError):
            return Proposal(np.zeros((0, x.shape[1])), np.zeros(0), fitted=False)


def _rank(
    x: torch.Tensor,
    y: torch.Tensor,
    pending: Array,
    n_candidates: int,
    seed: int,
    project: Callable[[Array], Array],
) -> Proposal:
    model: Model = _fitted(x, y.unsqueeze(-1))
    if len(pending):
        model.posterior(x[:1])  # fills the caches that conditioning needs
        lie = torch.full((len(pending), 1), y.mean().item(), dtype=_DTYPE)
        model = model.condition_on_observations(_as_tensor(pending), lie)
    acq = LogExpectedImprovement(model, best_f=y.max().item())
    raw = _as_tensor(project(_candidates(x, y, n_candidates, seed).numpy()))
    with torch.no_grad():
        raw_values = acq(raw.unsqueeze(1))
    starts = raw[torch.topk(raw_values, min(_N_REFINE, len(raw))).indices].unsqueeze(1)
    refined, _ = gen_candidates_scipy(
        starts, acq, lower_bounds=0.0, upper_bounds=1.0, options={"maxiter": _MAXITER}
    )
    refined = _as_tensor(project(refined.detach().squeeze(1).numpy()))
    with torch.no_grad():
        values = torch.cat([acq(refined.unsqueeze(1)), raw_values])
    order = torch.sort(values, descending=True, stable=True).indices
    return Proposal(torch.cat([refined, raw])[order].numpy(), values[order].numpy())


def _as_tensor(a: Array) -> torch.Tensor:
    return torch.as_tensor(a, dtype=_DTYPE)


def _fitted(train_x: torch.Tensor, train_y: torch.Tensor) -> SingleTaskGP:
    """A SingleTaskGP, Matern-5/2 ARD kernel with BoTorch's Gamma priors (lengthscale
    Gamma(3, 6), outputscale Gamma(2, 0.15)), standardized outcomes, its hyperparameters
    maximising the marginal likelihood (BoTorch retries a failed fit from the priors)."""
    model = SingleTaskGP(
        train_x,
        train_y,
        covar_module=get_matern_kernel_with_gamma_prior(ard_num_dims=train_x.shape[-1]),
        outcome_transform=Standardize(m=1),
    )
    shape = np.array(train_x.shape, dtype=np.int64).tobytes()
    key = hashlib.sha256(shape + train_x.numpy().tobytes() + train_y.numpy().tobytes()).digest()
    state = _memo.get(key)
    if state is not None:
        _memo.move_to_end(key)
        model.load_state_dict(state, keep_transforms=False)  # the targets stay as built
        return model.eval()
    fit_gpytorch_mll(
        ExactMarginalLogLikelihood(model.likelihood, model),
        optimizer_kwargs={"options": _FIT_OPTIONS},
    )
    _memo[key] = {name: t.detach().clone() for name, t in model.state_dict().items()}
    while len(_memo) > _MEMO_SIZE:
        _memo.popitem(last=False)
    return model


def _candidates(x: torch.Tensor, y: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``n`` scrambled Sobol points plus ``n // 4`` Gaussian perturbations of the best points."""
    generator = torch.Generator().manual_seed(seed)
    d = x.shape[-1]
    unit = torch.stack([torch.zeros(d, dtype=_DTYPE), torch.ones(d, dtype=_DTYPE)])
    sobol = draw_sobol_samples(unit, n, 1, seed=seed).squeeze(1)
    n_local = max(1, int(n * _LOCAL_SHARE))
    best = torch.argsort(y, descending=True, stable=True)[:_N_CENTRES]
    centres = x[best][torch.arange(n_local) % len(best)]
    low, high = np.log(_SCALES[0]), np.log(_SCALES[1])
    u = torch.rand(n_local, 1, generator=generator, dtype=_DTYPE)
    noise = torch.randn(n_local, d, generator=generator, dtype=_DTYPE)
    return torch.cat([sobol, (centres + torch.exp(low + (high - low) * u) * noise).clamp(0, 1)])


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Drop two BoTorch / GPyTorch warnings that need no action, re-emit any other one.

    * ``OptimizationWarning``: L-BFGS-B stopped at its iteration cap or in a failed line search
      (common on flat log EI); the best point found is still returned, and a model fit that
      ends so is retried from the priors by ``fit_gpytorch_mll`` itself. BoTorch raises it with
      the filter forced to "always", so it is recorded here rather than filtered.
    * ``NumericalWarning`` (linear_operator): a Cholesky factorization needed diagonal jitter to
      succeed, as near-duplicate inputs make it do; the jittered factor is what is wanted.
    """
    quiet = (OptimizationWarning, NumericalWarning)
    with warnings.catch_warnings(record=True) as caught:
        for category in quiet:
            warnings.simplefilter("ignore", category)
        yield
    for w in caught:
        if not issubclass(w.category, quiet):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
