"""summarize_results: a table of this run's measurements and predictions so far."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from tools.base import Tool, ToolContext
from tools.schemas import ToolInput, ToolOutput


class SummarizeResultsInput(ToolInput):
    focus: str | None = Field(default=None, description="Property to focus on, e.g. pIC50")


class SummarizeResultsOutput(ToolOutput):
    markdown: str
    rows: int
    generated_at: datetime


async def summarize_results(ctx: ToolContext, args: SummarizeResultsInput) -> SummarizeResultsOutput:
    history = list(ctx.history)
    rows: list[tuple[str, str, str, str]] = []
    for step in history:
        output = step.get("output") or {}
        for m in output.get("measurements", []):
            if args.focus and m["property"] != args.focus:
                continue
            sigma = "" if m.get("uncertainty") is None else f" ± {m['uncertainty']:.2f}"
            rows.append((m["smiles"], m["property"], f"{m['value']:.2f}{sigma} {m.get('unit') or ''}".strip(), m.get("source", "measured" if "op_id" in m else "store")))
        for p in output.get("predictions", []):
            if args.focus and p["property"] != args.focus:
                continue
            rows.append((p["smiles"], p["property"], f"{p['value']:.2f} ± {p['uncertainty']:.2f} {p['unit']}", "predicted"))
    lines = ["| molecule | property | value | source |", "|---|---|---|---|"]
    lines += [f"| `{s}` | {p} | {v} | {src} |" for s, p, v, src in rows]
    return SummarizeResultsOutput(markdown="\n".join(lines) if rows else "No results yet.", rows=len(rows), generated_at=ctx.clock())


TOOL = Tool(
    "summarize_results",
    "Tabulate the measurements and predictions of this run so far.",
    SummarizeResultsInput,
    SummarizeResultsOutput,
    summarize_results,
    effect="read",
    timeout_s=30,
)
