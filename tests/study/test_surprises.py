"""Nothing silent or surprising: an objective that never reports, output outside a terminal, the
default optimizer, the best trial, ``storage="memory"``, a missing ``__main__`` guard, Ctrl-C."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import hyperrace as hr
from hyperrace.study._progress import LineProgress, RichProgress, make_progress
from hyperrace.testing.objectives import curve_value, learning_curve
from hyperrace.trial import Observation, StopReason, TrialRecord, TrialStatus

SPACE = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 4))


# -- 1. an objective that never reports ---------------------------------------------------------


def _silent(trial: hr.Trial) -> None:
    for _ in trial.epochs():
        pass  # trains, but forgets trial.report


def test_an_objective_that_never_reports_fails_and_stops_optimize() -> None:
    study = hr.Study("s", SPACE, storage="memory://", seed=0, optimizer="random")
    with pytest.raises(hr.ObjectiveFailingError, match=r"trial\.report\(value\)"):
        study.optimize(
            _silent, budget=hr.Budget(trials=50), max_failures_in_a_row=3, progress=False
        )
    trials = study.trials
    assert len(trials) == 3
    for t in trials:
        assert t.status is TrialStatus.FAILED and t.reason is StopReason.ERROR
        assert "without reporting" in t.message and "trial.report(value)" in t.message


def test_returning_the_value_or_reporting_part_of_the_grant_is_not_a_failure() -> None:
    study = hr.Study("s", SPACE, storage="memory://", seed=0, optimizer="random")
    study.optimize(lambda t: 0.5, budget=hr.Budget(trials=2), progress=False)
    assert [t.status for t in study.trials] == [TrialStatus.COMPLETED] * 2

    def half(trial: hr.Trial) -> None:
        trial.report(0.4, fidelity=1)  # stops early: paused, to be resumed

    other = hr.Study("o", SPACE, storage="memory://", seed=0, optimizer="random")
    other.optimize(half, budget=hr.Budget(trials=1), progress=False)
    (t,) = other.trials
    assert (t.status, t.reason) == (TrialStatus.PAUSED, StopReason.OBJECTIVE_RETURNED)


# -- 2. output wherever it goes -----------------------------------------------------------------


def _sometimes_failing(trial: hr.Trial) -> None:
    if trial.config["x"] > 0.7:
        raise ZeroDivisionError("division by zero")
    for step in trial.epochs():
        trial.report(curve_value(trial.config, step))


def test_one_line_per_ended_run_on_stderr_outside_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    study = hr.Study("lines", SPACE, storage="memory://", seed=3, optimizer="asha")
    study.optimize(_sometimes_failing, budget=hr.Budget(epochs=30))  # progress=None: no tty
    err = capsys.readouterr().err.splitlines()
    runs = study.history(decisions=True).n_decisions
    assert len(err) == runs > 5
    failed = [t for t in study.trials if t.status is TrialStatus.FAILED]
    assert failed, "the seed should give a failing configuration"
    for t in failed:
        (line,) = [e for e in err if f"trial {t.trial_id} failed" in e]
        assert "ZeroDivisionError: division by zero" in line
        assert f"hyperrace show lines --trial {t.trial_id}" in line
    assert all(e.startswith("[") and "] trial " in e for e in err)
    paused = [e for e in err if " paused at epochs " in e]
    assert paused and all(" with value " in e and "; best " in e for e in paused)
    best = study.best
    assert best is not None
    assert f"best {best.value:.6g} (trial {best.trial_id} at epochs" in err[-1]


def test_progress_false_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    study = hr.Study("quiet", SPACE, storage="memory://", seed=3, optimizer="random")
    study.optimize(learning_curve, budget=hr.Budget(trials=2), progress=False)
    assert capsys.readouterr().err == ""
    assert make_progress(False, "quiet", "epochs") is None
    assert isinstance(make_progress(None, "quiet", "epochs"), LineProgress)


def test_the_live_display_counts_failed_trials() -> None:
    pytest.importorskip("rich")
    history = hr.History(
        "minimize",
        (
            TrialRecord(1, 0, {"x": 0.1}, TrialStatus.PAUSED, (Observation(1.0, 0.5),)),
            TrialRecord(2, 1, {"x": 0.9}, TrialStatus.FAILED, message="boom"),
            TrialRecord(3, 2, {"x": 0.8}, TrialStatus.FAILED, message="Traceback\nValueError: x"),
        ),
    )
    display = RichProgress("live", "epochs")
    console = display._progress.console
    console.file = io.StringIO()
    try:
        display.update(history, hr.Budget(epochs=10).usage(history, 0.0))
        status = display._progress.tasks[0].fields["status"]
        assert "failed 2" in status and "best 0.5 (trial 1 at epochs 1)" in status
        display.ended(history.trial(3), history)
        assert "trial 3 failed: ValueError: x" in console.file.getvalue()
    finally:
        display.close()


# -- 3. the default optimizer -------------------------------------------------------------------


def test_the_default_optimizer_races_a_fidelity_and_models_a_full_fidelity_space() -> None:
    raced = hr.Study("raced", SPACE, storage="memory://", seed=0)
    assert raced.optimizer.name == "asha" == hr.study.default_optimizer(SPACE)
    raced.optimize(learning_curve, budget=hr.Budget(epochs=40), progress=False)
    reached = {t.fidelity for t in raced.trials}
    assert min(reached) < 4.0, "a race stops some trials early"
    flat = hr.Space(x=hr.Float(-2.0, 2.0))
    pytest.importorskip("botorch")
    full = hr.Study("full", flat, storage="memory://", seed=0)
    assert full.optimizer.name == "gp_ei"
    loaded = hr.Study("raced", storage=raced.storage)
    assert loaded.optimizer.name == "asha"


# -- 4. the best trial --------------------------------------------------------------------------


def _trial(trial_id: int, status: TrialStatus, *values: float) -> TrialRecord:
    curve = tuple(Observation(float(i + 1), v) for i, v in enumerate(values))
    return TrialRecord(trial_id, trial_id, {"x": 0.1 * trial_id}, status, curve)


def test_a_failed_trial_is_never_the_best_while_a_healthy_one_exists() -> None:
    history = hr.History(
        "minimize",
        (
            _trial(1, TrialStatus.PAUSED, 0.9, 0.6),
            _trial(2, TrialStatus.FAILED, 0.5, 0.3, 0.1),  # deepest, and lowest: but failed
            _trial(3, TrialStatus.COMPLETED, 0.7, 0.4),
            _trial(4, TrialStatus.PAUSED, 0.2),
        ),
    )
    best = history.best()
    assert best is not None and best.trial_id == 3  # the best at fidelity 2, the deepest healthy
    assert history.best_value() == 0.4
    assert history.best(by="curve").trial_id == 4  # type: ignore[union-attr]
    only_failed = hr.History("minimize", (_trial(1, TrialStatus.FAILED, 0.1),))
    assert only_failed.best() is None and only_failed.best_value() is None
    with pytest.raises(hr.ConfigurationError, match=r"'last', 'curve'"):
        history.best(by="first")  # type: ignore[arg-type]


def test_the_study_ranks_by_its_stored_rule(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    study = hr.Study("s", SPACE, storage=url, seed=0, optimizer="random", best_by="curve")
    for values in ([0.9, 0.2, 0.8, 0.8], [0.5, 0.4, 0.3, 0.3]):
        job = study.ask()
        assert isinstance(job, hr.Job)
        for f, v in enumerate(values, 1):
            study.report(job.trial_id, fidelity=f, value=v)
        study.tell(job)
    first = study.trials[0]
    assert study.best is not None and study.best.trial_id == first.trial_id
    assert study.best_value == 0.2
    loaded = hr.Study("s", storage=url)
    assert loaded.best_by == "curve" and loaded.best_value == 0.2
    assert hr.Study("s", storage=url, best_by="last").best_value == 0.3
    with pytest.raises(hr.ConfigurationError, match="best_by='top'"):
        hr.Study("s", storage=url, best_by="top")  # type: ignore[arg-type]


# -- 5. storage="memory" ------------------------------------------------------------------------


def test_memory_is_the_in_memory_store_and_a_bare_word_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    study = hr.Study("s", SPACE, storage="memory", optimizer="random")
    assert study.storage.url == "memory://"
    study.optimize(learning_curve, budget=hr.Budget(trials=1), progress=False)
    with pytest.raises(hr.ConfigurationError) as info:
        hr.Study("s", SPACE, storage="results")
    assert "'sqlite:///results.db'" in str(info.value) and "'memory://'" in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no file named memory or results
    hr.Study("s", SPACE, storage="results.db", optimizer="random")
    assert (tmp_path / "results.db").is_file()


# -- 6. a missing __main__ guard ----------------------------------------------------------------


_UNGUARDED = """
import hyperrace as hr
from hyperrace.testing.objectives import learning_curve

space = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 4))
study = hr.Study("unguarded", space, storage={url!r}, optimizer="random")
study.optimize(learning_curve, budget=hr.Budget(epochs=8), workers=2, progress=False)
"""


def test_a_missing_main_guard_with_worker_processes_is_said_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    script = tmp_path / "train.py"
    script.write_text(_UNGUARDED.format(url=url))
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert (
        "hyperrace.exceptions.ConfigurationError: optimize with 2 worker processes" in result.stderr
    )
    assert f"top level of {script} (line 7)" in result.stderr
    assert 'if __name__ == "__main__":' in result.stderr
    assert hr.Study("unguarded", storage=url).trials == []  # nothing was started

    guarded = (
        _UNGUARDED.format(url=url)
        .replace("\nstudy = ", '\nif __name__ == "__main__":\n    study = ')
        .replace("\nstudy.optimize", "\n    study.optimize")
    )
    script.write_text(guarded)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert hr.Study("unguarded", storage=url).history().work == 8


# -- 7. Ctrl-C ----------------------------------------------------------------------------------


_INTERRUPTED = """
import sys
import hyperrace as hr
from hyperrace.testing.objectives import slow_learning_curve

if __name__ == "__main__":
    study = hr.Study("ctrl-c", storage=sys.argv[1])
    study.optimize(slow_learning_curve, budget=hr.Budget(epochs=48), workers=int(sys.argv[2]))
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_says_how_many_trials_paused_without_a_traceback(
    tmp_path: Path, workers: int
) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    study = hr.Study("ctrl-c", SPACE, storage=url, seed=1, optimizer="random")
    script = tmp_path / "drive.py"
    script.write_text(_INTERRUPTED)
    env = {**os.environ, "HYPERRACE_TEST_STEP_SECONDS": "0.2"}
    proc = subprocess.Popen(
        [sys.executable, str(script), url, str(workers)],
        env=env,
        text=True,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not any(t.curve for t in study.history().running):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the driver made no progress"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGINT  # shells show 130
    assert "Traceback" not in err, err
    h = study.history()
    paused = [t for t in h.paused if t.reason is StopReason.INTERRUPTED]
    n = len(paused)
    assert n >= 1 and not h.running
    lines = [line for line in err.splitlines() if line.startswith("interrupted:")]
    noun = "trial" if n == 1 else "trials"
    assert lines == [
        f"interrupted: {n} {noun} of study 'ctrl-c' paused at their last report; run again to "
        "resume"
    ], err


def test_the_cli_exits_130_with_the_same_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import hyperrace.cli._commands as commands
    from hyperrace.cli import main
    from hyperrace.study._interrupt import raise_interrupted

    def interrupted(_args: Any) -> int:
        raise_interrupted("demo", 2)

    monkeypatch.setattr(commands, "cmd_studies", interrupted)
    assert main(["studies", "--storage", f"sqlite:///{tmp_path / 'x.db'}"]) == 130
    assert capsys.readouterr().err.strip() == (
        "interrupted: 2 trials of study 'demo' paused at their last report; run again to resume"
    )


def test_an_interrupt_caught_by_the_caller_is_an_ordinary_keyboard_interrupt() -> None:
    def stop(trial: hr.Trial) -> None:
        trial.report(0.5, fidelity=1)
        raise KeyboardInterrupt

    study = hr.Study("s", SPACE, storage="memory://", seed=0, optimizer="random")
    with pytest.raises(KeyboardInterrupt) as info:
        study.optimize(stop, budget=hr.Budget(trials=3), progress=False)
    assert type(info.value) is KeyboardInterrupt
    assert str(info.value).startswith("interrupted: 1 trial of study 's' paused")
    assert info.value.__suppress_context__  # not chained to where it was caught
