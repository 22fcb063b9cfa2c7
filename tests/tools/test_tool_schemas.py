"""The OpenAI tool schemas are our API to the model: a snapshot holds every one of them.

After a deliberate change, regenerate the snapshot with ATOMLOOP_UPDATE_SNAPSHOTS=1 and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tools.base import ToolRegistry
from tools.catalog import default_tools

SNAPSHOT = Path(__file__).parent / "tool_schemas.json"


def test_tool_schemas_match_the_snapshot() -> None:
    schemas = ToolRegistry(default_tools()).openai_schemas()
    rendered = json.dumps(schemas, indent=2, sort_keys=True) + "\n"
    if os.environ.get("ATOMLOOP_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(rendered)
    assert SNAPSHOT.exists(), "no snapshot: run with ATOMLOOP_UPDATE_SNAPSHOTS=1"
    assert json.loads(SNAPSHOT.read_text()) == schemas, "tool schemas changed: regenerate the snapshot if deliberate"


def test_every_tool_is_described_and_typed() -> None:
    tools = list(ToolRegistry(default_tools()))
    assert [t.name for t in tools] == sorted([
        "query_knowledge", "register_molecules", "predict_property", "select_experiments", "run_experiment",
        "summarize_results", "start_campaign", "read_literature", "dock_molecules", "compute_free_energy",
    ])
    for tool in tools:
        schema = tool.openai_schema()["function"]
        assert len(schema["description"]) > 30
        assert schema["parameters"]["type"] == "object"
        assert schema["parameters"].get("additionalProperties") is False  # extra arguments are refused
    assert {t.name: t.effect for t in tools}["run_experiment"] == "physical"
