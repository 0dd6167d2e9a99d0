"""DyHPO's deep-kernel GP: the hand-written exact GP against the same model on GPyTorch.

Both fit the same feature extractor (hyperrace.optimizers._parts.surrogate.deep_kernel_gp's network)
under an exact GP with a constant mean, an RBF kernel with one lengthscale and an output scale, and
Gaussian noise, by full-batch Adam on the negative marginal log likelihood, from the same initial
weights, on the same points (learning curves of the LCBench surrogate, in the race's format).
Reported per size: seconds per Adam step (median of ``--repeats``), and the final negative
marginal log likelihood per point of each (both with the constant 0.5 log 2 pi; GPyTorch's
from its last step, with its default initialisation of the GP's hyperparameters), in one run.

    .venv/bin/python benchmarks/deep_kernel_gpytorch.py --points 64,128,256 --steps 100
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from hyperrace.benchmarks import LCBench
from hyperrace.optimizers._parts.surrogate import deep_kernel_gp as dk


def _points(n: int, seed: int) -> dk.Points:
    task = LCBench("3945")
    rng = np.random.default_rng(seed)
    configs = [task.space.sample(rng) for _ in range(n)]
    configs = [{k: v for k, v in c.items() if k != "epoch"} for c in configs]
    curves = task.curves(configs)
    from hyperrace.optimizers._parts.data.onehot import OneHot
    from hyperrace.space import Space

    enc = OneHot(Space(**dict(task.space.dimensions)))
    x = enc.encode_many(configs)
    j = rng.integers(1, 20, n)
    rows = np.zeros((n, 20))
    for i in range(n):
        rows[i, : j[i] - 1] = curves[i, : j[i] - 1]
    y = curves[np.arange(n), j - 1]
    return dk.Points(x, (j - 1) / 51, rows, (j - 1).astype(np.int64), y)


def hand_written(points: dk.Points, steps: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    state = dk.fit(points, None, steps, 1e-2)
    per_step = (time.perf_counter() - t0) / steps
    return per_step, dk.nll(state, points)


def with_gpytorch(points: dk.Points, steps: int) -> tuple[float, float]:
    import gpytorch

    shift, scale = float(np.mean(points.y)), float(np.std(points.y)) or 1.0
    with dk.one_thread():
        net = dk._new_net(points.x.shape[1])
        inputs = dk._tensors(points, shift, scale)
        y = torch.as_tensor((points.y - shift) / scale, dtype=torch.float64)

        class GP(gpytorch.models.ExactGP):  # type: ignore[misc]
            def __init__(self, likelihood: gpytorch.likelihoods.GaussianLikelihood) -> None:
                super().__init__(None, None, likelihood)
                self.mean = gpytorch.means.ConstantMean()
                self.cov = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel())

            def forward(self, phi: torch.Tensor) -> gpytorch.distributions.MultivariateNormal:
                return gpytorch.distributions.MultivariateNormal(self.mean(phi), self.cov(phi))

        likelihood = gpytorch.likelihoods.GaussianLikelihood(
            noise_constraint=gpytorch.constraints.GreaterThan(1e-4)
        ).double()
        gp = GP(likelihood).double()
        mll = gpytorch.mlls.ExactMarginalLogLikelihood(likelihood, gp)
        params = list(net.parameters()) + list(gp.parameters())
        opt = torch.optim.Adam(params, lr=1e-2)
        gp.train()
        likelihood.train()
        t0 = time.perf_counter()
        loss = torch.zeros(())
        for _ in range(steps):
            opt.zero_grad()
            phi = net.features(*inputs)
            gp.set_train_data(phi, y, strict=False)
            loss = -mll(gp(phi), y)
            loss.backward()
            opt.step()
        per_step = (time.perf_counter() - t0) / steps
        return per_step, float(loss.detach())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--points", default="64,128,256")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    print(
        "| points | hand-written s/step | GPyTorch s/step | ratio | NLL hand-written "
        "| NLL GPyTorch |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for n in (int(v) for v in args.points.split(",")):
        points = _points(n, 0)
        ours, theirs = [], []
        for _ in range(args.repeats):  # alternate, so both see the same machine load
            ours.append(hand_written(points, args.steps))
            theirs.append(with_gpytorch(points, args.steps))
        a = statistics.median(s for s, _ in ours)
        b = statistics.median(s for s, _ in theirs)
        print(
            f"| {n} | {a:.4f} | {b:.4f} | {b / a:.2f} | {ours[-1][1]:.3f} | {theirs[-1][1]:.3f} |"
        )


if __name__ == "__main__":
    main()
