"""The ``hyperrace`` command line: list studies, show their trials and best configuration,
export their learning curves, upgrade a database, run a demo, join a study as a worker, serve
the dashboard, draw plots and run benchmarks.

Run ``hyperrace --help``, or call :func:`main` with the arguments (it returns the exit status).
"""

from hyperrace.cli._main import main

__all__ = ["main"]
