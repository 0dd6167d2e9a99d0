"""The keeper of an ask/tell process: heartbeats for the jobs it was handed, recovery of lost
trials of the study, in a background thread, so that neither waits for the next ``ask``."""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING

from hyperrace.executors import Liveness

if TYPE_CHECKING:
    from hyperrace.study._study import Study

__all__ = ["Keeper"]

logger = logging.getLogger("hyperrace")


class Keeper:
    """Every ``liveness.heartbeat_interval`` seconds: mark the tracked trials alive, and take
    trials of the study whose heartbeat is older than ``liveness.stale_after`` as lost
    (``Study.recover``).

    The thread holds the study weakly: it ends when the study object is dropped, or on
    :meth:`close`. Storage errors (a database restarting) are logged and retried at the next
    tick; a tick never raises.
    """

    def __init__(self, study: Study, liveness: Liveness) -> None:
        self.liveness = liveness
        self._tracked: dict[int, int] = {}  # trial id -> the decision of its job
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run,
            args=(weakref.ref(study),),
            daemon=True,
            name=f"hyperrace-keeper-{study.name}",
        )
        self._thread.start()

    def configure(self, liveness: Liveness) -> None:
        """Use these settings from the next tick on."""
        self.liveness = liveness

    def track(self, trial_id: int, decision: int) -> None:
        with self._lock:
            self._tracked[trial_id] = decision

    def untrack(self, trial_id: int) -> None:
        with self._lock:
            self._tracked.pop(trial_id, None)

    def run_of(self, trial_id: int) -> int | None:
        """The decision of the job of ``trial_id`` handed out here and not told, if any."""
        with self._lock:
            return self._tracked.get(trial_id)

    @property
    def tracked(self) -> frozenset[int]:
        with self._lock:
            return frozenset(self._tracked)

    def tick(self, study: Study) -> list[int]:
        """One round: heartbeats, then recovery; returns the ids of trials taken as lost."""
        try:
            study.storage.heartbeat(sorted(self.tracked), now=study.clock.timestamp())
            liveness = self.liveness
            lost = study.recover(stale_after=liveness.stale_after, max_retries=liveness.max_retries)
        except Exception as exc:  # the next tick tries again
            logger.warning("study %r: heartbeat or recovery failed (%s); retrying", study.name, exc)
            return []
        if lost:
            logger.info("study %r: trials %s were lost and are paused or failed", study.name, lost)
        return lost

    def _run(self, ref: weakref.ref[Study]) -> None:
        while not self._stop.wait(self.liveness.heartbeat_interval):
            study = ref()
            if study is None:
                return
            self.tick(study)
            del study  # hold the study only during a tick

    def close(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
