"""The keeper of an ask/tell process: heartbeats for the jobs it was handed, recovery of lost
trials of the study, in a background thread, so that neither waits for the next ``ask``."""

from __future__ import annotations

import logging
import threading
import weakref

from hyperrace.study._race import Race

__all__ = ["Keeper"]

logger = logging.getLogger("hyperrace")


class Keeper:
    """Every ``race.liveness.heartbeat_interval`` seconds: mark the tracked trials alive, and
    take trials of the study whose heartbeat is older than ``race.liveness.stale_after`` as lost
    (:meth:`Race.recover <hyperrace.study._race.Race.recover>`, failing those lost more than
    ``race.liveness.max_retries`` times).

    The thread holds the race weakly: it ends when the race is dropped (its study object with
    it), or on :meth:`close`. Storage errors (a database restarting) are logged and retried at
    the next tick; a tick never raises.
    """

    def __init__(self, race: Race) -> None:
        self._race = weakref.ref(race)
        self._tracked: dict[int, int] = {}  # trial id -> the decision of its job
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, daemon=True, name=f"hyperrace-keeper-{race.name}"
        )
        self._thread.start()

    def use(self, race: Race) -> None:
        """Keep ``race`` (the same study with other liveness settings) from the next tick on;
        the caller holds it."""
        self._race = weakref.ref(race)

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

    def tick(self, race: Race) -> list[int]:
        """One round: heartbeats, then recovery; returns the ids of trials taken as lost."""
        try:
            race.storage.heartbeat(sorted(self.tracked), now=race.clock.timestamp())
            lost = race.recover()
        except Exception as exc:  # the next tick tries again
            logger.warning("study %r: heartbeat or recovery failed (%s); retrying", race.name, exc)
            return []
        if lost:
            logger.info("study %r: trials %s were lost and are paused or failed", race.name, lost)
        return lost

    def _interval(self) -> float | None:
        race = self._race()
        return None if race is None else race.liveness.heartbeat_interval

    def _run(self) -> None:
        while (interval := self._interval()) is not None and not self._stop.wait(interval):
            race = self._race()
            if race is None:
                return
            self.tick(race)
            del race  # hold the race only during a tick

    def close(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
