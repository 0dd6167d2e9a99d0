"""Hypothesis: the dashboard's query parameters, path segments and tokens, through the app's test
client. Whatever comes in, the answer is a page, JSON, 401, 404 or 422 that names the parameter,
never a server error; JSON answers are strict JSON (what a browser's ``JSON.parse`` reads)."""

from __future__ import annotations

import json
import string
import warnings
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hyperrace.dashboard import create_app

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TOKEN = "fuzz-token-0123456789abcdef"
TEXT = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["", "0", "-1", "1e3", "NaN", "inf", "50", "1000", "1001", "best", "number"]),
    st.sampled_from(["rung", "value", "time", "auto", "'; DROP TABLE hr_trials; --", "%00"]),
)


def strict(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in a JSON answer")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def client(study_url: str) -> TestClient:
    return TestClient(create_app(study_url), raise_server_exceptions=True)


@pytest.fixture(scope="module")
def guarded(study_url: str) -> TestClient:
    return TestClient(
        create_app(study_url, token=TOKEN), raise_server_exceptions=True, follow_redirects=False
    )


def answered(response: Any, *allowed: int) -> Any:
    assert response.status_code in allowed, (response.status_code, response.text[:300])
    if response.headers.get("content-type", "").startswith("application/json"):
        return strict(response.text)
    return None


@FUZZ
@given(since=TEXT, colour=TEXT)
def test_the_overview_takes_any_since_and_colour(
    client: TestClient, since: str, colour: str
) -> None:
    response = client.get("/api/studies/race", params={"since": since, "colour": colour})
    body = answered(response, 200, 422)
    if response.status_code == 422:
        assert f"colour={colour!r}" in body["detail"]
    else:
        assert body["changed"] is (body["marker"] != since)
        assert ("figures" in body) is body["changed"]


@FUZZ
@given(offset=TEXT, limit=TEXT, order=TEXT)
def test_the_trial_table_takes_any_offset_limit_and_order(
    client: TestClient, offset: str, limit: str, order: str
) -> None:
    response = client.get(
        "/api/studies/race/trials", params={"offset": offset, "limit": limit, "order": order}
    )
    body = answered(response, 200, 422)
    if response.status_code == 200:
        assert 0 <= len(body["trials"]) <= int(limit) and body["offset"] == int(offset)
    else:  # FastAPI's own refusal of a non-integer, or ours: both name the parameter
        named = json.dumps(body["detail"])
        assert any(p in named for p in ("offset", "limit", "order")), named


@FUZZ
@given(name=st.text(max_size=20), trial=TEXT)
def test_paths_of_any_study_and_trial(client: TestClient, name: str, trial: str) -> None:
    segment, trial_segment = quote(name, safe=""), quote(trial, safe="")
    for path in (
        f"/studies/{segment}",
        f"/studies/{segment}/trials/{trial_segment}",
        f"/api/studies/{segment}",
        f"/api/studies/{segment}/importance",
        f"/api/studies/{segment}/trials",
        f"/api/studies/{segment}/trials/{trial_segment}",
        f"/static/{segment}",
        f"/studies/race/trials/{trial_segment}",
        f"/api/studies/race/trials/{trial_segment}",
    ):
        response = client.get(path)
        body = answered(response, 200, 404, 405, 422)
        if response.status_code == 404 and isinstance(body, dict) and "detail" in body:
            assert isinstance(body["detail"], str) and body["detail"], body


TOKENS = st.one_of(
    st.text(alphabet=string.printable.strip() + " ", max_size=40),
    st.sampled_from([TOKEN, TOKEN[:-1], TOKEN + "x", TOKEN.upper(), "", "Bearer"]),
)


@FUZZ
@given(query=st.one_of(st.none(), TOKENS, st.text(max_size=20)), header=st.none() | TOKENS)
def test_any_token_is_checked_and_only_the_right_one_lets_a_request_through(
    guarded: TestClient, query: str | None, header: str | None
) -> None:
    guarded.cookies.clear()
    params = {} if query is None else {"token": query}
    headers = {} if header is None else {"Authorization": f"Bearer {header}"}
    right = query == TOKEN or (header is not None and header.strip() == TOKEN)
    for path in ("/", "/api/studies", "/api/studies/race/trials"):
        response = guarded.get(path, params=params, headers=headers)
        if right:
            expected = 303 if path == "/" and query == TOKEN else 200
            answered(response, expected)
        else:
            body = answered(response, 401)
            assert TOKEN not in response.text
            if body is not None:
                assert "requires its token" in body["detail"]
