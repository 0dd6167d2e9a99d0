"""Ctrl-C in ``optimize``: one line that says what happened, not a traceback from deep inside.

:func:`raise_interrupted` raises a fresh :class:`KeyboardInterrupt` whose message says how many
trials were paused and that running the study again resumes them. Uncaught in a script, it is
printed as that line alone (a hook in :data:`sys.excepthook` recognises it and hands every other
exception to the hook it replaced), and Python ends the process as killed by SIGINT: exit status
130 in a shell. Caught, or in a notebook, it is an ordinary ``KeyboardInterrupt``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any, NoReturn

__all__ = ["interrupted_message", "raise_interrupted"]

_MARK = "_hyperrace_interrupted"


def interrupted_message(study: str, paused: int) -> str:
    """``interrupted: 2 trials of study 'x' paused at their last report; run again to resume``"""
    trials = f"{paused} trial{'s' if paused != 1 else ''}"
    return (
        f"interrupted: {trials} of study {study!r} paused at their last report; run again to resume"
    )


ExceptHook = Callable[[type[BaseException], BaseException, TracebackType | None], Any]


class _Hook:
    """Prints a marked interrupt as its message alone; hands anything else to ``previous``."""

    def __init__(self, previous: ExceptHook) -> None:
        self.previous = previous

    def __call__(
        self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if getattr(exc, _MARK, False):
            sys.stderr.write(f"\n{exc}\n")
            sys.stderr.flush()
            return
        self.previous(exc_type, exc, tb)


def _install_hook() -> None:
    if not isinstance(sys.excepthook, _Hook):
        sys.excepthook = _Hook(sys.excepthook)


def raise_interrupted(study: str, paused: int) -> NoReturn:
    """Raise the ``KeyboardInterrupt`` of an interrupted ``optimize`` (see the module)."""
    _install_hook()
    exc = KeyboardInterrupt(interrupted_message(study, paused))
    setattr(exc, _MARK, True)
    raise exc from None
