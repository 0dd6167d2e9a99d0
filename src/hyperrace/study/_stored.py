"""Stored studies, read without writing: find one by name, or read it once as a snapshot.

:func:`find_study` is the one place that opens a study by name and, when there is none, raises
:class:`~hyperrace.StudyNotFoundError` naming the storage (its URL's password masked) and
listing the studies that are there, followed by the caller's advice (create it from Python,
from the command line, ...). :func:`read_study` reads a study once as a :class:`Snapshot`: what
it was created with, its space and its history.

The read-only side (``hyperrace.visual``, the dashboard, the CLI's reading commands, a worker
joining a study) goes through here, so that nothing above the study layer opens studies in a
storage itself. Nothing here writes to the storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hyperrace.exceptions import StudyNotFoundError
from hyperrace.history import History
from hyperrace.space import Space
from hyperrace.storage import Storage, StudyInfo, mask_url

__all__ = ["Snapshot", "find_study", "read_study"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One study as read at one moment: what it was created with, its space and its history
    (with the decision records when read with them)."""

    info: StudyInfo
    space: Space
    history: History


def find_study(storage: Storage, name: str, *, advice: str = "") -> StudyInfo:
    """The stored study ``name`` (what it was created with).

    Args:
        storage: where to look.
        name: the study's name.
        advice: what the reader of the error can do, for the caller's audience (a sentence
            without a final full stop, e.g. ``"pass a space to create it"``); appended to the
            error.

    Raises:
        StudyNotFoundError: there is no such study; the message names the storage, lists the
            studies there, then gives ``advice``.
    """
    info = storage.get_study(name)
    if info is not None:
        return info
    names = [s.name for s in storage.list_studies()]
    listing = ", ".join(repr(n) for n in names) if names else "none"
    message = f"study {name!r} does not exist in {mask_url(storage.url)} (studies there: {listing})"
    raise StudyNotFoundError(f"{message}; {advice}" if advice else message)


def read_study(
    storage: Storage,
    name: str,
    since: Mapping[int, History] | None = None,
    *,
    decisions: bool = True,
    advice: str = "",
) -> Snapshot:
    """Read study ``name`` once (never writes).

    Args:
        storage: where the study is.
        name: the study's name.
        since: earlier snapshots' histories by study id; the history is read incrementally from
            the one of this study, if there is one (a caller that polls keeps them, see the
            dashboard).
        decisions: read the decision records too.
        advice: see :func:`find_study`.

    Raises:
        StudyNotFoundError: there is no such study; the message lists the studies there.
    """
    info = find_study(storage, name, advice=advice)
    before = since.get(info.study_id) if since is not None else None
    history = storage.history(info.study_id, decisions=decisions, since=before)
    return Snapshot(info, Space.from_dict(info.space), history)
