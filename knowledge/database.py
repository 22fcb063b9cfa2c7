"""Engines and schema migrations. No module-level engine: callers make one from a URL."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import OperationalError

from knowledge.errors import StoreSetupError

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "atomloop_write"


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``).

    SQLite gets WAL mode, foreign keys, a busy timeout, and ``BEGIN IMMEDIATE`` for write transactions
    (see :func:`writer_engine`), so two processes writing at once wait for each other instead of failing.
    """
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        if url.startswith("sqlite"):
            _ensure_sqlite_parent(url)
            engine = create_engine(url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
            _configure_sqlite(engine)
        else:
            engine = create_engine(url, echo=echo, pool_pre_ping=True)
    except Exception as error:  # SQLAlchemy raises ArgumentError, NoSuchModuleError, ...
        raise StoreSetupError(f"cannot use database URL {redact_url(url)!r}: {error}") from error
    return engine


def writer_engine(engine: Engine) -> Engine:
    """The same engine, marked so that SQLite starts its transactions with ``BEGIN IMMEDIATE``."""
    return engine.execution_options(**{WRITE_OPTION: True})


T = TypeVar("T")
BUSY_RETRIES = 5


def retry_while_locked(transaction: Callable[[], T], retries: int = BUSY_RETRIES) -> T:
    """The result of ``transaction`` (one whole write transaction), run again with a growing pause while SQLite
    reports the database locked (another process holds the write lock past its busy timeout); any other error, or
    the last attempt's, is raised."""
    for attempt in range(retries):
        try:
            return transaction()
        except OperationalError as error:
            if "locked" not in str(error).lower() or attempt == retries - 1:
                raise
            log.warning("database busy, retrying (attempt %d)", attempt + 1)
            time.sleep(0.2 * 2**attempt)
    raise AssertionError("unreachable: the last attempt returns or raises")


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def _ensure_sqlite_parent(url: str) -> None:
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event below issue BEGIN itself (pysqlite's own handling defers it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _alembic_config(engine: Engine | None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Apply the Alembic migrations up to ``revision``; return the revision the database is now at."""
    from alembic import command

    command.upgrade(_alembic_config(engine), revision)
    return current_revision(engine)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    config = _alembic_config(None)
    return ScriptDirectory.from_config(config).get_current_head()


def check_schema(engine: Engine) -> None:
    """Raise ``StoreSetupError`` unless the database is migrated to the newest revision."""
    tables = set(inspect(engine).get_table_names())
    if "molecule" not in tables:
        raise StoreSetupError(
            f"the database at {redact_url(str(engine.url))} has no AtomLoop schema: run `atomloop db init`"
        )
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise StoreSetupError(
            f"the database is at schema revision {current}, this AtomLoop needs {head}: run `atomloop db upgrade`"
        )
