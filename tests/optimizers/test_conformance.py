"""Every registered optimizer passes the conformance suite (enrolled from the registry)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hyperrace.testing.conformance import CHECKS, all_checks

#: optimizers that need an optional extra, and the module that extra provides
NEEDS = {"gp_ei": "botorch", "dyhpo": "torch", "dpl": "torch", "race": "torch"}


@pytest.mark.parametrize(("name", "check"), list(all_checks()))
def test_conformance(name: str, check: str) -> None:
    if name in NEEDS:
        pytest.importorskip(NEEDS[name], reason=f"{name} needs the optional package {NEEDS[name]}")
    CHECKS[check](name)


_SCRIPT = """
import json, sys
import hyperrace as hr
from hyperrace.testing.conformance import spaces
from hyperrace.testing.history import drive
from hyperrace.testing.objectives import curve_value
out = {}
for name in sys.argv[1:]:
    study = hr.Study("det", spaces()["fidelity"], storage="memory://", seed=123, optimizer=name)
    jobs = []
    drive(study, 12, curve_value, on_job=lambda s, j: jobs.append([dict(j.config), j.stop, j.kind]))
    out[name] = jobs
print(json.dumps(out, sort_keys=True))
"""


def test_decisions_are_the_same_in_a_fresh_process() -> None:
    from hyperrace.optimizers import available

    names = available()
    runs = [
        subprocess.run(
            [sys.executable, "-c", _SCRIPT, *names], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    ]
    here = json.loads(runs[0])
    assert here == json.loads(runs[1])
    assert set(here) == set(names)
    assert all(len(jobs) > 0 for jobs in here.values())
