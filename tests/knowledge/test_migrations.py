from __future__ import annotations

import pytest
from sqlalchemy import inspect

from knowledge.database import check_schema, current_revision, head_revision, make_engine, upgrade
from knowledge.errors import StoreSetupError


def test_migrations_build_exactly_the_models_schema(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    import knowledge.models  # noqa: F401

    engine = make_engine(database_url)
    assert upgrade(engine) == head_revision()
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []
    tables = set(inspect(engine).get_table_names())
    assert {"molecule", "measurement", "prediction", "run", "toolcall", "modelversion", "datasetsnapshot"} <= tables
    engine.dispose()


def test_upgrade_is_idempotent_and_check_schema_passes(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    check_schema(engine)
    engine.dispose()


def test_an_empty_database_asks_for_db_init(database_url: str) -> None:
    engine = make_engine(database_url)
    with pytest.raises(StoreSetupError, match="atomloop db init"):
        check_schema(engine)
    engine.dispose()


def test_a_bad_database_url_is_a_setup_error() -> None:
    with pytest.raises(StoreSetupError, match="cannot use database URL"):
        make_engine("nosuchdialect://user:secret@host/db")
