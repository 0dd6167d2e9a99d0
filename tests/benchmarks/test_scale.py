"""benchmarks/scale.py: the bulk builder writes, on the real PostgreSQL server, a study that
the API reads back as written (counts, versions, kept best values equal to History's), and
that a second build finds instead of writing again."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest

from hyperrace.storage import open_storage
from hyperrace.trial import TrialStatus

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "scale.py"


@pytest.fixture(scope="module")
def scale() -> dict[str, Any]:
    return runpy.run_path(str(SCRIPT))


@pytest.mark.postgres
def test_the_bulk_built_study_reads_back_consistent(scale: dict[str, Any], pg_url: str) -> None:
    built = scale["build"](pg_url, 200, log=lambda _: None)
    assert built.built and built.trials == 200
    assert 8 <= built.observations / built.trials <= 12  # about 10 per trial
    assert built.starts == 200 and built.decisions > 200  # a start each, resumes at rungs
    assert scale["verify"](pg_url, built) == []

    storage = open_storage(pg_url)
    try:
        h = storage.history(built.study_id, decisions=True)
        (summary,) = storage.list_studies()
        trial = storage.trial(h.trials[0].trial_id)
    finally:
        storage.close()
    assert len(h.trials) == 200
    assert sum(len(t.curve) for t in h.trials) == built.observations
    assert h.n_decisions == len(h.decisions) == built.decisions
    assert [d.index for d in h.decisions] == list(range(built.decisions))
    assert h.version == 2 * built.decisions + built.observations
    assert summary.n_trials == 200 and summary.best_value == h.best_value()
    assert built.best_curve == h.best_value("curve")
    completed = h.with_status(TrialStatus.COMPLETED)
    assert completed and all(t.fidelity == 90.0 for t in completed)
    assert trial == h.trials[0]

    again = scale["build"](pg_url, 200, log=lambda _: None)
    assert not again.built
    assert (again.trials, again.observations, again.decisions, again.version) == (
        built.trials,
        built.observations,
        built.decisions,
        built.version,
    )


@pytest.mark.postgres
def test_the_columnar_read_finds_the_records_values(
    scale: dict[str, Any], pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """benchmarks/columnar_read.py reads the built study both ways and checks that the columns
    hold the records' values in their order (it exits with an error otherwise)."""
    built = scale["build"](pg_url, 200, log=lambda _: None)
    script = runpy.run_path(str(SCRIPT.parent / "columnar_read.py"))
    assert script["main"](["--url", pg_url, "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert f"200 trials, {built.observations} observations" in out
    assert "| `storage.history` (fresh storage) |" in out
