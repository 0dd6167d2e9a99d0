"""A worker for concurrency and crash tests: ``python -m hyperrace.testing.stress``.

It joins a study by name and runs ask / report / tell until it has made ``--reports`` reports,
then prints one JSON line per report it made (``[trial_id, fidelity, value]``), so a test can
check that the storage holds every report exactly once. With ``--log FILE`` it also appends each
report to FILE after the report is committed (flushed and fsynced), for tests that kill it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import hyperrace as hr
from hyperrace.testing.objectives import curve_value


def spawn(
    storage: str, study: str, reports: int, *, log: str | None = None, capture: bool = True
) -> subprocess.Popen[str]:
    """Start this worker in a new process; its stdout is piped when ``capture``."""
    cmd = [sys.executable, "-m", "hyperrace.testing.stress", "--storage", storage]
    cmd += ["--study", study, "--reports", str(reports)]
    if log is not None:
        cmd += ["--log", log]
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hyperrace.testing.stress")
    parser.add_argument("--storage", required=True)
    parser.add_argument("--study", required=True)
    parser.add_argument("--reports", type=int, default=500)
    parser.add_argument("--log", default=None)
    args = parser.parse_args(argv)

    study = hr.Study(args.study, storage=args.storage)
    log = open(args.log, "a", encoding="utf-8") if args.log else None  # noqa: SIM115
    made: list[tuple[int, float, float]] = []
    try:
        while len(made) < args.reports:
            job = study.ask()
            if not isinstance(job, hr.Job):
                break
            f = int(job.start)
            while f < job.stop and len(made) < args.reports:
                f += 1
                value = curve_value(dict(job.config), f) + job.trial_id * 1e-6
                study.report(job.trial_id, fidelity=f, value=value)
                made.append((job.trial_id, float(f), value))
                if log is not None:
                    log.write(json.dumps([job.trial_id, float(f), value]) + "\n")
                    log.flush()
                    os.fsync(log.fileno())
            study.tell(job)
    finally:
        if log is not None:
            log.close()
    for row in made:
        sys.stdout.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
