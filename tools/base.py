"""The Tool record, the context tools run in, and the registry the composition root fills.

A tool is a plain frozen record: name (verb_noun), description, input and output pydantic models, effect
(read | compute | physical), timeout, and an async ``run(ctx, args)``. The OpenAI tool schema is generated
from the input model. Tools never write the knowledge store: they return results, and the agent's record step
writes them with their provenance in one transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from tools.errors import ToolInputError

from tools.paths import AllowedPaths

if TYPE_CHECKING:
    from knowledge.store import KnowledgeStore
    from tools.predict.registry import PredictorRegistry

Effect = Literal["read", "compute", "physical"]
In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel)


class LabAccess:
    """How tools reach the lab; the composition root decides what stands behind it (simulated or real)."""

    async def run_assays(
        self, smiles: list[str], assays: list[str], op_prefix: str
    ) -> Any:  # -> simulators.runner.SimulationReport-like object with measurements, failures, makespan_s
        raise NotImplementedError


@dataclass(frozen=True)
class ToolContext:
    """Read-only dependencies of a tool call."""

    store: KnowledgeStore
    predictors: PredictorRegistry
    lab: LabAccess | None
    data_dir: Path
    run_id: str
    step_index: int
    paths: AllowedPaths
    extras: Mapping[str, Any] = field(default_factory=dict)

    def op_prefix(self) -> str:
        """Idempotency prefix for physical operations of this step: a resumed step repeats its op_ids."""
        return f"{self.run_id}:{self.step_index}"


@dataclass(frozen=True)
class Tool(Generic[In, Out]):
    """A capability the planner can call.

    ``lab_cost`` says how many molecules a call sends to the lab, from its validated input; every physical tool
    declares one, and review sums them over the run against the run's lab budget (so no physical tool can go
    around it).
    """

    name: str
    description: str
    input_model: type[In]
    output_model: type[Out]
    run: Callable[[ToolContext, In], Awaitable[Out]]
    effect: Effect = "compute"
    timeout_s: float = 600.0
    lab_cost: Callable[[In], int] | None = None

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

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._tools[name] for name in sorted(self._tools))

    def openai_schemas(self) -> list[dict[str, Any]]:
        return [tool.openai_schema() for tool in self]
