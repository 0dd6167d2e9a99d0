"""Several processes driving one study at once lose nothing and duplicate nothing."""

from __future__ import annotations

import json

import hyperrace as hr
from hyperrace.testing import stress

SPACE = hr.Space(x=hr.Float(0.0, 1.0), y=hr.Float(-1.0, 1.0), epochs=hr.Fidelity(1, 20))


def test_four_processes_report_concurrently_and_every_report_is_stored_once(
    shared_url: str,
) -> None:
    study = hr.Study("busy", SPACE, storage=shared_url, seed=9, optimizer="random")
    procs = [stress.spawn(shared_url, "busy", 500) for _ in range(4)]
    reported: list[tuple[int, float, float]] = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        rows = [tuple(json.loads(line)) for line in out.splitlines()]
        assert len(rows) == 500
        reported.extend(rows)  # type: ignore[arg-type]
    h = study.history(decisions=True)
    stored = [(t.trial_id, o.fidelity, o.value) for t in h.trials for o in t.curve]
    assert len(stored) == len(set(stored)) == 2000
    assert sorted(stored) == sorted(reported)
    # every trial was run by exactly one process: its steps are consecutive from 1
    for t in h.trials:
        assert [o.fidelity for o in t.curve] == list(range(1, len(t.curve) + 1))
    assert [d.index for d in h.decisions] == list(range(h.n_decisions))
    assert len({d.trial_id for d in h.decisions if d.kind == "start"}) == len(h.trials)
