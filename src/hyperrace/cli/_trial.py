"""``hyperrace show NAME --trial ID``: everything about one trial, a failed one's traceback too."""

from __future__ import annotations

from typing import Any, TextIO

from hyperrace.cli._tables import format_time, format_value, render_table
from hyperrace.exceptions import ConfigurationError
from hyperrace.history import History
from hyperrace.space import Space
from hyperrace.storage import StudyInfo
from hyperrace.trial import TrialRecord, TrialStatus, trial_folder

__all__ = ["show_trial"]


def _find(info: StudyInfo, history: History, trial_id: int) -> TrialRecord:
    try:
        return history.trial(trial_id)
    except KeyError:
        ids = [t.trial_id for t in history.trials]
        known = f"its trials are {min(ids)} to {max(ids)}" if ids else "it has no trials yet"
        raise ConfigurationError(
            f"study {info.name!r} has no trial {trial_id} ({known}); list them with "
            f"`hyperrace show {info.name}`"
        ) from None


def _pairs(out: TextIO, pairs: list[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        out.write(f"  {key:<{width}}  {value}\n")


def show_trial(info: StudyInfo, space: Space, history: History, trial_id: int, out: TextIO) -> int:
    """Write trial ``trial_id`` of the study to ``out``: state, config, user attributes, curve,
    the runs that trained it, and its message (a failed trial's traceback). Returns 0.

    Raises:
        ConfigurationError: the study has no such trial (the message says which it has).
    """
    t = _find(info, history, trial_id)
    unit = space.fidelity_name or "fidelity"
    out.write(
        f"trial {t.trial_id} of study {info.name!r}: {t.status.value}"
        + (f" ({t.reason.value})" if t.reason.value != "none" else "")
        + f", number {t.number} in the study\n"
    )
    artifacts = info.attrs.get("artifacts")
    folder = trial_folder(artifacts, t.trial_id) if artifacts else None
    checkpoint = (
        "none"
        if t.checkpoint_fidelity is None
        else f"at {unit} {format_value(t.checkpoint_fidelity)}"
        + (f" in {folder}" if folder is not None else "")
    )
    _pairs(
        out,
        [
            ("value", f"{format_value(t.last_value)} at {unit} {format_value(t.fidelity)}"),
            ("granted", f"{unit} {format_value(t.target)}"),
            ("trained", f"{format_value(t.work)} {unit} (retraining included)"),
            ("checkpoint", checkpoint),
            ("runs lost", t.lost_count),
            ("seconds", f"{t.wall_seconds:.3g} wall, {t.cpu_seconds:.3g} processor"),
            ("created", format_time(t.created)),
            ("updated", format_time(t.updated)),
        ],
    )
    out.write("config:\n")
    _pairs(out, [(k, repr(v)) for k, v in t.config.items()] or [("(none)", "")])
    if t.user_attrs:
        out.write("user attributes:\n")
        _pairs(out, [(k, repr(v)) for k, v in t.user_attrs.items()])
    if t.curve:
        render_table(
            [unit, "value", "wall_seconds", "cpu_seconds"],
            [[o.fidelity, o.value, o.wall_seconds, o.cpu_seconds] for o in t.curve],
            out,
            title="curve:",
        )
    runs = [d for d in history.decisions if d.trial_id == t.trial_id]
    if runs:
        render_table(
            ["decision", "kind", "from", "to", "by", "recorded"],
            [[d.index, d.kind, d.start, d.stop, d.optimizer, _info(d.info)] for d in runs],
            out,
            title="runs (the decisions that trained it):",
        )
    if t.message:
        title = "traceback:" if t.status is TrialStatus.FAILED else "message:"
        out.write(title + "\n")
        for line in t.message.rstrip().splitlines():
            out.write(f"  {line}\n")
    return 0


def _info(info: Any) -> str:
    return ", ".join(f"{k}={format_value(v, 4)}" for k, v in dict(info).items()) or "-"
