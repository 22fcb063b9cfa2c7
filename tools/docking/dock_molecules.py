"""dock_molecules: dock molecules to a target (a bundled or stored target's name, or a receptor file the user
allowed) with AutoDock Vina; each docked molecule's best score becomes a ``docking_score`` measurement."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tools.base import Tool, ToolContext
from tools.errors import ToolInputError
from tools.names import resolve_molecule
from tools.records import Records
from tools.schemas import InvalidInput, ToolInput, ToolOutput

MAX_MOLECULES = 500


class DockMoleculesInput(ToolInput):
    target: str = Field(description="A docking target's name (e.g. 1IEP, 4IVT, or one added by the user) or a receptor PDB file")
    molecules: list[str] = Field(min_length=1, max_length=MAX_MOLECULES, description="SMILES or common names")
    center: list[float] | None = Field(default=None, min_length=3, max_length=3, description="Box centre (Angstrom); default: the target's box")
    size: list[float] | None = Field(default=None, min_length=3, max_length=3, description="Box sides (Angstrom), with center")
    exhaustiveness: int = Field(default=8, ge=1, le=64, description="Vina's search effort")


class DockedMolecule(ToolOutput):
    input: str
    smiles: str
    score: float = Field(description="Vina score of the best pose, kcal/mol (lower binds better)")
    poses: int
    pose_file: str
    rmsd_to_crystal: float | None = Field(default=None, description="Top pose's heavy-atom RMSD to the target's crystal ligand, when it is that ligand")


class DockMoleculesOutput(ToolOutput):
    target: str
    engine: str
    docked: list[DockedMolecule]
    failures: list[InvalidInput]
    report: dict[str, Any] = Field(description="The whole docking report, for the record step")


async def dock_molecules(ctx: ToolContext, args: DockMoleculesInput) -> DockMoleculesOutput:
    from tools.docking.box import Box
    from tools.docking.engine import DockingSettings
    from tools.docking.service import LigandInput, dock_ligands
    from tools.docking.targets import RECEPTOR_SUFFIXES, resolve_target
    from tools.docking.vina_engine import VinaEngine

    if (args.center is None) != (args.size is None):
        raise ToolInputError("give the box's center and size together, or neither")
    box = Box.of(args.center, args.size) if args.center is not None and args.size is not None else None
    name = args.target.strip()
    if "/" in name or name.lower().endswith(RECEPTOR_SUFFIXES):
        name = str(ctx.paths.resolve(name, what="receptor file"))  # only files under the allowed folders
    target = resolve_target(ctx.store, name, box)
    ligands, failures = [], []
    for text in args.molecules:
        try:
            ligands.append(LigandInput(label=text, smiles=resolve_molecule(text)))
        except ToolInputError as error:
            failures.append(InvalidInput(input=text, error=str(error)))
    if not ligands:
        raise ToolInputError(f"none of the molecules is a structure: {'; '.join(f.error for f in failures)}")
    report = dock_ligands(target, ligands, VinaEngine(), ctx.settings.home, settings=DockingSettings(exhaustiveness=args.exhaustiveness), executor=ctx.executor)
    docked = []
    for result in report.results:
        if result.error is not None or result.score is None or result.smiles is None or result.pose_file is None:
            failures.append(InvalidInput(input=result.input, error=result.error or "not docked"))
            continue
        top_rmsd = result.reference_rmsd[0] if result.reference_rmsd else None
        docked.append(DockedMolecule(input=result.input, smiles=result.smiles, score=result.score, poses=len(result.poses), pose_file=result.pose_file, rmsd_to_crystal=top_rmsd))
    if not docked:
        raise ToolInputError(f"none of the molecules could be docked: {'; '.join(f.error for f in failures)}")
    docked.sort(key=lambda molecule: molecule.score)
    return DockMoleculesOutput(target=report.target, engine=f"{report.engine} {report.engine_version}", docked=docked, failures=failures, report=report.model_dump(mode="json"))


def records(output: DockMoleculesOutput) -> Records:
    return Records(docking_reports=(output.report,))


TOOL = Tool(
    "dock_molecules",
    "Dock molecules into a protein target with AutoDock Vina (poses and scores in kcal/mol, lower binds better).",
    DockMoleculesInput,
    DockMoleculesOutput,
    dock_molecules,
    effect="compute",
    timeout_s=3600,
    records=records,
)
