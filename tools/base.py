"""The Tool record, the context tools run in, and the registry the composition root fills.

A tool is a plain frozen record: name (verb_noun), description, input and output pydantic models, effect
(read | compute | physical), timeout, an async ``run(ctx, args)``, what it costs the lab and what it records.
The OpenAI tool schema is generated from the input model. Tools never write the knowledge store: they return
results, ``records(output)`` says which rows those are, and the agent's record step writes them with their
provenance in one transaction. A new tool is one module (its models, its function, its ``Tool``) plus one line
in ``tools.catalog``: the graph, review and recording learn nothing of its name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from tools.errors import ToolInputError
from tools.paths import AllowedPaths
from tools.records import Records

if TYPE_CHECKING:
    from knowledge.store import StoreReader
    from lab.access import LabAccess
    from tools.compute.jobs import ComputeExecutor
    from tools.predict.registry import PredictorRegistry

Effect = Literal["read", "compute", "physical"]
In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel)


class ToolSettings(BaseModel):
    """The settings tools see (the composition root maps AtomLoop's settings onto them)."""

    model_config = ConfigDict(frozen=True)

    home: Path  # AtomLoop's data directory: a relative file name not found in the working directory is looked up here
    lab_mode: Literal["sim", "real"] = "sim"
    fe_platform: str = "auto"  # the OpenMM platform of free-energy calculations


class CampaignLauncher(Protocol):
    """Runs a closed-loop campaign for a tool (campaigns belong to the agent and write their own rows)."""

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]: ...


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ToolContext:
    """What a tool call may use: a read-only view of the store, the predictors, the lab, the compute executor, the
    files it may read, a clock, and the run's history so far."""

    store: StoreReader
    predictors: PredictorRegistry
    lab: LabAccess | None
    settings: ToolSettings
    run_id: str
    step_index: int
    paths: AllowedPaths
    executor: ComputeExecutor | None = None
    clock: Callable[[], datetime] = _now
    history: Sequence[Mapping[str, Any]] = ()  # the run's earlier steps (StepRecord dumps)
    campaigns: CampaignLauncher | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.settings.home

    def op_prefix(self) -> str:
        """Idempotency prefix for physical operations of this step: a resumed step repeats its op_ids."""
        return f"{self.run_id}:{self.step_index}"


@dataclass(frozen=True)
class Tool(Generic[In, Out]):
    """A capability the planner can call.

    ``lab_cost`` says how many molecules a call sends to the lab, from its validated input; every physical tool
    declares one, and review sums them over the run against the run's lab budget (so no physical tool can go
    around it). ``records`` says which rows of its validated output the record step stores (none when absent).
    """

    name: str
    description: str
    input_model: type[In]
    output_model: type[Out]
    run: Callable[[ToolContext, In], Awaitable[Out]]
    effect: Effect = "compute"
    timeout_s: float = 600.0
    lab_cost: Callable[[In], int] | None = None
    records: Callable[[Out], Records] | None = None

    def __post_init__(self) -> None:
        if self.effect == "physical" and self.lab_cost is None:
            raise ValueError(f"the physical tool {self.name!r} must declare its lab_cost")

    def molecules_sent_to_lab(self, args: In) -> int:
        """Molecules this call sends to the lab (0 for tools that are not physical)."""
        if self.lab_cost is None:
            return 0
        cost = int(self.lab_cost(args))
        if cost < 0:
            raise ValueError(f"{self.name}: a negative lab cost ({cost})")
        return cost

    def records_of(self, output: Mapping[str, Any]) -> Records:
        """The rows to store for an output of this tool (as stored in the run's history, JSON)."""
        if self.records is None:
            return Records()
        return self.records(self.output_model.model_validate(dict(output)))

    def parse_args(self, args: Mapping[str, Any] | str) -> In:
        """Validate raw arguments (a dict or a JSON string) into the input model, or ``ToolInputError``."""
        try:
            if isinstance(args, str):
                return self.input_model.model_validate_json(args)
            return self.input_model.model_validate(dict(args))
        except ValidationError as error:
            raise ToolInputError(f"invalid arguments for {self.name}: {validation_problems(error, whole='(arguments)')}") from error

    def openai_schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.input_model.model_json_schema(),
            },
        }


def validation_problems(error: ValidationError, whole: str | None = None) -> str:
    """A validation error in one line, a "where: what" per problem ("objectives.0.target: Input should be a
    finite number"), without pydantic's links or its "Value error, " prefix. A problem of the whole object is
    labelled ``whole`` (or stands alone)."""
    parts = []
    for item in error.errors():
        message = item["msg"].removeprefix("Value error, ")
        location = ".".join(str(p) for p in item["loc"]) or whole
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(parts)


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool[Any, Any]] = ()) -> None:
        self._tools: dict[str, Tool[Any, Any]] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool[Any, Any]) -> None:
        if tool.name in self._tools:
            raise ValueError(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool[Any, Any]:
        try:
            return self._tools[name]
        except KeyError:
            raise ToolInputError(f"unknown tool {name!r}; tools: {', '.join(sorted(self._tools))}") from None

    def names(self) -> list[str]:
        return sorted(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool[Any, Any]]:
        return iter(self._tools[name] for name in sorted(self._tools))

    def openai_schemas(self) -> list[dict[str, Any]]:
        return [tool.openai_schema() for tool in self]
