"""The composition root: the one place that builds AtomLoop's parts from settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from agent.settings import AtomLoopSettings
from knowledge.database import check_schema, make_engine
from knowledge.store import KnowledgeStore


@dataclass
class App:
    settings: AtomLoopSettings

    @cached_property
    def store(self) -> KnowledgeStore:
        """The knowledge store, after checking that its schema is migrated."""
        store = self.unchecked_store
        check_schema(store.engine)
        return store

    @cached_property
    def unchecked_store(self) -> KnowledgeStore:
        """The knowledge store without the schema check (for `db init` and `db upgrade`)."""
        self.settings.home_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(self.settings.resolved_database_url)
        return KnowledgeStore(engine, snapshot_dir=self.settings.snapshot_dir)


def build_app(settings: AtomLoopSettings | None = None) -> App:
    return App(settings=settings or AtomLoopSettings())
