"""The liveness record: validated once, when it is made, and passed whole."""

from __future__ import annotations

import math
import pickle

import pytest

import hyperrace as hr
from hyperrace.executors import Liveness, RunSpec


def test_defaults_and_the_default_stale_after() -> None:
    live = Liveness()
    assert (live.heartbeat_interval, live.stale_after, live.max_retries, live.stall_after) == (
        10.0,
        30.0,
        3,
        None,
    )
    assert Liveness(heartbeat_interval=2).stale_after == 6.0
    assert Liveness(stale_after=math.inf).stale_after == math.inf  # never taken as lost
    assert Liveness(max_retries=None, stall_after=5).stall_after == 5.0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"heartbeat_interval": 0}, r"heartbeat_interval=0 must be a finite number > 0"),
        ({"heartbeat_interval": True}, r"heartbeat_interval=True must be"),
        ({"heartbeat_interval": math.inf}, r"heartbeat_interval=inf must be"),
        ({"heartbeat_interval": 2.0, "stale_after": 2.0}, r"stale_after=2.0 must be more than"),
        ({"stale_after": math.nan}, r"stale_after=nan must be more than heartbeat_interval"),
        ({"stale_after": "60"}, r"stale_after='60' must be more than"),
        ({"max_retries": -1}, r"max_retries=-1 must be an integer >= 0 or None .*max_retries=3"),
        ({"max_retries": 1.5}, r"max_retries=1.5 must be an integer"),
        ({"stall_after": 0}, r"stall_after=0 must be a finite number > 0"),
        ({"stall_after": math.inf}, r"stall_after=inf must be"),
    ],
)
def test_a_bad_value_is_named_with_the_fix(settings: dict, message: str) -> None:
    with pytest.raises(hr.ConfigurationError, match=message):
        Liveness(**settings)


def test_frozen_comparable_and_picklable() -> None:
    live = Liveness(heartbeat_interval=0.5, stall_after=1.0)
    with pytest.raises(AttributeError):
        live.max_retries = 5  # type: ignore[misc]
    assert live == Liveness(heartbeat_interval=0.5, stale_after=1.5, stall_after=1.0)
    assert pickle.loads(pickle.dumps(live)) == live
    spec = RunSpec(1, 2, 3.0, 5.0, True, "/tmp", liveness=live)
    assert pickle.loads(pickle.dumps(spec)).liveness == live
    assert RunSpec(1, 2, 3.0, 5.0, True, "/tmp").liveness == Liveness()


def test_of_takes_the_record_or_its_settings_not_both() -> None:
    live = Liveness(heartbeat_interval=1.0)
    assert Liveness.of(live, heartbeat_interval=10.0, stale_after=None) is live
    assert Liveness.of(None, heartbeat_interval=1.0) == live
    with pytest.raises(hr.ConfigurationError, match=r"max_retries=0 were both given"):
        Liveness.of(live, heartbeat_interval=10.0, max_retries=0)
    with pytest.raises(hr.ConfigurationError, match=r"must be a hyperrace.executors.Liveness"):
        Liveness.of({"heartbeat_interval": 1.0})  # type: ignore[arg-type]


def test_a_study_takes_the_record_whole() -> None:
    space = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 3))
    study = hr.Study("live", space, storage="memory://", seed=0, optimizer="random")
    live = Liveness(heartbeat_interval=0.5, max_retries=0)
    job = study.ask(liveness=live)
    assert isinstance(job, hr.Job)
    study.tell(job)
    study.close()

    def objective(trial: hr.Trial) -> None:
        for _ in trial.epochs():
            trial.report(trial.config["x"])

    study.optimize(objective, hr.Budget(trials=2), progress=False, liveness=live)
    assert len(study.trials) == 2
    with pytest.raises(hr.ConfigurationError, match="were both given"):
        study.optimize(objective, hr.Budget(trials=3), progress=False, liveness=live, stall_after=1)
