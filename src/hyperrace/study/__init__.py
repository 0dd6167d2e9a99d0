"""The study: budgets, jobs, ask / report / tell, the race loop of ``optimize``, and stored
studies read without writing (``find_study``, ``read_study``)."""

from hyperrace.study._budget import Budget, Usage
from hyperrace.study._default import default_optimizer
from hyperrace.study._job import Job
from hyperrace.study._stored import Snapshot, find_study, read_study
from hyperrace.study._study import Study

__all__ = [
    "Budget",
    "Job",
    "Snapshot",
    "Study",
    "Usage",
    "default_optimizer",
    "find_study",
    "read_study",
]
