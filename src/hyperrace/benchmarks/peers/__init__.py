"""Peers: other tuners on hyperrace's benchmark protocol, each through its own public API.

Every peer runs on the same :class:`~hyperrace.benchmarks.Task`, budget, seed and simulated clock
as hyperrace's own optimizers (the protocol of :mod:`hyperrace.benchmarks._harness`), driven by
one loop (:mod:`._loop`) that asks the peer for work, trains a task epoch by epoch on simulated
workers, tells the peer what it asked to be told, and writes the record with
:func:`~hyperrace.benchmarks._harness.trajectory_record`. What a peer pays for budget follows its
API: a peer that resumes a trial pays only new epochs; one that restarts a trial from scratch
at a higher fidelity pays every epoch it retrains, and its record's ``note`` says so.

Where a run happens: :func:`run_peer` runs a peer in this interpreter when the peer's package
imports here (Optuna is in the ``bench`` extra), otherwise in ``.venv-peers`` (dehb and syne-tune
pin ``numpy<2``; ``bash scripts/peers-env`` builds it) as ``python -m hyperrace.benchmarks.peers
run ...``, which prints the record as JSON. ``HYPERRACE_PEERS_PYTHON`` names another interpreter.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperrace.benchmarks._harness import RunConfig
from hyperrace.benchmarks._task import Task
from hyperrace.exceptions import ConfigurationError, HyperraceError, MissingDependencyError

__all__ = [
    "PEERS",
    "PeerFailedError",
    "peers_python",
    "run_peer",
    "run_peer_here",
    "run_peer_on",
]


@dataclass(frozen=True)
class _Peer:
    """Where a peer's adapter lives and what it needs."""

    module: str  # the adapter module of this package
    package: str  # the peer's import name
    requirement: str  # what pip installs (the version the adapter is written against)
    about: str


_REGISTRY: dict[str, _Peer] = {
    "optuna-tpe-hb": _Peer(
        "_optuna", "optuna", "optuna>=4.0", "Optuna: TPESampler + HyperbandPruner (resumes)"
    ),
    "optuna-tpe-sh": _Peer(
        "_optuna", "optuna", "optuna>=4.0", "Optuna: TPESampler + SuccessiveHalvingPruner (resumes)"
    ),
    "dehb-package": _Peer(
        "_dehb", "dehb", "dehb==0.1.2", "DEHB (dehb package, ask/tell; restarts)"
    ),
    "synetune-dyhpo": _Peer(
        "_synetune", "syne_tune", "syne-tune==0.13.0", "Syne Tune: DyHPO (resumes)"
    ),
    "synetune-dehb": _Peer(
        "_synetune", "syne_tune", "syne-tune==0.13.0", "Syne Tune: DEHB (synchronous; resumes)"
    ),
    "synetune-hyperband": _Peer(
        "_synetune",
        "syne_tune",
        "syne-tune==0.13.0",
        "Syne Tune: synchronous Hyperband (resumes)",
    ),
    "smac-mf": _Peer(
        "_smac", "smac", "smac==2.4.1", "SMAC3: MultiFidelityFacade, Hyperband (restarts)"
    ),
}

#: Peer optimizer names and what they are.
PEERS: dict[str, str] = {name: peer.about for name, peer in _REGISTRY.items()}


class PeerFailedError(HyperraceError):
    """A peer's run in ``.venv-peers`` failed; the message ends with its error output."""


def _peer(name: str) -> _Peer:
    if name not in _REGISTRY:
        raise ConfigurationError(f"unknown peer {name!r}; choose one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def _importable(package: str) -> bool:
    try:
        importlib.import_module(package)
    except ImportError:
        return False
    return True


def run_peer_on(task: Task, config: RunConfig) -> dict[str, Any]:
    """Run peer ``config.optimizer`` on ``task`` in this interpreter; a harness record.

    Raises:
        ConfigurationError: an unknown peer, or workers > 1 for a peer that cannot run them.
        MissingDependencyError: the peer's package does not import here.
    """
    from hyperrace._imports import require

    peer = _peer(config.optimizer)
    extra = "bench" if peer.package == "optuna" else "peers"
    require(peer.package, extra, f"the peer {config.optimizer!r}")
    adapter = importlib.import_module(f"{__name__}.{peer.module}")
    record: dict[str, Any] = adapter.run(task, config)
    return record


def run_peer_here(kind: str, instance: str, config: RunConfig) -> dict[str, Any]:
    """:func:`run_peer_on` the task (``kind``, ``instance``) of :func:`make_task`."""
    from hyperrace.benchmarks._families import make_task

    return run_peer_on(make_task(kind, instance), config)


def peers_python() -> Path | None:
    """The interpreter of the peers' environment: ``$HYPERRACE_PEERS_PYTHON``, else
    ``.venv-peers/bin/python`` in the working directory or in the source tree; None if none."""
    named = os.environ.get("HYPERRACE_PEERS_PYTHON")
    if named:
        return Path(named)
    for root in (Path.cwd(), Path(__file__).resolve().parents[4]):
        python = root / ".venv-peers" / "bin" / "python"
        if python.exists():
            return python
    return None


def run_peer(kind: str, instance: str, config: RunConfig) -> dict[str, Any]:
    """Run peer ``config.optimizer`` on the task (``kind``, ``instance``); a harness record.

    In this interpreter when the peer's package imports here, otherwise in the peers'
    environment (see the module docstring).

    Raises:
        ConfigurationError: an unknown peer, or workers > 1 for a peer that cannot run them.
        MissingDependencyError: the package is missing here and there is no ``.venv-peers``.
        PeerFailedError: the run in ``.venv-peers`` failed.
    """
    peer = _peer(config.optimizer)
    if _importable(peer.package):
        return run_peer_here(kind, instance, config)
    python = peers_python()
    if python is None or not python.exists():
        raise MissingDependencyError(
            f"the peer {config.optimizer!r} needs {peer.requirement}, which does not import "
            f"here, and the peers' environment .venv-peers is missing: build it with "
            f"`bash scripts/peers-env` (in the hyperrace source tree)"
        )
    command = [
        str(python),
        "-m",
        __name__,
        "run",
        "--task",
        kind,
        "--instance",
        instance,
        "--config",
        json.dumps(dataclasses.asdict(config)),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-20:])
        if done.returncode == 2 and "ConfigurationError" in tail:
            raise ConfigurationError(tail.splitlines()[-1].partition(": ")[2])
        raise PeerFailedError(
            f"the peer {config.optimizer!r} failed in {python} (exit {done.returncode}); "
            f"if its packages are missing there, run `bash scripts/peers-env`:\n{tail}"
        )
    record: dict[str, Any] = json.loads(lines[-1])
    return record


def _main(argv: list[str] | None = None) -> int:
    """``python -m hyperrace.benchmarks.peers``: ``--list`` or ``run`` (prints the record)."""
    import argparse
    import contextlib

    parser = argparse.ArgumentParser(prog="python -m hyperrace.benchmarks.peers")
    parser.add_argument("--list", action="store_true", help="which peers import here")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run one peer; print its record as one JSON line")
    run.add_argument("--task", required=True)
    run.add_argument("--instance", required=True)
    run.add_argument("--config", required=True, help="a RunConfig as JSON")
    args = parser.parse_args(argv)
    if args.list or args.command is None:
        for name, peer in _REGISTRY.items():
            state = "ok" if _importable(peer.package) else f"not here ({peer.requirement})"
            print(f"{name:20} {state:32} {peer.about}")
        return 0
    config = RunConfig(**json.loads(args.config))
    try:
        # peers that print progress must not mix it into the record
        with contextlib.redirect_stdout(sys.stderr):
            record = run_peer_here(args.task, args.instance, config)
    except ConfigurationError as exc:
        print(f"ConfigurationError: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(record))
    return 0
