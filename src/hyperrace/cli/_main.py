"""The argument parser of ``hyperrace`` and the handling of errors and exit codes.

Exit codes: 0 success, 1 nothing to report (``best`` of a study without values, a ``delete``
not confirmed), 2 a usage error or any :class:`~hyperrace.HyperraceError`, printed as one line
``error: ...`` (a missing study lists the existing ones and the commands that list or create
them), 130 interrupted with Ctrl-C (the study is paused and resumes when the command runs
again).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from hyperrace.exceptions import HyperraceError
from hyperrace.storage import DEFAULT_URL

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be at least 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand; each parsed namespace carries its handler as ``handler``."""
    from hyperrace import __version__
    from hyperrace.cli import _commands as c
    from hyperrace.cli import _demo as d
    from hyperrace.cli import _visual as v

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--storage",
        default=DEFAULT_URL,
        metavar="URL",
        help=f"where the studies are: sqlite:///file.db or postgresql+psycopg://... "
        f"(default: {DEFAULT_URL})",
    )
    parser = argparse.ArgumentParser(
        prog="hyperrace",
        description="Hyperparameter tuning that races learning curves: inspect studies, export "
        "their curves, or try it on a real model with 'hyperrace demo'.",
    )
    parser.add_argument("--version", action="version", version=f"hyperrace {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    add("studies", c.cmd_studies, "list the studies in a storage")
    p = add("show", c.cmd_show, "show the trials of a study")
    p.add_argument("name", help="the study's name")
    p.add_argument(
        "--limit",
        type=_non_negative_int,
        default=None,
        metavar="N",
        help="show the first N trials (default: 1000)",
    )
    p.add_argument("--all", action="store_true", help="show every trial")
    p.add_argument(
        "--trial",
        type=_non_negative_int,
        default=None,
        metavar="ID",
        help="show trial ID in full: config, user attributes, curve, runs, and the traceback "
        "of a failed one",
    )
    p = add("best", c.cmd_best, "show the best trial of a study")
    p.add_argument("name", help="the study's name")
    p.add_argument("--json", action="store_true", help="print it as a JSON object")
    p = add("export", c.cmd_export, "export a study's observations or trials as CSV or JSON")
    p.add_argument("name", help="the study's name")
    p.add_argument(
        "--per",
        choices=["observation", "trial"],
        default="observation",
        help="one row per reported value (default) or per trial, with the columns of "
        "Study.to_dataframe(per=...)",
    )
    p.add_argument(
        "--format",
        choices=["csv", "json"],
        default="csv",
        help="csv (default) or json (a list of objects)",
    )
    p.add_argument(
        "--out", metavar="FILE", default=None, help="write to FILE (default: standard output)"
    )
    p = add("dashboard", v.cmd_dashboard, "serve a read-only web dashboard of the studies")
    p.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)"
    )
    p.add_argument("--port", type=_positive_int, default=8080, help="TCP port (default: 8080)")
    p.add_argument(
        "--token",
        default=None,
        help="the token every request must carry (Authorization: Bearer, or ?token= once); "
        "required off loopback: default HYPERRACE_DASHBOARD_TOKEN, else one generated and "
        "printed on start (the variable keeps it out of the process list)",
    )
    p.add_argument(
        "--refresh",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="how often open pages poll for changes (default: 3)",
    )
    p = add("plot", v.cmd_plot, "draw one view of a study into a PNG, SVG, PDF or HTML file")
    p.add_argument("name", help="the study's name")
    p.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="FILE.png, FILE.svg or FILE.pdf (a picture), or FILE.html (an interactive page)",
    )
    p.add_argument(
        "--view",
        choices=["race", "best", "timeline", "parallel", "importance"],
        default="race",
        help="what to draw (default: race)",
    )
    add("upgrade", c.cmd_upgrade, "migrate the storage's schema to this version of hyperrace")
    from hyperrace.cli import _manage

    _manage.add_parsers(add)
    p = add(
        "demo",
        d.cmd_demo,
        "tune a PyTorch MLP on scikit-learn's digits data (needs hyperrace[torch])",
    )
    p.add_argument(
        "--name",
        default=d.DEFAULT_NAME,
        help=f"the study's name (default: {d.DEFAULT_NAME}); an existing one continues",
    )
    p.add_argument(
        "--budget",
        type=_positive_int,
        default=d.DEFAULT_BUDGET,
        metavar="EPOCHS",
        help=f"epochs to train over the whole study (default: {d.DEFAULT_BUDGET})",
    )
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=2,
        metavar="N",
        help="worker processes (default: 2)",
    )
    p.add_argument(
        "--seed",
        type=_non_negative_int,
        default=None,
        help="the seed of a new study (default: a fresh one)",
    )
    from hyperrace.cli import _benchmark, _worker

    _benchmark.add_parser(sub, _positive_int)
    _worker.add_parser(sub, common, _positive_int)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hyperrace`` with ``argv`` (default: the process's arguments); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    handler: Handler = args.handler
    try:
        return handler(args)
    except HyperraceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        said = str(exc) or (
            "interrupted: running trials were paused at their last report; run the same "
            "command again to resume the study"
        )
        print(f"\n{said}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # piped into e.g. head, which exited: stop quietly
        _silence_stdout()
        return 1


def _silence_stdout() -> None:
    """Point standard output at the null device, so that the final flush cannot fail again."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
