"""The dashboard's JSON API against a real study: data, incremental refresh, clear errors, and
never a write to the storage."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from hyperrace.dashboard import create_app
from hyperrace.exceptions import ConfigurationError, StorageError

Server = Any  # the conftest's Server: .url is the base URL


def get(server: Server, path: str) -> Any:
    with urllib.request.urlopen(server.url + path, timeout=60) as response:
        return json.loads(response.read())


def status_of(server: Server, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(server.url + path, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_studies_and_overview_carry_the_data(server: Server) -> None:
    studies = get(server, "/api/studies")
    assert [s["name"] for s in studies] == ["race"] and studies[0]["n_trials"] > 20
    data = get(server, "/api/studies/race")
    assert data["changed"] is True
    assert data["summary"]["n_trials"] == studies[0]["n_trials"]
    assert data["summary"]["optimizer"]["name"] == "asha"
    assert set(data["figures"]) == {"race", "best", "timeline", "parallel"}
    names = [t["name"] for t in data["figures"]["race"]["data"]]
    assert any(n.startswith("promoted") for n in names)
    assert any(n.startswith("paused") for n in names)
    again = get(server, f"/api/studies/race?since={data['marker']}")
    assert again == {"marker": data["marker"], "changed": False}
    imp = get(server, "/api/studies/race/importance")
    assert imp["figure"]["data"][0]["type"] == "bar" and imp["figure"]["data"][0]["x"]


def test_trials_table_pages_and_trial_detail(server: Server) -> None:
    first = get(server, "/api/studies/race/trials?limit=5")
    assert first["total"] > 20 and len(first["trials"]) == 5
    assert first["trials"][0]["fidelity"] == 27  # best first: highest fidelity, then value
    second = get(server, "/api/studies/race/trials?limit=5&offset=5")
    ids = {t["trial_id"] for t in first["trials"]}
    assert ids.isdisjoint(t["trial_id"] for t in second["trials"])
    # the whole order: highest fidelity, then the lowest value there, then the oldest
    every = get(server, "/api/studies/race/trials?limit=1000")["trials"]
    assert len(every) == first["total"] and every[:10] == first["trials"] + second["trials"]
    keys = [
        (-t["fidelity"], math.inf if t["value"] is None else t["value"], t["number"]) for t in every
    ]
    assert keys == sorted(keys)
    numbered = get(server, "/api/studies/race/trials?limit=1000&order=number")["trials"]
    assert [t["number"] for t in numbered] == sorted(t["number"] for t in every)
    trial_id = first["trials"][0]["trial_id"]  # one identity: the API, the page, the folder
    trial = get(server, f"/api/studies/race/trials/{trial_id}")
    assert trial["detail"]["trial_id"] == trial_id
    assert Path(trial["checkpoints"]["folder"]).name == f"trial-{trial_id}"
    assert f"Trial {trial_id}:" in trial["figure"]["layout"]["title"]["text"]
    decisions = trial["detail"]["decisions"]
    assert decisions[0]["kind"] == "start" and len(decisions) >= 2
    assert [d["info"]["rung"] for d in decisions] == list(range(len(decisions)))
    assert trial["checkpoints"]["fidelity"] == 27
    assert trial["detail"]["devices"] == []  # simulated runs: none assigned
    assert any(f["name"].startswith("checkpoint") for f in trial["checkpoints"]["files"])


def test_bad_requests_get_clear_answers(server: Server) -> None:
    code, text = status_of(server, "/api/studies/nope")
    assert code == 404 and "study 'nope' does not exist" in text and "'race'" in text
    code, text = status_of(server, "/api/studies/race/trials/9999")
    assert code == 404 and "no trial 9999" in text
    code, text = status_of(server, "/api/studies/race/trials?order=worst")
    assert code == 422 and "order='worst' must be 'best' or 'number'" in text
    assert status_of(server, "/studies/nope")[0] == 404
    assert status_of(server, "/static/../_app.py")[0] == 404
    code, text = status_of(server, "/static/plotly.min.js")
    assert code == 200 and "plotly" in text[:2000].lower()


def test_the_dashboard_never_writes(study_url: str, server: Server) -> None:
    path = Path(study_url[len("sqlite:///") :])
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    for url in ("/api/studies", "/api/studies/race", "/api/studies/race/trials/0", "/"):
        status_of(server, url)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_create_app_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="there is no database at"):
        create_app(f"sqlite:///{tmp_path / 'missing.db'}")
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(ConfigurationError, match="empty in every new process"):
        create_app("memory://")
    with pytest.raises(ConfigurationError, match="refresh_seconds=0 must be a positive number"):
        create_app("memory://", refresh_seconds=0)


def test_dashboard_command_serves_the_storage(study_url: str) -> None:
    import socket
    import subprocess
    import sys
    import time

    script = Path(sys.executable).parent / "hyperrace"
    assert script.is_file(), f"the console script {script} is missing: pip install -e ."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [str(script), "dashboard", "--storage", study_url, "--port", str(port)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as r:
                    assert [s["name"] for s in json.loads(r.read())] == ["race"]
                    break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the dashboard did not answer in 60 s"
                time.sleep(0.2)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert f"on http://127.0.0.1:{port}" in out and "read-only" in out


def test_the_start_up_imports_what_the_pages_compute_with(study_url: str) -> None:
    # a fresh interpreter: scikit-learn (the importance view's forest) is not imported before
    # the application starts, and is once it has, before any request
    script = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from hyperrace.dashboard import create_app\n"
        f"app = create_app({study_url!r})\n"
        "before = 'sklearn.ensemble' in sys.modules\n"
        "with TestClient(app) as client:\n"
        "    after = 'sklearn.ensemble' in sys.modules\n"
        "    assert client.get('/api/studies/race/importance').status_code == 200\n"
        "print(before, after)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "True"]
