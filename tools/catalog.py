"""The tools the agent plans with: one line per tool. Each lives beside its engine and declares its schema, its
effect, its lab cost and what it records; adding a tool is adding its module and its line here."""

from __future__ import annotations

from typing import Any

from tools.base import Tool
from tools.campaigns import start_campaign
from tools.docking import dock_molecules
from tools.experiments import run_experiment
from tools.freeenergy import compute_free_energy
from tools.literature import read_literature
from tools.predict import predict_property, select_experiments
from tools.store import query_knowledge, register_molecules, summarize_results


def default_tools() -> list[Tool[Any, Any]]:
    return [
        query_knowledge.TOOL,
        register_molecules.TOOL,
        predict_property.TOOL,
        select_experiments.TOOL,
        run_experiment.TOOL,
        summarize_results.TOOL,
        read_literature.TOOL,
        start_campaign.TOOL,
        dock_molecules.TOOL,
        compute_free_energy.TOOL,
    ]
