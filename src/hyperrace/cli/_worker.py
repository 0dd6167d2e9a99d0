"""``hyperrace worker``: join an existing study and train its jobs until it is done.

Every worker is a peer: it runs the same race loop as :meth:`hyperrace.Study.optimize` on the
shared storage, with its jobs in worker processes (so that time slices are enforced hard). The
loop needs no coordinator: decisions are numbered in the storage and recorded atomically with the
trial they start or resume, so two workers never get the same job; a worker that loses the race
for a number decides again on the fresh history. Before each decision a worker pauses the
running trials whose heartbeat went stale (a worker that was killed) and resumes them first.

When the optimizer has nothing to give out now (``Wait``: a synchronous rung waits on running
trials, or the epoch budget left is granted to running trials), the worker waits while other
workers' trials run and decides again when they end. When it says ``Done`` (or the budget is
spent) the worker still waits for the running trials, since one that is interrupted must be
resumed; it exits once the study is quiet: nothing running and nothing new decided.

Exit codes: 0 done (or SIGTERM, or idle for ``--idle-exit`` seconds), 2 a usage error or a
missing study, 130 Ctrl-C. The first SIGTERM or Ctrl-C asks the running trials to stop at their
next report (they are paused with what they reported, to be resumed by any worker) and exits
once they have; a second one stops at once.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from hyperrace.exceptions import ConfigurationError
from hyperrace.executors import Liveness, Objective, Outcome, ProcessExecutor
from hyperrace.storage import mask_url
from hyperrace.study import Budget, Job, Study, find_study
from hyperrace.study._loop import LOGGER, Hooks, RaceLoop
from hyperrace.study._race import Race

__all__ = ["add_parser", "cmd_worker", "load_objective"]

logger = logging.getLogger("hyperrace")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text} must be at least 0 seconds")
    return value


def _gpus(text: str) -> str | list[str]:
    if text.strip() == "auto":
        return "auto"
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of GPUs; give indices or ids separated by commas (0,1) or auto"
        )
    return parts


def add_parser(sub: Any, common: argparse.ArgumentParser, positive_int: Any) -> None:
    """Add the ``worker`` subcommand to ``sub`` (the CLI's subparsers); ``common`` carries
    ``--storage``."""
    help_text = (
        "join an existing study and train its jobs until it is done (start as many as you like, "
        "on any machine that reaches the storage)"
    )
    p = sub.add_parser("worker", parents=[common], help=help_text, description=help_text)
    p.set_defaults(handler=cmd_worker)
    p.add_argument("--study", required=True, metavar="NAME", help="the study to join")
    p.add_argument(
        "--objective",
        required=True,
        metavar="MODULE:FUNCTION",
        help="the objective, e.g. train:objective for the function objective in train.py",
    )
    p.add_argument(
        "--path",
        default=".",
        metavar="DIR",
        help="folder added to the Python path to import the objective from (default: .)",
    )
    p.add_argument(
        "--processes",
        type=positive_int,
        default=None,
        metavar="N",
        help="jobs at once, each in a worker process of its own (default: 1, or with --gpus one "
        "per --gpus-per-worker GPUs)",
    )
    p.add_argument(
        "--gpus",
        type=_gpus,
        default=None,
        metavar="LIST",
        help="GPUs the worker processes own, e.g. 0,1 (indices or ids; a GPU listed twice is "
        "shared by two processes), or auto: every GPU PyTorch sees, the CPU where it sees none "
        "(default: not managed)",
    )
    p.add_argument(
        "--gpus-per-worker",
        type=positive_int,
        default=1,
        metavar="K",
        help="GPUs each worker process owns (default: 1)",
    )
    p.add_argument(
        "--budget-epochs",
        type=_positive_float,
        default=None,
        metavar="E",
        help="fidelity units trained over the whole study, by every worker (default: no limit)",
    )
    p.add_argument(
        "--budget-trials",
        type=positive_int,
        default=None,
        metavar="T",
        help="trials started in the whole study (default: no limit)",
    )
    p.add_argument(
        "--budget-seconds",
        type=_positive_float,
        default=None,
        metavar="S",
        help="wall-clock seconds of optimizing recorded on the study (default: no limit)",
    )
    p.add_argument(
        "--trial-seconds",
        type=_positive_float,
        default=None,
        metavar="S",
        help="time slice of one run of a trial, in seconds of --trial-clock (default: none)",
    )
    p.add_argument(
        "--trial-clock",
        choices=("auto", "wall", "process"),
        default="auto",
        help="what --trial-seconds counts: wall-clock seconds, processor seconds of the worker "
        "process and its children, or auto: wall with GPUs, processor seconds otherwise "
        "(default: auto)",
    )
    p.add_argument(
        "--trial-cpu-seconds",
        type=_positive_float,
        default=None,
        metavar="C",
        help="the same as --trial-seconds C --trial-clock process",
    )
    p.add_argument(
        "--hard-stop-grace",
        type=_positive_float,
        default=None,
        metavar="G",
        help="seconds (of the slice's clock) past the slice before a run that does not report "
        "is stopped hard (default: max(2, slice/4))",
    )
    p.add_argument(
        "--stall-after",
        type=_number,
        default=None,
        metavar="T",
        help="wall-clock seconds without a report or trial.alive() after which a run is taken "
        "as hung: stopped hard and counted as a lost run (default: never)",
    )
    p.add_argument(
        "--heartbeat-interval",
        type=_number,
        default=10.0,
        metavar="H",
        help="seconds between the heartbeats of a running trial (default: 10)",
    )
    p.add_argument(
        "--stale-after",
        type=_number,
        default=None,
        metavar="A",
        help="seconds without a heartbeat after which a running trial is taken as lost and "
        "resumed (default: 3 heartbeat intervals)",
    )
    p.add_argument(
        "--max-retries",
        type=int,
        default=3,
        metavar="R",
        help="lost runs of one trial before it fails instead of being resumed (default: 3)",
    )
    until = p.add_mutually_exclusive_group()
    until.add_argument(
        "--until-done",
        action="store_true",
        help="stay until the study is done, waiting while other workers' trials run (default)",
    )
    until.add_argument(
        "--idle-exit",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="leave once this worker has had no job for SECONDS (waiting counts as idle)",
    )


def load_objective(spec: str, path: str | Path = ".") -> Objective:
    """Import the objective named ``MODULE:FUNCTION`` (``FUNCTION`` may be dotted), with the
    folder ``path`` first on the Python path (worker processes inherit it).

    Raises:
        ConfigurationError: a malformed spec, a module that cannot be found or fails to import,
            a missing attribute (the module's functions are listed), or one that is not callable.
    """
    module_name, sep, attr = spec.partition(":")
    parts = module_name.split(".") + attr.split(".")
    if not sep or not all(part.isidentifier() for part in parts):
        raise ConfigurationError(
            f"--objective {spec!r} is not MODULE:FUNCTION; name an importable module and a "
            "function in it, e.g. --objective train:objective for def objective(trial) in "
            "train.py (looked up in --path, default the working directory)"
        )
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise ConfigurationError(f"--path {path} is not a folder; give the folder of the module")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name + ".").startswith(exc.name + "."):
            raise ConfigurationError(
                f"--objective {spec!r}: there is no module {module_name!r} in {folder} or on the "
                f"Python path; give the folder that holds {module_name.replace('.', '/')}.py with "
                "--path DIR, or install its package"
            ) from None
        raise ConfigurationError(
            f"--objective {spec!r}: importing module {module_name!r} failed: {exc}; install what "
            "it needs in this environment"
        ) from exc
    except Exception as exc:
        raise ConfigurationError(
            f"--objective {spec!r}: importing module {module_name!r} failed:\n"
            + "".join(traceback.format_exception(exc)).rstrip()
        ) from exc
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            functions = sorted(
                name
                for name, value in vars(module).items()
                if callable(value)
                and not name.startswith("_")
                and getattr(value, "__module__", None) == module.__name__
            )
            raise ConfigurationError(
                f"--objective {spec!r}: module {module_name!r} ({module.__file__}) has no "
                f"{attr!r}; the functions it defines: {', '.join(functions) or 'none'}"
            )
        target = getattr(target, part)
    if not callable(target):
        shown = repr(target) if len(repr(target)) <= 60 else repr(target)[:57] + "..."
        raise ConfigurationError(
            f"--objective {spec!r} is not a function (it is {type(target).__name__} {shown}); "
            "name a function that takes the trial: def objective(trial): ..."
        )
    objective: Objective = target
    return objective


class _Once(logging.Filter):
    """Drops a line of the race loop that repeats its previous one (its last word, said again
    when the worker checks that the study is quiet)."""

    def __init__(self) -> None:
        super().__init__()
        self._last = ""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != LOGGER:
            return True
        message = record.getMessage()
        repeated, self._last = message == self._last, message
        return not repeated


class _Signals:
    """The first SIGTERM or SIGINT asks the worker to leave gracefully; a second stops it now."""

    def __init__(self) -> None:
        self.first: int | None = None

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        if self.first is not None:
            raise KeyboardInterrupt
        self.first = signum
        logger.info(
            "%s: running trials stop at their next report, then this worker exits (%s again "
            "to stop at once)",
            signal.Signals(signum).name,
            "Ctrl-C" if signum == signal.SIGINT else "the signal",
        )


class _WorkerHooks(Hooks):
    """What a worker adds to the race loop: a log line for each job it claims and each job that
    ends, a line when it has no job and waits for other workers' trials, and leaving the race
    after a signal (once its jobs stopped), or once it has been idle for ``idle_exit``
    seconds."""

    def __init__(self, race: Race, idle_exit: float | None, signals: _Signals) -> None:
        self._race = race
        self._clock = race.clock
        self._idle_exit = idle_exit
        self._signals = signals
        self._idle_since = self._clock.wall()
        self._waiting = False
        self.ran = 0

    def claimed(self, job: Job) -> None:
        trial = self._race.storage.trial(job.trial_id)
        self._waiting = False
        logger.info(
            "claimed trial %d: %s fidelity %g -> %g",
            job.trial_id,
            "resume it from" if trial.curve else "start it,",
            trial.checkpoint_fidelity or 0.0,
            job.stop,
        )

    def ended(self, outcome: Outcome) -> None:
        self.ran += 1
        self._idle_since = self._clock.wall()
        detail = outcome.message.strip().splitlines()[-1] if outcome.message.strip() else ""
        logger.info(
            "trial %d %s at fidelity %g: %s%s",
            outcome.trial_id,
            outcome.status.value,
            outcome.fidelity,
            outcome.reason.value,
            f" ({detail})" if detail else "",
        )

    def leave(self, running: int) -> str | None:
        if self._signals.first is not None:
            return "stopped by a signal"
        now = self._clock.wall()
        if running:
            self._idle_since = now
            return None
        if not self._waiting and now - self._idle_since >= 1.0:
            self._waiting = True
            others = len(self._race.history().running)
            if others:
                logger.info(
                    "no job to claim now; waiting for %d running trial%s",
                    others,
                    "" if others == 1 else "s",
                )
        if self._idle_exit is not None and now - self._idle_since >= self._idle_exit:
            return f"no job for {self._idle_exit:g} seconds"
        return None


def _budget(args: argparse.Namespace) -> Budget | None:
    no_slice = args.trial_cpu_seconds is None and args.trial_seconds is None
    if args.hard_stop_grace is not None and no_slice:
        raise ConfigurationError(
            "--hard-stop-grace needs --trial-seconds (or --trial-cpu-seconds): it is the time a "
            "run may go on past its slice"
        )
    if args.trial_cpu_seconds is not None and (
        args.trial_seconds is not None or args.trial_clock != "auto"
    ):
        raise ConfigurationError(
            "--trial-cpu-seconds is --trial-seconds with --trial-clock process: give one or the "
            "other"
        )
    budget = Budget(
        epochs=args.budget_epochs,
        trials=args.budget_trials,
        seconds=args.budget_seconds,
        trial_seconds=args.trial_seconds,
        trial_clock=args.trial_clock,
        trial_cpu_seconds=args.trial_cpu_seconds,
        hard_stop_grace=args.hard_stop_grace,
    )
    return None if budget == Budget() else budget


def _join(url: str, name: str) -> Study:
    from hyperrace.cli._commands import open_existing

    storage = open_existing(url)
    find_study(
        storage,
        name,
        advice="a worker joins an existing study: create it first, e.g. in Python "
        f"hr.Study({name!r}, space, storage={mask_url(url)!r}), then start the workers",
    )
    return Study(name, storage=storage)


def _summary(study: Study) -> str:
    h = study.history()
    best = h.best(study.best_by)
    text = (
        f"{len(h.trials)} trials ({len(h.completed)} completed, {len(h.paused)} paused, "
        f"{len(h.failed)} failed, {len(h.running)} running), {h.work:g} fidelity units trained"
    )
    if best is not None and best.last_value is not None:
        text += f"; best {best.last_value:.6g} (trial {best.trial_id})"
    return text


def cmd_worker(args: argparse.Namespace) -> int:
    liveness = Liveness(
        heartbeat_interval=args.heartbeat_interval,
        stale_after=args.stale_after,
        max_retries=args.max_retries,
        stall_after=args.stall_after,
    )
    budget = _budget(args)
    objective = load_objective(args.objective, args.path)
    study = _join(args.storage, args.study)
    race = Race(
        storage=study.storage,
        study_id=study.study_id,
        name=study.name,
        space=study.space,
        optimizer=study.optimizer,
        seed=study.seed,
        clock=study.clock,
        artifacts=study.artifacts,
        liveness=liveness,
    )
    handler = None
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s worker %(process)d: %(message)s"))
        handler.addFilter(_Once())
        logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    signals = _Signals()
    old = {s: signal.signal(s, signals) for s in (signal.SIGINT, signal.SIGTERM)}
    executor = ProcessExecutor(
        args.processes if args.processes is not None or args.gpus is not None else 1,
        gpus=args.gpus,
        gpus_per_worker=args.gpus_per_worker,
    )
    hooks = _WorkerHooks(race, args.idle_exit, signals)
    gpus = executor.gpus
    logger.info(
        "joined study %r in %s (%d worker process%s%s): %s",
        study.name,
        mask_url(study.storage.url),
        executor.workers,
        "" if executor.workers == 1 else "es",
        "" if gpus is None else "; GPUs " + " | ".join(",".join(g) or "none" for g in gpus),
        _summary(study),
    )
    try:
        left = _take_jobs(race, objective, budget, executor, hooks)
        logger.info(
            "leaving (%s) after %d job%s; study: %s",
            left or "the study is done",
            hooks.ran,
            "" if hooks.ran == 1 else "s",
            _summary(study),
        )
        return 130 if signals.first == signal.SIGINT else 0
    finally:
        for signum, previous in old.items():
            signal.signal(signum, previous)
        logger.setLevel(level)
        if handler is not None:
            logger.removeHandler(handler)


def _take_jobs(
    race: Race,
    objective: Objective,
    budget: Budget | None,
    executor: ProcessExecutor,
    hooks: _WorkerHooks,
) -> str | None:
    """Run the race loop until the study is quiet: a loop that returned with nothing running
    anywhere and no decision recorded meanwhile. (A loop returns when nothing runs; it is run
    again if another worker decided meanwhile, since that may be new work.) Returns the reason
    the hooks gave to leave, or ``None`` once the study is done."""
    while True:
        before = race.history().n_decisions
        left = RaceLoop(
            race,
            objective,
            budget=budget,
            executor=executor,
            progress=False,
            hooks=hooks,
        ).run()
        if left is not None:
            return left
        after = race.history()
        if not after.running and after.n_decisions == before:
            return None
