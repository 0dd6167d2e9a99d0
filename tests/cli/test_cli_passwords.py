"""No command prints the password of a storage URL: not in its output, its tables, its log
lines, nor its errors (a closed port, a missing database, a URL it cannot read)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import hyperrace as hr
from hyperrace.cli import main

PASSWORD = "s3cretPW"
CLOSED_PORT = f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/db"
NO_DATABASE = f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/nosuchdb"
UNREADABLE = f"postgresql://postgres:{PASSWORD}@127.0.0.1:notaport/db"
HYPERRACE = Path(sys.executable).parent / "hyperrace"


def with_password(url: str) -> str:
    scheme, rest = url.split("://", 1)
    user, _, host = rest.partition("@")
    return f"{scheme}://{user}:{PASSWORD}@{host}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def commands(tmp_path: Path) -> list[list[str]]:
    """Every command that opens a storage, without its ``--storage``."""
    space = tmp_path / "space.json"
    space.write_text(json.dumps(hr.Space(x=hr.Float(0.0, 1.0)).to_dict()))
    objective = ["--objective", "hyperrace.testing.objectives:learning_curve"]
    return [
        ["studies"],
        ["show", "s"],
        ["show", "s", "--trial", "0"],
        ["best", "s"],
        ["export", "s"],
        ["upgrade"],
        ["delete", "s", "--yes"],
        ["create", "s", "--space", str(space)],
        ["worker", "--study", "s", *objective],
        ["dashboard", "--port", str(free_port())],
        ["plot", "s", "--out", str(tmp_path / "race.png")],
    ]


@pytest.mark.postgres
@pytest.mark.parametrize("url", [CLOSED_PORT, NO_DATABASE, UNREADABLE])
def test_no_command_prints_the_password_of_a_storage_it_cannot_open(
    url: str,
    pg_server: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("hyperrace.storage._sql._RETRIES", 1)  # one try: the test is the message
    monkeypatch.setattr(sys, "path", list(sys.path))
    for command in commands(tmp_path):
        assert main([command[0], "--storage", url, *command[1:]]) == 2, command
        captured = capsys.readouterr()
        assert PASSWORD not in captured.out + captured.err, (command, captured)
        assert captured.err.startswith("error: "), (command, captured.err)
        assert "postgres:***@127.0.0.1" in captured.err, (command, captured.err)
    assert PASSWORD not in caplog.text


@pytest.mark.postgres
def test_commands_on_a_storage_with_a_password_show_it_masked(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = with_password(pg_url)
    masked = url.replace(PASSWORD, "***")
    space = tmp_path / "space.json"
    space.write_text(json.dumps(hr.Space(x=hr.Float(0.0, 1.0)).to_dict()))
    outputs = []
    for command, code in (
        (["create", "s", "--space", str(space), "--optimizer", "random"], 0),
        (["create", "s", "--space", str(space)], 2),  # it exists already
        (["studies"], 0),
        (["show", "s"], 0),
        (["show", "absent"], 2),
        (["upgrade"], 0),
        (["delete", "s", "--yes"], 0),
        (["studies"], 0),
    ):
        assert main([command[0], "--storage", url, *command[1:]]) == code, command
        captured = capsys.readouterr()
        outputs.append(captured.out + captured.err)
        assert PASSWORD not in outputs[-1], (command, outputs[-1])
    created, exists, listing, _, absent, upgraded, deleted, empty = outputs
    assert f"created study 's' in {masked}" in created and f"--storage {masked}" in created
    assert f"exists already in {masked}" in exists
    assert f"studies in {masked}" in listing
    assert f"does not exist in {masked}" in absent
    assert upgraded.startswith(f"{masked}: schema version")
    assert f"from {masked}" in deleted and f"no studies in {masked}" in empty


@pytest.mark.postgres
def test_a_worker_logs_the_storage_masked(pg_url: str, tmp_path: Path) -> None:
    url = with_password(pg_url)
    hr.Study("w", hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 2)), storage=url)
    args = [str(HYPERRACE), "worker", "--storage", url, "--study", "w", "--budget-trials", "1"]
    args += ["--objective", "hyperrace.testing.objectives:learning_curve"]
    done = subprocess.run(
        args, cwd=tmp_path, capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert f"joined study 'w' in {url.replace(PASSWORD, '***')}" in done.stderr, done.stderr


@pytest.mark.postgres
def test_the_dashboard_command_shows_the_storage_masked(pg_url: str) -> None:
    url = with_password(pg_url)
    hr.Study("d", hr.Space(x=hr.Float(0.0, 1.0)), storage=url)
    port = free_port()
    args = [str(HYPERRACE), "dashboard", "--storage", url, "--port", str(port)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    assert line.startswith(f"hyperrace dashboard of {url.replace(PASSWORD, '***')} on "), line + err
    assert PASSWORD not in line + out + err
