"""The ``if __name__ == "__main__":`` guard that worker processes need.

Worker processes are started with the ``spawn`` method: each one imports the main script again
(as module ``__mp_main__``). A script that calls ``optimize(..., workers=2)`` at its top level,
outside the guard, would start the study again in every worker, which cannot start processes of
its own while it is being set up: the workers die, their runs are lost over and over, and the
study ends with failed trials. :func:`check_main_guard` finds such a call before any worker is
started, from the main script's source, and says how to fix it.
"""

from __future__ import annotations

import ast
import multiprocessing
import sys
from pathlib import Path
from types import FrameType

from hyperrace.exceptions import ConfigurationError

__all__ = ["check_main_guard"]


def _is_main_guard(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":`` (either side of the comparison)."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    test = node.test
    if len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    texts = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(texts) == 1


def _main_frame(frame: FrameType | None, path: str) -> FrameType | None:
    """The frame that runs the main script's top level, if it is among the callers."""
    while frame is not None:
        if (
            frame.f_code.co_name == "<module>"
            and frame.f_globals.get("__name__") == "__main__"
            and frame.f_code.co_filename == path
        ):
            return frame
        frame = frame.f_back
    return None


def unguarded_line(path: str, line: int) -> bool:
    """True when line ``line`` of the script at ``path`` runs at its top level, outside an
    ``if __name__ == "__main__":`` block (False when the source cannot be read)."""
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return False
    for node in tree.body:
        end = node.end_lineno or node.lineno
        if node.lineno <= line <= end:
            return not _is_main_guard(node)
    return False


def check_main_guard(what: str) -> None:
    """Raise :class:`~hyperrace.ConfigurationError` when ``what`` (e.g. ``"optimize(workers=2)"``)
    was called from the top level of the main script outside ``if __name__ == "__main__":``,
    or while a spawned process is still importing its parent's main script."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise ConfigurationError(
            f"{what} was called while a worker process imports the main script: put the code "
            'that runs the study under `if __name__ == "__main__":`'
        )
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path:  # an interactive session or a notebook: nothing is imported again
        return
    frame = _main_frame(sys._getframe(1), path)
    if frame is None or not unguarded_line(path, frame.f_lineno):
        return
    raise ConfigurationError(
        f"{what} is called at the top level of {path} (line {frame.f_lineno}), outside "
        '`if __name__ == "__main__":`. Worker processes import that script again, so each one '
        "would start the study anew and none could start. Put the code that creates and runs "
        'the study under `if __name__ == "__main__":` (keep the objective function at module '
        "level), or use workers=1"
    )
