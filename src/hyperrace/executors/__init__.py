"""Executors: run the objective for jobs, in this process, in local worker processes, or on a
simulated clock (benchmarks)."""

from hyperrace.executors._base import Executor
from hyperrace.executors._inprocess import InProcessExecutor
from hyperrace.executors._processes import ProcessExecutor
from hyperrace.executors._run import Objective, Outcome, RunSpec, run_job, trial_folder
from hyperrace.executors._simulated import SimulatedClock, SimulatedExecutor, elapse

__all__ = [
    "Executor",
    "InProcessExecutor",
    "Objective",
    "Outcome",
    "ProcessExecutor",
    "RunSpec",
    "SimulatedClock",
    "SimulatedExecutor",
    "elapse",
    "run_job",
    "trial_folder",
]
