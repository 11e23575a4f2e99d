"""The SQLite store: WAL mode, a busy timeout, and one writer thread so writes never overlap."""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import sqlite3
import threading
import time
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, SQLModel

from desktop_app.core import models
from desktop_app.core.events import EventBus

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2


def _add_column(conn, table: str, column: str, ddl: str) -> None:
    columns = {row[1] for row in conn.exec_driver_sql(f"PRAGMA table_info({table})")}
    if column not in columns:
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}")


def _to_2(conn) -> None:
    _add_column(conn, "inbound_event", "attempts", "INTEGER NOT NULL DEFAULT 0")
    _add_column(conn, "call", "screened", "BOOLEAN NOT NULL DEFAULT 0")
    _add_column(conn, "call", "lo_accepted", "BOOLEAN NOT NULL DEFAULT 0")
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_step_call_id ON step (call_id)")
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_call_started_at ON call (started_at)")
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_step_first_text ON step "
                         "(call_id, status, delivery_status, detail) WHERE name = 'first_text'")


# Migrations to each schema version from the one before: SQL text or a callable(conn).
MIGRATIONS: dict[int, tuple] = {2: (_to_2,)}
DB_FILENAME = "missed-call-desk.sqlite3"
BUSY_TIMEOUT_MS = 5000
# Writes that still find the file locked after the busy timeout are retried this often
# before the caller gets a StorageError.
LOCK_RETRIES = 3

T = TypeVar("T")


class StorageError(RuntimeError):
    """The environment stopped a write: disk full, file locked or read-only. Not a bug."""


# Writer queue priorities: work a caller waits on goes before background processing.
URGENT = 0
BACKGROUND = 1


class WriterThread:
    """One thread that runs submitted callables in priority order (FIFO within a priority)."""

    def __init__(self, name: str = "db-writer"):
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._counter = itertools.count()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._stopping = False
        self._thread.start()

    @property
    def ident(self) -> int | None:
        return self._thread.ident

    def submit(self, fn: Callable[..., T], *args: Any, priority: int = URGENT, **kwargs: Any) -> Future:
        if self._stopping:
            raise StorageError("the database is closed")
        future: Future = Future()
        self._queue.put((priority, next(self._counter), fn, args, kwargs, future))
        return future

    def _run(self) -> None:
        while True:
            _priority, _seq, fn, args, kwargs, future = self._queue.get()
            if fn is None:
                future.set_result(None)
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

    def shutdown(self) -> None:
        """Finish everything queued, then stop the thread."""
        if self._stopping:
            return
        done: Future = Future()
        self._queue.put((BACKGROUND + 1, next(self._counter), None, (), {}, done))
        self._stopping = True
        if threading.get_ident() != self._thread.ident:
            self._thread.join()


class UnitOfWork:
    """A write transaction plus the notifications and follow-up work to run after it commits."""

    def __init__(self, session: Session):
        self.session = session
        self.events: list[object] = []
        self._after_commit: list[Callable[[], None]] = []

    def emit(self, event_: object) -> None:
        if event_ not in self.events:
            self.events.append(event_)

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    def add(self, obj: Any) -> Any:
        self.session.add(obj)
        return obj

    def flush(self) -> None:
        self.session.flush()


def _configure_connection(dbapi_connection, busy_timeout_ms: int) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    # NORMAL is durable across application crashes in WAL mode; only a power cut can
    # lose the last commits.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _is_environment_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(
        word in text
        for word in ("locked", "busy", "disk i/o", "database or disk is full", "readonly",
                     "read-only", "unable to open")
    )


class Database:
    """Owns the engine, the writer thread and schema migrations."""

    def __init__(self, path: Path, bus: EventBus | None = None,
                 busy_timeout_ms: int = BUSY_TIMEOUT_MS):
        self.path = Path(path)
        self.bus = bus or EventBus()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(
            f"sqlite:///{self.path}",
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
            pool_size=8,
            max_overflow=8,
        )
        event.listen(self.engine, "connect",
                     lambda connection, _record: _configure_connection(connection, busy_timeout_ms))
        self._writer = WriterThread()
        self._writer_thread_id = self._writer.ident
        self._closed = False
        self.migrate()

    # -- schema ---------------------------------------------------------------------------

    def schema_version(self) -> int | None:
        with self.engine.connect() as conn:
            has_meta = conn.execute(
                sa.text("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'")
            ).first()
            if not has_meta:
                return None
            row = conn.execute(
                sa.text("SELECT value FROM meta WHERE key='schema_version'")
            ).first()
            return int(row[0]) if row else None

    def migrate(self) -> None:
        """Create missing tables, then run the numbered migrations the file has not had.

        New tables need no migration (create_all adds them); changed columns and data do,
        and each such change bumps SCHEMA_VERSION with an entry in MIGRATIONS. The file is
        backed up before any migration runs.
        """
        version = self.schema_version()
        if version is not None and version > SCHEMA_VERSION:
            raise StorageError(
                f"{self.path} was written by a newer version of the app (schema {version}, "
                f"this version reads up to {SCHEMA_VERSION}). Install the newer version."
            )
        if version is not None and version < SCHEMA_VERSION:
            self._backup(version)
        SQLModel.metadata.create_all(self.engine)
        if version == SCHEMA_VERSION:
            return
        with self.engine.begin() as conn:
            for number in range((version or SCHEMA_VERSION) + 1, SCHEMA_VERSION + 1):
                log.info("Migrating the database to schema %d", number)
                for statement in MIGRATIONS.get(number, ()):
                    if callable(statement):
                        statement(conn)
                    else:
                        conn.execute(sa.text(statement))
        with Session(self.engine) as session:
            session.merge(models.Meta(key="schema_version", value=str(SCHEMA_VERSION)))
            session.commit()

    def _backup(self, version: int) -> Path:
        target = self.path.with_name(f"{self.path.name}.v{version}.bak")
        source = sqlite3.connect(self.path)
        try:
            dest = sqlite3.connect(target)
            with dest:
                source.backup(dest)
            dest.close()
        finally:
            source.close()
        log.info("Backed up the database to %s before migrating", target)
        return target

    # -- access ---------------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Session]:
        """Open a session for reads; any thread may use one."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run fn(uow, *args) in the writer thread inside one transaction and return its result."""
        if threading.get_ident() == self._writer_thread_id:
            return self._run_write(fn, args, kwargs)
        if self._closed:
            raise StorageError("the database is closed")
        return self._writer.submit(self._run_write, fn, args, kwargs).result()

    def submit_write(self, fn: Callable[..., T], *args: Any, priority: int = URGENT,
                     **kwargs: Any) -> Future:
        if self._closed:
            raise StorageError("the database is closed")
        return self._writer.submit(self._run_write, fn, args, kwargs, priority=priority)

    def run_in_writer(self, fn: Callable[[], T], priority: int = URGENT) -> Future:
        """Run fn() in the writer thread.

        Inside it, write() runs inline, so one call can commit several transactions in a row
        without other writes in between.
        """
        if self._closed:
            raise StorageError("the database is closed")
        return self._writer.submit(fn, priority=priority)

    def barrier(self, timeout: float = 30.0) -> None:
        """Wait until every write queued before this call, background ones included, is done."""
        if self._closed or threading.get_ident() == self._writer_thread_id:
            return
        self._writer.submit(lambda: None, priority=BACKGROUND).result(timeout)

    async def write_async(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.wrap_future(self.submit_write(fn, *args, **kwargs))

    def _run_write(self, fn: Callable[..., T], args: tuple, kwargs: dict) -> T:
        for attempt in range(LOCK_RETRIES + 1):
            with Session(self.engine, expire_on_commit=False) as session:
                uow = UnitOfWork(session)
                try:
                    result = fn(uow, *args, **kwargs)
                    session.commit()
                except OperationalError as exc:
                    session.rollback()
                    if not _is_environment_error(exc):
                        raise
                    if attempt < LOCK_RETRIES and "locked" in str(exc).lower():
                        log.warning("Database busy, retrying write (attempt %d)", attempt + 1)
                        time.sleep(0.05 * (attempt + 1))
                        continue
                    raise StorageError(f"could not write to {self.path}: {exc.orig}") from exc
                except BaseException:
                    session.rollback()
                    raise
            for callback in uow._after_commit:
                try:
                    callback()
                except Exception:
                    log.exception("After-commit callback %r failed", callback)
            for event_ in uow.events:
                self.bus.publish(event_)
            return result
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.shutdown()
        self.engine.dispose()


def get_meta(session: Session, key: str) -> str | None:
    row = session.get(models.Meta, key)
    return row.value if row else None


def set_meta(session: Session, key: str, value: str) -> None:
    session.merge(models.Meta(key=key, value=value))


def copy_database(source: Path, target: Path) -> None:
    """Copy a live database file safely (for backups and exports)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(source)
    try:
        dst = sqlite3.connect(target)
        with dst:
            src.backup(dst)
        dst.close()
    finally:
        src.close()

