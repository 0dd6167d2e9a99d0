"""``hyperrace demo``: tune a real PyTorch model on the digits data, in about a minute."""

from __future__ import annotations

import argparse
import shlex
import sys

from hyperrace._imports import require
from hyperrace.benchmarks import digits_space, train_digits
from hyperrace.cli._tables import format_value
from hyperrace.storage import DEFAULT_URL, mask_url, open_storage
from hyperrace.study import Budget, Study

__all__ = ["DEFAULT_BUDGET", "DEFAULT_NAME", "cmd_demo"]

#: The study the demo tunes when no ``--name`` is given.
DEFAULT_NAME = "digits-demo"
#: Epochs the demo trains, over all its trials (the study counts them over every run).
DEFAULT_BUDGET = 150


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def cmd_demo(args: argparse.Namespace) -> int:
    # fail here, not in every trial: a trial that fails trains nothing, so the epoch budget
    # would never be spent and the study would start failing trials forever
    require("torch", "torch", "hyperrace demo")
    require("sklearn", "torch", "hyperrace demo")
    storage = open_storage(args.storage)
    existing = storage.get_study(args.name)
    if existing is not None:
        history = storage.history(existing.study_id)
        _say(
            f"continuing study {args.name!r} in {mask_url(storage.url)}: "
            f"{len(history.trials)} trials and {history.work:g} epochs so far (the budget of "
            f"{args.budget:g} epochs counts over the whole study)"
        )
        if history.work >= args.budget:
            _say(
                f"its budget is spent already; run again with --budget {args.budget * 2:g} "
                "to train more"
            )
    else:
        _say(f"creating study {args.name!r} in {mask_url(storage.url)}")
    study = Study(args.name, digits_space(), storage=storage, seed=args.seed)
    _say(
        f"tuning an MLP on the scikit-learn digits with {study.optimizer.name} (the default for "
        f"a space with an epochs fidelity): {args.budget:g} epochs on {args.workers} "
        f"worker{'s' if args.workers != 1 else ''}..."
    )
    study.optimize(
        train_digits, budget=Budget(epochs=args.budget), workers=args.workers, progress=None
    )
    history = study.history()
    best = history.best()
    _say(f"\n{len(history.trials)} trials, {history.work:g} epochs trained in total")
    if best is None or best.last_value is None:
        _say("no trial reported a value")
        return 1
    _say(
        f"best: trial {best.trial_id}, validation accuracy {1.0 - best.last_value:.2%} after "
        f"{format_value(best.fidelity)} epochs"
    )
    width = max(len(k) for k in best.config)
    for key, value in best.config.items():
        _say(f"  {key:<{width}}  {format_value(value, 4)}")
    where = (
        "" if args.storage == DEFAULT_URL else f" --storage {shlex.quote(mask_url(args.storage))}"
    )
    _say(f"\nsee every trial with: hyperrace show {shlex.quote(args.name)}{where}")
    _say(f"watch the race in a browser with: hyperrace dashboard{where}")
    return 0
