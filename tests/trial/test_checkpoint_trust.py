"""Loading a checkpoint never runs code unless the user trusts it: plain data loads, a crafted
pickle is refused (its code never runs) with an error that names the file and the opt-in."""

from __future__ import annotations

import collections
import datetime as dt
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hyperrace as hr
from hyperrace.trial import TRUSTED_ENV, Checkpoint


class Crafted:
    """What an attacker writes into a shared artifacts folder: unpickling it runs code (here, it
    creates the marker folder)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (os.mkdir, (str(self.marker),))


class Custom:
    """A user's own class: harmless, but loading it means importing and calling the class."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Custom) and other.n == self.n

    __hash__ = None  # type: ignore[assignment]


def plant(folder: Path, fidelity: int, obj: Any, suffix: str) -> Path:
    """Write ``obj`` as the checkpoint file at ``fidelity`` (pickle for .pkl, torch for .pt),
    as someone who can write the folder would, without going through Checkpoint.save."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"checkpoint-{fidelity}.{suffix}"
    if suffix == "pt":
        import torch

        torch.save(obj, path)
    else:
        path.write_bytes(pickle.dumps(obj, protocol=2))
    return path


@pytest.fixture(autouse=True)
def _untrusted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TRUSTED_ENV, raising=False)


@pytest.mark.parametrize("suffix", ["pkl", "pt"])
def test_a_crafted_checkpoint_is_refused_and_its_code_never_runs(
    tmp_path: Path, suffix: str
) -> None:
    if suffix == "pt":
        pytest.importorskip("torch")
    marker = tmp_path / "pwned"
    path = plant(tmp_path / "trial-1", 3, {"model": Crafted(marker)}, suffix)
    ck = Checkpoint(tmp_path / "trial-1", 3.0)
    with pytest.raises(hr.UntrustedCheckpointError) as info:
        ck.load()
    message = str(info.value)
    assert str(path) in message and f"{os.name}.mkdir" in message  # the file, what it would call
    assert "trial.checkpoint.load(trusted=True)" in message and f"{TRUSTED_ENV}=1" in message
    assert not marker.exists()
    with pytest.raises(hr.UntrustedCheckpointError):
        ck.load(trusted=False)
    assert not marker.exists()
    # the opt-in loads it as before: and runs its code, which is why it is an opt-in
    ck.load(trusted=True)
    assert marker.exists()


def test_the_opt_in_can_be_per_call_per_checkpoint_or_per_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plant(tmp_path / "t", 1, {"obj": Custom(7)}, "pkl")
    with pytest.raises(hr.UntrustedCheckpointError, match="Custom"):
        Checkpoint(tmp_path / "t", 1.0).load()
    assert Checkpoint(tmp_path / "t", 1.0).load(trusted=True) == {"obj": Custom(7)}
    assert Checkpoint(tmp_path / "t", 1.0, trusted=True).load() == {"obj": Custom(7)}
    with pytest.raises(hr.UntrustedCheckpointError):
        Checkpoint(tmp_path / "t", 1.0, trusted=True).load(trusted=False)
    monkeypatch.setenv(TRUSTED_ENV, "1")
    assert Checkpoint(tmp_path / "t", 1.0).load() == {"obj": Custom(7)}
    with pytest.raises(hr.UntrustedCheckpointError):
        Checkpoint(tmp_path / "t", 1.0, trusted=False).load()
    monkeypatch.setenv(TRUSTED_ENV, "maybe")
    with pytest.raises(hr.ConfigurationError, match=f"{TRUSTED_ENV}='maybe' must be 1"):
        Checkpoint(tmp_path / "t", 1.0).load()
    with pytest.raises(hr.ConfigurationError, match="trusted='yes' must be True, False or None"):
        Checkpoint(tmp_path / "t", 1.0).load(trusted="yes")  # type: ignore[arg-type]


def plain_state() -> dict[str, Any]:
    return {
        "step": 3,
        "loss": [0.5, float("inf"), -0.0],
        "nested": {"t": (1, None, "x"), "s": {1, 2}, "f": frozenset({"a"}), "b": b"\x00\xff"},
        "weights": np.arange(6, dtype=np.float32).reshape(2, 3),
        "mask": np.array([True, False]),
        "objects": np.array([1, "two", None], dtype=object),
        "scalar": np.float64(2.5),
        "when": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "order": collections.OrderedDict(a=1, b=2),
        "complex": 1 + 2j,
    }


def same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.tolist() == b.tolist()
    if isinstance(a, dict):
        return type(a) is type(b) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(type(a) is type(b) and a == b)


def test_plain_data_saved_without_torch_loads_by_default(tmp_path: Path) -> None:
    """A process without PyTorch writes pickle (.pkl) and reads it back without trusting it."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_checkpoint_trust import plain_state
        from hyperrace.trial import Checkpoint
        print(Checkpoint({str(tmp_path / "ck")!r}).save(plain_state(), 2))
        assert "torch" not in sys.modules
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != TRUSTED_ENV},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("checkpoint-2.pkl")
    assert same(Checkpoint(tmp_path / "ck", 2.0).load(), plain_state())


@pytest.mark.torch
def test_plain_data_and_tensors_saved_with_torch_load_by_default(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    state = {**plain_state(), "tensor": torch.arange(3.0), "gen": torch.Generator().get_state()}
    ck = Checkpoint(tmp_path / "ck")
    assert ck.save(state, 1).suffix == ".pt"
    loaded = Checkpoint(tmp_path / "ck", 1.0).load()
    assert torch.equal(loaded.pop("tensor"), state.pop("tensor"))
    assert torch.equal(loaded.pop("gen"), state.pop("gen"))
    assert same(loaded, state)


@pytest.mark.torch
def test_a_torch_state_loads_without_trust(tmp_path: Path) -> None:
    """What hyperrace's own integration saves (model, optimizer, scheduler, scaler, generators
    of torch, NumPy and Python) is plain data."""
    torch = pytest.importorskip("torch")
    from hyperrace.integrations.pytorch import TorchState

    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=10)
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    scheduler.step()
    state = TorchState(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=torch.amp.GradScaler("cpu"),
        extra={"numpy": np.random.default_rng(0), "python": __import__("random").Random(1)},
    )
    Checkpoint(tmp_path / "ck").save(state(), 1)
    loaded = Checkpoint(tmp_path / "ck", 1.0).load()
    state.load(loaded)
    assert loaded["format"] == 1 and set(loaded["parts"]) == set(state.parts)
