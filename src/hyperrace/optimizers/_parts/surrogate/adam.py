"""Adam for the surrogates' fits: torch's own update, without ``torch.optim.Adam``'s class.

The class's methods (``__init__``, ``step``, ``zero_grad``) import ``torch._dynamo`` on their
first call: about 1.5 s on a 2-core machine, once per process, paid by the first model-based
decision of every fresh worker (on a study of 100,000 trials, a fifth of the race's first
decision). :class:`Adam` runs the same update through torch's functional
``torch.optim.adam.adam``, with the arguments ``Adam.step`` passes for the settings used here
(betas 0.9 and 0.999, eps 1e-8, no weight decay, no AMSGrad, the default implementation for the
parameters' device), its state made as ``Adam`` makes it: the same numbers to the last bit, which
``tests/optimizers/test_adam_part.py`` checks against the class.

This module imports torch at import time: import it lazily, as the surrogates' networks are.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.optim.adam import adam

__all__ = ["Adam"]


class Adam:
    """Full-batch Adam on ``params`` with learning rate ``lr``: ``zero_grad()``, the loss's
    ``backward()``, ``step()``, as with ``torch.optim.Adam(params, lr=lr)``."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float) -> None:
        self.params = list(params)
        if not lr >= 0.0:
            raise ValueError(f"lr={lr!r} must be a number of at least 0")
        self.lr = lr
        # the step count as Adam keeps it (a scalar tensor on the CPU), the moments as zeros
        scalar = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
        params_ = self.params
        self._steps = [torch.tensor(0.0, dtype=scalar, device="cpu") for _ in params_]
        self._means = [
            torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params
        ]
        self._squares = [
            torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params
        ]

    def zero_grad(self) -> None:
        """Drop the gradients (``Adam.zero_grad()``'s default: set to ``None``)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """One update of the parameters that have a gradient."""
        ready = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not ready:
            return
        params = [self.params[i] for i in ready]
        with torch.no_grad():
            adam(
                params,
                [p.grad for p in params if p.grad is not None],
                [self._means[i] for i in ready],
                [self._squares[i] for i in ready],
                [],
                [self._steps[i] for i in ready],
                foreach=None,
                capturable=False,
                differentiable=False,
                fused=None,
                grad_scale=None,
                found_inf=None,
                has_complex=any(torch.is_complex(p) for p in params),
                decoupled_weight_decay=False,
                amsgrad=False,
                beta1=0.9,
                beta2=0.999,
                lr=self.lr,
                weight_decay=0.0,
                eps=1e-8,
                maximize=False,
            )
