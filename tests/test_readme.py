"""The README's code runs as it is written (with stand-ins for the user's model)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hyperrace as hr

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


class _Model:
    """A stand-in for a network and its optimizer: a state that training moves."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.steps = 0
        self.lr = float(config["lr"])

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = int(state["steps"])


def test_the_ask_tell_loop_of_the_readme_runs(tmp_path: Path) -> None:
    (loop,) = [b for b in _blocks() if "study.ask(" in b]
    assert "hr.Wait" in loop and "hr.Done" in loop and "study.checkpoint(" in loop
    space = hr.Space(lr=hr.Float(1e-3, 1.0, log=True), epochs=hr.Fidelity(1, 9))
    study = hr.Study("readme", space, storage=f"sqlite:///{tmp_path / 'r.db'}", seed=0)

    def build(config: dict[str, Any]) -> tuple[_Model, _Model]:
        return _Model(config), _Model(config)

    def fit_one_epoch(model: _Model, opt: _Model) -> None:
        model.steps += 1
        opt.steps += 1

    def validation_loss(model: _Model) -> float:
        return abs(model.lr - 0.1) + 1.0 / model.steps

    import time

    namespace = {
        "hr": hr,
        "time": time,
        "study": study,
        "build": build,
        "fit_one_epoch": fit_one_epoch,
        "validation_loss": validation_loss,
        "print": lambda *args: None,
    }
    exec(compile(loop, "README.md", "exec"), namespace)
    history = study.history()
    assert history.work == 200
    assert study.optimizer.name == "asha"  # the default: it races
    assert {t.status for t in history.trials} <= {hr.TrialStatus.PAUSED, hr.TrialStatus.COMPLETED}
    promoted = [t for t in history.trials if t.fidelity > 1]
    assert promoted, "ASHA promotes some trials"
    for t in promoted:  # resumed from their checkpoints: every epoch trained once
        assert t.work == t.fidelity
    assert study.best_value is not None and study.best_config is not None
