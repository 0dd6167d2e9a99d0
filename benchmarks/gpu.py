"""Real training on the device at hand: a small ResNet on generated images, tuned by hyperrace's
race and ASHA against Optuna's TPE with a Hyperband pruner, each on the same budget of seconds.

* **Data.** Generated, no download: ``--classes`` classes, each a fixed random smooth colour
  pattern; an image is its class's pattern, shifted by up to 2 pixels, scaled by a random
  contrast, plus Gaussian noise. Training and validation sets are drawn once per seed.
* **Model.** A ResNet: a 3x3 stem convolution, ``depth`` basic residual blocks (two 3x3
  convolutions with batch norm) of ``width`` channels, the second half at stride 2 and twice the
  width, global average pooling, a linear layer. SGD with Nesterov momentum and a constant
  learning rate; cross-entropy with label smoothing.
* **Space.** ``lr`` (log), ``weight_decay`` (log), ``width`` (log), ``depth``, ``batch_size``
  (log), ``label_smoothing``, and epochs as the fidelity. Width, depth and batch size change the
  cost of an epoch several-fold: the cheap hyperparameters can be settled on cheap budgets.
* **Budget.** Each method gets ``--seconds`` wall-clock seconds of tuning on the device (one
  worker), decisions and checkpoints included. On a GPU every epoch ends with
  ``torch.cuda.synchronize()``, so the device's time is what is counted.
* **Measures.** The incumbent (lowest validation error reported at any epoch so far) against
  wall time; regret is the incumbent less the best validation error any method found for that
  seed. Utilisation: of the GPU (NVML through ``pynvml``, else ``nvidia-smi``, sampled every
  0.5 s) and, on any device, the share of wall time spent inside training and evaluation steps
  ("busy").

Sizes: ``--size cpu`` (16x16 images, 8 classes, 2,048 training images, at most 8 epochs, one
torch thread) for a machine without a GPU; ``--size gpu`` (32x32, 10 classes, 20,000 images, at
most 20 epochs). ``auto`` (default) picks by ``torch.cuda.is_available()``.

Usage::

    .venv/bin/python benchmarks/gpu.py                       # size and device picked
    .venv/bin/python benchmarks/gpu.py --size cpu --seconds 120 --seeds 0,1
    .venv/bin/python benchmarks/gpu.py --size gpu --seconds 240 --methods race,asha,optuna

Methods named that are not registered optimizers of this hyperrace (``race`` before it lands)
are skipped with a message; ``optuna`` needs the ``bench`` extra.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as _dt
import json
import math
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

import hyperrace as hr
from hyperrace.integrations.pytorch import TorchState
from hyperrace.optimizers import available


@dataclasses.dataclass(frozen=True)
class Size:
    image: int
    classes: int
    train: int
    valid: int
    max_epochs: int
    width: tuple[int, int]
    depth: tuple[int, int]
    batch: tuple[int, int]


SIZES = {
    "cpu": Size(16, 8, 2048, 512, 8, (4, 32), (1, 3), (32, 256)),
    "gpu": Size(32, 10, 20_000, 4_000, 20, (16, 128), (1, 4), (64, 512)),
}


def space(size: Size) -> hr.Space:
    return hr.Space(
        lr=hr.Float(1e-3, 1.0, log=True),
        weight_decay=hr.Float(1e-6, 1e-2, log=True),
        width=hr.Int(*size.width, log=True),
        depth=hr.Int(*size.depth),
        batch_size=hr.Int(*size.batch, log=True),
        label_smoothing=hr.Float(0.0, 0.2),
        epochs=hr.Fidelity(1, size.max_epochs),
    )


# -- data and model ------------------------------------------------------------------------------


def make_data(size: Size, seed: int, device: str) -> tuple[torch.Tensor, ...]:
    """(x_train, y_train, x_valid, y_valid) on ``device``; the same for every method."""
    rng = np.random.default_rng(seed)
    s = size.image
    # smooth class patterns: random low-frequency Fourier components per colour channel
    freq = np.arange(4)
    yy, xx = np.meshgrid(np.linspace(0, 1, s), np.linspace(0, 1, s), indexing="ij")
    patterns = np.zeros((size.classes, 3, s, s), np.float32)
    for c in range(size.classes):
        for ch in range(3):
            a = rng.normal(size=(4, 4))
            ph = rng.uniform(0, 2 * np.pi, size=(4, 4))
            for i in freq:
                for j in freq:
                    patterns[c, ch] += a[i, j] * np.cos(2 * np.pi * (i * yy + j * xx) + ph[i, j])
    patterns /= patterns.std(axis=(1, 2, 3), keepdims=True)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, size.classes, n)
        x = patterns[y] * rng.uniform(0.3, 1.0, (n, 1, 1, 1)).astype(np.float32)
        shifts = rng.integers(-2, 3, (n, 2))
        for k in range(n):
            x[k] = np.roll(x[k], tuple(shifts[k]), axis=(1, 2))
        x += rng.normal(0.0, 1.6, x.shape).astype(np.float32)
        return x, y

    xt, yt = draw(size.train)
    xv, yv = draw(size.valid)
    as_t = lambda a, dtype: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
    return (
        as_t(xt, torch.float32),
        as_t(yt, torch.long),
        as_t(xv, torch.float32),
        as_t(yv, torch.long),
    )


class Block(torch.nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.c1 = torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = torch.nn.BatchNorm2d(cout)
        self.c2 = torch.nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = torch.nn.BatchNorm2d(cout)
        self.skip = (
            torch.nn.Sequential(
                torch.nn.Conv2d(cin, cout, 1, stride, bias=False), torch.nn.BatchNorm2d(cout)
            )
            if stride != 1 or cin != cout
            else torch.nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.b1(self.c1(x)))
        return torch.relu(self.b2(self.c2(h)) + self.skip(x))


def resnet(width: int, depth: int, classes: int) -> torch.nn.Module:
    layers: list[torch.nn.Module] = [
        torch.nn.Conv2d(3, width, 3, 1, 1, bias=False),
        torch.nn.BatchNorm2d(width),
        torch.nn.ReLU(),
    ]
    cin = width
    for i in range(depth):
        down = depth > 1 and i == depth // 2  # the second half: half the size, twice the width
        cout = width * 2 if down else cin
        layers.append(Block(cin, cout, 2 if down else 1))
        cin = cout
    layers += [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(cin, classes)]
    return torch.nn.Sequential(*layers)


class Trainer:
    """Trains one configuration epoch by epoch on the device; counts its busy seconds."""

    def __init__(
        self,
        data: tuple[torch.Tensor, ...],
        size: Size,
        config: dict[str, Any],
        seed: int,
        device: str,
    ) -> None:
        self.data, self.size, self.config, self.device = data, size, config, device
        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
        self.model = resnet(int(config["width"]), int(config["depth"]), size.classes).to(device)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=config["lr"],
            momentum=0.9,
            nesterov=True,
            weight_decay=config["weight_decay"],
        )
        self.order = torch.Generator().manual_seed(seed + 1)

    def _sync(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()

    def epoch(self) -> tuple[float, float]:
        """Train one epoch, then evaluate; return (validation error, busy seconds)."""
        xt, yt, xv, yv = self.data
        t0 = time.perf_counter()
        self.model.train()
        bs = int(self.config["batch_size"])
        perm = torch.randperm(len(xt), generator=self.order).to(self.device)
        for i in range(0, len(xt) - bs + 1, bs):
            idx = perm[i : i + bs]
            loss = torch.nn.functional.cross_entropy(
                self.model(xt[idx]), yt[idx], label_smoothing=self.config["label_smoothing"]
            )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        self.model.eval()
        with torch.no_grad():
            wrong = sum(
                int((self.model(xv[i : i + 1024]).argmax(1) != yv[i : i + 1024]).sum())
                for i in range(0, len(xv), 1024)
            )
        self._sync()
        error = wrong / len(xv)
        return (error if math.isfinite(error) else 1.0), time.perf_counter() - t0


# -- utilisation ---------------------------------------------------------------------------------


class GpuSampler:
    """Samples the GPU's utilisation every 0.5 s (NVML, else nvidia-smi); nothing on a CPU."""

    def __init__(self, device: str) -> None:
        self.samples: list[float] = []
        self.source = "none"
        self._stop = threading.Event()
        self._read: Any = None
        if not device.startswith("cuda"):
            return
        index = torch.cuda.current_device()
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self._read = lambda: float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            self.source = "NVML"
        except Exception:
            if shutil.which("nvidia-smi"):

                def smi() -> float:
                    out = subprocess.run(
                        [
                            "nvidia-smi",
                            f"--id={index}",
                            "--query-gpu=utilization.gpu",
                            "--format=csv,noheader,nounits",
                        ],
                        capture_output=True,
                        text=True,
                        timeout=5,
                        check=True,
                    )
                    return float(out.stdout.strip().splitlines()[0])

                self._read = smi
                self.source = "nvidia-smi"
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            with contextlib.suppress(Exception):
                self.samples.append(self._read())

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        if self._read is None:
            yield
            return
        self._thread.start()
        try:
            yield
        finally:
            self._stop.set()
            self._thread.join(timeout=5)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.samples) if self.samples else None


# -- methods -------------------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    method: str
    seed: int
    curve: list[tuple[float, float]]  # (seconds since start, incumbent)
    trials: int
    epochs: int
    busy: float
    wall: float
    gpu: float | None
    gpu_source: str


def _incumbent(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    best, out = math.inf, []
    for t, v in sorted(points):
        if v < best:
            best = v
            out.append((t, v))
    return out


def run_hyperrace(
    optimizer: str,
    data: tuple[torch.Tensor, ...],
    size: Size,
    seed: int,
    seconds: float,
    device: str,
    folder: Path,
) -> Result:
    busy = [0.0]

    def objective(trial: hr.Trial) -> None:
        trainer = Trainer(data, size, trial.config, seed * 100_003 + trial.number, device)
        state = TorchState(
            model=trainer.model,
            optimizer=trainer.optimizer,
            extra={"order": trainer.order},
            rng=False,
        )
        state.restore(trial)
        for _ in trial.epochs():
            error, spent = trainer.epoch()
            busy[0] += spent
            trial.report(error, checkpoint=state)

    study = hr.Study(
        f"{optimizer}-{seed}",
        space(size),
        storage=f"sqlite:///{folder / f'{optimizer}-{seed}.db'}",
        optimizer=optimizer,
        seed=seed,
        artifacts=folder / f"{optimizer}-{seed}",
    )
    sampler = GpuSampler(device)
    t0 = time.time()
    w0 = time.perf_counter()
    with sampler.running():
        study.optimize(objective, hr.Budget(seconds=seconds), progress=False)
    wall = time.perf_counter() - w0
    h = study.history()
    points = [(o.time - t0, o.value) for t in h.trials for o in t.curve]
    return Result(
        optimizer,
        seed,
        _incumbent(points),
        len(h.trials),
        int(h.work),
        busy[0],
        wall,
        sampler.mean,
        sampler.source,
    )


def run_optuna(
    data: tuple[torch.Tensor, ...], size: Size, seed: int, seconds: float, device: str
) -> Result:
    import optuna

    from hyperrace.benchmarks.peers._optuna import suggest

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=size.max_epochs, reduction_factor=3
        ),
    )
    sampler = GpuSampler(device)
    points: list[tuple[float, float]] = []
    busy, trials, epochs = 0.0, 0, 0
    t0 = time.perf_counter()
    with sampler.running():
        while time.perf_counter() - t0 < seconds:
            trial = study.ask()
            trials += 1
            trainer = Trainer(
                data, size, suggest(trial, space(size)), seed * 100_003 + trial.number, device
            )
            state = optuna.trial.TrialState.COMPLETE
            error = 1.0
            for epoch in range(1, size.max_epochs + 1):
                if time.perf_counter() - t0 >= seconds:
                    state = optuna.trial.TrialState.FAIL  # the budget ran out mid-trial
                    break
                error, spent = trainer.epoch()
                busy += spent
                epochs += 1
                points.append((time.perf_counter() - t0, error))
                trial.report(error, epoch)
                if trial.should_prune():
                    state = optuna.trial.TrialState.PRUNED
                    break
            study.tell(
                trial, error if state is optuna.trial.TrialState.COMPLETE else None, state=state
            )
    wall = time.perf_counter() - t0
    return Result(
        "optuna TPE+Hyperband",
        seed,
        _incumbent(points),
        trials,
        epochs,
        busy,
        wall,
        sampler.mean,
        sampler.source,
    )


# -- report --------------------------------------------------------------------------------------


def _at(curve: list[tuple[float, float]], t: float) -> float:
    value = math.inf
    for when, v in curve:
        if when <= t:
            value = v
    return value


def report(results: list[Result], seconds: float) -> str:
    """The table: medians over seeds of the regret at a quarter and half of the budget and at the
    end of each run (a run ends once the epoch in progress when its time ran out is done: its
    wall seconds say by how much it went over), trials, epochs, busy share, GPU use."""
    best = {
        s: min(r.curve[-1][1] for r in results if r.seed == s and r.curve)
        for s in {r.seed for r in results}
    }
    marks = (0.25, 0.5)
    head = " | ".join(f"regret at {m * seconds:g} s" for m in marks)
    rows = [
        f"| method | seeds | {head} | regret at the end | wall (s) | trials | epochs | busy "
        "| GPU utilisation |",
        "|---|---:|" + "---:|" * len(marks) + "---:|---:|---:|---:|---:|---:|",
    ]
    for method in dict.fromkeys(r.method for r in results):
        mine = [r for r in results if r.method == method]
        regrets = [
            statistics.median(_at(r.curve, m * seconds) - best[r.seed] for r in mine) for m in marks
        ]
        final = statistics.median(r.curve[-1][1] - best[r.seed] for r in mine if r.curve)
        gpu = [r.gpu for r in mine if r.gpu is not None]
        rows.append(
            f"| {method} | {len(mine)} | "
            + " | ".join("–" if math.isinf(x) else f"{x:.3f}" for x in regrets)
            + f" | {final:.3f} | {statistics.median(r.wall for r in mine):.0f}"
            + f" | {statistics.median(r.trials for r in mine):g}"
            + f" | {statistics.median(r.epochs for r in mine):g}"
            + f" | {statistics.median(r.busy / r.wall for r in mine):.0%}"
            + f" | {f'{statistics.median(gpu):.0f} % ({mine[0].gpu_source})' if gpu else 'n/a'} |"
        )
    finals = ", ".join(f"seed {s}: {v:.3f}" for s, v in sorted(best.items()))
    return "\n".join(rows) + f"\n\nBest validation error found by any method: {finals}.\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("auto", "cpu", "gpu"), default="auto")
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="tuning seconds per method and seed (cpu 120, gpu 240)",
    )
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (0)")
    parser.add_argument(
        "--methods", default="race,asha,optuna", help="race, asha, any registered optimizer, optuna"
    )
    parser.add_argument("--out", default=None, help="write the curves as JSON")
    parser.add_argument(
        "--load", default=None, help="print the report of a JSON written by --out; run nothing"
    )
    args = parser.parse_args(argv)
    if args.load:
        saved = [Result(**r) for r in json.loads(Path(args.load).read_text())]
        for r in saved:
            r.curve = [tuple(p) for p in r.curve]  # type: ignore[misc]
        print(report(saved, args.seconds or 120.0))
        return 0
    cuda = torch.cuda.is_available()
    size_name = ("gpu" if cuda else "cpu") if args.size == "auto" else args.size
    size = SIZES[size_name]
    seconds = args.seconds or (240.0 if size_name == "gpu" else 120.0)
    device = "cuda:0" if cuda else "cpu"
    if not cuda:
        torch.set_num_threads(1)
    card = (
        torch.cuda.get_device_name(0)
        if cuda
        else f"CPU ({platform.processor() or platform.machine()}, 1 torch thread)"
    )
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in list(methods):
        if m != "optuna" and m not in available():
            print(
                f"{m!r} is not a registered optimizer of this hyperrace; skipped", file=sys.stderr
            )
            methods.remove(m)
    print(
        f"# gpu.py: size {size_name}, {seconds:g} s per method and seed, on {card}; "
        f"{_dt.datetime.now(_dt.UTC):%Y-%m-%d %H:%M} UTC, torch {torch.__version__}",
        file=sys.stderr,
    )
    results: list[Result] = []
    folder = Path(tempfile.mkdtemp(prefix="hyperrace-gpu-"))
    try:
        for seed in [int(s) for s in args.seeds.split(",")]:
            data = make_data(size, seed, device)
            for m in methods:
                r = (
                    run_optuna(data, size, seed, seconds, device)
                    if m == "optuna"
                    else run_hyperrace(m, data, size, seed, seconds, device, folder)
                )
                results.append(r)
                best = r.curve[-1][1] if r.curve else math.nan
                print(
                    f"seed {seed} {r.method}: best {best:.3f}, {r.trials} trials, "
                    f"{r.epochs} epochs, busy {r.busy / r.wall:.0%}",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"device: {card}\n")
    print(report(results, seconds))
    if args.out:
        Path(args.out).write_text(json.dumps([dataclasses.asdict(r) for r in results], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
