"""The Ray executor on a real local Ray instance: studies on SQLite and PostgreSQL, workers killed
mid-job, stop requests, Ctrl-C, a driver that connects by address, and what is refused.

Without Ray these tests skip, except under ``CI=true``, where they fail (CI installs the extra).
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import hyperrace as hr
from hyperrace.executors import Outcome, RayExecutor, RunSpec
from hyperrace.testing.objectives import curve_value, learning_curve, slow_learning_curve
from hyperrace.trial import StopReason

if os.environ.get("CI") == "true":
    import ray
else:
    ray = pytest.importorskip("ray")

pytestmark = pytest.mark.ray

SPACE = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 5))
SLOW = {"env_vars": {"HYPERRACE_TEST_STEP_SECONDS": "0.3"}}


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A local Ray instance of 2 CPUs for the module; yields its address. Its workers take
    0.3 s per step of :func:`slow_learning_curve` (one environment: workers are reused)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=SLOW)
    # the objectives of this file reach the workers by value: it is not importable there
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        yield str(ray.get_runtime_context().gcs_address)
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
        ray.shutdown()


def killed_once(trial: hr.Trial) -> None:
    """:func:`learning_curve`, except that trial number 0 kills its own Ray worker with SIGKILL
    at step 2 the first time (a marker file in the study's artifacts folder remembers it)."""
    marker = trial.checkpoint.folder.parent / "killed-once"
    state = trial.checkpoint.load()
    trained = 0 if state is None else int(state["trained"])
    for step in trial.epochs():
        if step == 2 and trial.number == 0 and not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        trained += 1
        trial.report(curve_value(trial.config, step), checkpoint={"trained": trained})


def spins_after_its_first_report(trial: hr.Trial) -> None:
    """Reports step 1 with a checkpoint, then spins without reporting (20 s of wall time at
    most: far past the time slices of these tests)."""
    for step in trial.epochs():
        trial.report(curve_value(trial.config, step), checkpoint={"trained": step})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pass


def _observations(study: hr.Study) -> dict[tuple[int, float], float]:
    return {(t.trial_id, o.fidelity): o.value for t in study.history().trials for o in t.curve}


def _outcomes(executor: RayExecutor) -> list[Outcome]:
    deadline = time.monotonic() + 60
    while not (outcomes := executor.wait(1.0)):
        assert time.monotonic() < deadline, "no job ended"
    return outcomes


def test_refused_settings_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(hr.ConfigurationError, match="workers=0"):
        RayExecutor(0)
    with pytest.raises(hr.ConfigurationError, match="num_gpus=-1"):
        RayExecutor(2, num_gpus=-1)
    with pytest.raises(hr.ConfigurationError, match=r"RayExecutor\(address=...\)"):
        RayExecutor(2, init_kwargs={"address": "auto"})
    study = hr.Study("s", SPACE, storage="memory://", seed=0, optimizer="random")
    with pytest.raises(hr.ConfigurationError, match="in-memory storage"):
        study.optimize(learning_curve, budget=hr.Budget(epochs=5), executor="ray", workers=2)
    assert study.trials == []


_WITHOUT_RAY = """
import sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "ray":
            raise ImportError(f"blocked {name}")
sys.meta_path.insert(0, Blocker())
import hyperrace as hr
from hyperrace.executors import RayExecutor
assert "ray" not in sys.modules
study = hr.Study("s", hr.Space(x=hr.Float(0.0, 1.0)), storage=sys.argv[1])
try:
    study.optimize(lambda t: 0.0, budget=hr.Budget(trials=1), executor="ray", workers=2)
except hr.MissingDependencyError as exc:
    print(exc)
"""


def test_hyperrace_imports_without_ray_and_names_the_extra(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_RAY, url], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'hyperrace[ray]'" in result.stdout


def test_artifacts_given_as_a_url_are_refused(cluster: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    with pytest.raises(hr.ConfigurationError, match=r"is a URL.*mount"):  # by the study first
        hr.Study("s", SPACE, storage=url, seed=0, artifacts="s3://bucket/runs", optimizer="random")
    study = hr.Study("s", SPACE, storage=url, seed=0, optimizer="random")
    executor = RayExecutor(2)
    executor.start(study.storage, learning_curve)
    try:  # and by the executor, for a job given to it directly
        for artifacts in ("s3://bucket/runs", "/work/s3:/bucket/runs"):
            spec = RunSpec(study.study_id, 1, 5.0, 10.0, True, artifacts)
            with pytest.raises(hr.ConfigurationError, match="mount the bucket"):
                executor.submit(spec)
    finally:
        executor.shutdown(grace=1.0)
    assert ray.is_initialized()


def test_an_objective_the_workers_cannot_import_is_refused(
    cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "hr_objective_only_here.py").write_text("def objective(trial):\n    return 1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # importable here, not on the workers
    from hr_objective_only_here import objective  # type: ignore[import-not-found]

    study = hr.Study(
        "s", SPACE, storage=f"sqlite:///{tmp_path / 'a.db'}", seed=0, optimizer="random"
    )
    with pytest.raises(hr.ConfigurationError, match=r"hr_objective_only_here(.|\n)*working_dir"):
        study.optimize(objective, budget=hr.Budget(epochs=5), executor="ray", workers=2)
    assert not study.history().running


def test_optimize_on_ray_workers(cluster: str, shared_url: str) -> None:
    study = hr.Study("s", SPACE, storage=shared_url, seed=0, optimizer="asha")
    study.optimize(
        learning_curve, budget=hr.Budget(epochs=40), executor="ray", workers=2, progress=False
    )
    h = study.history(decisions=True)
    assert h.work == 40 and not h.running
    assert all(t.reason is StopReason.REACHED for t in h.trials)
    assert {t.status for t in h.trials} == {hr.TrialStatus.COMPLETED, hr.TrialStatus.PAUSED}
    for t in h.trials:
        assert [o.fidelity for o in t.curve] == list(range(1, int(t.fidelity) + 1))
        assert t.checkpoint_fidelity == t.fidelity
        assert t.work == t.fidelity  # promotions resumed from their checkpoint: none retrained
    assert any(d.kind == "resume" for d in h.decisions)
    assert ray.is_initialized()  # Ray was connected before: the executor left it so


def test_a_killed_ray_worker_loses_its_run_which_is_resumed(cluster: str, tmp_path: Path) -> None:
    study = hr.Study(
        "s", SPACE, storage=f"sqlite:///{tmp_path / 'a.db'}", seed=0, optimizer="random"
    )
    study.optimize(killed_once, budget=hr.Budget(epochs=20), executor="ray", workers=2)
    h = study.history(decisions=True)
    assert h.work == 20 and not h.running
    assert all(t.status is hr.TrialStatus.COMPLETED for t in h.trials)
    first = h.trials[0]
    assert first.lost_count == 1
    assert [o.fidelity for o in first.curve] == [1, 2, 3, 4, 5]
    assert first.work == 5  # resumed from its checkpoint at step 1
    assert [d.kind for d in h.decisions if d.trial_id == first.trial_id] == ["start", "resume"]


def test_a_killed_ray_worker_fails_its_trial_without_retries(cluster: str, tmp_path: Path) -> None:
    study = hr.Study(
        "s", SPACE, storage=f"sqlite:///{tmp_path / 'a.db'}", seed=0, optimizer="random"
    )
    study.optimize(
        killed_once, budget=hr.Budget(epochs=20), executor="ray", workers=2, max_retries=0
    )
    h = study.history()
    assert h.work == 20 and not h.running
    first = h.trials[0]
    assert first.status is hr.TrialStatus.FAILED and first.reason is StopReason.LOST
    assert "Ray worker was lost (WorkerCrashedError" in first.message
    assert [o.fidelity for o in first.curve] == [1]  # what it reported is kept
    assert all(t.status is not hr.TrialStatus.FAILED for t in h.trials[1:])


def test_a_run_overdue_on_its_time_slice_is_stopped_hard(cluster: str, tmp_path: Path) -> None:
    study = hr.Study(
        "s", SPACE, storage=f"sqlite:///{tmp_path / 'a.db'}", seed=0, optimizer="random"
    )
    budget = hr.Budget(trials=1, trial_cpu_seconds=0.3, hard_stop_grace=0.3)
    t0 = time.monotonic()
    study.optimize(spins_after_its_first_report, budget=budget, executor="ray", workers=2)
    assert time.monotonic() - t0 < 15  # its worker ended it, not the objective's own deadline
    (trial,) = study.trials
    assert trial.status is hr.TrialStatus.PAUSED and trial.reason is StopReason.TIME_SLICE
    assert "stopped hard" in trial.message and trial.lost_count == 0
    assert [o.fidelity for o in trial.curve] == [1] and trial.checkpoint_fidelity == 1


def test_a_stop_request_pauses_running_trials_at_their_next_report(
    cluster: str, tmp_path: Path
) -> None:
    space = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 10))
    study = hr.Study(
        "s", space, storage=f"sqlite:///{tmp_path / 'a.db'}", seed=0, optimizer="random"
    )
    executor = RayExecutor(2)
    # the time budget runs out while two trials of 10 x 0.3 s run: optimize asks them to stop
    study.optimize(slow_learning_curve, budget=hr.Budget(seconds=1.0), executor=executor)
    h = study.history()
    assert not h.running and len(h.trials) == 2
    for t in h.trials:
        assert t.status is hr.TrialStatus.PAUSED and t.reason is StopReason.INTERRUPTED
        assert 1 <= t.fidelity < 10 and t.checkpoint_fidelity == t.fidelity
    before = _observations(study)
    study.optimize(learning_curve, budget=hr.Budget(epochs=20), executor="ray", workers=2)
    h = study.history()
    assert before.items() <= _observations(study).items()
    assert all(t.status is hr.TrialStatus.COMPLETED and t.work == 10 for t in h.trials)


def test_jobs_waiting_for_resources_are_not_taken_as_lost(
    cluster: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    study = hr.Study(
        "s", SPACE, storage=f"sqlite:///{tmp_path / 'a.db'}", seed=0, optimizer="random"
    )
    executor = RayExecutor(3)  # 3 jobs of 1 CPU on 2 CPUs: one waits 1.5 s
    with caplog.at_level(logging.WARNING, logger="hyperrace"):
        study.optimize(
            slow_learning_curve,
            budget=hr.Budget(epochs=15),
            executor=executor,
            heartbeat_interval=0.25,
            stale_after=1.0,
        )
    assert "do not fit at once" in caplog.text
    h = study.history()
    assert h.work == 15 and len(h.trials) == 3
    assert all(t.status is hr.TrialStatus.COMPLETED and t.lost_count == 0 for t in h.trials)


def test_runner_errors_are_raised_and_ended_trials_left_alone(cluster: str, tmp_path: Path) -> None:
    study = hr.Study(
        "s", SPACE, storage=f"sqlite:///{tmp_path / 'a.db'}", seed=0, optimizer="random"
    )
    study.optimize(learning_curve, budget=hr.Budget(trials=1), progress=False)
    (done,) = study.trials

    def spec(trial_id: int) -> RunSpec:
        return RunSpec(study.study_id, trial_id, 5, 5, True, str(study.artifacts))

    executor = RayExecutor(2)
    executor.start(study.storage, learning_curve)
    try:
        executor.submit(spec(done.trial_id))  # a completed trial: nothing to run
        assert [(o.trial_id, o.status) for o in _outcomes(executor)] == [
            (done.trial_id, hr.TrialStatus.COMPLETED)
        ]
        executor.submit(spec(10**9))  # no such trial: hyperrace's runner fails, loudly
        with pytest.raises(KeyError) as info:
            _outcomes(executor)
        assert "failed outside the objective" in "".join(info.value.__notes__)
    finally:
        executor.shutdown(grace=1.0)
    assert study.history().trial(done.trial_id).status is hr.TrialStatus.COMPLETED


@pytest.mark.postgres
def test_a_runner_error_names_the_storage_without_its_password(cluster: str, pg_url: str) -> None:
    scheme, rest = pg_url.split("://", 1)
    user, _, host = rest.partition("@")
    url = f"{scheme}://{user}:s3cretPW@{host}"  # the server trusts the user: any password works
    study = hr.Study("s", SPACE, storage=url, seed=0, optimizer="random")
    executor = RayExecutor(1)
    executor.start(study.storage, learning_curve)
    try:
        executor.submit(RunSpec(study.study_id, 10**9, 5, 5, True, str(study.artifacts)))
        with pytest.raises(KeyError) as info:
            _outcomes(executor)
    finally:
        executor.shutdown(grace=1.0)
        study.storage.close()
    notes = "".join(info.value.__notes__)
    assert f"the storage '{url.replace('s3cretPW', '***')}'" in notes
    assert "s3cretPW" not in notes + str(info.value) + repr(info.value)


_DRIVER = """
import sys
import ray
import hyperrace as hr
from hyperrace.executors import RayExecutor
from hyperrace.testing.objectives import slow_learning_curve

if __name__ == "__main__":
    study = hr.Study("ctrl-c", storage=sys.argv[1])
    env = {"env_vars": {"HYPERRACE_TEST_STEP_SECONDS": "0.3"}}
    executor = RayExecutor(2, address=sys.argv[2], runtime_env=env)
    try:
        study.optimize(slow_learning_curve, budget=hr.Budget(epochs=48), executor=executor)
    except KeyboardInterrupt:
        print("interrupted; connected to Ray:", ray.is_initialized(), flush=True)
        sys.exit(130)
"""


def test_a_driver_connecting_by_address_and_its_ctrl_c(cluster: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    space = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 6))
    study = hr.Study("ctrl-c", space, storage=url, seed=1, optimizer="random")
    script = tmp_path / "drive.py"
    script.write_text(_DRIVER)
    proc = subprocess.Popen(
        [sys.executable, str(script), url, cluster],
        text=True,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while study.history().work < 3:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the driver made no progress"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted; connected to Ray: False" in out  # it disconnected what it connected
    h = study.history()
    assert not h.running
    stopped = [t for t in h.paused if t.reason is StopReason.INTERRUPTED]
    assert stopped, [(t.status, t.reason) for t in h.trials]
    assert all(1 <= t.fidelity < 6 and t.checkpoint_fidelity == t.fidelity for t in stopped)
    steps = [b.time - a.time for t in h.trials for a, b in itertools.pairwise(t.curve)]
    assert steps and min(steps) >= 0.25  # its runtime_env reached the workers
    assert ray.get(ray.put(1)) == 1  # the cluster it connected to still runs

    # resume: interrupted trials come first, from their checkpoints
    before = _observations(study)
    left = sum(6 - t.fidelity for t in stopped)
    study.optimize(learning_curve, budget=hr.Budget(epochs=h.work + left), executor="ray")
    h = study.history()
    assert before.items() <= _observations(study).items()
    for t in stopped:  # nothing trained twice
        assert h.trial(t.trial_id).status is hr.TrialStatus.COMPLETED
        assert h.trial(t.trial_id).work == 6
