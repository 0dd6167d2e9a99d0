"""HyperraceCallback with a real LightningModule on scikit-learn's bundled digits: reports each
validation epoch, a paused and resumed fit reports the uninterrupted curve exactly, the trainer
stops when the race says so, and misuse gets clear errors.

Two warnings of Lightning's own are filtered here (and only here): the FutureWarning that
torch 2.13 raises when Lightning 2.6 checks ``isinstance(treespec, LeafSpec)``, and Lightning's
PossibleUserWarning advising more DataLoader workers (on machines with more than two cores).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import hyperrace as hr
from hyperrace.exceptions import ConfigurationError
from hyperrace.trial import Checkpoint, Observation, Trial

torch = pytest.importorskip("torch")
pl = pytest.importorskip("lightning.pytorch")
pytest.importorskip("sklearn")

from hyperrace.integrations.lightning import HyperraceCallback  # noqa: E402

pytestmark = [
    pytest.mark.torch,
    pytest.mark.filterwarnings(
        r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"
    ),
    pytest.mark.filterwarnings(r"ignore:The '\w+' does not have many workers"),
]


class Sink:
    def __init__(self, stop_after: float | None = None) -> None:
        self.values: list[tuple[float, float]] = []
        self.checkpoints: list[float | None] = []
        self.stop_after = stop_after

    def __call__(self, observation: Observation, checkpoint_fidelity: float | None) -> bool:
        self.values.append((observation.fidelity, observation.value))
        self.checkpoints.append(checkpoint_fidelity)
        return self.stop_after is None or observation.fidelity < self.stop_after


def make_trial(
    folder: Path, start: int, stop: int, sink: Sink, devices: tuple[str, ...] | None = None
) -> Trial:
    return Trial(
        trial_id=1,
        number=0,
        config={},
        start=start,
        stop=stop,
        integer_fidelity=True,
        checkpoint=Checkpoint(folder, float(start) if start else None),
        sink=sink,
        devices=devices,
    )


def _loaders() -> tuple[Any, Any]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x / 16.0, dtype=torch.float32)
    y = torch.tensor(y, dtype=torch.long)
    train = torch.utils.data.TensorDataset(x[:1200], y[:1200])
    valid = torch.utils.data.TensorDataset(x[1200:], y[1200:])
    return (
        torch.utils.data.DataLoader(train, batch_size=64, shuffle=True),
        torch.utils.data.DataLoader(valid, batch_size=256),
    )


class Digits(pl.LightningModule):  # type: ignore[misc]
    """A small MLP with dropout, SGD and a StepLR schedule; it records the epochs it trains."""

    def __init__(self, lr: float = 0.1) -> None:
        super().__init__()
        self.lr = lr
        self.net = torch.nn.Sequential(
            torch.nn.Linear(64, 32),
            torch.nn.ReLU(),
            torch.nn.Dropout(0.2),
            torch.nn.Linear(32, 10),
        )
        self.trained: list[int] = []

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        return torch.nn.functional.cross_entropy(self.net(batch[0]), batch[1])

    def on_train_epoch_start(self) -> None:
        self.trained.append(self.current_epoch + 1)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        loss = torch.nn.functional.cross_entropy(self.net(batch[0]), batch[1])
        self.log("val_loss", loss)

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=self.lr)
        return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, step_size=2)]


def fit(
    trial: Trial,
    *,
    seed: int = 0,
    module: Digits | None = None,
    monitor: str = "val_loss",
    **trainer: Any,
) -> Digits:
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    module = module or Digits()
    callback = HyperraceCallback(trial, monitor=monitor)
    options: dict[str, Any] = {
        "max_epochs": int(trial.stop),
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "enable_checkpointing": False,
        "accelerator": "cpu",
        "deterministic": True,
    }
    options.update(trainer)
    ckpt_path = options.pop("ckpt_path", callback.ckpt_path)
    train, valid = _loaders()
    pl.Trainer(callbacks=[callback], **options).fit(module, train, valid, ckpt_path=ckpt_path)
    return module


def test_pause_and_resume_reproduce_the_uninterrupted_curve_exactly(tmp_path: Path) -> None:
    whole = Sink()
    fit(make_trial(tmp_path / "whole", 0, 5, whole))
    assert [f for f, _ in whole.values] == [1, 2, 3, 4, 5]
    assert whole.checkpoints == [1, 2, 3, 4, 5]
    assert whole.values[-1][1] < whole.values[0][1]

    first, second = Sink(), Sink()
    paused = fit(make_trial(tmp_path / "paused", 0, 2, first))
    # a fresh module, other weights and generator: all overwritten from the checkpoint
    resumed = fit(make_trial(tmp_path / "paused", 2, 5, second), seed=123)
    assert paused.trained == [1, 2] and resumed.trained == [3, 4, 5]  # no epoch twice
    assert first.values + second.values == whole.values


def test_the_trainer_stops_when_the_report_says_so(tmp_path: Path) -> None:
    sink = Sink(stop_after=2)
    trial = make_trial(tmp_path, 0, 6, sink)
    module = fit(trial, max_epochs=50)
    assert [f for f, _ in sink.values] == [1, 2]
    assert module.trained == [1, 2]
    assert trial.should_stop and trial.stop_reason.value == "interrupted"
    # the granted fidelity ends the fit too, with max_epochs beyond it
    sink = Sink()
    module = fit(make_trial(tmp_path / "granted", 0, 3, sink), max_epochs=50)
    assert module.trained == [1, 2, 3] and [f for f, _ in sink.values] == [1, 2, 3]


def test_misuse_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"monitor=''"):
        HyperraceCallback(make_trial(tmp_path, 0, 2, Sink()), monitor="")
    with pytest.raises(ConfigurationError, match=r"max_epochs=2\) ends before .* \(4 epochs\)"):
        fit(make_trial(tmp_path / "short", 0, 4, Sink()), max_epochs=2)
    with pytest.raises(ConfigurationError, match=r"'val_acc' is not among .*\['val_loss'\]"):
        fit(make_trial(tmp_path / "monitor", 0, 2, Sink()), monitor="val_acc")
    fit(make_trial(tmp_path / "resume", 0, 1, Sink()))
    with pytest.raises(ConfigurationError, match=r"ckpt_path=callback.ckpt_path"):
        fit(make_trial(tmp_path / "resume", 1, 2, Sink()), ckpt_path=None)


def test_the_trainer_gets_the_trials_devices(tmp_path: Path) -> None:
    gpus = HyperraceCallback(make_trial(tmp_path, 0, 2, Sink(), ("cuda:0", "cuda:1")))
    assert (gpus.accelerator, gpus.devices) == ("gpu", [0, 1])
    cpu = HyperraceCallback(make_trial(tmp_path, 0, 2, Sink(), ("cpu",)))
    assert (cpu.accelerator, cpu.devices) == ("cpu", 1)
    sink = Sink()
    trial = make_trial(tmp_path / "cpu", 0, 2, sink, ("cpu",))
    callback = HyperraceCallback(trial)
    fit(trial, accelerator=callback.accelerator, devices=callback.devices)
    assert [f for f, _ in sink.values] == [1, 2]
    # a trial given a GPU is not trained on the CPU by mistake
    on_gpu = make_trial(tmp_path / "gpu", 0, 2, Sink(), ("cuda:0",))
    with pytest.raises(ConfigurationError, match=r"trains on cpu, which is not among .*cuda:0"):
        fit(on_gpu)


def test_a_study_races_lightning_fits_and_resumes_promoted_trials(tmp_path: Path) -> None:
    trained: dict[int, list[int]] = {}

    def objective(trial: hr.Trial) -> None:
        module = fit(trial, module=Digits(lr=trial.config["lr"]))
        trained.setdefault(trial.number, []).extend(module.trained)

    space = hr.Space(lr=hr.Float(0.01, 0.5, log=True), epochs=hr.Fidelity(1, 4))
    study = hr.Study(
        "lightning",
        space,
        storage=f"sqlite:///{tmp_path / 'study.db'}",
        optimizer="asha",
        seed=0,
        artifacts=tmp_path / "artifacts",
    )
    study.optimize(objective, budget=hr.Budget(epochs=16), progress=False)
    assert max(t.fidelity for t in study.trials) == 4
    promoted = [n for n, epochs in trained.items() if max(epochs) > 1]
    assert promoted
    for number in promoted:
        assert trained[number] == list(range(1, max(trained[number]) + 1)), trained[number]
    best = study.best
    assert best is not None and best.last_value is not None and best.last_value < 2.3
