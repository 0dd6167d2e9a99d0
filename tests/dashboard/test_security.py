"""Off loopback the dashboard requires its token on every request (plain HTTP through the app's
test client and a served app, and a real browser); its pages never show a storage password."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import pytest

import hyperrace as hr
from hyperrace.dashboard import (
    TOKEN_ENV,
    check_token,
    create_app,
    is_loopback,
    require_token,
)

with warnings.catch_warnings():
    # Starlette asks for its httpx fork where plain httpx is installed: the client works the same
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

TOKEN = "k9sJ2-vX_q7LmNp0aB4cD8eF"
HYPERRACE = Path(sys.executable).parent / "hyperrace"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), exc.headers


@pytest.fixture
def client(study_url: str) -> TestClient:
    return TestClient(create_app(study_url, token=TOKEN), follow_redirects=False)


PATHS = ["/", "/studies/race", "/api/studies", "/api/studies/race", "/static/app.js"]


def test_every_request_without_the_token_gets_401_saying_how_to_give_it(
    client: TestClient,
) -> None:
    for path in PATHS:
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == 'Bearer realm="hyperrace"'
        assert "no token was given" in response.text and "Authorization: Bearer" in response.text
        assert TOKEN not in response.text
    assert client.get("/api/studies").json()["detail"].startswith("401 Unauthorized")
    assert "<h1>Token required</h1>" in client.get("/").text
    for wrong in (
        {"Authorization": "Bearer " + TOKEN[:-1] + "x"},
        {"Authorization": "Bearer " + TOKEN + "x"},
        {"Cookie": "hyperrace_token=" + TOKEN.upper()},
    ):
        response = client.get("/api/studies", headers=wrong)
        assert response.status_code == 401 and "does not match" in response.text, wrong
    assert client.get("/api/studies", params={"token": "é" * 20}).status_code == 401
    basic = client.get("/api/studies", headers={"Authorization": "Basic " + TOKEN})
    assert basic.status_code == 401  # only a bearer token counts


def test_a_bearer_header_or_a_token_query_lets_requests_through(client: TestClient) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for path in PATHS:
        assert client.get(path, headers=bearer).status_code == 200, path
    data = client.get("/api/studies", params={"token": TOKEN})
    assert data.status_code == 200 and data.json()[0]["name"] == "race"
    assert "HttpOnly" in data.headers["set-cookie"]


def test_a_page_opened_with_the_token_sets_a_cookie_and_drops_it_from_the_address(
    study_url: str,
) -> None:
    fresh = TestClient(create_app(study_url, token=TOKEN), follow_redirects=False)
    opened = fresh.get("/studies/race", params={"token": TOKEN, "colour": "rung"})
    assert opened.status_code == 303
    assert opened.headers["location"] == "/studies/race?colour=rung"
    cookie = opened.headers["set-cookie"]
    assert cookie.startswith(f"hyperrace_token={TOKEN};")
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Path=/" in cookie
    # the page's own requests (scripts, polls, links) now carry the cookie
    for path in PATHS:
        assert fresh.get(path).status_code == 200, path


def test_loopback_without_a_token_stays_open(study_url: str) -> None:
    open_app = TestClient(create_app(study_url))
    for path in PATHS:
        assert open_app.get(path).status_code == 200, path


def test_tokens_are_checked_and_chosen_where_the_dashboard_listens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    for host in ("127.0.0.1", "::1", "localhost", "127.0.1.1"):
        assert is_loopback(host), host
        assert require_token(host, None) == (None, False)
    for host in ("0.0.0.0", "::", "192.0.2.1", "10.1.2.3"):
        assert not is_loopback(host), host
    token, generated = require_token("0.0.0.0", None)
    assert generated and token is not None and len(token) >= 40
    assert require_token("0.0.0.0", None)[0] != token  # a new one each time
    assert require_token("0.0.0.0", TOKEN) == (TOKEN, False)
    assert require_token("127.0.0.1", TOKEN) == (TOKEN, False)  # given: required on loopback too
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    assert require_token("0.0.0.0", None) == (TOKEN, False)
    monkeypatch.setenv(TOKEN_ENV, "short")
    with pytest.raises(hr.ConfigurationError, match=f"{TOKEN_ENV} has 5 characters") as info:
        require_token("0.0.0.0", None)
    assert "'short'" not in str(info.value)
    for bad, says in (
        ("tiny", "has 4 characters; a dashboard token needs at least 16"),
        ("with space " * 3, "cannot travel in a URL or header"),
        (12345678901234567890, "must be a string, not int"),
    ):
        with pytest.raises(hr.ConfigurationError, match=says):
            check_token(bad)
    with pytest.raises(hr.ConfigurationError, match="at least 16"):
        create_app("memory://", token="tiny")


def spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """A dashboard process whose output the test reads."""
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def test_served_off_loopback_the_command_prints_a_generated_token_once(study_url: str) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    proc = spawn([str(HYPERRACE), "dashboard", "--storage", study_url, "--host", "0.0.0.0",
                  "--port", str(port)], env)  # fmt: skip
    try:
        assert proc.stdout is not None
        first, second = proc.stdout.readline(), proc.stdout.readline()
        assert first.startswith(f"hyperrace dashboard of {study_url} on http://0.0.0.0:{port}")
        assert second.startswith("served off loopback with a token: every request needs it;")
        token = second.split("?token=", 1)[1].split()[0]
        assert len(token) >= 40 and second.count(token) == 1
        base = f"http://127.0.0.1:{port}"
        status, body, _ = fetch(base + "/api/studies")
        assert status == 401 and "requires its token" in body
        status, body, _ = fetch(base + "/api/studies", {"Authorization": f"Bearer {token}"})
        assert status == 200 and json.loads(body)[0]["name"] == "race"
        status, _, _ = fetch(base + "/api/studies", {"Authorization": "Bearer " + "x" * 43})
        assert status == 401
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    assert token not in out  # printed once, on start


def test_a_token_from_the_environment_is_required_and_not_printed(study_url: str) -> None:
    port = free_port()
    env = {**os.environ, TOKEN_ENV: TOKEN}
    proc = spawn([str(HYPERRACE), "dashboard", "--storage", study_url, "--host", "0.0.0.0",
                  "--port", str(port)], env)  # fmt: skip
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        second = proc.stdout.readline()
        assert f"needs the one given ({TOKEN_ENV})" in second and TOKEN not in second
        base = f"http://127.0.0.1:{port}"
        assert fetch(base + "/api/studies")[0] == 401
        assert fetch(base + f"/api/studies?token={TOKEN}")[0] == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=60)


def test_serve_off_loopback_prints_the_url_with_a_generated_token(study_url: str) -> None:
    port = free_port()
    code = (
        "import sys; from hyperrace.dashboard import serve; "
        f"serve(sys.argv[1], host='0.0.0.0', port={port})"
    )
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    proc = spawn([sys.executable, "-c", code, study_url], env)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("hyperrace dashboard with a generated token: open http://"), line
        assert f":{port}/?token=" in line
        token = line.strip().rsplit("=", 1)[1]
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:  # the URL is said just before uvicorn takes the socket
            try:
                status = fetch(base + "/api/studies")[0]
                break
            except urllib.error.URLError:
                assert time.monotonic() < deadline, "the dashboard did not answer"
                time.sleep(0.1)
        assert status == 401
        assert fetch(base + f"/api/studies?token={token}")[0] == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=60)


@pytest.mark.browser
def test_a_browser_opens_the_dashboard_with_its_token(
    page: Any, study_url: str, server_class: Any
) -> None:
    with server_class(create_app(study_url, refresh_seconds=0.5, token=TOKEN)) as server:
        refused = page.goto(server.url + "/studies/race")
        assert refused is not None and refused.status == 401
        assert "Token required" in page.locator("h1").inner_text()
        assert TOKEN not in page.content()
        # the browser logs the 401s itself (the page's, and its icon's), in its own time (late
        # on a loaded machine): wait for them to stop coming, then forget them, so that they are
        # not taken for errors of the pages below
        deadline, seen, quiet_since = time.monotonic() + 10, -1, time.monotonic()
        while time.monotonic() < deadline:
            if len(page.errors) != seen:
                seen, quiet_since = len(page.errors), time.monotonic()
            elif seen > 0 and time.monotonic() - quiet_since > 0.5:
                break
            page.wait_for_timeout(50)
        assert all("401" in e for e in page.errors), page.errors
        page.errors.clear()
        page.goto(server.url + f"/?token={TOKEN}")
        assert page.url == server.url + "/"  # the token left the address bar
        link = page.wait_for_selector("#studies table a", timeout=30_000)
        assert link.inner_text() == "race"
        link.click()
        page.wait_for_selector("body[data-page=study][data-rendered=yes]", timeout=60_000)
        assert page.locator("#plot-race .main-svg").count() >= 1
        assert page.errors == []
        cookies = page.context.cookies()
        assert [(c["name"], c["httpOnly"]) for c in cookies] == [("hyperrace_token", True)]


@pytest.mark.postgres
def test_dashboard_pages_and_errors_never_show_a_storage_password(pg_url: str) -> None:
    scheme, rest = pg_url.split("://", 1)
    user, _, host = rest.partition("@")
    url = f"{scheme}://{user}:s3cretPW@{host}"
    study = hr.Study("p", hr.Space(x=hr.Float(0.0, 1.0)), storage=url, optimizer="random")
    job = study.ask()
    study.report(job.trial_id, 0.5)
    study.tell(job)
    study.close()
    app = TestClient(create_app(url))
    bodies = []
    for path in (
        "/",
        "/studies/p",
        f"/studies/p/trials/{job.trial_id}",
        "/api/studies",
        "/api/studies/p",
        "/api/studies/p/importance",
        "/api/studies/p/trials",
        f"/api/studies/p/trials/{job.trial_id}",
    ):
        response = app.get(path)
        assert response.status_code == 200, (path, response.text)
        bodies.append(response.text)
    missing = app.get("/api/studies/absent")
    assert missing.status_code == 404 and ":***@" in missing.text
    assert all("s3cretPW" not in b for b in [*bodies, missing.text])
    no_database = url.rsplit("/", 1)[0] + "/nosuchdb"
    with pytest.raises(hr.StorageError) as info:
        create_app(no_database)
    assert ":***@127.0.0.1:5432/nosuchdb" in str(info.value)
    assert "s3cretPW" not in "".join(traceback.format_exception(info.value))
