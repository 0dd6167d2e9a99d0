"""Hypothesis: what crosses into the storage from outside. Rows edited by hand (any text in a
trial's config, user attributes, devices, status; a study's attributes; a decision's info) are
read back, or refused with a StorageError that names the row, the column and the value, by the
storage, ``Study``, the CLI and the dashboard alike; putting the row back restores everything.
Study names of any characters are stored as they are (SQL stays parameterised), and storage URLs
of any characters are opened or refused cleanly, never showing a password."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import string
import warnings
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import hyperrace as hr
from hyperrace.cli import main
from hyperrace.storage import mask_url, open_storage
from hyperrace.trial import short_repr

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SPACE = hr.Space(x=hr.Float(0.0, 1.0), c=hr.Categorical(["a", "b"]), epochs=hr.Fidelity(1, 4))

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=8,
)
ODD_TEXT = st.one_of(
    st.text(max_size=40),
    JSON_VALUES.map(json.dumps),
    st.dictionaries(st.sampled_from(["x", "c", "epochs", "", "é"]), JSON_VALUES, max_size=3).map(
        json.dumps
    ),
    st.sampled_from(
        [
            "",
            "null",
            "NaN",
            '{"x": NaN, "c": "a"}',
            '{"x": Infinity, "c": "b"}',
            '{"x": 1e999}',
            '{"x": ' + "9" * 5000 + "}",
            "[" * 20_000 + "]" * 20_000,
            '{"x": 0.5, "c": "a"',
            "\x00",
            "running",
            "failed",
        ]
    ),
)
COLUMNS = [
    ("hr_trials", "config"),
    ("hr_trials", "user_attrs"),
    ("hr_trials", "devices"),
    ("hr_trials", "status"),
    ("hr_trials", "reason"),
    ("hr_studies", "attrs"),
    ("hr_decisions", "info"),
]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('rows') / 'rows.db'}"
    study = hr.Study("rows", SPACE, storage=url, optimizer="asha", seed=0)
    for _ in range(4):
        job = study.ask()
        for epoch in range(job.start + 1, job.stop + 1):
            study.report(job.trial_id, 0.5 / epoch + job.config["x"], fidelity=epoch)
        study.tell(job)
    study.storage.close()
    return url


def no_constant(name: str) -> Any:
    raise AssertionError(f"{name} in a JSON answer: a browser cannot read it")


def run_cli(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue() + err.getvalue()


def refused_for(text: str, column: str, message: str) -> None:
    """``message`` refuses the row: it names the column and (the start of) the value."""
    assert f"has {column}=" in message, message
    assert short_repr(text)[:20] in message or short_repr(text)[:20] in json.dumps(message), message


@FUZZ
@given(where=st.sampled_from(COLUMNS), text=ODD_TEXT)
@example(where=("hr_studies", "attrs"), text='{"0":NaN,"":""}')  # NaN is not JSON
@example(where=("hr_studies", "attrs"), text='{"":1E310}')  # overflows to infinity
def test_a_row_edited_by_hand_is_read_or_refused_by_name(
    url: str, where: tuple[str, str], text: str
) -> None:
    table, column = where
    path = url[len("sqlite:///") :]
    first = {"hr_trials": "trial_id", "hr_studies": "study_id", "hr_decisions": "decision_id"}
    key = first[table]
    storage = open_storage(url)
    info = storage.get_study("rows")
    assert info is not None
    before = storage.history(info.study_id, decisions=True)
    storage.close()
    with sqlite3.connect(path) as db:
        (row_id, original) = db.execute(
            f"SELECT {key}, {column} FROM {table} ORDER BY {key} LIMIT 1"
        ).fetchone()
        db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (text, row_id))
    try:
        outcomes: list[tuple[str, str | None]] = []  # (path, refusal message or None)
        try:
            storage = open_storage(url)
            storage.history(info.study_id, decisions=True)
            study = hr.Study("rows", storage=storage)
            study.history()
            outcomes.append(("storage", None))
        except hr.StorageError as exc:
            outcomes.append(("storage", str(exc)))
        finally:
            storage.close()
        for command in (["show", "rows"], ["studies"], ["export", "rows"]):
            code, said = run_cli(command[0], "--storage", url, *command[1:])
            assert code in (0, 2), (command, said)
            outcomes.append((command[0], said if code == 2 else None))
        client = TestClient(hr_dashboard(url))
        for api in (
            "/api/studies",
            "/api/studies/rows",
            "/api/studies/rows/trials",
            "/api/studies/rows/importance",
            f"/api/studies/rows/trials/{row_id if table == 'hr_trials' else 1}",
        ):
            response = client.get(api)
            assert response.status_code in (200, 500), (api, response.text)
            failed = response.status_code == 500
            outcomes.append((api, response.json()["detail"] if failed else None))
            if response.status_code == 200:  # strict JSON, as a browser reads it
                json.loads(response.text, parse_constant=no_constant)
        client.close()
        for name, refusal in outcomes:
            if refusal is not None:
                refused_for(text, column, refusal)
            elif column == "config" and table == "hr_trials" and name == "storage":
                reread = open_storage(url)
                trials = reread.history(info.study_id).trials
                reread.close()
                assert trials[0].config == json.loads(text)
    finally:
        with sqlite3.connect(path) as db:
            db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (original, row_id))
    storage = open_storage(url)
    assert storage.history(info.study_id, decisions=True) == before  # nothing else was lost
    storage.close()


def hr_dashboard(url: str) -> Any:
    from hyperrace.dashboard import create_app

    return create_app(url)


NAMES = st.one_of(
    st.text(min_size=1, max_size=40),
    st.sampled_from(
        [
            "'; DROP TABLE hr_trials; --",
            'x" OR 1=1 --',
            "%",
            "_",
            "\\",
            "a/b",
            "..",
            "é ü 中文 🚀",
            " leading",
            "NULL",
            "x" * 512,
        ]
    ),
)


@pytest.fixture(scope="module")
def names_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('names') / 'names.db'}"


@FUZZ
@given(name=NAMES)
def test_study_names_of_any_characters_are_kept_as_they_are(names_url: str, name: str) -> None:
    control = [c for c in name if ord(c) < 32 or ord(c) == 127]
    if not name.strip() or len(name) > 512 or control:
        with pytest.raises(hr.ConfigurationError) as info:
            hr.Study(name, SPACE, storage=names_url)
        assert short_repr(name)[:20] in str(info.value)
        return
    study = hr.Study(name, SPACE, storage=names_url, optimizer="random")
    job = study.ask()
    study.report(job.trial_id, 0.5, fidelity=1)
    study.tell(job)
    again = hr.Study(name, storage=names_url)
    assert again.name == name and len(again.trials) >= 1
    listed = [s.name for s in again.storage.list_studies()]
    assert name in listed
    with sqlite3.connect(names_url[len("sqlite:///") :]) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"hr_studies", "hr_trials", "hr_observations", "hr_decisions"} <= tables
    code, said = run_cli("show", "--storage", names_url, "--", name)  # "--": a name like "-x"
    assert code == 0, said
    client = TestClient(hr_dashboard(names_url))
    response = client.get(f"/api/studies/{quote(name, safe='')}")
    if "/" in name or name in (".", ".."):  # a path segment the router cannot take
        assert response.status_code == 404
    else:
        assert response.status_code == 200, response.text
        assert response.json()["summary"]["name"] == name
    client.close()
    again.storage.close()
    study.storage.close()


PASSWORDS = st.text(
    alphabet=string.ascii_letters + string.digits + "!#$%&()*+,-./:;<=>?@[]^_{|}~ '\"\\",
    min_size=8,
    max_size=24,
)


@FUZZ
@given(
    password=PASSWORDS,
    user=st.text(alphabet=string.ascii_letters + "._-", min_size=1, max_size=8),
    database=st.text(min_size=1, max_size=12),
)
def test_a_url_with_any_password_never_shows_it(password: str, user: str, database: str) -> None:
    assume(password not in f"postgresql://{user}:@127.0.0.1:1/{database}")
    url = f"postgresql://{user}:{quote(password, safe='')}@127.0.0.1:1/{quote(database)}"
    assume(quote(password, safe="") not in mask_url(url).replace("***", ""))
    shown = mask_url(url)
    assert password not in shown and quote(password, safe="") not in shown
    with mock.patch("hyperrace.storage._sql._RETRIES", 1):  # one try: the port is closed
        try:
            open_storage(url).close()
        except hr.HyperraceError as exc:
            text = str(exc) + repr(exc) + repr(exc.__cause__) + repr(exc.__context__)
            assert password not in text and quote(password, safe="") not in text, text
        else:
            pytest.fail("a closed port was opened")


def open_or_refuse(url: str) -> tuple[Any, str | None]:
    """The storage at ``url``, or the message of the error that refused it (a hyperrace error:
    anything else fails the test)."""
    try:
        return open_storage(url), None
    except (hr.ConfigurationError, hr.StorageError, hr.MissingDependencyError) as exc:
        return None, str(exc)


SCHEMES = st.sampled_from(
    ["postgresql", "postgres", "postgresql+psycopg", "mysql", "nosuch", "http", "memory", "s3"]
)


@FUZZ
@given(scheme=SCHEMES, rest=st.text(max_size=30))
def test_a_storage_url_of_any_characters_is_opened_or_refused_cleanly(
    scheme: str, rest: str
) -> None:
    if scheme.startswith("postgres"):
        # odd characters in the user and database, on a closed local port (no name to resolve,
        # no query that could point the driver elsewhere)
        url = f"{scheme}://{quote(rest, safe='')}@127.0.0.1:1/{quote(rest, safe='')}"
    else:
        url = f"{scheme}://{rest}"
    with mock.patch("hyperrace.storage._sql._RETRIES", 1):
        storage, refusal = open_or_refuse(url)
    if storage is not None:
        storage.close()
    else:
        assert "storage" in str(refusal) or "install" in str(refusal), refusal


@FUZZ
@given(name=st.text(min_size=1, max_size=20))
def test_a_sqlite_file_of_any_name_is_opened_or_refused_cleanly(
    tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    folder = tmp_path_factory.mktemp("files")
    url = f"sqlite:///{folder}/{name}.db"
    storage, refusal = open_or_refuse(url)
    if storage is None:
        assert "storage" in str(refusal) or str(folder) in str(refusal), refusal
        return
    try:
        study = hr.Study("s", SPACE, storage=storage)
        assert hr.Study("s", storage=storage).name == study.name
        files = [p for p in Path(folder).rglob("*") if p.is_file()]
        assert all(str(folder) in str(p) for p in files)  # nothing outside its folder
    finally:
        storage.close()
