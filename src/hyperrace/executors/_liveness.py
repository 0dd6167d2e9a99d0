"""The liveness settings of a study: how it tells a live run from a lost or hung one.

One frozen record, :class:`Liveness`, validated once, when it is made; the study, its race
loop, its ask/tell keeper, the executors (in each job's ``RunSpec``) and ``hyperrace worker``
pass it whole. ``Study.optimize`` and ``Study.ask`` take its fields as keyword arguments too, or
the record itself (``liveness=``); :meth:`Liveness.of` is where either becomes the record.

Example:
    >>> Liveness(heartbeat_interval=2.0)
    Liveness(heartbeat_interval=2.0, stale_after=6.0, max_retries=3, stall_after=None)
    >>> Liveness(heartbeat_interval=2.0, stale_after=1.0)
    Traceback (most recent call last):
    ...
    hyperrace.exceptions.ConfigurationError: Liveness: stale_after=1.0 must be more than \
heartbeat_interval=2.0, or a live trial is taken as lost between two heartbeats (default: 3 \
intervals)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hyperrace._params import Integer, Real, declare, validate
from hyperrace.exceptions import ConfigurationError

__all__ = ["Liveness"]

_OWNER = "Liveness"
_DEFAULTS: dict[str, Any] = {
    "heartbeat_interval": 10.0,
    "stale_after": None,
    "max_retries": 3,
    "stall_after": None,
}
_CHECKS = declare(
    heartbeat_interval=Real(0.0, low_open=True, note="seconds between two heartbeats of a run"),
    max_retries=Integer(
        0,
        optional=True,
        note="lost runs of one trial before it fails instead of being resumed; None: no limit",
    ),
    stall_after=Real(
        0.0,
        low_open=True,
        optional=True,
        note="wall-clock seconds without a report or trial.alive() before a run is taken as "
        "hung; None: never",
    ),
)


@dataclass(frozen=True, slots=True, init=False)
class Liveness:
    """How a study tells a live run from a lost or hung one.

    Args:
        heartbeat_interval: seconds between two heartbeats of a running trial (its run, or the
            process that asked for its job, marks it alive).
        stale_after: seconds without a heartbeat after which a running trial is taken as lost
            and paused, to be resumed from its checkpoint; more than ``heartbeat_interval``
            (default ``None``: 3 heartbeat intervals; ``math.inf``: never).
        max_retries: runs of one trial that may be lost (its worker died, stopped sending
            heartbeats, or hung) before the trial fails instead of being resumed (``None``: no
            limit).
        stall_after: wall-clock seconds a run may go without a report or ``trial.alive()``
            before it is taken as hung: a worker process stops it hard and counts it as a lost
            run (``None``: never).

    Raises:
        ConfigurationError: a value is out of range; the message names it and the fix.
    """

    heartbeat_interval: float
    stale_after: float
    max_retries: int | None
    stall_after: float | None

    def __init__(
        self,
        heartbeat_interval: float = 10.0,
        stale_after: float | None = None,
        max_retries: int | None = 3,
        stall_after: float | None = None,
    ) -> None:
        values = {
            "heartbeat_interval": heartbeat_interval,
            "max_retries": max_retries,
            "stall_after": stall_after,
        }
        checked = validate(_OWNER, _CHECKS, values, _DEFAULTS)
        interval = checked["heartbeat_interval"]
        stale = 3.0 * interval if stale_after is None else stale_after
        if (
            isinstance(stale, bool)
            or not isinstance(stale, int | float)
            or math.isnan(stale)
            or not stale > interval
        ):
            raise ConfigurationError(
                f"{_OWNER}: stale_after={stale_after!r} must be more than heartbeat_interval="
                f"{heartbeat_interval!r}, or a live trial is taken as lost between two "
                "heartbeats (default: 3 intervals)"
            )
        object.__setattr__(self, "heartbeat_interval", interval)
        object.__setattr__(self, "stale_after", float(stale))
        object.__setattr__(self, "max_retries", checked["max_retries"])
        object.__setattr__(self, "stall_after", checked["stall_after"])

    @classmethod
    def of(cls, liveness: Liveness | None = None, **settings: Any) -> Liveness:
        """``liveness``, or the record of ``settings`` (keyword arguments of :class:`Liveness`,
        as ``Study.optimize`` and ``Study.ask`` take them). Settings left at their defaults are
        ignored when ``liveness`` is given; any other is refused, since the two would disagree.
        """
        if liveness is None:
            return cls(**settings)
        if not isinstance(liveness, Liveness):
            raise ConfigurationError(
                f"liveness={liveness!r} must be a hyperrace.executors.Liveness, e.g. "
                "Liveness(heartbeat_interval=10.0), or None"
            )
        given = sorted(k for k, v in settings.items() if v != _DEFAULTS[k])
        if given:
            raise ConfigurationError(
                f"liveness={liveness!r} and {', '.join(f'{k}={settings[k]!r}' for k in given)} "
                "were both given: put every liveness setting in the Liveness record"
            )
        return liveness
