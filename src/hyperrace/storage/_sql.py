"""SQL storage through SQLAlchemy: SQLite (the default, one file) and PostgreSQL.

SQLite runs in WAL mode with a busy timeout; writes take the lock at the start of their
transaction (``BEGIN IMMEDIATE``) so that two processes never deadlock upgrading a read lock, and
reads use a second engine that never blocks writers. PostgreSQL needs ``psycopg`` (the
``postgres`` extra); ``postgresql://`` URLs are read as ``postgresql+psycopg://``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from hyperrace._gc import collector_paused
from hyperrace.exceptions import ConfigurationError, HyperraceError, StorageError
from hyperrace.history import BestBy, Direction, History
from hyperrace.storage._base import (
    DecisionConflict,
    NewDecision,
    Reported,
    StudyInfo,
    StudySummary,
    check_best_by,
    check_numbers,
)
from hyperrace.storage._packed import packed_statement, unpack_observations
from hyperrace.storage._rows import (
    DECODE_ERRORS,
    PLAIN,
    bad_row,
    decoded,
    load_json,
    trial_row_problem,
)
from hyperrace.storage._rules import check_end_status, check_run, check_running
from hyperrace.storage._schema import SCHEMA_VERSION, observations, studies, trials
from hyperrace.storage._schema import decisions as decisions_t
from hyperrace.storage._schema import enqueued as enqueued_t
from hyperrace.storage._urls import hide_password, mask_url, shows_password, without_password
from hyperrace.trial import (
    Curve,
    DecisionRecord,
    Enqueued,
    Lost,
    Observation,
    RunState,
    StopReason,
    TrialRecord,
    TrialStatus,
    as_value,
    check_value,
    curves_from_columns,
    curves_from_rows,
    end_of_run,
)

__all__ = ["SQLStorage", "normalize_url"]

T = TypeVar("T")
_RETRIES = 8
#: the first key of the PostgreSQL advisory lock that a study's deciders take, the study's id
#: being the second (:meth:`SQLStorage.deciding`)
_DECIDING_LOCK = 727270002
# a row's status and reason by their stored text: a dictionary lookup, several times cheaper than
# the enum's constructor (which stays the fallback, raising for text that is neither)
_STATUSES = {s.value: s for s in TrialStatus}
_REASONS = {r.value: r for r in StopReason}


def normalize_url(url: str) -> str:
    """The SQLAlchemy URL for ``url``: a bare path becomes a SQLite file, ``postgresql://``
    uses psycopg 3."""
    if "://" not in url:
        return f"sqlite:///{url}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _known_revisions() -> set[str]:
    """The schema versions the migrations of this hyperrace know."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(Path(__file__).parent / "migrations"))
    return {rev.revision for rev in scripts.walk_revisions()}


def _dispose(*engines: Engine) -> None:
    for engine in engines:
        engine.dispose()


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=False)


def _is_transient(exc: OperationalError) -> bool:
    text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    return any(
        s in text
        for s in (
            "database is locked",
            "busy",
            "connection",
            "server closed",
            "terminating",
            "deadlock",
        )
    )


#: One report on PostgreSQL (migration 0008), with its arguments in the function's order.
_REPORT_CALL = "SELECT code, granted FROM hr_report(%s, %s, %s, %s, %s, %s, %s, %s, %s)"
#: The end of a run on PostgreSQL (migration 0008).
_END_RUN_CALL = "SELECT code FROM hr_end_run(%s, %s, %s, %s, %s, %s)"
#: One decision on PostgreSQL (migration 0008).
_DECIDE_CALL = (
    "SELECT code, trial_id, start, number FROM hr_decide(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
#: The same, releasing the study's decision lock (:meth:`SQLStorage.deciding`) in the same
#: round trip: the lock is free as soon as the server has written the decision.
_DECIDE_AND_RELEASE_CALL = (
    "SELECT d.code, d.trial_id, d.start, d.number, pg_advisory_unlock(%s, %s) "
    "FROM hr_decide(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) AS d"
)


def _better(value: Any, best: Any) -> Any:
    """SQL: ``value`` is better than the study's ``best`` (a column of ``hr_studies``, NULL
    while there is none) in the study's direction."""
    s = studies.c
    return sa.or_(
        best.is_(None),
        sa.and_(s.direction == "minimize", best > value),
        sa.and_(s.direction == "maximize", best < value),
    )


def _best_with(fidelity: float, value: float, last: bool) -> dict[str, Any]:
    """The SET clauses that take a new report (``last``: the new last report of its trial) of
    a trial that has not failed into the study's best values (see ``_schema.studies``)."""
    s = studies.c
    v = sa.literal(value, sa.Float)
    out: dict[str, Any] = {"best_curve": sa.case((_better(v, s.best_curve), v), else_=s.best_curve)}
    if last:
        f = sa.literal(fidelity, sa.Float)
        higher = sa.or_(s.top_fidelity.is_(None), s.top_fidelity < f)
        out["top_fidelity"] = sa.case((higher, f), else_=s.top_fidelity)
        out["best_last"] = sa.case(
            (higher, v),
            (sa.and_(s.top_fidelity == f, _better(v, s.best_last)), v),
            else_=s.best_last,
        )
    return out


#: Compiled SQL of the statements :func:`_driver_rows` runs, by dialect and statement name:
#: (text, the parameters' names in order for a positional dialect, else None, the values of
#: the statement's own constants). Compiling a
#: select costs about 0.4 ms of processor time, paid once per process instead of per read.
_COMPILED: dict[tuple[str, str], tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}


def _compiled(
    dialect: Any, name: str, build: Callable[[], Any]
) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
    """The SQL text of statement ``name`` (built by ``build``) for ``dialect``, compiled once
    per process; the order of its parameters' names (``None``: by name); and the values of the
    parameters the statement holds itself (its constants)."""
    key = (dialect.name, name)
    compiled = _COMPILED.get(key)
    if compiled is None:
        c = build().compile(dialect=dialect)
        constants = {k: v for k, v in c.params.items() if v is not None}
        compiled = (str(c), tuple(c.positiontup or ()) if c.positional else None, constants)
        _COMPILED[key] = compiled
    return compiled


def _bound(
    compiled: tuple[str, tuple[str, ...] | None, dict[str, Any]], params: Mapping[str, Any]
) -> Any:
    _, order, constants = compiled
    values = {**constants, **params} if constants else params
    # SQLite's "?" parameters are positional
    return values if order is None else [values[n] for n in order]


@contextmanager
def _driver_errors(conn: Connection) -> Iterator[None]:
    """Errors of the database driver, called directly under ``conn``, raised as SQLAlchemy's
    (an ``OperationalError`` for a dropped connection, which :meth:`SQLStorage._retry` retries),
    with the connection dropped when it is dead, as SQLAlchemy does for its own statements."""
    dbapi = conn.dialect.loaded_dbapi
    try:
        yield
    except dbapi.Error as exc:
        driver = conn.connection.dbapi_connection if not conn.invalidated else None
        dead = conn.dialect.is_disconnect(exc, driver, None)
        if dead and not conn.invalidated:
            conn.invalidate(exc)
        raise sa.exc.DBAPIError.instance(
            None, None, exc, dbapi.Error, connection_invalidated=dead, dialect=conn.dialect
        ) from exc


@contextmanager
def _cursor_events(conn: Connection, cursor: Any, text: str, params: Any) -> Iterator[None]:
    """SQLAlchemy's cursor events around a statement that goes straight to the driver, so that
    listeners (query logging, tracing, the fault suite's lost answers) see every statement:
    ``before_cursor_execute``, then ``after_cursor_execute`` once it ran."""
    dispatch = conn.dispatch
    if dispatch.before_cursor_execute:
        dispatch.before_cursor_execute(conn, cursor, text, params, None, False)
    yield
    if dispatch.after_cursor_execute:
        dispatch.after_cursor_execute(conn, cursor, text, params, None, False)


def _driver_rows(
    conn: Connection, name: str, build: Callable[[], Any], **params: Any
) -> Sequence[Any]:
    """The rows of the statement ``build()`` (named ``name``: one name, one statement, whose
    values are bound parameters ``params``) as the database driver returns them: plain tuples,
    in the transaction of ``conn``, without SQLAlchemy's row objects (a million of those cost
    seconds). On PostgreSQL the values travel in binary, which psycopg decodes faster than text.
    Only for columns whose driver values are already the record's types (numbers and text)."""
    compiled = _compiled(conn.dialect, name, build)
    with _driver_errors(conn):
        driver = conn.connection.dbapi_connection
        assert driver is not None
        binary = conn.dialect.name == "postgresql"
        cursor = driver.cursor(binary=True) if binary else driver.cursor()
        try:
            bound = _bound(compiled, params)
            with _cursor_events(conn, cursor, compiled[0], bound):
                cursor.execute(compiled[0], bound)
            return cursor.fetchall()
        finally:
            cursor.close()


def _pipelined_snapshot(
    conn: Connection, reads: Sequence[tuple[str, Callable[[], Any], Mapping[str, Any]]]
) -> list[Sequence[Any]]:
    """PostgreSQL: the rows of each read ``(name, build, params)`` as in :func:`_driver_rows`,
    in one ``REPEATABLE READ`` transaction (one snapshot), its begin, reads and commit sent in
    one pipeline: one round trip for the lot. ``conn`` is in autocommit mode."""
    with _driver_errors(conn):
        driver = conn.connection.dbapi_connection
        assert driver is not None
        cursors = [driver.cursor(binary=True) for _ in reads]
        try:
            with driver.pipeline():
                # the first statement of the pipeline: it opens the transaction
                driver.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                for cursor, (name, build, params) in zip(cursors, reads, strict=True):
                    compiled = _compiled(conn.dialect, name, build)
                    bound = _bound(compiled, params)
                    with _cursor_events(conn, cursor, compiled[0], bound):
                        cursor.execute(compiled[0], bound)
                driver.execute("COMMIT")
            return [cursor.fetchall() for cursor in cursors]
        except _dbapi_errors(conn):
            _tidy_after_pipeline(driver)
            raise
        finally:
            for cursor in cursors:
                cursor.close()


class _PackedElsewhere:
    """PostgreSQL: :func:`_packed_curves` read on a second connection, in a thread, while the
    reading transaction goes on with the trials' rows and the decisions (the server packs a
    million observations in about 0.7 s, time the client spends decoding the rest).

    The reading transaction exports its snapshot (``pg_export_snapshot``) and the second
    connection's ``REPEATABLE READ`` transaction imports it (``SET TRANSACTION SNAPSHOT``)
    before its first query: both see the same commits, whatever is committed meanwhile.
    :meth:`result` waits for the curves and raises what the thread raised (a lost connection
    is an ``OperationalError``: the caller's retry reads again); :meth:`close` waits for the
    thread without its result (the reader failed first: the second connection is given back
    before the error goes on)."""

    def __init__(self, conn: Connection, engine: Engine, study_id: int) -> None:
        with _driver_errors(conn):
            driver: Any = conn.connection.dbapi_connection
            with driver.cursor() as cursor:
                cursor.execute("SELECT pg_export_snapshot()")
                (snapshot,) = cursor.fetchone()
        self._engine, self._snapshot, self._study_id = engine, str(snapshot), study_id
        self._curves: dict[int, Curve] = {}
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._read, name="hyperrace-packed-read")
        self._thread.start()

    def _read(self) -> None:
        try:
            with self._engine.begin() as conn:  # REPEATABLE READ: the engine's level
                with _driver_errors(conn):
                    driver: Any = conn.connection.dbapi_connection
                    with driver.cursor() as cursor:
                        cursor.execute(f"SET TRANSACTION SNAPSHOT '{self._snapshot}'")
                self._curves = _packed_curves(conn, self._study_id)
        except BaseException as exc:  # handed to the reader by result()
            self._error = exc

    def result(self) -> dict[int, Curve]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._curves

    def close(self) -> None:
        self._thread.join()


def _packed_curves(conn: Connection, study_id: int) -> dict[int, Curve]:
    """PostgreSQL: the curves of every trial of the study, read as one packed value into
    columns (:mod:`hyperrace.storage._packed`), in the transaction of ``conn``."""
    text = packed_statement(observations.name, trials.name)
    params = {"study_id": study_id}
    with _driver_errors(conn):
        driver = conn.connection.dbapi_connection
        assert driver is not None
        cursor: Any = driver.cursor(binary=True)
        try:
            with _cursor_events(conn, cursor, text, params):
                cursor.execute(text, params)
            (data,) = cursor.fetchone()
        finally:
            cursor.close()
    ids, columns = unpack_observations(data)
    return curves_from_columns(ids, columns)


def _dbapi_errors(conn: Connection) -> type[BaseException]:
    """The database driver's base error class."""
    error: type[BaseException] = conn.dialect.loaded_dbapi.Error
    return error


def _tidy_after_pipeline(driver: Any) -> None:
    """After a failed pipeline, on a connection still alive: end the transaction it left
    aborted. Best effort: a dead connection is dropped by the caller."""
    if driver.closed:
        return
    try:
        if driver.info.transaction_status != 0:  # not idle: an aborted transaction is open
            driver.execute("ROLLBACK")
    except Exception:  # the connection died meanwhile: nothing left to tidy
        return


def _merge(
    trials_before: tuple[TrialRecord, ...], changed: tuple[TrialRecord, ...]
) -> tuple[TrialRecord, ...] | None:
    """``trials_before`` (ordered by number, numbered 0, 1, ...) with the ``changed`` records
    (ordered by number) put in place or appended; ``None`` if the numbering does not fit."""
    if not trials_before:
        return changed
    out = list(trials_before)
    for record in changed:
        n = record.number
        if n < len(out) and out[n].trial_id == record.trial_id:
            out[n] = record
        elif n == len(out):
            out.append(record)
        else:
            return None
    return tuple(out)


def _head_statement() -> Any:
    """A snapshot's head: the study's direction, its version, its number of decisions and of
    queued configurations, in one row (parameter ``study_id``)."""
    n_decisions = (
        sa.select(sa.func.coalesce(sa.func.max(decisions_t.c.idx), -1) + 1)
        .where(decisions_t.c.study_id == sa.bindparam("study_id"))
        .scalar_subquery()
    )
    n_queued = (
        sa.select(sa.func.count())
        .where(enqueued_t.c.study_id == sa.bindparam("study_id"), enqueued_t.c.trial_id.is_(None))
        .scalar_subquery()
    )
    return sa.select(studies.c.direction, studies.c.version, n_decisions, n_queued).where(
        studies.c.study_id == sa.bindparam("study_id")
    )


def _enqueued_statement() -> Any:
    """The study's queued configurations not taken yet, in order (parameter ``study_id``)."""
    e = enqueued_t.c
    return (
        sa.select(e.idx, e.config, e.user_attrs)
        .where(e.study_id == sa.bindparam("study_id"), e.trial_id.is_(None))
        .order_by(e.idx)
    )


def _enqueued_records(rows: Sequence[Any]) -> tuple[Enqueued, ...]:
    return tuple(
        Enqueued(
            i,
            load_json(c, f"queued configuration {i}", "config", dict),
            load_json(u, f"queued configuration {i}", "user_attrs", dict),
        )
        for i, c, u in rows
    )


def _decisions_statement() -> Any:
    """The study's decisions from index ``start`` on, in order (parameters ``study_id``,
    ``start``)."""
    d = decisions_t.c
    return (
        sa.select(
            d.idx, d.kind, d.trial_id, d.start, d.stop, d.optimizer, d.info, d.time, d.decision_key
        )
        .where(d.study_id == sa.bindparam("study_id"), d.idx >= sa.bindparam("start"))
        .order_by(d.idx)
    )


def _decision_records(rows: Sequence[Any]) -> tuple[DecisionRecord, ...]:
    return tuple(
        DecisionRecord(
            idx,
            kind,
            trial_id,
            begin,
            stop,
            optimizer,
            load_json(info, f"decision {idx}", "info", dict) if info != "{}" else {},
            when,
            key or "",
        )
        for idx, kind, trial_id, begin, stop, optimizer, info, when, key in rows
    )


@dataclasses.dataclass
class _Decider:
    """What :meth:`SQLStorage.deciding` keeps for its thread: the connection its statements
    use, the study whose lock it wants, and where that lock stands."""

    conn: Connection
    study_id: int
    wait_ms: int
    #: the driver connection (the session) that holds the lock; ``None``: not held
    held_on: Any = None


class SQLStorage:
    """Storage in a SQL database.

    Args:
        url: ``sqlite:///path/to/file.db``, a bare file path, or
            ``postgresql+psycopg://user@host:5432/db``.
        busy_timeout: seconds SQLite waits for a lock before giving up.
        upgrade: migrate a database of an older schema version (``hyperrace upgrade`` does);
            without it such a database is refused with a message saying so. A new database is
            always created at the current version.
    """

    #: Seconds a decider waits for the study's other decider on PostgreSQL (:meth:`deciding`)
    #: before it decides without waiting.
    deciding_wait: float = 10.0

    def __init__(self, url: str, *, busy_timeout: float = 60.0, upgrade: bool = False) -> None:
        self._url = normalize_url(url)
        # the connection a thread holds while it decides (see deciding): its statements use it
        self._pinned = threading.local()
        error: BaseException | None = None
        try:
            self._open(url, busy_timeout, upgrade)
        except Exception as exc:
            # an error that shows the password is raised again masked, without the original
            error = without_password(exc, self._url)
            if error is exc:
                raise
        if error is not None:
            raise error

    def _open(self, url: str, busy_timeout: float, upgrade: bool) -> None:
        shown = mask_url(url)
        try:
            parsed = sa.engine.make_url(self._url)
        except (sa.exc.ArgumentError, ValueError):  # a URL it cannot read, a port not a number
            raise ConfigurationError(
                f"storage URL {shown!r} is not valid; use 'sqlite:///hyperrace.db' or "
                "'postgresql+psycopg://user:PASSWORD@host:5432/dbname' (a password with special "
                "characters percent-encoded)"
            ) from None
        parts = [parsed.username, parsed.password, parsed.host, parsed.database]
        parts += [str(v) for v in parsed.query.values()]
        if any("\x00" in str(p) for p in parts if p is not None):
            # libpq stops reading a connection string at a NUL: what follows it (the host, the
            # port) would be dropped, and the default server connected to instead
            raise ConfigurationError(
                f"storage URL {shown!r} holds a NUL character (\\x00, or %00); remove it"
            )
        self._sqlite = parsed.get_backend_name() == "sqlite"
        if self._sqlite:
            if parsed.database in (None, "", ":memory:"):
                raise ConfigurationError(
                    f"storage URL {shown!r} names no file; use 'sqlite:///hyperrace.db', or "
                    "storage='memory://' for a study that lives in this process only"
                )
            try:
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except (OSError, ValueError) as exc:  # no permission, a NUL in the name, ...
                raise ConfigurationError(
                    f"storage URL {shown!r} names a file whose folder cannot be created "
                    f"({exc}); give a path of a folder you can write, e.g. "
                    "'sqlite:///hyperrace.db'"
                ) from None
            self._write = self._sqlite_engine(busy_timeout, immediate=True)
            self._read = self._sqlite_engine(busy_timeout, immediate=False)
        else:
            if parsed.get_backend_name() == "postgresql":
                from hyperrace._imports import require

                require("psycopg", "postgres", "PostgreSQL storage")
            try:
                # one connection kept per process: many workers on one server must fit in its
                # max_connections (100 by default); a thread that needs a second one while the
                # first is in use (the heartbeat) opens it and closes it after. No ping before
                # each use (a sixth of a report's processor time in the client): a connection
                # that a server restart closed fails its next statement before anything is
                # written, SQLAlchemy drops it, and _retry runs the statement again on a new one
                self._write = sa.create_engine(
                    self._url, pool_pre_ping=False, pool_size=1, max_overflow=-1
                )
            except (ImportError, sa.exc.ArgumentError) as exc:
                raise ConfigurationError(
                    f"cannot open storage {shown!r}: {hide_password(str(exc), self._url)}"
                ) from exc
            # a snapshot is read with several statements: they must all see the same commits
            self._read = self._write.execution_options(isolation_level="REPEATABLE READ")
        # close pooled connections when this storage is dropped without close()
        self._finalizer = weakref.finalize(self, _dispose, self._write, self._read)
        try:
            self._ensure_schema(upgrade)
        except HyperraceError:
            self._finalizer()
            raise
        except (sa.exc.DBAPIError, ValueError) as exc:
            # the driver refused what the URL says (a bad connection option, a NUL in a name):
            # not a database that failed, a URL to fix
            self._finalizer()
            cause = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig else exc
            raise StorageError(
                f"cannot open storage {shown!r}: {hide_password(str(cause), self._url)}"
            ) from None

    # -- engines and transactions -------------------------------------------------------------

    def _sqlite_engine(self, busy_timeout: float, *, immediate: bool) -> Engine:
        engine = sa.create_engine(self._url, connect_args={"timeout": busy_timeout})

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    @property
    def url(self) -> str:
        return self._url

    def __repr__(self) -> str:
        return f"SQLStorage({mask_url(self._url)!r})"

    def _retry(self, fn: Callable[[], T]) -> T:
        delay = 0.05
        error: StorageError | None = None
        for attempt in range(_RETRIES):
            try:
                return fn()
            except OperationalError as exc:
                if attempt == _RETRIES - 1 or not _is_transient(exc):
                    error = StorageError(
                        f"storage {mask_url(self._url)!r} failed: "
                        f"{hide_password(str(exc.orig or exc), self._url)}"
                    )
                    if not shows_password(exc, self._url):
                        raise error from exc
                    break  # raised below, not chained to the error that shows the password
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        raise error if error is not None else AssertionError("unreachable")

    def _pinned_conn(self) -> Connection | None:
        """The connection this thread holds while it decides (:meth:`deciding`); ``None``
        outside such a block."""
        decider: _Decider | None = getattr(self._pinned, "decider", None)
        return None if decider is None else decider.conn

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        pinned = self._pinned_conn()
        if pinned is None:
            with self._write.begin() as conn:
                yield conn
            return
        pinned.execution_options(isolation_level=pinned.default_isolation_level)
        with pinned.begin():
            yield pinned

    def _one_statement(self, statement: Any, params: Any = None) -> list[Any]:
        """The rows of ``statement`` (SQL text with ``%s`` parameters, or a SQLAlchemy
        statement) run on PostgreSQL as its own transaction: one round trip, no BEGIN or COMMIT
        of the client's (one statement sees one snapshot)."""

        if isinstance(statement, str):
            return self._driver_statement(statement, params)
        with self._autocommit() as conn:
            return list(conn.execute(statement).all())

    def _lent(self) -> contextlib.AbstractContextManager[Connection]:
        """This thread's connection while it decides (:meth:`deciding`; left open after), or
        one from the pool (given back after)."""
        pinned = self._pinned_conn()
        return self._write.connect() if pinned is None else contextlib.nullcontext(pinned)

    @contextmanager
    def _autocommit(self) -> Iterator[Connection]:
        """A lent connection (:meth:`_lent`) in autocommit mode: each statement its own
        transaction on the server; SQLAlchemy's own transaction is ended after."""
        with self._lent() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            try:
                yield conn
            except BaseException:
                conn.rollback()  # SQLAlchemy's own transaction: the server's is over already
                raise
            conn.commit()

    def _driver_statement(
        self, text: str, params: Any = None, *, binary: bool = False
    ) -> list[Any]:
        """The rows of SQL ``text`` (``%s`` parameters) run on PostgreSQL as its own transaction
        straight through the driver, as plain tuples: SQLAlchemy only lends the connection (its
        execution layer costs more processor time than the driver's own work for a report)."""
        with self._lent() as conn, _driver_errors(conn):
            driver: Any = conn.connection.dbapi_connection
            inside = driver.autocommit
            driver.autocommit = True  # no round trip: the connection is idle
            try:
                with driver.cursor(binary=binary) as cursor:
                    with _cursor_events(conn, cursor, text, params):
                        cursor.execute(text, params)
                    return list(cursor.fetchall()) if cursor.description is not None else []
            finally:
                if not inside and not driver.closed:
                    driver.autocommit = False

    @contextmanager
    def _ro(self) -> Iterator[Connection]:
        pinned = self._pinned_conn()
        if pinned is None:
            with self._read.begin() as conn:
                yield conn
            return
        pinned.execution_options(isolation_level="REPEATABLE READ")
        with pinned.begin():
            yield pinned

    @contextmanager
    def deciding(self, study_id: int) -> Iterator[None]:
        """On PostgreSQL: hold the study's advisory lock (a session lock on the connection this
        thread keeps for the block), so that the study's other deciders wait while this one
        reads, decides and writes, instead of deciding at the same time and throwing all but
        one decision away. The lock is released by the statement that writes the decision, or
        at the end of the block. A decider that waited
        :attr:`deciding_wait` seconds goes on without the lock (its decision may then
        conflict, and is made again). The lock goes with the connection: a process that dies
        holding it frees it. SQLite: a context that does nothing (its writers take turns on the
        file already)."""
        if self._sqlite or getattr(self._pinned, "decider", None) is not None:
            yield
            return
        wait_ms = max(1, int(self.deciding_wait * 1000))
        with self._write.connect() as conn:
            decider = _Decider(conn, int(study_id), wait_ms)
            self._take_lock(decider)
            self._pinned.decider = decider
            try:
                yield
            finally:
                self._pinned.decider = None
                if decider.held_on is not None:
                    self._release_deciding(decider)

    @staticmethod
    def _take_lock(decider: _Decider) -> None:
        """Take the decider's study lock, waiting at most its ``wait_ms`` (one round trip); on
        a wait past that, or a failed connection, the block goes on without it."""
        conn = decider.conn
        conn.execution_options(isolation_level="AUTOCOMMIT")
        try:
            # the wait's limit holds for this call's own transaction only
            conn.exec_driver_sql(
                f"SELECT set_config('lock_timeout', '{decider.wait_ms}', true); "
                f"SELECT pg_advisory_lock({_DECIDING_LOCK}, {decider.study_id})"
            )
            conn.commit()
            decider.held_on = conn.connection.dbapi_connection
        except OperationalError:
            conn.rollback()

    @staticmethod
    def _release_deciding(decider: _Decider) -> None:
        """Unlock what :meth:`deciding` locked, on the session that holds it (a connection that
        was replaced after a failure lost its session, and the lock with it)."""
        conn = decider.conn
        if conn.invalidated or conn.connection.dbapi_connection is not decider.held_on:
            return
        try:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_DECIDING_LOCK}, {decider.study_id})")
            conn.commit()
        except OperationalError:  # the session is gone, and its lock with it
            conn.rollback()

    # -- schema -------------------------------------------------------------------------------

    def _ensure_schema(self, upgrade: bool) -> None:
        def check() -> str | None:
            with self._ro() as conn:
                if not sa.inspect(conn).has_table("alembic_version"):
                    return None
                return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

        version = self._retry(check)
        if version == SCHEMA_VERSION:
            return
        if version is not None and version not in _known_revisions():
            raise StorageError(
                f"storage {mask_url(self._url)!r} has schema version {version!r}, written by a "
                f"newer hyperrace (this one reads version {SCHEMA_VERSION!r}); upgrade hyperrace"
            )
        if version is not None and not upgrade:
            raise StorageError(
                f"storage {mask_url(self._url)!r} has the older schema version {version!r} (this "
                f"hyperrace reads {SCHEMA_VERSION!r}); back it up, then migrate it with: "
                "hyperrace upgrade --storage URL"
            )
        self._retry(self.upgrade)

    def upgrade(self) -> None:
        """Bring the schema to the version this code uses (Alembic ``upgrade head``)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with self._write.begin() as conn:
            if not self._sqlite:
                # serialise concurrent first-time creation across processes
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(727270001)"))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    # -- studies ------------------------------------------------------------------------------

    @staticmethod
    def _study_info(row: Any) -> StudyInfo:
        where = f"study {row.name!r}"
        try:
            seed = int(row.seed)
        except DECODE_ERRORS:
            raise bad_row(where, "seed", row.seed, "not an integer") from None
        if row.direction not in ("minimize", "maximize"):
            raise bad_row(where, "direction", row.direction, "not 'minimize' or 'maximize'")
        return StudyInfo(
            study_id=row.study_id,
            name=row.name,
            direction=row.direction,
            space=load_json(row.space, where, "space", dict),
            optimizer=load_json(row.optimizer, where, "optimizer", dict),
            seed=seed,
            created=row.created,
            elapsed_seconds=row.elapsed_seconds,
            attrs=load_json(row.attrs, where, "attrs", dict),
        )

    def create_study(
        self,
        name: str,
        *,
        direction: Direction,
        space: Mapping[str, Any],
        optimizer: Mapping[str, Any],
        seed: int,
        now: float,
    ) -> StudyInfo:
        def run() -> StudyInfo:
            # a study created by someone else meanwhile: return theirs
            with contextlib.suppress(IntegrityError), self._tx() as conn:
                conn.execute(
                    studies.insert().values(
                        name=name,
                        direction=direction,
                        space=_dumps(space),
                        optimizer=_dumps(optimizer),
                        seed=str(seed),
                        created=now,
                        elapsed_seconds=0.0,
                        attrs="{}",
                    )
                )
            info = self.get_study(name)
            assert info is not None
            return info

        existing = self.get_study(name)
        return existing if existing is not None else self._retry(run)

    def get_study(self, name: str) -> StudyInfo | None:
        def run() -> StudyInfo | None:
            with self._ro() as conn:
                row = conn.execute(sa.select(studies).where(studies.c.name == name)).first()
                return None if row is None else self._study_info(row)

        return self._retry(run)

    def list_studies(self) -> list[StudySummary]:
        def count(*status: str) -> Any:
            where = [trials.c.study_id == studies.c.study_id]
            if status:
                where.append(trials.c.status == status[0])
            return sa.select(sa.func.count()).where(*where).scalar_subquery()

        def run() -> list[StudySummary]:
            s = studies.c
            query = sa.select(
                s.name,
                s.direction,
                s.created,
                s.attrs,
                s.best_last,
                s.best_curve,
                count(),
                count("running"),
                count("completed"),
                count("failed"),
            ).order_by(s.study_id)
            with self._ro() as conn:
                rows = conn.execute(query).all()
            out = []
            for name, direction, created, attrs, last, curve, n, running, done, failed in rows:
                saved = load_json(attrs or "{}", f"study {name!r}", "attrs", dict)
                by = saved.get("best_by", "last")
                best = curve if by == "curve" else last  # an unknown rule ranks as "last"
                out.append(StudySummary(name, direction, n, running, done, failed, created, best))
            return out

        return self._retry(run)

    def delete_study(self, name: str) -> bool:
        def run() -> bool:
            with self._tx() as conn:
                sid = conn.execute(
                    sa.select(studies.c.study_id).where(studies.c.name == name)
                ).scalar()
                if sid is None:
                    return False
                tids = sa.select(trials.c.trial_id).where(trials.c.study_id == sid)
                conn.execute(enqueued_t.delete().where(enqueued_t.c.study_id == sid))
                conn.execute(decisions_t.delete().where(decisions_t.c.study_id == sid))
                conn.execute(observations.delete().where(observations.c.trial_id.in_(tids)))
                conn.execute(trials.delete().where(trials.c.study_id == sid))
                conn.execute(studies.delete().where(studies.c.study_id == sid))
                return True

        return self._retry(run)

    def _update_study(self, study_id: int, **values: Any) -> None:
        def run() -> None:
            with self._tx() as conn:
                conn.execute(
                    studies.update().where(studies.c.study_id == study_id).values(**values)
                )

        self._retry(run)

    def set_study_optimizer(self, study_id: int, optimizer: Mapping[str, Any]) -> None:
        self._update_study(study_id, optimizer=_dumps(optimizer))

    def add_elapsed(self, study_id: int, seconds: float) -> None:
        self._update_study(study_id, elapsed_seconds=studies.c.elapsed_seconds + seconds)

    def set_study_attr(self, study_id: int, key: str, value: Any) -> None:
        def run() -> None:
            with self._tx() as conn:
                raw = conn.execute(
                    sa.select(studies.c.attrs)
                    .where(studies.c.study_id == study_id)
                    .with_for_update()
                ).scalar()
                attrs = load_json(raw or "{}", f"study {study_id}", "attrs", dict)
                attrs[key] = value
                conn.execute(
                    studies.update()
                    .where(studies.c.study_id == study_id)
                    .values(attrs=_dumps(attrs))
                )

        self._retry(run)

    # -- decisions and trials -----------------------------------------------------------------

    @staticmethod
    def _changed(conn: Connection, study_id: int, *trial_ids: int) -> None:
        """Count one change of the study and stamp the trials with the new version.

        Called last in a transaction, after the trials' rows are locked: the study's row lock is
        then held only to the commit, and always taken after trial locks (no lock cycles).
        """
        version = SQLStorage._bump(conn, study_id)
        conn.execute(
            trials.update().where(trials.c.trial_id.in_(trial_ids)).values(version=version)
        )

    @staticmethod
    def _bump(
        conn: Connection, study_id: int, report: tuple[float, float, bool] | None = None
    ) -> int:
        """Count one change of the study and return its new version (the caller stamps the
        changed trials with it; see :meth:`_changed` for when to call it). ``report``: the
        (fidelity, value, whether it is its trial's last) of a new report of a trial that has
        not failed, which the study's best values take in, in the same statement."""
        values: dict[str, Any] = {"version": studies.c.version + 1}
        if report is not None:
            values.update(_best_with(*report))
        version: int = conn.execute(
            studies.update()
            .where(studies.c.study_id == study_id)
            .values(**values)
            .returning(studies.c.version)
        ).scalar_one()
        return version

    @staticmethod
    def _recompute_best(conn: Connection, study_id: int) -> None:
        """Compute the study's best values anew, after a change that may have taken the best
        away (a trial failed, a step was retrained); the study's row is locked already."""
        o = observations.c
        healthy = (
            observations.join(trials, trials.c.trial_id == o.trial_id),
            trials.c.study_id == study_id,
            trials.c.status != TrialStatus.FAILED.value,
        )
        direction = conn.execute(
            sa.select(studies.c.direction).where(studies.c.study_id == study_id)
        ).scalar_one()
        best = sa.func.min if direction == "minimize" else sa.func.max
        top, curve = conn.execute(
            sa.select(sa.func.max(o.fidelity), best(o.value))
            .select_from(healthy[0])
            .where(*healthy[1:])
        ).one()
        last = None
        if top is not None:
            last = conn.execute(
                sa.select(best(o.value))
                .select_from(healthy[0])
                .where(*healthy[1:], o.fidelity == top)
            ).scalar()
        conn.execute(
            studies.update()
            .where(studies.c.study_id == study_id)
            .values(top_fidelity=top, best_last=last, best_curve=curve)
        )

    def apply_decision(
        self, study_id: int, index: int, decision: NewDecision, *, now: float
    ) -> tuple[DecisionRecord, TrialRecord]:
        if not self._sqlite and decision.enqueued is None:
            # the common case in one round trip (migration 0008); the rest below
            fast = self._retry(lambda: self._decide_call(study_id, index, decision, now))
            if fast is not None:
                return fast

        def run() -> tuple[DecisionRecord, int]:
            try:
                with self._tx() as conn:
                    before = self._decision_by_key(conn, study_id, decision.key)
                    if before is not None:  # applied before: its answer was lost
                        if not decision.same_as(before):
                            raise decision.key_reused(before)
                        return before, before.trial_id
                    taken = conn.execute(
                        sa.select(sa.func.count()).where(decisions_t.c.study_id == study_id)
                    ).scalar_one()
                    if taken != index:
                        raise DecisionConflict(f"decision {index} of study {study_id} is taken")
                    if decision.kind == "start":
                        if decision.config is None:
                            raise ValueError("a start decision needs a config")
                        user_attrs = "{}"
                        if decision.enqueued is not None:
                            user_attrs = self._take_enqueued(conn, study_id, decision.enqueued)
                        number = conn.execute(
                            sa.select(sa.func.count()).where(trials.c.study_id == study_id)
                        ).scalar_one()
                        trial_id = conn.execute(
                            trials.insert()
                            .values(
                                study_id=study_id,
                                number=number,
                                config=_dumps(decision.config),
                                status="running",
                                reason="none",
                                message="",
                                target=decision.stop,
                                work=0.0,
                                lost_count=0,
                                created=now,
                                updated=now,
                                heartbeat=now,
                                run=index,
                                user_attrs=user_attrs,
                            )
                            .returning(trials.c.trial_id)
                        ).scalar_one()
                        if decision.enqueued is not None:
                            conn.execute(
                                enqueued_t.update()
                                .where(
                                    enqueued_t.c.study_id == study_id,
                                    enqueued_t.c.idx == decision.enqueued,
                                )
                                .values(trial_id=trial_id)
                            )
                        start = 0.0
                    else:
                        trial_id = decision.trial_id
                        done = conn.execute(
                            trials.update()
                            .where(
                                trials.c.trial_id == trial_id,
                                trials.c.study_id == study_id,
                                trials.c.status == "paused",
                            )
                            .values(
                                status="running",
                                reason="none",
                                message="",
                                target=decision.stop,
                                updated=now,
                                heartbeat=now,
                                run=index,
                            )
                        )
                        if done.rowcount != 1:
                            raise DecisionConflict(f"trial {trial_id} is not a paused trial here")
                        start = conn.execute(
                            sa.select(
                                sa.func.coalesce(sa.func.max(observations.c.fidelity), 0.0)
                            ).where(observations.c.trial_id == trial_id)
                        ).scalar_one()
                    self._changed(conn, study_id, trial_id)
                    conn.execute(
                        decisions_t.insert().values(
                            study_id=study_id,
                            idx=index,
                            kind=decision.kind,
                            trial_id=trial_id,
                            start=start,
                            stop=decision.stop,
                            optimizer=decision.optimizer,
                            info=_dumps(decision.info),
                            time=now,
                            decision_key=decision.key,
                        )
                    )
            except IntegrityError as exc:
                raise DecisionConflict(f"decision {index} of study {study_id} is taken") from exc
            return decision.record(index, int(trial_id), float(start), now), int(trial_id)

        record, trial_id = self._retry(run)
        return record, self.trial(trial_id)

    def _decide_call(
        self, study_id: int, index: int, decision: NewDecision, now: float
    ) -> tuple[DecisionRecord, TrialRecord] | None:
        """A decision through PostgreSQL's ``hr_decide`` (one statement, its own transaction):
        its records, or ``None`` (nothing written) when a decision with its key is stored
        already and :meth:`apply_decision`'s general path must return that one.

        Raises:
            DecisionConflict: another process took the decision's index (or the trial).
        """
        start_kind = decision.kind == "start"
        if start_kind and decision.config is None:
            raise ValueError("a start decision needs a config")
        config = _dumps(decision.config) if start_kind else None
        # this thread holds the study's decision lock: the decision's statement releases it
        decider: _Decider | None = getattr(self._pinned, "decider", None)
        release = (
            decider is not None and decider.held_on is not None and decider.study_id == study_id
        )
        try:
            [(code, trial_id, start, number, *_)] = self._one_statement(
                _DECIDE_AND_RELEASE_CALL if release else _DECIDE_CALL,
                (
                    *((_DECIDING_LOCK, study_id) if release else ()),
                    study_id,
                    index,
                    decision.kind,
                    decision.key,
                    config,
                    None if start_kind else decision.trial_id,
                    decision.stop,
                    decision.optimizer,
                    _dumps(decision.info),
                    now,
                ),
            )
        except IntegrityError as exc:  # a trial's number taken by the general path meanwhile
            raise DecisionConflict(f"decision {index} of study {study_id} is taken") from exc
        if release:
            assert decider is not None
            decider.held_on = None
        if code == "check":
            return None
        if code == "conflict":
            raise DecisionConflict(
                f"decision {index} of study {study_id} is taken"
                if start_kind
                else f"decision {index} of study {study_id} is taken, or trial "
                f"{decision.trial_id} is not a paused trial here"
            )
        record = decision.record(index, int(trial_id), float(start), now)
        if not start_kind:
            return record, self.trial(trial_id)
        # a new trial's record is what was just written: no need to read it back
        trial = TrialRecord(
            int(trial_id),
            int(number),
            json.loads(config),  # type: ignore[arg-type]
            TrialStatus.RUNNING,
            (),
            decision.stop,
            None,
            0.0,
            StopReason.NONE,
            "",
            now,
            now,
            now,
            0,
            {},
            (),
        )
        return record, trial

    @staticmethod
    def _decision_by_key(conn: Connection, study_id: int, key: str) -> DecisionRecord | None:
        """The study's decision written with ``key``, if there is one."""
        row = conn.execute(
            sa.select(decisions_t).where(
                decisions_t.c.study_id == study_id, decisions_t.c.decision_key == key
            )
        ).first()
        return None if row is None else SQLStorage._decision_record(row)

    @staticmethod
    def _decision_record(d: Any) -> DecisionRecord:
        """A record from a row of ``hr_decisions``."""
        return DecisionRecord(
            d.idx,
            d.kind,
            d.trial_id,
            d.start,
            d.stop,
            d.optimizer,
            load_json(d.info, f"decision {d.idx}", "info", dict),
            d.time,
            d.decision_key or "",
        )

    @staticmethod
    def _take_enqueued(conn: Connection, study_id: int, index: int) -> str:
        """Lock queue entry ``index`` of the study for the decision that takes it; return its
        user attributes (JSON text). ``DecisionConflict`` when it was taken already."""
        row = conn.execute(
            sa.select(enqueued_t.c.user_attrs, enqueued_t.c.trial_id)
            .where(enqueued_t.c.study_id == study_id, enqueued_t.c.idx == index)
            .with_for_update()
        ).first()
        if row is None or row.trial_id is not None:
            raise DecisionConflict(f"queued configuration {index} of study {study_id} is taken")
        return str(row.user_attrs)

    def enqueue(
        self,
        study_id: int,
        config: Mapping[str, Any],
        user_attrs: Mapping[str, Any],
        *,
        now: float,
    ) -> int:
        def run() -> int:
            with self._tx() as conn:
                self._bump(conn, study_id)  # the study's row lock: one enqueue at a time
                index: int = conn.execute(
                    sa.select(sa.func.coalesce(sa.func.max(enqueued_t.c.idx), -1) + 1).where(
                        enqueued_t.c.study_id == study_id
                    )
                ).scalar_one()
                conn.execute(
                    enqueued_t.insert().values(
                        study_id=study_id,
                        idx=index,
                        config=_dumps(dict(config)),
                        user_attrs=_dumps(dict(user_attrs)),
                        created=now,
                    )
                )
                return index

        return self._retry(run)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        text = _dumps(value)  # not JSON: refused before anything is written

        def run() -> None:
            with self._tx() as conn:
                row = conn.execute(
                    sa.select(trials.c.user_attrs, trials.c.study_id)
                    .where(trials.c.trial_id == trial_id)
                    .with_for_update()
                ).first()
                if row is None:
                    raise KeyError(f"no trial with trial_id={trial_id}")
                attrs = load_json(row.user_attrs or "{}", f"trial {trial_id}", "user_attrs", dict)
                attrs[key] = json.loads(text)
                conn.execute(
                    trials.update()
                    .where(trials.c.trial_id == trial_id)
                    .values(user_attrs=_dumps(attrs))
                )
                self._changed(conn, row.study_id, trial_id)

        self._retry(run)

    def report(
        self,
        trial_id: int,
        observation: Observation,
        *,
        work: float | None = None,
        checkpoint_fidelity: float | None = None,
        run: int | None = None,
    ) -> Reported:
        problem = check_value(observation.value)
        if problem is None:  # a Python float, whatever number type the caller gave
            observation = dataclasses.replace(observation, value=as_value(observation.value))
            if not self._sqlite:
                # the common case in one round trip (migration 0008); the rest below
                fast = self._retry(
                    lambda: self._report_call(trial_id, observation, work, checkpoint_fidelity, run)
                )
                if fast is not None:
                    return fast
        reached = (
            sa.select(sa.func.max(observations.c.fidelity))
            .where(observations.c.trial_id == trial_id)
            .scalar_subquery()
        )
        same_step = (observations.c.trial_id == trial_id) & (
            observations.c.fidelity == observation.fidelity
        )
        # what is stored at this fidelity already, read with the trial (one round trip)
        stored_value = sa.select(observations.c.value).where(same_step).scalar_subquery()
        stored_time = sa.select(observations.c.time).where(same_step).scalar_subquery()

        def tx() -> Reported:
            nonlocal work
            with self._tx() as conn:
                current = conn.execute(
                    sa.select(
                        trials.c.status,
                        trials.c.target,
                        reached,
                        trials.c.study_id,
                        trials.c.run,
                        stored_value,
                        stored_time,
                    )
                    .where(trials.c.trial_id == trial_id)
                    .with_for_update(of=trials)
                ).first()
                if current is None:
                    raise KeyError(f"no trial with trial_id={trial_id}")
                status, target, before, study_id, current_run, *stored = current
                check_running(trial_id, TrialStatus(status), "report to")
                check_run(trial_id, run, current_run, "report to")
                if work is None:
                    work = observation.fidelity - (before or 0.0)
                if problem is not None:
                    conn.execute(
                        trials.update()
                        .where(trials.c.trial_id == trial_id)
                        .values(
                            status="failed",
                            reason=StopReason.INVALID_VALUE.value,
                            message=f"{problem} at fidelity {observation.fidelity}",
                            updated=observation.time,
                            heartbeat=None,
                        )
                    )
                    self._changed(conn, study_id, trial_id)
                    if before is not None:  # it may have held the best
                        self._recompute_best(conn, study_id)
                    return Reported(TrialStatus.FAILED, target)
                if stored == [observation.value, observation.time]:
                    # the same report again: its commit went through but the answer was lost
                    # (a dropped connection), and the retry must not count its work twice
                    return Reported(TrialStatus.RUNNING, target)
                # the study's change counter orders its reports (after the trial's lock); a
                # new report is taken into the study's best values at once, a retrained step
                # (it may replace the best) has them computed anew
                retrained = stored[0] is not None
                last = before is None or observation.fidelity >= before
                version = self._bump(
                    conn,
                    study_id,
                    None if retrained else (observation.fidelity, observation.value, last),
                )
                row = {
                    "trial_id": trial_id,
                    "fidelity": observation.fidelity,
                    "value": observation.value,
                    "wall_seconds": observation.wall_seconds,
                    "cpu_seconds": observation.cpu_seconds,
                    "time": observation.time,
                    "seq": version,
                }
                insert = (
                    sqlite.insert(observations) if self._sqlite else postgresql.insert(observations)
                ).values(**row)
                conn.execute(
                    insert.on_conflict_do_update(
                        index_elements=["trial_id", "fidelity"],
                        set_={
                            k: insert.excluded[k] for k in row if k not in ("trial_id", "fidelity")
                        },
                    )
                )
                values: dict[str, Any] = {
                    "work": trials.c.work + max(work, 0.0),
                    "updated": observation.time,
                    "heartbeat": observation.time,
                }
                if checkpoint_fidelity is not None:
                    values["checkpoint_fidelity"] = checkpoint_fidelity
                values["version"] = version
                conn.execute(trials.update().where(trials.c.trial_id == trial_id).values(**values))
                if retrained:
                    self._recompute_best(conn, study_id)
                return Reported(TrialStatus.RUNNING, target)

        return self._retry(tx)

    def _report_call(
        self,
        trial_id: int,
        observation: Observation,
        work: float | None,
        checkpoint_fidelity: float | None,
        run: int | None,
    ) -> Reported | None:
        """A report through PostgreSQL's ``hr_report`` (one statement, its own transaction):
        the result, or ``None`` (nothing written) when it is not the common case (an error to
        raise, a retrained step) and :meth:`report`'s general path must take it."""
        [(code, target)] = self._one_statement(
            _REPORT_CALL,
            (
                trial_id,
                observation.fidelity,
                observation.value,
                observation.wall_seconds,
                observation.cpu_seconds,
                observation.time,
                work,
                checkpoint_fidelity,
                run,
            ),
        )
        if code == "check":
            return None
        return Reported(TrialStatus.RUNNING, target)

    def _end_run_call(
        self,
        trial_id: int,
        status: TrialStatus,
        reason: StopReason,
        message: str,
        now: float,
        run: int | None,
    ) -> bool:
        """A run ended through PostgreSQL's ``hr_end_run`` (one statement, its own
        transaction); False (nothing written) when :meth:`end_run`'s general path must take it
        (a trial not running, a stale run: an error to raise)."""
        [(code,)] = self._one_statement(
            _END_RUN_CALL, (trial_id, status.value, reason.value, message, now, run)
        )
        return bool(code == "ok")

    def end_run(
        self,
        trial_id: int,
        status: TrialStatus,
        reason: StopReason,
        message: str,
        *,
        now: float,
        run: int | None = None,
    ) -> None:
        check_end_status(status)
        # the common case in one round trip (migration 0008); the rest below
        if (
            not self._sqlite
            and status is not TrialStatus.FAILED
            and self._retry(lambda: self._end_run_call(trial_id, status, reason, message, now, run))
        ):
            return

        def tx() -> None:
            with self._tx() as conn:
                row = conn.execute(
                    sa.select(trials.c.status, trials.c.study_id, trials.c.run)
                    .where(trials.c.trial_id == trial_id)
                    .with_for_update()
                ).first()
                if row is None:
                    raise KeyError(f"no trial with trial_id={trial_id}")
                current, study_id, current_run = row
                check_running(trial_id, TrialStatus(current), "end the run of")
                check_run(trial_id, run, current_run, "end the run of")
                conn.execute(
                    trials.update()
                    .where(trials.c.trial_id == trial_id)
                    .values(
                        status=status.value,
                        reason=reason.value,
                        message=message,
                        updated=now,
                        heartbeat=None,
                    )
                )
                self._changed(conn, study_id, trial_id)
                if status is TrialStatus.FAILED:
                    self._recompute_best(conn, study_id)

        self._retry(tx)

    def heartbeat(self, trial_ids: Sequence[int], *, now: float) -> None:
        if not trial_ids:
            return

        def run() -> None:
            with self._tx() as conn:
                conn.execute(
                    trials.update()
                    .where(trials.c.trial_id.in_(list(trial_ids)), trials.c.status == "running")
                    .values(heartbeat=now)
                )

        self._retry(run)

    def set_devices(self, trial_id: int, devices: Sequence[str], *, run: int | None = None) -> None:
        def tx() -> None:
            with self._tx() as conn:
                row = conn.execute(
                    sa.select(trials.c.status, trials.c.study_id, trials.c.run)
                    .where(trials.c.trial_id == trial_id)
                    .with_for_update()
                ).first()
                if row is None:
                    raise KeyError(f"no trial with trial_id={trial_id}")
                current, study_id, current_run = row
                check_running(trial_id, TrialStatus(current), "record the devices of")
                check_run(trial_id, run, current_run, "record the devices of")
                conn.execute(
                    trials.update()
                    .where(trials.c.trial_id == trial_id)
                    .values(devices=_dumps(list(devices)) if devices else None)
                )
                self._changed(conn, study_id, trial_id)

        self._retry(tx)

    @staticmethod
    def _losable(*where: Any) -> Any:
        """The rows :meth:`_lose` needs (trial, lost count, target, fidelity reached, study,
        run) of the trials matching ``where``, locked."""
        reached = (
            sa.select(sa.func.coalesce(sa.func.max(observations.c.fidelity), 0.0))
            .where(observations.c.trial_id == trials.c.trial_id)
            .scalar_subquery()
        )
        return (
            sa.select(
                trials.c.trial_id,
                trials.c.lost_count,
                trials.c.target,
                reached,
                trials.c.study_id,
                trials.c.run,
                trials.c.status,
            )
            .where(*where)
            .with_for_update(of=trials)
        )

    @staticmethod
    def _lose(
        conn: Connection,
        row: Any,
        message: str,
        now: float,
        max_retries: int | None,
        max_fidelity: float | None,
    ) -> TrialStatus:
        """End the lost run of the (locked, running) trial of a :meth:`_losable` row; the caller
        records the change (:meth:`_changed`)."""
        trial_id, lost_before, target, fidelity = row[:4]
        state = RunState(fidelity, target, max_fidelity, lost_before)
        ending = end_of_run(state, Lost(message, max_retries))
        conn.execute(
            trials.update()
            .where(trials.c.trial_id == trial_id)
            .values(
                status=ending.status.value,
                reason=ending.reason.value,
                message=ending.message,
                updated=now,
                heartbeat=None,
                lost_count=lost_before + int(ending.lost),
            )
        )
        return ending.status

    def lose_run(
        self,
        trial_id: int,
        message: str,
        *,
        now: float,
        max_retries: int | None = None,
        run: int | None = None,
        max_fidelity: float | None = None,
    ) -> TrialStatus | None:
        def run_tx() -> TrialStatus | None:
            with self._tx() as conn:
                row = conn.execute(self._losable(trials.c.trial_id == trial_id)).first()
                if row is None:
                    raise KeyError(f"no trial with trial_id={trial_id}")
                if row.status != TrialStatus.RUNNING.value:
                    return None
                if run is not None and row.run is not None and run != row.run:
                    return None  # that run was lost already; the trial runs again elsewhere
                status = self._lose(conn, row, message, now, max_retries, max_fidelity)
                self._changed(conn, row.study_id, trial_id)
                if status is TrialStatus.FAILED:
                    self._recompute_best(conn, row.study_id)
                return status

        return self._retry(run_tx)

    def recover_stale(
        self,
        study_id: int,
        *,
        older_than: float,
        now: float,
        max_retries: int | None = None,
        max_fidelity: float | None = None,
    ) -> list[int]:
        stale = (
            trials.c.study_id == study_id,
            trials.c.status == "running",
            sa.or_(trials.c.heartbeat.is_(None), trials.c.heartbeat < older_than),
        )

        def any_stale() -> bool:
            # the common case, nothing stale, takes no write lock (and on PostgreSQL one round
            # trip, no transaction of the client's)
            query = sa.select(trials.c.trial_id).where(*stale).limit(1)
            if not self._sqlite:
                return bool(self._one_statement(query))
            with self._ro() as conn:
                return conn.execute(query).first() is not None

        def run() -> list[int]:
            with self._tx() as conn:
                rows = conn.execute(self._losable(*stale)).all()
                message = "its worker stopped sending heartbeats"
                ends = [self._lose(conn, r, message, now, max_retries, max_fidelity) for r in rows]
                if rows:
                    self._changed(conn, study_id, *(r[0] for r in rows))
                if TrialStatus.FAILED in ends:
                    self._recompute_best(conn, study_id)
                return sorted(int(r[0]) for r in rows)

        if not self._retry(any_stale):
            return []
        return self._retry(run)

    # -- reading ------------------------------------------------------------------------------

    @staticmethod
    def _trial_columns() -> list[Any]:
        """The columns :meth:`_trial_record` reads, in its order."""
        t = trials.c
        return [
            t.trial_id,
            t.number,
            t.config,
            t.status,
            t.target,
            t.checkpoint_fidelity,
            t.work,
            t.reason,
            t.message,
            t.created,
            t.updated,
            t.heartbeat,
            t.lost_count,
            t.user_attrs,
            t.devices,
        ]

    @staticmethod
    def _observation_columns() -> list[Any]:
        """The columns of an observation, in :class:`Observation`'s order."""
        o = observations.c
        return [o.fidelity, o.value, o.wall_seconds, o.cpu_seconds, o.time, o.seq]

    @staticmethod
    def _trial_record(row: Any, curve: Sequence[Observation]) -> TrialRecord:
        """A record from a row of :meth:`_trial_columns`, unpacked: reading a row's attributes by
        name costs several times more, which shows in studies of thousands of trials."""
        (
            tid,
            number,
            config,
            status,
            target,
            ckpt,
            work,
            reason,
            message,
            created,
            updated,
            hb,
            lost,
            user_attrs,
            devices,
        ) = row
        try:
            record = TrialRecord(
                tid,
                number,
                decoded(PLAIN, config),
                _STATUSES.get(status) or TrialStatus(status),
                curve,
                target,
                ckpt,
                work,
                _REASONS.get(reason) or StopReason(reason),
                message,
                created,
                updated,
                hb,
                lost,
                json.loads(user_attrs) if user_attrs != "{}" else {},
                tuple(json.loads(devices)) if devices else (),
            )
        except DECODE_ERRORS:  # a row edited by hand: say which column holds what
            raise trial_row_problem(row) from None
        if type(record.config) is not dict or type(record.user_attrs) is not dict:
            raise trial_row_problem(row)
        return record

    def _trial_statement(self) -> str:
        """PostgreSQL: the SQL of a trial's row joined with its curve (parameter
        ``trial_id``), compiled once per process."""
        return _compiled(
            self._write.dialect,
            "trial",
            lambda: (
                sa.select(*self._trial_columns(), *self._observation_columns())
                .select_from(trials.outerjoin(observations))
                .where(trials.c.trial_id == sa.bindparam("trial_id"))
                .order_by(observations.c.fidelity)
            ),
        )[0]

    def trial(self, trial_id: int) -> TrialRecord:
        def one_statement() -> TrialRecord:
            # the row and its curve in one statement (one snapshot, one round trip)
            text = self._trial_statement()
            rows = self._driver_statement(text, {"trial_id": trial_id}, binary=True)
            if not rows:
                raise KeyError(f"no trial with trial_id={trial_id}")
            n = len(self._trial_columns())
            curve = tuple(Observation(*r[n:]) for r in rows if r[n] is not None)
            return self._trial_record(rows[0][:n], curve)

        if not self._sqlite:
            return self._retry(one_statement)

        def run() -> TrialRecord:
            with self._ro() as conn:
                row = conn.execute(
                    sa.select(*self._trial_columns()).where(trials.c.trial_id == trial_id)
                ).first()
                if row is None:
                    raise KeyError(f"no trial with trial_id={trial_id}")
                obs = conn.execute(
                    sa.select(*self._observation_columns())
                    .where(observations.c.trial_id == trial_id)
                    .order_by(observations.c.fidelity)
                ).all()
            return self._trial_record(row, tuple(Observation(*o) for o in obs))

        return self._retry(run)

    #: Trial numbers are kept in 32-bit columns: a range beyond them is clipped to them.
    _NUMBERS = range(0, 2**31 - 1)

    def _page(self, conn: Connection, study_id: int, *where: Any) -> tuple[TrialRecord, ...]:
        """The study's trials that pass ``where`` (clauses on ``hr_trials``), with their
        curves, by number, read on ``conn``."""
        clauses = [trials.c.study_id == study_id, *where]
        rows = conn.execute(
            sa.select(*self._trial_columns()).where(*clauses).order_by(trials.c.number)
        ).all()
        if not rows:
            return ()
        # bounded by the trials' ids too, so that the database reads the page's observations
        # through their (trial_id, fidelity) index instead of scanning every observation
        o = observations.c
        ids = [r[0] for r in rows]
        obs = conn.execute(
            sa.select(o.trial_id, *self._observation_columns())
            .join(trials, trials.c.trial_id == o.trial_id)
            .where(*clauses, o.trial_id >= min(ids), o.trial_id <= max(ids))
            .order_by(o.trial_id, o.fidelity)
        ).all()
        curves = curves_from_rows(tuple(row) for row in obs)
        return tuple(self._trial_record(tuple(r), curves.get(r[0], ())) for r in rows)

    def _check_study(self, conn: Connection, study_id: int) -> Any:
        """The study's row of kept best values (top fidelity, best last, best of any curve);
        ``KeyError`` if there is no such study."""
        s = studies.c
        head = conn.execute(
            sa.select(s.top_fidelity, s.best_last, s.best_curve).where(s.study_id == study_id)
        ).first()
        if head is None:
            raise KeyError(f"no study with study_id={study_id}")
        return head

    def trials(self, study_id: int, numbers: range) -> tuple[TrialRecord, ...]:
        numbers = check_numbers(numbers)
        first = max(numbers.start, self._NUMBERS.start)
        stop = min(numbers.stop, self._NUMBERS.stop)
        n = trials.c.number

        def run() -> tuple[TrialRecord, ...]:
            with self._ro() as conn:
                self._check_study(conn, study_id)
                if first >= stop:
                    return ()
                with collector_paused():
                    return self._page(conn, study_id, n >= first, n < stop)

        return self._retry(run)

    def best_trial(self, study_id: int, by: BestBy = "last") -> TrialRecord | None:
        by = check_best_by(by)
        o, t = observations.c, trials.c

        def run() -> tuple[TrialRecord, ...] | None:
            with self._ro() as conn:
                top, last, curve = self._check_study(conn, study_id)
                if by == "curve":
                    if curve is None:
                        return ()
                    where = [o.value == curve]
                else:
                    if top is None or last is None:
                        return ()
                    # the highest fidelity of any healthy trial is the last of those reaching it
                    where = [o.fidelity == top, o.value == last]
                found = conn.execute(
                    sa.select(t.trial_id)
                    .select_from(trials.join(observations, o.trial_id == t.trial_id))
                    .where(t.study_id == study_id, t.status != TrialStatus.FAILED.value, *where)
                    .order_by(t.number)
                    .limit(1)
                ).scalar()
                if found is None:
                    return None
                return self._page(conn, study_id, t.trial_id == found) or None

        page = self._retry(run)
        if page is None:  # the kept values name no trial (they always do): the rule on it all
            return self.history(study_id).best(by)
        return page[0] if page else None

    def history(
        self, study_id: int, *, decisions: bool = False, since: History | None = None
    ) -> History:
        if since is not None and not self._sqlite:
            following = self._retry(lambda: self._history_pipelined(study_id, decisions, since))
            if following is not None:
                return following

        def run() -> History:
            with self._ro() as conn:
                head = conn.execute(_head_statement(), {"study_id": study_id}).first()
                if head is None:
                    raise KeyError(f"no study with study_id={study_id}")
                direction, version, n_dec, queued = head
                base = since if since is not None and since.version <= version else None
                if (
                    base is not None
                    and base.version == version
                    and (not decisions or base.decisions_loaded)
                ):
                    return base  # nothing changed but heartbeats
                after = base.version if base else None
                # the whole study on PostgreSQL: its curves packed on a second connection
                # meanwhile, in this transaction's snapshot
                packing = (
                    _PackedElsewhere(conn, self._read, study_id)
                    if after is None and not self._sqlite
                    else None
                )
                try:
                    if decisions and base is not None and base.decisions_loaded:
                        decs = base.decisions + self._decisions(conn, study_id, base.n_decisions)
                        n_dec = len(decs)
                    elif decisions:
                        decs = self._decisions(conn, study_id, 0)
                        n_dec = len(decs)
                    else:
                        decs = ()
                    changed = self._changed_trials(conn, study_id, after, packing)
                finally:
                    if packing is not None:
                        packing.close()
                merged = _merge(base.trials if base else (), changed)
                if merged is None:  # numbering not as expected (cannot happen): read it all
                    merged = self._changed_trials(conn, study_id, None)
                queue = self._enqueued(conn, study_id) if queued else ()
            return History(direction, merged, n_dec, decs, version, queue)

        return self._retry(run)

    def _history_pipelined(self, study_id: int, decisions: bool, since: History) -> History | None:
        """PostgreSQL: the snapshot after ``since`` in one round trip (psycopg's pipeline: the
        transaction's begin, its reads and its commit sent together, since what to read
        depends only on ``since``). ``None`` when ``since`` does not fit the study as it is
        (it is newer than the study: the general path reads it all)."""
        after = since.version
        reads: list[tuple[str, Callable[[], Any], dict[str, Any]]] = [
            ("head", _head_statement, {"study_id": study_id}),
            *self._changed_statements(study_id, after),
            ("enqueued", _enqueued_statement, {"study_id": study_id}),
        ]
        if decisions:
            first = since.n_decisions if since.decisions_loaded else 0
            reads.append(
                ("decisions", _decisions_statement, {"study_id": study_id, "start": first})
            )
        with collector_paused():
            results = self._snapshot_rows(study_id, reads)
        head, trial_rows, obs_rows, queue_rows = results[:4]
        if not head:
            raise KeyError(f"no study with study_id={study_id}")
        direction, version, n_dec, _queued = head[0]
        if after > version:
            return None
        if after == version and (not decisions or since.decisions_loaded):
            return since  # nothing changed but heartbeats
        with collector_paused():
            curves = curves_from_rows(obs_rows)
            changed = tuple(self._trial_record(r, curves.get(r[0], ())) for r in trial_rows)
            decs: tuple[DecisionRecord, ...] = ()
            if decisions:
                new = _decision_records(results[4])
                decs = since.decisions + new if since.decisions_loaded else new
                n_dec = len(decs)
        merged = _merge(since.trials, changed)
        if merged is None:  # numbering not as expected (cannot happen): read it all
            return None
        return History(direction, merged, n_dec, decs, version, _enqueued_records(queue_rows))

    def _snapshot_rows(
        self, study_id: int, reads: Sequence[tuple[str, Callable[[], Any], Mapping[str, Any]]]
    ) -> list[Sequence[Any]]:
        """The rows of ``reads`` in one snapshot and one round trip (:func:`_pipelined_snapshot`),
        on the connection of this thread's :meth:`deciding` block if it is in one."""
        with self._autocommit() as conn:
            return _pipelined_snapshot(conn, reads)

    def _changed_statements(
        self, study_id: int, after: int | None
    ) -> list[tuple[str, Callable[[], Any], dict[str, Any]]]:
        """The reads of the study's trials changed after version ``after`` (all with ``None``)
        and of their observations: (name, statement builder, parameters) each."""

        def where() -> list[Any]:
            clauses = [trials.c.study_id == sa.bindparam("study_id")]
            if after is not None:
                clauses.append(trials.c.version > sa.bindparam("after"))
            return clauses

        shape = "all" if after is None else "changed"
        bound = {"study_id": study_id} if after is None else {"study_id": study_id, "after": after}
        return [
            (
                f"trials-{shape}",
                lambda: sa.select(*self._trial_columns()).where(*where()).order_by(trials.c.number),
                bound,
            ),
            (
                f"observations-{shape}",
                lambda: (
                    sa.select(observations.c.trial_id, *self._observation_columns())
                    .join(trials, trials.c.trial_id == observations.c.trial_id)
                    .where(*where())
                    .order_by(observations.c.trial_id, observations.c.fidelity)
                ),
                bound,
            ),
        ]

    def _changed_trials(
        self,
        conn: Connection,
        study_id: int,
        after: int | None,
        packing: _PackedElsewhere | None = None,
    ) -> tuple[TrialRecord, ...]:
        """The study's trials changed after version ``after`` (all with ``None``), by number;
        their curves from ``packing`` when given (the whole study, read elsewhere)."""
        (t_name, t_build, bound), (o_name, o_build, _) = self._changed_statements(study_id, after)
        with collector_paused():  # a million new rows and records, none of them in a cycle
            trial_rows = _driver_rows(conn, t_name, t_build, **bound)
            if not trial_rows:
                return ()
            curves: Mapping[int, Sequence[Observation]]
            if packing is not None:
                # the records first, while the server packs; each gets its curve when the
                # columns arrive (the records are this call's until it returns: no reader
                # sees one without its curve)
                records = [self._trial_record(r, ()) for r in trial_rows]
                del trial_rows
                curves = packing.result()
                for record in records:
                    curve = curves.get(record.trial_id)
                    if curve is not None:
                        object.__setattr__(record, "curve", curve)
                return tuple(records)
            if after is None and not self._sqlite:
                curves = _packed_curves(conn, study_id)  # the whole study: in columns
            else:
                obs_rows = _driver_rows(conn, o_name, o_build, **bound)
                curves = curves_from_rows(obs_rows)
                del obs_rows
            return tuple(self._trial_record(r, curves.get(r[0], ())) for r in trial_rows)

    @staticmethod
    def _enqueued(conn: Connection, study_id: int) -> tuple[Enqueued, ...]:
        """The configurations still waiting in the study's queue, in order."""
        rows = conn.execute(_enqueued_statement(), {"study_id": study_id}).all()
        return _enqueued_records(rows)

    @staticmethod
    def _decisions(conn: Connection, study_id: int, start: int) -> tuple[DecisionRecord, ...]:
        """The study's decisions from index ``start`` on, in order."""
        with collector_paused():
            rows = _driver_rows(
                conn, "decisions", _decisions_statement, study_id=study_id, start=start
            )
            return _decision_records(rows)

    def close(self) -> None:
        self._finalizer()
