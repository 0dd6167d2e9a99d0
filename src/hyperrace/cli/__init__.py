"""The ``hyperrace`` command line: list studies, show their trials and best configuration,
export their learning curves, upgrade a database, and run a demo.

Run ``hyperrace --help``, or call :func:`main` with the arguments (it returns the exit status).
"""

from hyperrace.cli._main import main

__all__ = ["main"]
