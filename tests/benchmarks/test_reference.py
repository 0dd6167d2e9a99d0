"""best_known: the lowest sampled final loss (or a known optimum), cached safely in JSON."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from hyperrace.benchmarks import LCBench, Step, SyntheticCurves, Task, best_known
from hyperrace.benchmarks._reference import CACHE_ENV, CHUNK, reference_range
from hyperrace.exceptions import ConfigurationError
from hyperrace.space import Space


class SyntheticTask:
    """A :class:`SyntheticCurves` task that counts the configs it evaluates, with a known optimum
    that can be set."""

    def __init__(self, seed: int = 0, *, optimum: float | None = None) -> None:
        self.curves = SyntheticCurves(seed=seed, max_epochs=9)
        self.name = f"synthetic-{seed}"
        self.space: Space = self.curves.space
        self._optimum = optimum
        self.evaluated = 0

    @property
    def optimum(self) -> float:
        return self.curves.optimum if self._optimum is None else self._optimum

    @property
    def max_epochs(self) -> int:
        return self.curves.max_epochs

    def step(self, config: Mapping[str, Any], epoch: int) -> Step:
        return Step(self.curves.value(config, epoch), self.curves.step_seconds(config))

    def final_losses(self, configs: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        self.evaluated += len(configs)
        return np.array([self.curves.final_loss(c) for c in configs], dtype=np.float64)


class NaNTask(SyntheticTask):
    """Every other config diverges (NaN); with ``all_nan`` every one does."""

    def __init__(self, *, all_nan: bool = False) -> None:
        super().__init__(0)
        self.name = "nan"
        self.all_nan = all_nan

    @property
    def optimum(self) -> float:
        raise AttributeError("no known optimum")

    def final_losses(self, configs: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        losses = super().final_losses(configs)
        losses[:: 1 if self.all_nan else 2] = np.nan
        return losses


def _sampled(task: Task, samples: int, seed: int) -> npt.NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    return task.final_losses([task.space.sample(rng) for _ in range(samples)])


def test_the_sampled_minimum_of_a_real_task_is_cached(tmp_path: Path) -> None:
    task = LCBench("3945")
    cache = tmp_path / "best.json"
    samples = CHUNK + 500  # two chunks: the sample does not depend on the chunking
    value = best_known(task, samples=samples, seed=4, cache=cache)
    losses = _sampled(task, samples, 4)
    assert value == pytest.approx(losses.min(), abs=1e-4)
    entries = json.loads(cache.read_text())["entries"]
    (worst,) = [e["worst"] for e in entries.values()]
    assert worst == pytest.approx(losses.max(), abs=1e-4)
    assert list(entries.values()) == [
        {
            "task": "lcbench-3945",
            "samples": samples,
            "seed": 4,
            "sampled": value,
            "value": value,
            "worst": worst,
        }
    ]
    assert reference_range(task, samples=samples, seed=4, cache=cache) == (value, worst)


def test_cache_hits_and_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "folder"))
    task = SyntheticTask(0, optimum=10.0)  # a known optimum worse than the sample: not used
    first = best_known(task, samples=300, seed=1)
    assert first == _sampled(SyntheticTask(0), 300, 1).min()
    assert task.evaluated == 300
    assert best_known(task, samples=300, seed=1) == first
    assert task.evaluated == 300  # from the cache
    path = tmp_path / "folder" / "best_known.json"
    assert len(json.loads(path.read_text())["entries"]) == 1
    other_seed = best_known(task, samples=300, seed=2)
    more = best_known(task, samples=600, seed=1)
    assert task.evaluated == 1200
    assert other_seed != first and more <= first
    best_known(SyntheticTask(5), samples=10, seed=1)
    assert len(json.loads(path.read_text())["entries"]) == 4
    assert not list(path.parent.glob("*.tmp"))


def test_a_known_optimum_wins_when_lower(tmp_path: Path) -> None:
    task = SyntheticCurves(seed=2)
    assert isinstance(task, Task)
    value = best_known(task, samples=200, cache=tmp_path / "c.json")
    assert value == task.optimum < _sampled(task, 200, 0).min()
    record = next(iter(json.loads((tmp_path / "c.json").read_text())["entries"].values()))
    assert record["value"] == value < record["sampled"]


def test_nan_losses_are_ignored_unless_all_are_nan(tmp_path: Path) -> None:
    cache = tmp_path / "c.json"
    losses = _sampled(SyntheticTask(0), 50, 0)
    assert best_known(NaNTask(), samples=50, cache=cache) == losses[1::2].min()
    with pytest.raises(ConfigurationError, match=r"every one of the 50 .*'nan'.*NaN"):
        best_known(NaNTask(all_nan=True), samples=50, seed=3, cache=cache)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"samples": 0}, r"best_known: samples=0 must be an integer >= 1"),
        ({"samples": 2.5}, r"samples=2.5"),
        ({"samples": True}, r"samples=True"),
        ({"seed": -1}, r"best_known: seed=-1 must be an integer >= 0"),
    ],
)
def test_bad_arguments_are_rejected(tmp_path: Path, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        best_known(SyntheticTask(0), cache=tmp_path / "c.json", **kwargs)


def test_a_foreign_cache_file_is_not_overwritten(tmp_path: Path) -> None:
    cache = tmp_path / "notes.json"
    for text in ("not json", "[1, 2]", '{"format": 99, "entries": {}}'):
        cache.write_text(text)
        with pytest.raises(ConfigurationError, match=rf"{cache} is not a best-known cache.*delete"):
            best_known(SyntheticTask(0), samples=5, cache=cache)
        assert cache.read_text() == text


def _best_in_child(args: tuple[str, int]) -> float:
    cache, seed = args
    return best_known(SyntheticTask(seed % 3), samples=200, seed=seed, cache=cache)


def test_parallel_processes_keep_every_entry(tmp_path: Path) -> None:
    cache = str(tmp_path / "shared.json")
    jobs = [(cache, seed) for seed in range(8)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        values = list(pool.map(_best_in_child, jobs))
    entries = json.loads(Path(cache).read_text())["entries"]
    assert len(entries) == 8
    assert sorted(e["value"] for e in entries.values()) == sorted(values)
    tasks = {seed: SyntheticTask(seed % 3) for _, seed in jobs}
    again = [best_known(t, samples=200, seed=s, cache=cache) for s, t in tasks.items()]
    assert again == values
    assert sum(t.evaluated for t in tasks.values()) == 0  # all answered from the cache
    assert not list(tmp_path.glob("*.tmp"))
