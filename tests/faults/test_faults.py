"""Faults mid-study: worker processes and drivers killed with SIGKILL, PostgreSQL restarted.

Each test runs a real study (drivers in subprocesses, worker processes, a SQLite file or a
PostgreSQL database), injects its faults, resumes the study to the end and audits it with
:func:`faultkit.audit` (``faultkit.py`` here): no acknowledged report lost, no step trained by
two runs at once, no decision index used twice, every trial in a legal final state, the budget
spent exactly. ``HYPERRACE_FAULTS_SECONDS`` sets how long the randomized test keeps killing (default
15 s per storage); ``benchmarks/faults.py`` runs the same scenarios for longer.
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Iterator
from pathlib import Path

import faultkit
import pytest
from faultkit import Setup, Tally

pytestmark = pytest.mark.faults


def _assert_clean(tally: Tally, *, epochs: int) -> None:
    assert tally.problems == [], "\n".join(tally.problems)
    assert (tally.lost, tally.duplicated, tally.illegal) == (0, 0, 0)
    assert tally.driver_crashes == 0
    assert tally.rounds >= 1
    # every step was acknowledged once, except those whose process died between the commit and
    # the log line (at most one per kill)
    assert tally.rounds * epochs - tally.kills <= tally.acknowledged <= tally.rounds * epochs


def test_sigkill_of_workers_mid_step_loses_and_duplicates_nothing(
    fault_url: str, tmp_path: Path
) -> None:
    setup = Setup(fault_url, "kill-worker", tmp_path / "study", epochs=60)
    tally = faultkit.kill_worker_scenario(setup, kills=2, rng=random.Random(1))
    _assert_clean(tally, epochs=60)
    assert tally.kills == 2
    assert tally.lost_runs >= 2  # each killed worker was in a step: its run was lost, resumed


def test_sigkill_of_the_driver_leaves_workers_that_finish_and_a_new_driver_resumes(
    fault_url: str, tmp_path: Path
) -> None:
    setup = Setup(fault_url, "kill-driver", tmp_path / "study", epochs=60)
    tally = faultkit.kill_driver_scenario(setup, kills=1, rng=random.Random(2))
    _assert_clean(tally, epochs=60)
    assert tally.kills == 1
    # its two worker processes (and multiprocessing's resource tracker) outlive it, stop their
    # jobs at the next report (their trials paused with what they reported) and exit by
    # themselves
    assert tally.orphans.found >= 2
    assert tally.orphans.survivors == 0, tally.orphans


def test_random_kills_of_workers_and_drivers(fault_url: str, tmp_path: Path) -> None:
    seconds = float(os.environ.get("HYPERRACE_FAULTS_SECONDS", "15"))

    def setup(i: int) -> Setup:
        # even rounds: one Study.optimize driver with 2 worker processes; odd rounds: two peer
        # `hyperrace worker` processes with one worker process each
        base = Setup(fault_url, f"random-{i}", tmp_path / f"study-{i}", epochs=60, seed=i)
        return dataclasses.replace(base, driver="worker", drivers=2, workers=1) if i % 2 else base

    tally = faultkit.randomized_scenario(setup, seconds=seconds, rng=random.Random(3))
    _assert_clean(tally, epochs=60)
    assert tally.kills >= 5
    assert tally.orphans.survivors == 0, tally.orphans


def test_sigkill_of_a_peer_hyperrace_worker_then_a_new_peer_resumes(
    fault_url: str, tmp_path: Path
) -> None:
    setup = Setup(
        fault_url, "peers", tmp_path / "study", epochs=60, driver="worker", drivers=2, workers=1
    )
    tally = faultkit.kill_driver_scenario(setup, kills=1, rng=random.Random(5))
    _assert_clean(tally, epochs=60)
    assert tally.kills == 1
    assert tally.orphans.found >= 1 and tally.orphans.survivors == 0, tally.orphans


def test_sigkill_of_a_worker_after_its_last_report_before_its_run_ended(
    fault_url: str, tmp_path: Path
) -> None:
    setup = Setup(fault_url, "after-last-report", tmp_path / "study", epochs=36)
    tally = faultkit.die_after_last_report_scenario(setup, trial_number=0)
    assert tally.kills == 1
    _assert_clean(tally, epochs=36)


def test_a_hung_objective_is_stopped_after_stall_after_and_resumed(
    fault_url: str, tmp_path: Path
) -> None:
    # trial 0 blocks for ever in its second step, in time.sleep, then reading a pipe, then
    # trial 1 on a lock; its worker process lives and sends heartbeats, so only stall_after
    # ends it: in an optimize driver, then in a peer worker. Each trial is paused with what it
    # reported and resumed from there (the scenario records a problem otherwise)
    setup = Setup(fault_url, "hung", tmp_path / "study", epochs=36)
    tally = faultkit.hung_objective_scenario(
        setup, trial_number=0, stall_after=1.5, hang_in="sleep"
    )
    io = Setup(fault_url, "hung-io", tmp_path / "io", epochs=36)
    faultkit.hung_objective_scenario(io, trial_number=0, stall_after=1.5, hang_in="io", tally=tally)
    peers = Setup(
        fault_url,
        "hung-peers",
        tmp_path / "peers",
        epochs=36,
        driver="worker",
        drivers=2,
        workers=1,
    )
    faultkit.hung_objective_scenario(
        peers, trial_number=1, stall_after=1.5, hang_in="lock", tally=tally
    )
    assert tally.kills == 3
    _assert_clean(tally, epochs=36)
    assert tally.lost_runs == 3  # each hang counted as one lost run, nothing else was lost


def test_the_lost_answer_of_a_decision_commit_makes_no_second_decision(
    fault_url: str, tmp_path: Path
) -> None:
    # the driver's second and fourth decisions are committed, then the connection seems to
    # drop: the retry returns the run recorded, which is trained; no run waits for nobody
    setup = Setup(fault_url, "answer", tmp_path / "study", epochs=36)
    tally = faultkit.lost_answer_scenario(setup, answers=2)
    assert tally.kills == 2
    _assert_clean(tally, epochs=36)
    assert (tally.lost_runs, tally.idle_runs) == (0, 0)


@pytest.mark.postgres
def test_postgresql_restart_mid_study(pg_server: str, tmp_path: Path) -> None:
    with faultkit.postgres_database(pg_server) as url:
        setup = Setup(url, "pg-restart", tmp_path / "study", epochs=60)
        try:
            tally = faultkit.restart_postgres_scenario(setup, restarts=1)
        except faultkit.RestartUnavailable as exc:
            if os.environ.get("CI") == "true":
                pytest.fail(f"restarting PostgreSQL is required under CI=true: {exc}")
            pytest.skip(f"PostgreSQL cannot be restarted here: {exc}")
    _assert_clean(tally, epochs=60)
    assert tally.kills == 1


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """The address of a local Ray instance of 2 CPUs, for the drivers to connect to."""
    if os.environ.get("CI") == "true":
        import ray
    else:
        ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield str(ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()


@pytest.mark.ray
@pytest.mark.postgres
def test_ray_workers_and_driver_killed(pg_server: str, ray_address: str, tmp_path: Path) -> None:
    with faultkit.postgres_database(pg_server) as url:

        def setup(name: str) -> Setup:
            return Setup(
                url, name, tmp_path / name, epochs=60, executor="ray", ray_address=ray_address
            )

        tally = faultkit.kill_worker_scenario(setup("ray-worker"), kills=1, rng=random.Random(6))
        faultkit.kill_driver_scenario(setup("ray-driver"), kills=1, tally=tally)
    _assert_clean(tally, epochs=60)
    assert tally.kills == 2
    assert tally.lost_runs >= 1  # the Ray worker killed mid-step
