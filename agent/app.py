"""The composition root: the one place that builds AtomLoop's parts from settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Self

from agent.settings import AtomLoopSettings
from knowledge.database import check_schema, make_engine
from knowledge.store import KnowledgeStore

if TYPE_CHECKING:
    from agent.plan import Planner
    from lab.access import LabAccess
    from tools.base import ToolRegistry, ToolSettings
    from tools.compute.jobs import ComputeExecutor


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

    @cached_property
    def executor(self) -> ComputeExecutor:
        """Where compute jobs run (``ATOMLOOP_COMPUTE__*``), recording them in the store and their results under
        ``<home>/jobs``. Its worker processes (or Dask cluster) start on first use and stop with ``close()``."""
        from tools.compute.book import JobBook
        from tools.compute.jobs import build_executor

        return build_executor(self.settings.compute, JobBook.open(self.store.engine, self.settings.home_dir / "jobs"))

    def close(self) -> None:
        """Stop what the app started that outlives a call (the compute executor's workers)."""
        executor = self.__dict__.pop("executor", None)
        if executor is not None:
            executor.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @cached_property
    def tools(self) -> ToolRegistry:
        from tools.base import ToolRegistry
        from tools.catalog import default_tools

        return ToolRegistry(default_tools())

    @cached_property
    def predictors(self) -> Any:
        """The model registry; its training fans ensemble members out to ``executor`` where that pays."""
        from tools.predict.registry import PredictorRegistry, default_families

        families = default_families(conformer_dir=self.settings.conformer_dir)
        return PredictorRegistry(self.store, self.settings.home_dir / "models", families=families,
                                 executor=self.executor)

    @property
    def tool_settings(self) -> ToolSettings:
        from tools.base import ToolSettings

        return ToolSettings(home=self.settings.home_dir, lab_mode=self.settings.lab.mode, fe_platform=self.settings.fe.platform)

    @cached_property
    def lab(self) -> LabAccess:
        """The lab runs' tools use (``lab_for`` the shared state)."""
        return self.lab_for("sim-state")

    def lab_for(self, state: str, seed_offset: int = 0) -> LabAccess:
        """A lab whose simulated state lives in ``<home>/lab/<state>.pkl`` (a campaign keeps its own), seeded with the
        lab's seed plus ``seed_offset``. What stands behind it is decided here: the simulated lab in sim mode; real
        mode needs an instrument configuration, which AtomLoop cannot read yet, so it is a ``SetupError`` that says
        so (never a silent simulated lab)."""
        self.check_lab()
        from agent.lab_access import SimulatedLabAccess

        return SimulatedLabAccess(self.settings.home_dir / "lab" / f"{state}.pkl", seed=self.settings.lab.seed + seed_offset)

    def check_lab(self) -> None:
        """Raise ``lab.errors.SetupError`` when the configured lab cannot be used: call it before writing anything
        for work that may reach the lab (a run, a campaign)."""
        if self.settings.lab.mode == "real":
            from lab.errors import SetupError

            raise SetupError(
                "ATOMLOOP_LAB__MODE=real needs an instrument configuration (the real instruments, their SiLA 2 "
                "addresses and the deck's labware), and none is configured: AtomLoop cannot drive a real lab yet. "
                "Use ATOMLOOP_LAB__MODE=sim for the simulated lab; nothing was written"
            )

    def planner(self, offline: bool | None = None) -> Planner:
        """The LLM planner when an endpoint is configured (and not ``offline``), else the offline planner."""
        if offline or (offline is None and self.settings.llm.base_url is None) or self.settings.llm.base_url is None:
            from agent.planners.offline import OfflinePlanner

            return OfflinePlanner()
        from agent.planners.llm import LLMPlanner

        return LLMPlanner(self.settings.llm, self.tools)


def build_app(settings: AtomLoopSettings | None = None) -> App:
    return App(settings=settings or AtomLoopSettings())
