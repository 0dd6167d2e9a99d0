"""GP-EI: the conformance suite, the one-hot encoding, pending points, determinism, quality."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest

import hyperrace as hr
from hyperrace._rng import decision_rng
from hyperrace.benchmarks._functions import branin
from hyperrace.exceptions import ConfigurationError, SpaceError
from hyperrace.optimizers import Done, Start, make_optimizer
from hyperrace.optimizers._gp import GPEI, model_rows
from hyperrace.optimizers._parts.data.onehot import OneHot
from hyperrace.study import Job
from hyperrace.testing.conformance import spaces
from hyperrace.testing.history import drive
from hyperrace.testing.objectives import curve_value

pytest.importorskip("hyperrace.optimizers._parts.surrogate.gp")  # needs the bo extra

MIXED = hr.Space(
    lr=hr.Float(1e-4, 1e-1, log=True),
    k=hr.Int(2, 64, log=True),
    depth=hr.Int(1, 5),
    flag=hr.Categorical([True, False]),
    act=hr.Categorical(["relu", "gelu", "tanh"]),
    width=hr.Categorical([16, 32.5, "wide"]),
)


def _study(space: hr.Space, seed: int = 0, **params: Any) -> hr.Study:
    return hr.Study("gp", space, storage="memory://", seed=seed, optimizer=GPEI(**params))


# -- parameters ------------------------------------------------------------------------------


def test_params_defaults_and_json() -> None:
    params = GPEI().get_params()
    assert params == {
        "n_initial": None,
        "n_candidates": 512,
        "max_observations": 200,
        "max_trials": None,
    }
    custom = GPEI(n_initial=3, n_candidates=64, max_observations=20, max_trials=9).get_params()
    assert make_optimizer("gp_ei", json.loads(json.dumps(custom))).get_params() == custom
    with pytest.raises(TypeError):
        GPEI(3)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("param", "value", "match"),
    [
        ("n_initial", 0, r"n_initial=0 must be an integer >= 1 or None"),
        ("n_initial", 2.0, r"n_initial=2.0 must be an integer"),
        ("n_candidates", 4, r"n_candidates=4 must be an integer >= 8"),
        ("n_candidates", True, r"n_candidates=True"),
        ("max_observations", 1, r"max_observations=1 must be an integer >= 2"),
        ("max_observations", None, r"max_observations=None"),
        ("max_trials", 0, r"max_trials=0 must be an integer >= 1 or None"),
        ("max_trials", "5", r"max_trials='5'"),
    ],
)
def test_bad_params_are_named(param: str, value: Any, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        GPEI(**{param: value})


# -- behaviour -------------------------------------------------------------------------------


def test_prior_first_then_model_then_done() -> None:
    space = spaces()["no-fidelity"]
    assert GPEI().initial_trials(space) == 8  # 2 * (3 + 1)
    study = _study(space, n_initial=3, max_trials=6)
    jobs: list[Job] = []
    drive(study, 10, curve_value, on_job=lambda s, j: jobs.append(j))
    assert [j.info["source"] for j in jobs] == ["initial"] * 3 + ["model"] * 3
    assert all(j.stop == 1.0 and j.kind == "start" for j in jobs)
    assert all(np.isfinite(j.info["log_ei"]) for j in jobs[3:])
    decision = study.optimizer.decide(space, study.history(), decision_rng(0, 99))
    assert isinstance(decision, Done)


def test_full_fidelity_and_no_repeats_in_a_small_discrete_space() -> None:
    space = hr.Space(a=hr.Categorical(["x", "y"]), b=hr.Int(0, 1), epochs=hr.Fidelity(1, 4))
    study = _study(space, n_initial=1)
    jobs: list[Job] = []
    drive(study, 7, curve_value, on_job=lambda s, j: jobs.append(j))
    assert all(j.stop == 4 for j in jobs)
    seen: list[dict[str, Any]] = []
    for job in jobs:
        if job.info["source"] == "model":
            assert dict(job.config) not in seen, "the model proposed a config tried before"
        seen.append(dict(job.config))
    assert len({json.dumps(c, sort_keys=True) for c in seen}) == 4  # all four were tried
    assert jobs[-1].info == {"source": "prior", "reason": "every candidate was tried already"}


def test_pending_trials_get_different_configs() -> None:
    f = branin()
    study = _study(f.space, seed=4)
    drive(study, 6, lambda c, _: f.value(c))  # the initial design: 2 * (2 + 1)
    jobs = [study.ask() for _ in range(3)]  # three workers, none told yet
    assert all(isinstance(j, Job) and j.info["source"] == "model" for j in jobs)
    x = f.space.to_unit_many([j.config for j in jobs if isinstance(j, Job)])
    gaps = [np.linalg.norm(x[i] - x[j]) for i in range(3) for j in range(i + 1, 3)]
    assert min(gaps) > 0.05, f"near-duplicate proposals, unit-cube distances {gaps}"


def test_decide_leaves_torch_state_alone() -> None:
    import torch

    f = branin()
    study = _study(f.space, n_initial=3)
    drive(study, 3, lambda c, _: f.value(c))
    torch.manual_seed(123)
    state, threads = torch.random.get_rng_state(), torch.get_num_threads()
    decision = study.optimizer.decide(f.space, study.history(), decision_rng(1, 3))
    assert isinstance(decision, Start) and decision.info["source"] == "model"
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.get_num_threads() == threads


def test_a_failed_fit_falls_back_to_the_prior(monkeypatch: pytest.MonkeyPatch) -> None:
    from botorch.exceptions.errors import ModelFittingError

    from hyperrace.optimizers._parts.surrogate import gp as gp_model

    def fail(*args: Any) -> None:
        raise ModelFittingError("All attempts to fit the model have failed.")

    monkeypatch.setattr(gp_model, "_fitted", fail)
    f = branin()
    study = _study(f.space, n_initial=2)
    drive(study, 2, lambda c, _: f.value(c))
    decision = study.optimizer.decide(f.space, study.history(), decision_rng(0, 2))
    assert isinstance(decision, Start) and f.space.validate(decision.config)
    assert decision.info == {"source": "prior", "reason": "the model failed to fit"}


def test_model_rows_keep_the_best_half_and_the_most_recent() -> None:
    losses = np.array([5.0, 0.1, 4.0, 0.2, 3.0, 9.0, 0.3, 8.0, 7.0, 6.0])
    assert model_rows(losses, 10).tolist() == list(range(10))
    # best 3 (rows 1, 3, 6), then the 3 most recent others (rows 9, 8, 7)
    assert model_rows(losses, 6).tolist() == [1, 3, 6, 7, 8, 9]
    assert model_rows(np.zeros(5), 2).tolist() == [0, 4]  # ties: the earliest is "best"


# -- one-hot encoding ------------------------------------------------------------------------


def test_one_hot_round_trip() -> None:
    enc = OneHot(MIXED)
    assert enc.width == 1 + 1 + 1 + 2 + 3 + 3
    rng = np.random.default_rng(0)
    for _ in range(50):
        config = MIXED.sample(rng)
        z = enc.encode(config)
        assert z.shape == (enc.width,) and np.all((z >= 0) & (z <= 1))
        for dim, cols in zip(MIXED.dimensions.values(), enc.slices, strict=True):
            if isinstance(dim, hr.Categorical):
                assert sorted(z[cols].tolist()) == [0.0] * (len(dim.choices) - 1) + [1.0]
        back = enc.decode(z)
        assert back == MIXED.validate(config)
        assert all(type(back[k]) is type(config[k]) for k in config)  # True stays a bool
        np.testing.assert_allclose(enc.project(z[None, :])[0], z, atol=1e-12)
    assert enc.encode_many([]).shape == (0, enc.width)


def test_one_hot_decodes_the_relaxation_by_argmax_and_rounding() -> None:
    space = hr.Space(n=hr.Int(1, 5), c=hr.Categorical([True, False]), s=hr.Categorical(list("abc")))
    enc = OneHot(space)
    z = np.array([0.55, 0.2, 0.3, 0.1, 0.9, 0.4])
    assert enc.decode(z) == {"n": 3, "c": False, "s": "b"}
    assert enc.project(z[None, :]).tolist() == [[0.5, 0.0, 1.0, 0.0, 1.0, 0.0]]
    assert enc.decode(enc.project(z[None, :])[0]) == enc.decode(z)
    with pytest.raises(SpaceError, match="6 finite coordinates"):
        enc.decode([0.5, 0.5])


# -- determinism and quality -----------------------------------------------------------------

_RUN = """
import json
import hyperrace as hr
from hyperrace.optimizers import GPEI
from hyperrace.testing.conformance import spaces
from hyperrace.testing.history import drive
from hyperrace.testing.objectives import curve_value

def run():
    study = hr.Study("det", spaces()["fidelity"], storage="memory://", seed=11,
                     optimizer=GPEI(n_initial=4, n_candidates=128))
    jobs = []
    record = lambda s, j: jobs.append([dict(j.config), j.stop, dict(j.info)])
    drive(study, 9, curve_value, on_job=record)
    return json.loads(json.dumps(jobs))
"""


def test_same_decisions_in_a_fresh_process() -> None:
    namespace: dict[str, Any] = {}
    exec(_RUN, namespace)
    here = namespace["run"]()
    code = textwrap.dedent(_RUN) + "\nprint(json.dumps(run()))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    there = json.loads(out.stdout)
    assert [job[2]["source"] for job in here] == ["initial"] * 4 + ["model"] * 5
    assert here == there


_NO_BO = """
import sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("botorch", "gpytorch", "torch"):
            raise ImportError(f"blocked {name}")
sys.meta_path.insert(0, Blocker())
import hyperrace as hr
from hyperrace.optimizers import GPEI
study = hr.Study("s", hr.Space(x=hr.Float(0.0, 1.0)), storage="memory://", seed=0,
                 optimizer=GPEI(n_initial=1))
job = study.ask()  # the initial design needs no model
study.report(job.trial_id, fidelity=1.0, value=0.5)
study.tell(job)
try:
    study.ask()
except hr.MissingDependencyError as exc:
    print(exc)
"""


def test_a_missing_bo_extra_is_named() -> None:
    out = subprocess.run([sys.executable, "-c", _NO_BO], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "the gp_ei optimizer" in out.stdout and "pip install 'hyperrace[bo]'" in out.stdout


def _best_regret(optimizer: Any, seed: int) -> float:
    f = branin()
    study = hr.Study("branin", f.space, storage="memory://", seed=seed, optimizer=optimizer)
    assert drive(study, 30, lambda c, _: f.value(c)) == 30
    return min(f.value(t.config) for t in study.trials) - f.optimum


def test_beats_random_search_on_branin() -> None:
    seeds = range(5)
    gp = [_best_regret("gp_ei", s) for s in seeds]
    rand = [_best_regret("random", s) for s in seeds]
    assert np.mean(gp) < 0.2 * np.mean(rand), (gp, rand)
    assert np.mean(gp) < 0.1, gp  # the minimum of Branin is found to within 0.1
