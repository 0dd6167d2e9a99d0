"""Peers: other tuners on the same benchmark protocol (work in progress)."""

from __future__ import annotations

from typing import Any

from hyperrace.benchmarks._harness import RunConfig

__all__ = ["PEERS", "run_peer"]

#: Peer optimizer names and what they are.
PEERS: dict[str, str] = {}


def run_peer(kind: str, instance: str, config: RunConfig) -> dict[str, Any]:
    """Run peer ``config.optimizer`` on the task (``kind``, ``instance``); a harness record."""
    raise NotImplementedError(config.optimizer)
