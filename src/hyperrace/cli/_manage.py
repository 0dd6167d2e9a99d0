"""``hyperrace create`` and ``hyperrace delete``: make a study that workers then join, remove one.

``create`` takes the space from a JSON file (the format of :meth:`hyperrace.Space.to_dict`) or
from a Python module (``MODULE:NAME``, a :class:`~hyperrace.Space` object), so that ``hyperrace
worker --study NAME`` processes can join a study nobody created from Python. ``delete`` removes a
study with its trials and decisions (after a confirmation, or ``--yes``); its checkpoint folder
is left on disk, and the command says where.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hyperrace.cli._commands import find, open_existing
from hyperrace.exceptions import ConfigurationError, SpaceError
from hyperrace.space import Space
from hyperrace.storage import DEFAULT_URL, MEMORY_NAMES, mask_url
from hyperrace.study import Study

__all__ = ["add_parsers", "cmd_create", "cmd_delete", "load_space"]


def _from_module(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"--space {spec}: cannot import module {module_name!r} ({exc}); run the command in "
            "the folder that holds it, or give a JSON file"
        ) from None
    value: Any = module
    for part in attr.split("."):
        if not hasattr(value, part):
            raise ConfigurationError(f"--space {spec}: module {module_name!r} has no {attr!r}")
        value = getattr(value, part)
    return value


def load_space(spec: str) -> Space:
    """The space named by ``--space``: a JSON file (:meth:`Space.to_dict`'s format), or
    ``MODULE:NAME`` for a :class:`Space` object in an importable module.

    Raises:
        ConfigurationError: no such file or module, not JSON, or not a space.
    """
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".json" or path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigurationError(f"--space {spec}: cannot read it ({exc})") from None
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"--space {spec} is not JSON: {exc}") from None
        try:
            return Space.from_dict(data)
        except SpaceError as exc:
            raise ConfigurationError(
                f"--space {spec} is not a space: {exc}. Write it as Space.to_dict() does, e.g. "
                '{"dimensions": [{"name": "lr", "type": "float", "low": 0.0001, "high": 0.1, '
                '"log": true}], "fidelity": {"name": "epochs", "type": "fidelity", "low": 1, '
                '"high": 50, "unit": "epochs"}}'
            ) from None
    module, sep, attr = spec.partition(":")
    if not sep or not all(p.isidentifier() for p in [*module.split("."), *attr.split(".")]):
        raise ConfigurationError(
            f"--space {spec} is neither a JSON file nor MODULE:NAME (e.g. train:space for "
            "space = hr.Space(...) in train.py)"
        )
    value = _from_module(spec)
    if not isinstance(value, Space):
        raise ConfigurationError(
            f"--space {spec} is a {type(value).__name__}, not a hyperrace.Space"
        )
    return value


def cmd_create(args: argparse.Namespace) -> int:
    if args.storage in MEMORY_NAMES:
        raise ConfigurationError(
            f"--storage {mask_url(args.storage)} is gone when the command ends; create the study "
            "in a SQLite file or PostgreSQL"
        )
    space = load_space(args.space)
    from hyperrace.storage import open_storage

    storage = open_storage(args.storage)
    if storage.get_study(args.name) is not None:
        raise ConfigurationError(
            f"study {args.name!r} exists already in {mask_url(storage.url)}; see it with "
            f"`hyperrace show {args.name}`, delete it with `hyperrace delete {args.name}`, or "
            "choose another name"
        )
    study = Study(
        args.name,
        space,
        direction=args.direction,
        storage=storage,
        optimizer=args.optimizer,
        seed=args.seed,
    )
    sys.stdout.write(
        f"created study {study.name!r} in {mask_url(storage.url)}: {study.direction}, optimizer "
        f"{study.optimizer.name}, seed {study.seed}, space {space!r}\n"
        f"start workers with: hyperrace worker --study {study.name} --objective MODULE:FUNCTION"
        + ("" if args.storage == DEFAULT_URL else f" --storage {mask_url(args.storage)}")
        + "\n"
    )
    return 0


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise ConfigurationError(
            "delete asks for confirmation on a terminal; here, pass --yes to delete"
        )
    sys.stdout.write(f"{question} [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def cmd_delete(args: argparse.Namespace) -> int:
    storage = open_existing(args.storage)
    info = find(storage, args.name)
    n = len(storage.history(info.study_id).trials)
    question = f"delete study {args.name!r} and its {n} trials from {mask_url(storage.url)}?"
    if not args.yes and not _confirm(question):
        sys.stdout.write("nothing deleted\n")
        return 1
    storage.delete_study(args.name)
    artifacts = info.attrs.get("artifacts")
    left = (
        f"; its checkpoints are left in {artifacts} (remove that folder to free the space)"
        if artifacts and Path(artifacts).is_dir()
        else ""
    )
    sys.stdout.write(
        f"deleted study {args.name!r} ({n} trials) from {mask_url(storage.url)}{left}\n"
    )
    return 0


def add_parsers(
    add: Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser],
) -> None:
    """Add ``create`` and ``delete`` with ``add(name, handler, help)`` (the main parser's)."""
    from hyperrace.optimizers import available

    p = add("create", cmd_create, "create a study (for `hyperrace worker` processes to join)")
    p.add_argument("name", help="the new study's name")
    p.add_argument(
        "--space",
        required=True,
        metavar="SPACE",
        help="a JSON file as Space.to_dict() writes it, or MODULE:NAME of a hyperrace.Space "
        "in an importable module (looked up from the working directory)",
    )
    p.add_argument(
        "--direction",
        choices=["minimize", "maximize"],
        default="minimize",
        help="minimize (default) or maximize the reported value",
    )
    p.add_argument(
        "--optimizer",
        choices=sorted(available()),
        default=None,
        metavar="NAME",
        help="a registered optimizer (default: asha for a space with a fidelity, gp_ei "
        f"without one); one of: {', '.join(sorted(available()))}",
    )
    p.add_argument("--seed", type=int, default=None, help="the study's seed (default: fresh)")
    p = add("delete", cmd_delete, "delete a study with its trials and decisions")
    p.add_argument("name", help="the study's name")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
