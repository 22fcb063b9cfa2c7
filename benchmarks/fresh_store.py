"""A fresh AtomLoop app per benchmark run: SQLite in a temporary home, the schema at head.

Imported by the benchmark scripts as ``from fresh_store import fresh_app`` (they run as ``python benchmarks/NAME.py``,
so this folder is on ``sys.path``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.app import App


@contextmanager
def fresh_app(prefix: str) -> Iterator[App]:
    """An app whose store is a new SQLite database in a temporary home (never the user's, never another database
    named by ``ATOMLOOP_DATABASE_URL``); the home is deleted on exit."""
    from agent.app import build_app
    from knowledge.database import make_engine, upgrade

    with tempfile.TemporaryDirectory(prefix=prefix) as home:
        os.environ["ATOMLOOP_HOME"] = home
        os.environ.pop("ATOMLOOP_DATABASE_URL", None)
        app = build_app()
        engine = make_engine(app.settings.resolved_database_url)
        upgrade(engine)
        engine.dispose()
        try:
            yield app
        finally:
            app.store.engine.dispose()
