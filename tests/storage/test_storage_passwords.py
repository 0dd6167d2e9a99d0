"""A password in a storage URL is never shown: not in a message, a repr, or any exception a
storage raises or was raised from."""

from __future__ import annotations

import traceback
from collections.abc import Iterator

import pytest

import hyperrace as hr
from hyperrace.storage import hide_password, mask_url, open_storage
from hyperrace.storage._urls import passwords_of, without_password

PASSWORD = "s3cretPW"
CLOSED_PORT = f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/db"
NO_DATABASE = f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/nosuchdb"


def with_password(url: str, password: str = PASSWORD) -> str:
    """``url`` (``scheme://user@host...``) with ``password`` added to its user."""
    scheme, rest = url.split("://", 1)
    user, at, host = rest.partition("@")
    assert at, url
    return f"{scheme}://{user}:{password}@{host}"


def chain(exc: BaseException) -> Iterator[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        yield e
        todo += [e.__cause__, e.__context__, getattr(e, "orig", None)]


def assert_hidden(exc: BaseException, password: str = PASSWORD) -> None:
    """Neither ``exc`` nor anything it was raised from shows ``password``, in any form a
    traceback or a log shows."""
    shown = "".join(traceback.format_exception(exc))
    for e in chain(exc):
        shown += str(e) + repr(e) + repr(e.args) + "".join(getattr(e, "__notes__", []))
    assert password not in shown, shown


def test_mask_url_hides_the_password_in_every_form() -> None:
    assert mask_url(CLOSED_PORT) == "postgresql://postgres:***@127.0.0.1:1/db"
    pg = "postgresql+psycopg://u:p%40ss%2Fw@db.example:5432/studies"
    assert mask_url(pg) == "postgresql+psycopg://u:***@db.example:5432/studies"
    query = "postgresql://u@h/db?sslmode=require&password=hunter22"
    assert mask_url(query) == "postgresql://u@h/db?sslmode=require&password=***"
    unparsable = "postgresql://u:hunter22@[::1/db"  # SQLAlchemy cannot read it
    assert "hunter22" not in mask_url(unparsable) and "u:***@" in mask_url(unparsable)
    for plain in ("sqlite:///hyperrace.db", "memory://", "study.db", "postgresql://u@h:5/db"):
        assert mask_url(plain) == plain


def test_hide_password_masks_a_password_wherever_a_message_quotes_it() -> None:
    url = "postgresql://u:p%40ss@h/db"
    assert set(passwords_of(url)) >= {"p%40ss", "p@ss"}
    text = f"failed: {url} (password p@ss, dsn 'host=h password=p@ss user=u')"
    hidden = hide_password(text, url)
    assert "p@ss" not in hidden and "p%40ss" not in hidden
    assert "u:***@h/db" in hidden and "password=***" in hidden


def test_an_error_that_shows_the_password_is_replaced_and_unchained() -> None:
    try:
        try:
            raise RuntimeError(f"driver: cannot connect to {NO_DATABASE}")
        except RuntimeError as inner:
            raise hr.StorageError("storage failed") from inner
    except hr.StorageError as exc:
        clean = without_password(exc, NO_DATABASE)
    assert isinstance(clean, hr.StorageError) and clean.__cause__ is None
    assert_hidden(clean)
    harmless = hr.StorageError("no password here")
    assert without_password(harmless, NO_DATABASE) is harmless


@pytest.mark.postgres
def test_a_closed_port_is_reported_without_the_password(pg_server: str) -> None:
    with pytest.raises(hr.StorageError) as info:
        open_storage(CLOSED_PORT)
    message = str(info.value)
    assert "postgres:***@127.0.0.1:1/db" in message and "Connection refused" in message
    assert_hidden(info.value)


@pytest.mark.postgres
def test_a_missing_database_is_reported_without_the_password(
    pg_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hyperrace.storage._sql._RETRIES", 1)  # (the closed port test retries)
    with pytest.raises(hr.StorageError) as info:
        open_storage(NO_DATABASE)
    message = str(info.value)
    assert "postgres:***@127.0.0.1:5432/nosuchdb" in message
    assert 'database "nosuchdb" does not exist' in message
    assert_hidden(info.value)
    with pytest.raises(hr.StorageError) as by_query:
        open_storage(f"postgresql://postgres@127.0.0.1:5432/nosuchdb?password={PASSWORD}")
    assert "password=***" in str(by_query.value)
    assert_hidden(by_query.value)


def test_an_invalid_url_is_reported_without_the_password() -> None:
    for url in (f"postgresql://u:{PASSWORD}@h:notaport/db", f"nosuchdialect://u:{PASSWORD}@h/db"):
        with pytest.raises(hr.ConfigurationError) as info:
            open_storage(url)
        assert "u:***@" in str(info.value), str(info.value)
        assert_hidden(info.value)


@pytest.mark.postgres
def test_an_open_storage_and_study_show_the_url_masked(pg_url: str) -> None:
    url = with_password(pg_url)
    storage = open_storage(url)
    try:
        assert storage.url == url  # other processes open the same storage with it
        assert PASSWORD not in repr(storage) and ":***@" in repr(storage)
        study = hr.Study("s", hr.Space(x=hr.Float(0.0, 1.0)), storage=storage)
        assert PASSWORD not in repr(study) and ":***@" in repr(study)
        with pytest.raises(hr.StudyNotFoundError) as info:
            hr.Study("absent", storage=storage)
        assert ":***@" in str(info.value)
        assert_hidden(info.value)
    finally:
        storage.close()
