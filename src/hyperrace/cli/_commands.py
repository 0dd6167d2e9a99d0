"""The reading commands of the CLI: ``studies``, ``show``, ``best``, ``export``, ``upgrade``.

They read a study with :func:`hyperrace.study.read_study` (not through
:class:`hyperrace.Study`), so that a study whose optimizer is a custom object, not a registered
name, can be shown as well. They never
write to the storage, and refuse to create a SQLite file that does not exist.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from hyperrace.cli._tables import format_time, format_value, render_table
from hyperrace.exceptions import ConfigurationError, StorageError
from hyperrace.history import BEST_BY, BestBy, History
from hyperrace.space import Space
from hyperrace.storage import MEMORY_NAMES, Storage, StudyInfo, mask_url, open_storage
from hyperrace.study import find_study, read_study
from hyperrace.study._export import (
    DURATION_COLUMNS,
    TIME_COLUMNS,
    observation_records,
    trial_records,
    trial_rows,
)
from hyperrace.trial import TrialRecord

__all__ = [
    "cmd_best",
    "cmd_export",
    "cmd_show",
    "cmd_studies",
    "cmd_upgrade",
    "export_records",
    "find",
    "load_study",
    "open_existing",
    "sqlite_path",
]


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite storage URL (or bare path), ``None`` for other storages."""
    if "://" not in url:
        return Path(url).expanduser()
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///") :]).expanduser()
    return None


def open_existing(url: str) -> Storage:
    """Open the storage at ``url``; a SQLite file must exist already (reading never creates one)."""
    if url in MEMORY_NAMES:
        raise ConfigurationError(
            f"--storage {mask_url(url)} is empty in every new process; use a SQLite file or "
            "PostgreSQL URL"
        )
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        raise StorageError(
            f"there is no database at {path} (--storage {mask_url(url)}); point --storage at an "
            "existing one, or create a study there first, e.g. with: hyperrace demo --storage "
            + mask_url(url)
        )
    return open_storage(url)


def _advice(storage: Storage, name: str) -> str:
    url = mask_url(storage.url)
    return (
        f"list them with `hyperrace studies --storage {url}`, or create it with `hyperrace "
        f"create {name} --space SPACE --storage {url}`"
    )


def find(storage: Storage, name: str) -> StudyInfo:
    """The stored study ``name``: :func:`~hyperrace.study.find_study` with the command line's
    advice.

    Raises:
        StudyNotFoundError: there is no such study; the message lists the existing ones.
    """
    return find_study(storage, name, advice=_advice(storage, name))


def load_study(
    storage: Storage, name: str, *, decisions: bool = False
) -> tuple[StudyInfo, Space, History]:
    """The stored study ``name`` with its space and history.

    Raises:
        StudyNotFoundError: there is no such study; the message lists the existing ones.
    """
    snap = read_study(storage, name, decisions=decisions, advice=_advice(storage, name))
    return snap.info, snap.space, snap.history


def _out() -> TextIO:
    return sys.stdout


def cmd_studies(args: argparse.Namespace) -> int:
    storage = open_existing(args.storage)
    summaries = storage.list_studies()
    if not summaries:
        _out().write(f"no studies in {mask_url(storage.url)}\n")
        return 0
    headers = ["name", "direction", "trials", "running", "completed", "failed", "best", "created"]
    table = [
        [
            s.name,
            s.direction,
            s.n_trials,
            s.n_running,
            s.n_completed,
            s.n_failed,
            s.best_value,
            format_time(s.created),
        ]
        for s in summaries
    ]
    render_table(headers, table, _out(), title=f"studies in {mask_url(storage.url)}")
    return 0


#: The trials ``hyperrace show`` prints when neither ``--limit`` nor ``--all`` is given.
SHOWN_BY_DEFAULT = 1000


def _n_trials(storage: Storage, info: StudyInfo) -> int:
    """The number of the study's trials, counted by the storage (no trial read)."""
    return next((s.n_trials for s in storage.list_studies() if s.name == info.name), 0)


def cmd_show(args: argparse.Namespace) -> int:
    storage = open_existing(args.storage)
    if args.trial is not None:
        info, space, history = load_study(storage, args.name, decisions=True)
        from hyperrace.cli._trial import show_trial

        return show_trial(info, space, history, args.trial, _out())
    if args.limit is not None and args.limit < 0:
        raise ConfigurationError(f"--limit {args.limit} must be >= 0")
    if args.limit is not None and args.all:
        raise ConfigurationError(f"--limit {args.limit} and --all ask for different rows; pick one")
    info = find(storage, args.name)
    space = Space.from_dict(info.space)
    # only the trials printed are read, with the count and the best trial beside them: a page
    # of a study of 100,000 trials costs the page
    limit = args.limit if args.limit is not None else SHOWN_BY_DEFAULT
    n_trials = _n_trials(storage, info)
    numbers = range(0, n_trials if args.all else limit)
    shown = trial_rows(storage.trials(info.study_id, numbers), space)
    n_trials = max(n_trials, len(shown))  # trials started since the count are shown too
    headers = ["trial", "status", "fidelity", "value", "work", "reason", *space.names]
    table = [[row["trial_id"], *(row[h] for h in headers[1:])] for row in shown]
    by = _best_by(info)
    best = storage.best_trial(info.study_id, by)
    title = (
        f"study {info.name!r} ({info.direction}, optimizer {info.optimizer.get('name', '?')}): "
        f"{n_trials} trials"
    )
    render_table(headers, table, _out(), title=title, formats=dict.fromkeys(space.names, 4))
    if len(shown) < n_trials:
        _out().write(
            f"showing {len(shown)} of {n_trials} trials; see more with --limit N or --all\n"
        )
    if best is not None:
        _out().write(
            f"best: trial {best.trial_id}, value {format_value(_best_value(info, best, by))} at "
            f"fidelity {format_value(best.fidelity)}\n"
        )
    return 0


def _best_value(info: StudyInfo, best: TrialRecord, by: BestBy) -> float | None:
    """The value that makes ``best`` the study's best under the rule ``by``."""
    return History(info.direction, (best,)).best_value(by)


def _best_by(info: StudyInfo) -> BestBy:
    """The study's ranking rule (``Study(best_by=...)``), ``"last"`` when none was stored."""
    rule = info.attrs.get("best_by", "last")
    return rule if rule in BEST_BY else "last"


def _best_dict(info: StudyInfo, storage: Storage) -> dict[str, Any] | None:
    by = _best_by(info)
    best = storage.best_trial(info.study_id, by)
    if best is None:
        return None
    return {
        "study": info.name,
        "direction": info.direction,
        "best_by": by,
        "trial_id": best.trial_id,
        "number": best.number,
        "status": best.status.value,
        "value": _best_value(info, best, by),
        "fidelity": best.fidelity,
        "config": dict(best.config),
    }


def cmd_best(args: argparse.Namespace) -> int:
    storage = open_existing(args.storage)
    info = find(storage, args.name)
    space = Space.from_dict(info.space)
    best = _best_dict(info, storage)  # the best trial alone is read, not the study
    if best is None:
        if args.json:
            _out().write("null\n")
        sys.stderr.write(f"study {info.name!r} has no value yet from a trial that did not fail\n")
        return 1
    if args.json:
        _out().write(json.dumps(best, indent=2) + "\n")
        return 0
    width = max([len("fidelity"), *(len(n) for n in space.names)])
    lines = [
        f"best trial of study {info.name!r} ({info.direction}): trial {best['trial_id']}",
        f"  ranked by {BEST_BY[best['best_by']]}; failed trials never rank",
        f"  {'value':<{width}}  {best['value']!r}",
        f"  {'fidelity':<{width}}  {format_value(best['fidelity'])}",
        "  config:",
        *(f"    {k:<{width}}  {v!r}" for k, v in best["config"].items()),
    ]
    _out().write("\n".join(lines) + "\n")
    return 0


def _columns(records: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for record in records:
        seen.update(dict.fromkeys(record))
    return list(seen)


def _write_export(records: list[dict[str, Any]], fmt: str, fh: TextIO) -> None:
    if fmt == "json":
        json.dump(records, fh, indent=2, allow_nan=False)
        fh.write("\n")
        return
    writer = csv.DictWriter(fh, fieldnames=_columns(records), restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).isoformat()


def export_records(history: History, space: Space, per: str) -> list[dict[str, Any]]:
    """The rows of ``hyperrace export``: those of ``Study.to_dataframe(per=...)``, with moments
    as ISO 8601 text (UTC) and durations in seconds."""
    records = (trial_records if per == "trial" else observation_records)(history, space)
    for record in records:
        for column in TIME_COLUMNS:
            if column in record:
                record[column] = _iso(record[column])
        for column in DURATION_COLUMNS:
            if column in record:
                record[f"{column}_seconds"] = record.pop(column)
    return records


def cmd_export(args: argparse.Namespace) -> int:
    storage = open_existing(args.storage)
    _, space, history = load_study(storage, args.name)
    records = export_records(history, space, args.per)
    if args.out is None:
        _write_export(records, args.format, _out())
        return 0
    path = Path(args.out).expanduser()
    with path.open("w", newline="", encoding="utf-8") as fh:
        _write_export(records, args.format, fh)
    sys.stderr.write(f"wrote {len(records)} rows to {path}\n")
    return 0


def cmd_upgrade(args: argparse.Namespace) -> int:
    from hyperrace.storage._schema import SCHEMA_VERSION
    from hyperrace.storage._sql import SQLStorage

    if args.storage in MEMORY_NAMES:
        raise ConfigurationError(
            f"--storage {mask_url(args.storage)} has no schema to upgrade; give a SQLite or "
            "PostgreSQL URL"
        )
    storage = SQLStorage(args.storage, upgrade=True)
    try:
        storage.upgrade()
    finally:
        storage.close()
    _out().write(f"{mask_url(storage.url)}: schema version {SCHEMA_VERSION} (up to date)\n")
    return 0
