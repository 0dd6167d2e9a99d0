"""TorchState: a real training loop paused and resumed reports the uninterrupted run's curve
exactly; what it saves and restores is checked; bad parts get clear errors."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hyperrace as hr
from hyperrace.exceptions import ConfigurationError
from hyperrace.integrations.pytorch import TorchState
from hyperrace.trial import Checkpoint, Observation, Trial

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch


class Sink:
    def __init__(self) -> None:
        self.values: list[tuple[float, float]] = []

    def __call__(self, observation: Observation, checkpoint_fidelity: float | None) -> bool:
        self.values.append((observation.fidelity, observation.value))
        return True


def make_trial(folder: Path, start: int, stop: int, sink: Sink) -> Trial:
    return Trial(
        trial_id=1,
        number=0,
        config={},
        start=start,
        stop=stop,
        integer_fidelity=True,
        checkpoint=Checkpoint(folder, float(start) if start else None),
        sink=sink,
    )


def _data() -> tuple[Any, Any]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(96, 8, generator=gen)
    y = (x[:, :2].sum(dim=1) > 0).long()
    return x, y


def train(trial: Trial, *, rng: bool = True, seed: int = 0) -> None:
    """A loop that draws from every global generator: dropout and shuffling (torch), noise
    (NumPy) and a coin (random); a StepLR scheduler and a plain torch.Generator in extra."""
    torch.set_num_threads(1)
    x, y = _data()
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(16, 2)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    noise_gen = torch.Generator().manual_seed(1)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=16, shuffle=True
    )
    state = TorchState(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        extra={"noise": noise_gen},
        rng=rng,
    )
    restored = state.restore(trial)
    assert restored == (trial.start or None)
    for _epoch in trial.epochs():
        model.train()
        for xb, yb in loader:
            jitter = torch.from_numpy(np.random.normal(0, 0.05, size=xb.shape).astype("float32"))
            xb = xb + jitter + 0.01 * torch.randn(xb.shape, generator=noise_gen)
            if random.random() < 0.5:
                xb = -xb
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(xb), yb).backward()
            optimizer.step()
        scheduler.step()
        model.eval()
        with torch.no_grad():
            loss = torch.nn.functional.cross_entropy(model(x), y).item()
        trial.report(loss, checkpoint=state)


def _scramble() -> None:
    """Move every global generator, as a different process (or other trials) would have."""
    torch.manual_seed(12345)
    np.random.seed(54321)
    random.seed(999)


def _paused_and_resumed(folder: Path, pause_at: int, stop: int, *, rng: bool) -> list[float]:
    first, second = Sink(), Sink()
    train(make_trial(folder, 0, pause_at, first), rng=rng)
    _scramble()
    train(make_trial(folder, pause_at, stop, second), rng=rng, seed=777)  # other init: overwritten
    assert [f for f, _ in first.values + second.values] == list(range(1, stop + 1))
    return [v for _, v in first.values + second.values]


def test_pause_and_resume_reproduce_the_uninterrupted_curve_exactly(tmp_path: Path) -> None:
    whole = Sink()
    train(make_trial(tmp_path / "whole", 0, 6, whole))
    uninterrupted = [v for _, v in whole.values]
    assert len(uninterrupted) == 6 and uninterrupted[-1] < uninterrupted[0]
    assert _paused_and_resumed(tmp_path / "paused", 2, 6, rng=True) == uninterrupted
    # twice paused
    folder = tmp_path / "twice"
    first, second, third = Sink(), Sink(), Sink()
    train(make_trial(folder, 0, 1, first))
    _scramble()
    train(make_trial(folder, 1, 4, second))
    _scramble()
    train(make_trial(folder, 4, 6, third))
    assert [v for _, v in first.values + second.values + third.values] == uninterrupted


def test_without_the_generators_the_resumed_curve_differs(tmp_path: Path) -> None:
    """The control: the global generators matter to this loop, so rng=True is what makes the
    test above pass."""
    whole = Sink()
    train(make_trial(tmp_path / "whole", 0, 4, whole), rng=False)
    resumed = _paused_and_resumed(tmp_path / "paused", 2, 4, rng=False)
    uninterrupted = [v for _, v in whole.values]
    assert resumed[:2] == uninterrupted[:2]
    assert resumed[2:] != uninterrupted[2:]


def test_state_holds_each_part_and_restore_of_a_new_trial_changes_nothing(tmp_path: Path) -> None:
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=8.0)
    np_gen, py_gen = np.random.default_rng(3), random.Random(4)
    state = TorchState(
        model=model, optimizer=optimizer, scaler=scaler, extra={"np": np_gen, "py": py_gen}
    )
    assert state.parts == ("model", "optimizer", "scaler", "extra.np", "extra.py")
    saved = state()
    assert saved["format"] == 1 and set(saved["rng"]) >= {"python", "numpy", "torch"}
    assert saved["parts"]["scaler"]["scale"] == 8.0
    before = model.weight.detach().clone()
    assert state.restore(make_trial(tmp_path, 0, 2, Sink())) is None
    assert torch.equal(model.weight, before)
    # a round trip through a checkpoint file restores generators and weights
    Checkpoint(tmp_path / "ck").save(saved, 3.0)
    expected = (np_gen.random(), py_gen.random())
    np_gen.random(), py_gen.random()
    with torch.no_grad():
        model.weight.add_(1.0)
    trial = Trial(
        trial_id=1,
        number=0,
        config={},
        start=3,
        stop=4,
        integer_fidelity=True,
        checkpoint=Checkpoint(tmp_path / "ck", 3.0),
        sink=Sink(),
    )
    assert state.restore(trial) == 3.0
    assert torch.equal(model.weight, before)
    assert (np_gen.random(), py_gen.random()) == expected


def test_bad_parts_and_mismatched_checkpoints_are_refused() -> None:
    model = torch.nn.Linear(2, 1)
    with pytest.raises(ConfigurationError, match=r"optimizer=list has no state_dict"):
        TorchState(model=model, optimizer=[1, 2])
    with pytest.raises(ConfigurationError, match=r"extra name 'model'"):
        TorchState(extra={"model": model})
    with pytest.raises(ConfigurationError, match=r"saves nothing"):
        TorchState(rng=False)
    saved = TorchState(model=model).state()
    with pytest.raises(
        ConfigurationError, match=r"holds parts \['model'\].*names \['model', 'optimizer'\]"
    ):
        TorchState(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1)).load(saved)
    with pytest.raises(ConfigurationError, match=r"rng=True.*rng=False"):
        TorchState(model=model, rng=False).load(saved)
    with pytest.raises(ConfigurationError, match=r"not a TorchState of format 1"):
        TorchState(model=model).load(model.state_dict())


def test_a_study_resumes_promoted_trials_through_torch_state(tmp_path: Path) -> None:
    """ASHA on SQLite: promoted trials continue from their checkpoint (no epoch trained twice)."""
    trained: dict[int, list[int]] = {}

    def objective(trial: hr.Trial) -> None:
        model = torch.nn.Linear(4, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=trial.config["lr"])
        state = TorchState(model=model, optimizer=optimizer)
        state.restore(trial)
        x = torch.ones(8, 4)
        for epoch in trial.epochs():
            trained.setdefault(trial.number, []).append(epoch)
            optimizer.zero_grad()
            loss = (model(x) - 1.0).pow(2).mean()
            loss.backward()
            optimizer.step()
            trial.report(loss.item(), checkpoint=state)

    space = hr.Space(lr=hr.Float(1e-3, 0.1, log=True), epochs=hr.Fidelity(1, 9))
    study = hr.Study(
        "torch-state",
        space,
        storage=f"sqlite:///{tmp_path / 'study.db'}",
        optimizer="asha",
        seed=0,
    )
    study.optimize(objective, budget=hr.Budget(epochs=60), progress=False)
    assert max(t.fidelity for t in study.trials) == 9
    promoted = [n for n, epochs in trained.items() if max(epochs) > 1]
    assert promoted
    for number in promoted:
        assert trained[number] == list(range(1, max(trained[number]) + 1)), trained[number]


def test_importing_the_module_does_not_import_torch() -> None:
    code = (
        "import sys, hyperrace.integrations.pytorch\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def train_amp(trial: Trial, *, compiled: bool = False, seed: int = 0) -> list[float]:
    """Mixed precision on the CPU (bfloat16 autocast) with a GradScaler whose scale grows every
    2 steps, so that its state matters; optionally a torch.compile'd model."""
    torch.set_num_threads(1)
    x, y = _data()
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    net = torch.compile(model, backend="eager") if compiled else model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**4, growth_interval=2)
    state = TorchState(model=net, optimizer=optimizer, scaler=scaler)
    state.restore(trial)
    scales = []
    for _epoch in trial.epochs():
        for i in range(0, 96, 32):
            optimizer.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = torch.nn.functional.cross_entropy(net(x[i : i + 32]), y[i : i + 32])
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        scales.append(scaler.get_scale())
        with torch.no_grad():
            trial.report(torch.nn.functional.cross_entropy(net(x), y).item(), checkpoint=state)
    return scales


def test_amp_with_a_grad_scaler_resumes_exactly(tmp_path: Path) -> None:
    whole = Sink()
    scales = train_amp(make_trial(tmp_path / "whole", 0, 4, whole))
    assert scales[0] < scales[-1]  # the scale grew: its state is part of the run
    first, second = Sink(), Sink()
    train_amp(make_trial(tmp_path / "paused", 0, 2, first))
    resumed_scales = train_amp(make_trial(tmp_path / "paused", 2, 4, second), seed=5)
    assert first.values + second.values == whole.values
    assert resumed_scales == scales[2:]


def test_a_compiled_model_saves_as_the_module_it_wraps(tmp_path: Path) -> None:
    whole = Sink()
    train_amp(make_trial(tmp_path / "whole", 0, 4, whole), compiled=True)
    plain = Sink()
    train_amp(make_trial(tmp_path / "plain", 0, 4, plain))
    assert whole.values == plain.values  # the same computation
    # paused compiled, resumed plain: the checkpoint has no "_orig_mod." keys
    first, second = Sink(), Sink()
    train_amp(make_trial(tmp_path / "mixed", 0, 2, first), compiled=True)
    saved = Checkpoint(tmp_path / "mixed", 2.0).load()
    assert all(not k.startswith("_orig_mod.") for k in saved["parts"]["model"])
    train_amp(make_trial(tmp_path / "mixed", 2, 4, second))
    assert first.values + second.values == whole.values


def test_restore_loads_onto_the_trials_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = torch.nn.Linear(2, 1)
    state = TorchState(model=model)
    Checkpoint(tmp_path / "ck").save(state(), 1.0)
    seen: list[Any] = []
    load = torch.load

    def recording_load(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("map_location"))
        return load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    trial = Trial(
        trial_id=1,
        number=0,
        config={},
        start=1,
        stop=2,
        integer_fidelity=True,
        checkpoint=Checkpoint(tmp_path / "ck", 1.0, map_location="cpu"),
        sink=Sink(),
        devices=("cpu",),
    )
    assert state.restore(trial) == 1.0
    assert seen == [trial.device] == ["cpu"]
