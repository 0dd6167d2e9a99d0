"""The ``hyperrace`` command line, run in-process through ``main(argv)`` (and once as the
installed console script) against a SQLite study built with ask / report / tell."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import hyperrace as hr
from hyperrace.cli import main
from hyperrace.history import History
from hyperrace.optimizers import Start
from hyperrace.space import Space

SPACE = hr.Space(
    lr=hr.Float(1e-3, 1.0, log=True),
    units=hr.Int(1, 8),
    act=hr.Categorical(["relu", "tanh"]),
    epochs=hr.Fidelity(1, 4),
)


def _value(i: int, fidelity: int) -> float:
    """A value with many digits, different for every (trial, fidelity)."""
    return 1.0 / (3.0 + 7.0 * i + fidelity) + math.pi * 1e-9


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A SQLite study 'alpha' with 4 trials (completed, paused, failed, completed) and an empty
    study 'beta'."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    study = hr.Study("alpha", SPACE, storage=url, seed=3, optimizer="random")
    for i, last in enumerate([4, 2, 1, 4]):
        job = study.ask()
        assert isinstance(job, hr.Job)
        for f in range(1, last + 1):
            study.report(job.trial_id, fidelity=f, value=_value(i, f))
        study.tell(job, error="boom" if i == 2 else None)
    hr.Study("beta", SPACE, storage=url, direction="maximize", seed=4, optimizer="random")
    return url


def _expected(url: str) -> Counter[tuple[int, float, float]]:
    study = hr.Study("alpha", storage=url)
    return Counter((t.number, o.fidelity, o.value) for t in study.trials for o in t.curve)


def test_cli_studies_lists_every_study(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["studies", "--storage", url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == [
        "name",
        "direction",
        "trials",
        "running",
        "completed",
        "failed",
        "best",
        "created",
    ]
    alpha = next(line.split() for line in lines if line.startswith("alpha"))
    beta = next(line.split() for line in lines if line.startswith("beta"))
    assert alpha[1:6] == ["minimize", "4", "0", "2", "1"]
    best = hr.Study("alpha", storage=url).best
    assert best is not None and best.last_value == _value(3, 4)
    assert float(alpha[6]) == pytest.approx(best.last_value, rel=1e-5)
    assert beta[1:7] == ["maximize", "0", "0", "0", "0", "-"]


def test_cli_studies_of_an_empty_storage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert main(["upgrade", "--storage", url]) == 0
    assert main(["studies", "--storage", url]) == 0
    assert "no studies in" in capsys.readouterr().out


def test_cli_show_lists_trials_with_config(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "alpha", "--storage", url]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = lines[1].split()
    assert header == [
        "trial",
        "status",
        "fidelity",
        "value",
        "work",
        "reason",
        "lr",
        "units",
        "act",
    ]
    rows = [line.split() for line in lines[3:7]]
    ids = [str(t.trial_id) for t in hr.Study("alpha", storage=url).trials]
    assert [r[:3] for r in rows] == [
        [ids[0], "completed", "4"],
        [ids[1], "paused", "2"],
        [ids[2], "failed", "1"],
        [ids[3], "completed", "4"],
    ]
    assert [r[5] for r in rows] == ["reached", "objective_returned", "error", "reached"]
    for row, trial in zip(rows, hr.Study("alpha", storage=url).trials, strict=True):
        assert row[8] == trial.config["act"]
        assert int(row[7]) == trial.config["units"]
        assert float(row[6]) == pytest.approx(trial.config["lr"], rel=1e-3)
    assert "best: trial" in out


def test_cli_show_limit(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "alpha", "--storage", url, "--limit", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    first = hr.Study("alpha", storage=url).trials[0]
    assert lines[3].split()[:2] == [str(first.trial_id), "completed"]
    assert lines[4] == "showing 1 of 4 trials; see more with --limit N or --all"


def test_cli_show_prints_a_first_page_by_default_and_every_trial_with_all(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hyperrace.cli import _commands

    monkeypatch.setattr(_commands, "SHOWN_BY_DEFAULT", 3)
    ids = [str(t.trial_id) for t in hr.Study("alpha", storage=url).trials]
    assert main(["show", "alpha", "--storage", url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[3:6]] == ids[:3]
    assert lines[6] == "showing 3 of 4 trials; see more with --limit N or --all"
    assert main(["show", "alpha", "--storage", url, "--all"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()[3:7]] == ids
    assert "showing" not in out and "4 trials" in out
    assert main(["show", "alpha", "--storage", url, "--all", "--limit", "2"]) == 2
    assert "--limit 2 and --all" in capsys.readouterr().err


def test_cli_show_and_best_name_the_trial_the_history_ranks_best_under_either_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The best trial is read alone (from the values the storage keeps with the study): the
    same as the history's under the study's rule, ties to the older trial."""
    url = f"sqlite:///{tmp_path / 'rules.db'}"
    for by, expected in (("last", 1), ("curve", 0)):
        study = hr.Study(f"by-{by}", SPACE, storage=url, seed=3, optimizer="random", best_by=by)
        for curve in ([0.2, 0.5], [0.9, 0.3], [0.8, 0.3], [0.25]):
            job = study.ask()
            assert isinstance(job, hr.Job)
            for f, value in enumerate(curve, start=1):
                study.report(job.trial_id, fidelity=f, value=value)
            study.tell(job)
        best = study.history().best(by)
        assert best is not None and best.number == expected
        assert main(["best", f"by-{by}", "--storage", url, "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert (data["trial_id"], data["best_by"]) == (best.trial_id, by)
        assert data["value"] == study.history().best_value(by)
        assert main(["show", f"by-{by}", "--storage", url, "--limit", "1"]) == 0
        shown = capsys.readouterr().out
        assert f"best: trial {best.trial_id}, value {study.history().best_value(by):.6g}" in shown


def test_cli_best(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    best = hr.Study("alpha", storage=url).best
    assert best is not None and best.last_value is not None
    assert main(["best", "alpha", "--storage", url]) == 0
    out = capsys.readouterr().out
    assert f"trial {best.trial_id}\n" in out
    assert "ranked by the value at the highest fidelity reached" in out
    assert repr(best.last_value) in out
    assert repr(best.config["lr"]) in out


def test_cli_best_json(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    best = hr.Study("alpha", storage=url).best
    assert best is not None
    assert main(["best", "alpha", "--storage", url, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["trial_id"], data["number"], data["best_by"]) == (
        best.trial_id,
        best.number,
        "last",
    )
    assert data["value"] == best.last_value  # exact: JSON keeps every digit
    assert data["fidelity"] == best.fidelity == 4
    assert data["config"] == dict(best.config)


def test_cli_best_without_values(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["best", "beta", "--storage", url, "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out) is None
    assert "has no value yet from a trial that did not fail" in captured.err


def _check_rows(records: list[dict[str, Any]], url: str, parse: Any) -> None:
    seen = Counter(
        (int(r["number"]), parse(r["fidelity"]), parse(r["value"]))
        for r in records
        if r["value"] not in (None, "")
    )
    expected = _expected(url)
    assert seen == expected
    assert all(n == 1 for n in seen.values())
    assert len(records) == sum(expected.values())
    assert {r["params_act"] for r in records} <= {"relu", "tanh"}
    for r in records:  # moments as ISO 8601 text, in UTC
        assert r["datetime"].endswith("+00:00") and r["datetime"][:2] == "20"


def test_cli_export_csv(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "alpha", "--storage", url, "--format", "csv"]) == 0
    records = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    _check_rows(records, url, float)


def test_cli_export_json_to_file(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "alpha.json"
    assert main(["export", "alpha", "--storage", url, "--format", "json", "--out", str(out)]) == 0
    assert capsys.readouterr().out == ""
    records = json.loads(out.read_text())
    assert isinstance(records, list)
    _check_rows(records, url, lambda x: x)


def test_cli_missing_study_lists_existing_ones(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in (
        ["show", "nope"],
        ["show", "nope", "--trial", "1"],
        ["best", "nope"],
        ["export", "nope"],
        ["plot", "nope", "--out", str(Path(url[10:]).parent / "x.png")],
        ["delete", "nope", "--yes"],
    ):
        assert main([*command, "--storage", url]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: study 'nope' does not exist"), err
        assert "'alpha'" in err and "'beta'" in err
        assert f"`hyperrace studies --storage {url}`" in err  # advice for the command line,
        assert "hyperrace create nope" in err
        assert "pass a space" not in err and "hr.Study" not in err  # not for Python


def test_cli_missing_database_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "absent.db"
    assert main(["studies", "--storage", f"sqlite:///{path}"]) == 2
    assert capsys.readouterr().err.startswith("error: there is no database at")
    assert not path.exists()


def test_cli_upgrade(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from hyperrace.storage._schema import SCHEMA_VERSION

    assert main(["upgrade", "--storage", url]) == 0
    assert f"schema version {SCHEMA_VERSION}" in capsys.readouterr().out
    assert main(["studies", "--storage", url]) == 0
    assert "alpha" in capsys.readouterr().out


def test_cli_errors_and_interrupts(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hyperrace.cli import _commands

    def interrupted(_args: object) -> int:
        raise KeyboardInterrupt

    def broken(_args: object) -> int:
        raise hr.ConfigurationError("bad thing")

    monkeypatch.setattr(_commands, "cmd_studies", interrupted)
    assert main(["studies", "--storage", url]) == 130
    assert "resume" in capsys.readouterr().err
    monkeypatch.setattr(_commands, "cmd_studies", broken)
    assert main(["studies", "--storage", url]) == 2
    assert capsys.readouterr().err == "error: bad thing\n"
    assert main(["show"]) == 2  # usage error from argparse
    assert main(["show", "alpha", "--storage", url, "--limit", "-1"]) == 2
    capsys.readouterr()


class _Fixed:
    """An optimizer object that is not registered by name."""

    name: ClassVar[str] = "unregistered-test-optimizer"

    def get_params(self) -> dict[str, Any]:
        return {}

    def decide(self, space: Space, history: History, rng: np.random.Generator) -> Start:
        return Start({"lr": 0.01, "units": 2, "act": "tanh"}, 4.0)


def test_cli_reads_a_study_with_an_unregistered_optimizer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'custom.db'}"
    study = hr.Study("custom", SPACE, storage=url, optimizer=_Fixed(), seed=0)
    job = study.ask()
    assert isinstance(job, hr.Job)
    study.report(job.trial_id, fidelity=1, value=0.5)
    study.tell(job)
    assert main(["show", "custom", "--storage", url]) == 0
    assert "unregistered-test-optimizer" in capsys.readouterr().out
    assert main(["best", "custom", "--storage", url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["value"] == 0.5


def test_cli_imports_neither_torch_nor_sklearn() -> None:
    code = (
        "import sys, hyperrace.cli, hyperrace.benchmarks\n"
        "from hyperrace.cli._main import build_parser\n"
        "build_parser()\n"
        "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_cli_console_script(url: str) -> None:
    script = shutil.which("hyperrace", path=str(Path(sys.executable).parent))
    assert script is not None, "the hyperrace console script is not installed next to Python"
    done = subprocess.run(
        [script, "best", "alpha", "--storage", url, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    best = hr.Study("alpha", storage=url).best
    assert best is not None
    assert json.loads(done.stdout)["value"] == best.last_value
    missing = subprocess.run(
        [script, "show", "nope", "--storage", url], capture_output=True, text=True, timeout=120
    )
    assert missing.returncode == 2
    assert "'alpha'" in missing.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_cli_tables_use_rich_in_a_wide_enough_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("rich")
    from hyperrace.cli._tables import render_table

    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")
    narrow = _Terminal()
    render_table(["name", "value"], [["a", 0.125], ["b", None]], narrow, title="t")
    assert "─" in narrow.getvalue() and "0.125" in narrow.getvalue()
    wide = _Terminal()
    headers = [f"column_{i}" for i in range(12)]
    render_table(headers, [list(range(12))], wide)
    lines = wide.getvalue().splitlines()
    assert lines[0].split() == headers  # plain lines: rich would cut the cells short
    assert lines[2].split() == [str(i) for i in range(12)]


def test_cli_demo_without_torch_fails_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hyperrace.cli import _demo

    def missing(module: str, extra: str, purpose: str) -> object:
        raise hr.MissingDependencyError(
            f"{purpose} needs {module!r}: pip install 'hyperrace[{extra}]'"
        )

    monkeypatch.setattr(_demo, "require", missing)
    path = tmp_path / "demo.db"
    assert main(["demo", "--storage", f"sqlite:///{path}"]) == 2
    assert "pip install 'hyperrace[torch]'" in capsys.readouterr().err
    assert not path.exists()


def test_cli_show_trial_gives_a_failed_trials_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    study = hr.Study("fails", SPACE, storage=url, seed=1, optimizer="random")

    def objective(trial: hr.Trial) -> None:
        trial.set_user_attr("note", "first try")
        for epoch in trial.epochs():
            if epoch == 3:
                raise ZeroDivisionError("the loss divided by zero")
            trial.report(1.0 / epoch, checkpoint={"epoch": epoch})

    study.optimize(objective, budget=hr.Budget(trials=1), progress=False)
    (trial,) = study.trials
    assert main(["show", "fails", "--storage", url, "--trial", str(trial.trial_id)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"trial {trial.trial_id} of study 'fails': failed (error)")
    assert f"at epochs 2 in {study.artifacts / f'trial-{trial.trial_id}'}" in out
    assert "note  'first try'" in out and "config:" in out and repr(trial.config["lr"]) in out
    assert "curve:" in out and "runs (the decisions that trained it):" in out
    traceback = out.split("traceback:\n", 1)[1]
    assert "Traceback (most recent call last)" in traceback
    assert "ZeroDivisionError: the loss divided by zero" in traceback
    assert main(["show", "fails", "--storage", url, "--trial", "9999"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: study 'fails' has no trial 9999 (its trials are {trial.trial_id}"
    )


def test_cli_create_then_delete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'made.db'}"
    spec = tmp_path / "space.json"
    spec.write_text(json.dumps(SPACE.to_dict()))
    argv = ["create", "made", "--space", str(spec), "--storage", url, "--direction", "maximize"]
    assert main([*argv, "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert "created study 'made'" in out and "optimizer asha" in out
    assert "hyperrace worker --study made --objective MODULE:FUNCTION" in out
    made = hr.Study("made", storage=url)
    assert (made.space, made.direction, made.seed, made.optimizer.name) == (
        SPACE,
        "maximize",
        5,
        "asha",
    )
    assert main(argv) == 2
    assert "study 'made' exists already" in capsys.readouterr().err

    (tmp_path / "spaces.py").write_text(
        "import hyperrace as hr\nflat = hr.Space(x=hr.Float(0.0, 1.0))\nnot_a_space = 3\n"
    )
    monkeypatch.chdir(tmp_path)
    assert (
        main(["create", "flat", "--space", "spaces:flat", "--storage", url, "--optimizer", "tpe"])
        == 0
    )
    assert hr.Study("flat", storage=url).optimizer.name == "tpe"
    for bad, said in (
        ("spaces:not_a_space", "is a int, not a hyperrace.Space"),
        ("spaces:nothing", "has no 'nothing'"),
        ("absent.json", "cannot read it"),
        ("just words", "neither a JSON file nor MODULE:NAME"),
    ):
        assert main(["create", "x", "--space", bad, "--storage", url]) == 2
        assert said in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('{"dimensions": 3}')
    assert main(["create", "x", "--space", "bad.json", "--storage", url]) == 2
    assert "is not a space" in capsys.readouterr().err

    made.optimize(lambda t: 0.5, budget=hr.Budget(trials=2), progress=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # not a terminal: --yes is needed
    assert main(["delete", "made", "--storage", url]) == 2
    assert "pass --yes" in capsys.readouterr().err
    assert main(["delete", "made", "--storage", url, "--yes"]) == 0
    out = capsys.readouterr().out
    assert "deleted study 'made' (2 trials)" in out
    assert hr.Study("flat", storage=url).name == "flat"
    with pytest.raises(hr.StudyNotFoundError):
        hr.Study("made", storage=url)


def test_cli_plot_writes_svg_and_pdf(url: str, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    svg, pdf = tmp_path / "race.svg", tmp_path / "best.pdf"
    assert main(["plot", "alpha", "--storage", url, "--out", str(svg)]) == 0
    assert "<svg" in svg.read_text()[:2000]
    assert main(["plot", "alpha", "--storage", url, "--out", str(pdf), "--view", "best"]) == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    assert main(["plot", "alpha", "--storage", url, "--out", str(tmp_path / "x.gif")]) == 2


def test_cli_export_per_trial(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "alpha", "--storage", url, "--per", "trial", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    trials = hr.Study("alpha", storage=url).trials
    assert [r["trial_id"] for r in records] == [t.trial_id for t in trials]
    assert [r["state"] for r in records] == ["completed", "paused", "failed", "completed"]
    assert records[0]["datetime_complete"] is not None and records[1]["datetime_complete"] is None
    assert records[0]["duration_seconds"] >= 0.0
    assert records[2]["message"] == "boom"


def test_cli_dashboard_says_a_taken_port_before_anything_else(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("uvicorn")
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        assert main(["dashboard", "--storage", url, "--port", str(port)]) == 2
    finally:
        taken.close()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"error: port {port} on 127.0.0.1 is taken (another dashboard, or another server, "
        f"listens there); pick another, e.g. --port {port + 1} (serve(port=...) from Python), "
        "or stop what listens there\n"
    )


def test_cli_dashboard_serves_on_the_socket_it_bound(url: str, tmp_path: Path) -> None:
    pytest.importorskip("uvicorn")
    import socket
    import urllib.request

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hyperrace", "dashboard", "--storage", url, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(f"hyperrace dashboard of {url} on http://127.0.0.1:{port} "), (
            line + proc.stderr.read() if proc.poll() is not None and proc.stderr else line
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=60) as r:
            names = [s["name"] for s in json.loads(r.read())]
        assert names == ["alpha", "beta"]
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
