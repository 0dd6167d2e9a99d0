"""The study: budgets, jobs, ask / report / tell, and the race loop of ``optimize``."""

from hyperrace.study._budget import Budget, Usage
from hyperrace.study._default import default_optimizer
from hyperrace.study._job import Job
from hyperrace.study._study import Study

__all__ = ["Budget", "Job", "Study", "Usage", "default_optimizer"]
