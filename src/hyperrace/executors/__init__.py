"""Executors: run the objective for jobs, in this process, in local worker processes, as Ray
tasks (``RayExecutor``, extra ``ray``), or on a simulated clock (benchmarks); the liveness
settings (``Liveness``) that heartbeats, lost and hung runs follow."""

from hyperrace.executors._base import Executor
from hyperrace.executors._gpus import GpuPlan, Gpus, plan_gpus
from hyperrace.executors._inprocess import InProcessExecutor
from hyperrace.executors._liveness import Liveness
from hyperrace.executors._processes import ProcessExecutor
from hyperrace.executors._ray import RayExecutor
from hyperrace.executors._run import (
    HARD_STOP_EXIT_CODE,
    Objective,
    Outcome,
    RunSpec,
    pause_interrupted,
    run_job,
)
from hyperrace.executors._simulated import SimulatedClock, SimulatedExecutor, elapse
from hyperrace.trial import trial_folder  # its home is trial/, with checkpoints

__all__ = [
    "HARD_STOP_EXIT_CODE",
    "Executor",
    "GpuPlan",
    "Gpus",
    "InProcessExecutor",
    "Liveness",
    "Objective",
    "Outcome",
    "ProcessExecutor",
    "RayExecutor",
    "RunSpec",
    "SimulatedClock",
    "SimulatedExecutor",
    "elapse",
    "pause_interrupted",
    "plan_gpus",
    "run_job",
    "trial_folder",
]
