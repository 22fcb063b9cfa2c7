"""``atomloop dock RECEPTOR_OR_TARGET LIGANDS``: dock molecules to a receptor with AutoDock Vina; ``atomloop dock
targets`` lists the targets by name and ``atomloop dock targets add`` adds one.

The receptor is a bundled or stored target's name (``1IEP``, ``4IVT``) or a PDB file; the ligands a SMILES, a
common name, or a file of them (SMILES list, CSV/TSV, SDF). The box comes from the target, ``--box FILE``,
``--center X Y Z --size X Y Z``, or ``--autobox-ligand FILE``. Every docked molecule's best score is a
``docking_score`` measurement in the store and its poses an SDF under ``$ATOMLOOP_HOME/poses``; the same docking
again is answered from the cache. ``--score-only POSE.sdf`` scores a given pose where it lies.

Exit codes follow the CLI's rule: 0 when at least one molecule was docked (or the pose scored); 2 for input to fix
(no molecule could be prepared, a bad box, a receptor that cannot be read, no atom in the box); 3 when Vina is not
installed; 4 when molecules were prepared but the engine failed on every one.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from agent.cli_common import EXIT_INPUT, EXIT_RUN_FAILED, JsonOption, cells, console, emit_json, handles_errors, shown

if TYPE_CHECKING:
    from tools.docking.box import Box
    from tools.docking.service import DockingReport, LigandInput


class _DockGroup(TyperGroup):
    """``atomloop dock X ...`` runs the docking unless X names a subcommand (``targets``)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # ctx: typer's click Context
        if args and args[0] not in self.commands and args[0] not in {"--help", "-h"}:
            args = ["run", *args]
        return super().parse_args(ctx, args)


dock_cli = typer.Typer(
    cls=_DockGroup,
    help="Docking with AutoDock Vina. `atomloop dock RECEPTOR_OR_TARGET LIGANDS` is `atomloop dock run ...` (its options: atomloop dock run --help).",
    no_args_is_help=True,
)
targets_cli = typer.Typer(help="Docking targets: a receptor and a box, by name.", invoke_without_command=True)
dock_cli.add_typer(targets_cli, name="targets")

Triple = tuple[float, float, float]


@dock_cli.command("run")
@handles_errors
def dock(
    receptor: Annotated[str, typer.Argument(help="A target's name (atomloop dock targets) or a receptor PDB file.")],
    ligands: Annotated[str | None, typer.Argument(help="A SMILES, a common name, or a file of molecules (SMILES list, CSV/TSV, SDF).")] = None,
    box_file: Annotated[Path | None, typer.Option("--box", help="A box file: Vina config lines (center_x = ...) or JSON.")] = None,
    center: Annotated[tuple[float, float, float] | None, typer.Option(help="Box centre X Y Z (Angstrom), with --size.")] = None,
    size: Annotated[tuple[float, float, float] | None, typer.Option(help="Box sides X Y Z (Angstrom), with --center.")] = None,
    autobox_ligand: Annotated[Path | None, typer.Option("--autobox-ligand", help="A reference ligand (SDF, PDB, MOL2): the box around it.")] = None,
    padding: Annotated[float, typer.Option(help="Padding around --autobox-ligand on every side (Angstrom).")] = 4.0,
    exhaustiveness: Annotated[int, typer.Option(help="Vina's exhaustiveness (independent searches).")] = 8,
    poses: Annotated[int, typer.Option(help="Poses to keep per molecule.")] = 9,
    seed: Annotated[int, typer.Option(help="Seed of the search (the same seed gives the same poses).")] = 0,
    engine: Annotated[str, typer.Option(help="Docking engine.")] = "vina",
    rescore: Annotated[str, typer.Option(help="Rescore the poses: 'cnn' adds GNINA's CNN pose score and affinity and ranks by it.")] = "none",
    ph: Annotated[float, typer.Option(help="Protonate each ligand to its dominant state at this pH.")] = 7.4,
    no_protonate: Annotated[bool, typer.Option("--no-protonate", help="Dock the ligands' charge states as written.")] = False,
    keep_waters: Annotated[bool, typer.Option("--keep-waters", help="Keep the receptor's waters (removed by default).")] = False,
    keep_hetero: Annotated[list[str] | None, typer.Option("--keep-hetero", help="Keep this hetero residue name in the receptor (repeatable).")] = None,
    remove_hetero: Annotated[list[str] | None, typer.Option("--remove-hetero", help="Remove this residue name from the receptor (repeatable).")] = None,
    reference_ligand: Annotated[Path | None, typer.Option("--reference-ligand", help="A crystal ligand: report each pose's RMSD to it (bundled targets know theirs).")] = None,
    score_only: Annotated[Path | None, typer.Option("--score-only", help="Score this pose (SDF) where it lies instead of docking.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also copy each molecule's poses here as <name>.sdf.")] = None,
    cpu: Annotated[int, typer.Option(help="Threads per docking (0: all cores).")] = 0,
    smiles_column: Annotated[str | None, typer.Option(help="The SMILES column of a table of ligands.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Dock molecules (a SMILES, a name, or a file) to a target or a receptor PDB file; or score a pose in place.

    Exits 0 when at least one molecule was docked, 2 for input to fix, 3 when Vina is missing, 4 when the engine
    failed on every molecule."""
    from agent.app import build_app
    from agent.docking import record_docking, resolve_target
    from tools.docking.engine import DockingSettings
    from tools.docking.errors import BoxError
    from tools.docking.receptor import ReceptorOptions
    from tools.errors import ToolInputError

    if engine != "vina":
        raise ToolInputError(f"unknown docking engine {engine!r}: the engine is 'vina'")
    if rescore not in {"none", "cnn"}:
        raise ToolInputError(f"--rescore is 'cnn' or 'none', not {rescore!r}")
    box = _box_from_options(box_file, center, size, autobox_ligand, padding)
    options = ReceptorOptions(keep_waters=keep_waters, keep=tuple(keep_hetero or ()), remove=tuple(remove_hetero or ()))
    try:
        settings = DockingSettings(exhaustiveness=exhaustiveness, poses=poses, seed=seed)
    except ValueError as error:
        from tools.base import validation_problems

        raise ToolInputError(f"invalid docking settings: {validation_problems(error)}") from None  # type: ignore[arg-type]
    with build_app() as app:
        home = app.settings.home_dir
        target = resolve_target(app.store, receptor, box)
        if target.box is None:
            raise BoxError(f"{receptor} is a receptor file without a box: give --box FILE, --center X Y Z --size X Y Z, or --autobox-ligand FILE")
        from tools.docking.vina_engine import VinaEngine

        vina = VinaEngine(cpu=cpu)
        if score_only is not None:
            _score_only(target.name, target.receptor_path, target.box, score_only, vina, home, options, as_json)
            return
        if ligands is None:
            raise ToolInputError("give the ligands to dock: a SMILES, a name, or a file of molecules")
        inputs = ligand_inputs(ligands, smiles_column)
        report = _dock_with_progress(target, inputs, vina, home, settings, None if no_protonate else ph, options, as_json, reference_ligand, app.executor, rescore)
        report, added = record_docking(app.store, report, target.description)
    copies = _copy_poses(report, out) if out is not None else {}
    if as_json:
        emit_json(_payload(report, added, copies))
    else:
        _print(report, added, copies)
    docked = len(report.docked)
    if docked == 0:
        engine_failures = [r for r in report.results if r.smiles is not None and r.docked_smiles is not None]
        code = EXIT_RUN_FAILED if engine_failures else EXIT_INPUT
        sys.stderr.write(f"atomloop: {'run' if engine_failures else 'input'} error: none of the {len(report.results)} molecule(s) could be docked\n")
        raise typer.Exit(code)


def ligand_inputs(text: str, smiles_column: str | None = None) -> list[LigandInput]:
    """The molecules ``text`` names: a file of them when it is an existing file, else one SMILES or common name."""
    from rdkit import Chem

    from tools.docking.service import LigandInput
    from tools.names import resolve_molecule
    from tools.structures.io import read_molecules

    path = Path(text).expanduser()
    if path.is_file():
        entries = read_molecules(path, smiles_column=smiles_column).entries
        return [
            LigandInput(label=entry.label, smiles=Chem.MolToSmiles(entry.mol)) if entry.mol is not None
            else LigandInput(label=entry.label, smiles=None, error=entry.error or "not a molecule")
            for entry in entries
        ]
    return [LigandInput(label=text, smiles=resolve_molecule(text))]


def _box_from_options(box_file: Path | None, center: Triple | None, size: Triple | None, autobox_ligand: Path | None, padding: float) -> Box | None:
    from tools.docking.box import Box, box_from_ligand, read_box_file
    from tools.docking.errors import BoxError

    given = [name for name, value in (("--box", box_file), ("--center/--size", center or size), ("--autobox-ligand", autobox_ligand)) if value]
    if len(given) > 1:
        raise BoxError(f"give one box: {' or '.join(given)}, not both")
    if box_file is not None:
        return read_box_file(box_file.expanduser())
    if autobox_ligand is not None:
        return box_from_ligand(autobox_ligand.expanduser(), padding)
    if center is not None or size is not None:
        if center is None or size is None:
            raise BoxError("--center and --size go together")
        return Box.of(list(center), list(size))
    return None


def _dock_with_progress(
    target: Any, inputs: list[LigandInput], vina: Any, home: Path, settings: Any, ph: float | None, options: Any, quiet: bool, reference: Path | None,
    executor: Any, rescore: Any,
) -> DockingReport:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tools.docking.service import dock_ligands

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console(), disable=quiet, transient=True
    ) as progress:
        task = progress.add_task(f"Docking to {shown(target.name)}", total=len(inputs))

        def advance(done: int, total: int, result: Any) -> None:
            where = f" ({shown(result.input)[:30]})" if result is not None else ""
            progress.update(task, completed=done, description=f"Docking to {shown(target.name)}{where}")

        return dock_ligands(
            target, inputs, vina, home, settings=settings, ph=ph, receptor_options=options, on_progress=advance,
            reference_ligand=reference.expanduser() if reference else None, executor=executor, rescore=rescore,
        )


def _score_only(name: str, receptor_path: str, box: Box, pose: Path, vina: Any, home: Path, options: Any, as_json: bool) -> None:
    from tools.docking.poses import pose_pdbqt_from_sdf
    from tools.docking.receptor import prepare_receptor

    receptor = prepare_receptor(Path(receptor_path), home / "receptors", options)
    smiles, pdbqt = pose_pdbqt_from_sdf(pose.expanduser())
    scored = vina.open(receptor, box).score(pdbqt)
    payload = {"target": name, "engine": vina.name, "results": [{"input": str(pose), "smiles": smiles, "score": scored.score, "terms": scored.terms}]}
    if as_json:
        emit_json(payload)
        return
    from rich.table import Table

    table = Table(title=f"Score of {shown(pose.name)} on {shown(name)} (kcal/mol)", show_header=False)
    table.add_column("term")
    table.add_column("value", justify="right")
    table.add_row(*cells("score", f"{scored.score:.3f}"))
    for term, value in scored.terms.items():
        table.add_row(*cells(term, f"{value:.3f}"))
    console().print(table)


def _copy_poses(report: DockingReport, out: Path) -> dict[str, str]:
    out = out.expanduser()
    out.mkdir(parents=True, exist_ok=True)
    copies: dict[str, str] = {}
    for result in report.docked:
        assert result.pose_file is not None
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", result.input)[:60].strip("._") or "ligand"
        target = out / f"{stem}.sdf"
        counter = 1
        while str(target) in copies.values():
            counter += 1
            target = out / f"{stem}_{counter}.sdf"
        shutil.copyfile(result.pose_file, target)
        copies[result.input] = str(target)
    return copies


def _payload(report: DockingReport, added: int, copies: dict[str, str]) -> dict[str, Any]:
    receptor = report.receptor
    return {
        "target": report.target,
        "engine": report.engine,
        "engine_version": report.engine_version,
        "box": report.box.model_dump(mode="json"),
        "settings": report.settings.model_dump(mode="json"),
        "receptor": {
            "hash": receptor.receptor_hash,
            "atoms": receptor.atoms,
            "kept_hetero": list(receptor.kept_hetero),
            "removed": [group.model_dump() for group in receptor.removed],
            "waters_removed": receptor.waters_removed,
            "typed_from_atoms": list(receptor.typed_from_atoms),
        },
        "results": [
            {
                "input": result.input,
                "smiles": result.smiles,
                "docked_smiles": result.docked_smiles,
                "score": result.score,
                "poses": [
                    {**pose.model_dump(), **({"cnn_score": result.cnn[i].pose_score, "cnn_affinity": result.cnn[i].affinity} if result.cnn else {})}
                    for i, pose in enumerate(result.poses)
                ],
                "cnn_top_rank": None if result.cnn_top is None else result.cnn_top + 1,
                "pose_file": copies.get(result.input, result.pose_file),
                "cached": result.cached,
                "reference_rmsd": list(result.reference_rmsd) if result.reference_rmsd is not None else None,
                "runtime_s": round(result.runtime_s, 2),
                "error": result.error,
            }
            for result in report.results
        ],
        "new_measurements": added,
    }


def _print(report: DockingReport, added: int, copies: dict[str, str]) -> None:
    from rich.table import Table

    out = console()
    receptor = report.receptor
    removed = ", ".join(group.residue for group in receptor.removed[:8]) + (" ..." if len(receptor.removed) > 8 else "")
    out.print(
        f"Receptor {shown(report.target)}: {receptor.atoms:,} atoms"
        + (f"; kept {', '.join(receptor.kept_hetero)}" if receptor.kept_hetero else "")
        + (f"; removed {removed}" if receptor.removed else "")
        + (f"; {receptor.waters_removed} waters removed" if receptor.waters_removed else "")
    )
    table = Table(title=f"Docked to {shown(report.target)} with {report.engine} {report.engine_version} (exhaustiveness {report.settings.exhaustiveness}, seed {report.settings.seed})")
    with_reference = any(result.reference_rmsd for result in report.results)
    with_cnn = any(result.cnn for result in report.results)
    columns = ("molecule", "score (kcal/mol)", "poses", *(("CNN top pose (rank, score, pK)",) if with_cnn else ()),
               *(("RMSD to crystal (A)",) if with_reference else ()), "time (s)", "pose file")
    for column in columns:
        table.add_column(column, justify="left" if column in {"molecule", "pose file"} else "right")
    ranked = sorted(report.results, key=lambda r: (r.score is None, r.score if r.score is not None else 0.0))
    for result in ranked:
        if result.error is not None:
            table.add_row(*cells(result.input[:40], "-", "-", *(("-",) if with_cnn else ()), *(("-",) if with_reference else ()), "-", f"failed: {result.error}"))
            continue
        when = "cached" if result.cached else f"{result.runtime_s:.1f}"
        rmsd = (f"{result.reference_rmsd[0]:.2f}" if result.reference_rmsd else "-",) if with_reference else ()
        top = result.cnn_top
        cnn = ((f"{top + 1}, {result.cnn[top].pose_score:.2f}, {result.cnn[top].affinity:.2f}" if result.cnn and top is not None else "-"),) if with_cnn else ()
        table.add_row(*cells(result.input[:40], f"{result.score:.2f}", len(result.poses), *cnn, *rmsd, when, copies.get(result.input, result.pose_file)))
    out.print(table)
    out.print(f"{added} new docking_score measurement(s) in the store")


@targets_cli.callback()
@handles_errors
def targets(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the docking targets: the bundled ones and those added to the store."""
    if ctx.invoked_subcommand is not None:
        return
    from agent.app import build_app
    from tools.docking.targets import bundled_targets

    with build_app() as app:
        stored = app.store.docking_targets()
    rows: list[dict[str, Any]] = [
        {"name": spec.name, "source": "bundled", "box": spec.box.model_dump(mode="json") if spec.box else None, "description": spec.description}
        for spec in bundled_targets().values()
    ]
    bundled_names = {row["name"].upper() for row in rows}
    rows += [
        {"name": row.name, "source": "bundled" if row.receptor_path.startswith("bundled:") else "user", "box": row.box, "description": row.description, "receptor_hash": row.receptor_hash}
        for row in stored
        if row.name.upper() not in bundled_names
    ]
    if as_json:
        emit_json({"targets": rows})
        return
    from rich.table import Table

    table = Table(title="Docking targets")
    for column in ("name", "source", "box centre", "box size", "description"):
        table.add_column(column)
    for row in rows:
        box = row["box"] or {}
        table.add_row(*cells(row["name"], row["source"], _triple(box.get("center")), _triple(box.get("size")), row["description"]))
    console().print(table)


def _triple(values: Any) -> str:
    return " ".join(f"{value:g}" for value in values) if values else "-"


@targets_cli.command("add")
@handles_errors
def targets_add(
    name: Annotated[str, typer.Argument(help="The target's name, e.g. 5R82 or 'my-kinase'.")],
    receptor: Annotated[Path, typer.Argument(help="The receptor PDB file.")],
    box_file: Annotated[Path | None, typer.Option("--box", help="A box file: Vina config lines or JSON.")] = None,
    center: Annotated[tuple[float, float, float] | None, typer.Option(help="Box centre X Y Z (Angstrom).")] = None,
    size: Annotated[tuple[float, float, float] | None, typer.Option(help="Box sides X Y Z (Angstrom).")] = None,
    autobox_ligand: Annotated[Path | None, typer.Option("--autobox-ligand", help="A reference ligand: the box around it.")] = None,
    padding: Annotated[float, typer.Option(help="Padding around --autobox-ligand (Angstrom).")] = 4.0,
    description: Annotated[str, typer.Option(help="What the target is.")] = "",
    replace: Annotated[bool, typer.Option("--replace", help="Point an existing target of this name at this receptor and box.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Add a docking target: a receptor PDB file and a box, by name."""
    from agent.app import build_app
    from agent.docking import add_target
    from tools.docking.errors import BoxError

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        from tools.errors import ToolInputError

        raise ToolInputError(f"a target name is letters, digits, '.', '_' or '-' (at most 64), not {name!r}")
    box = _box_from_options(box_file, center, size, autobox_ligand, padding)
    if box is None:
        raise BoxError("a target needs a box: --box FILE, --center X Y Z --size X Y Z, or --autobox-ligand FILE")
    with build_app() as app:
        row = add_target(app.store, app.settings.home_dir, name, receptor.expanduser(), box, description, replace)
    payload = {"name": row.name, "receptor_hash": row.receptor_hash, "box": row.box, "receptor_path": row.receptor_path}
    if as_json:
        emit_json(payload)
    else:
        console().print(f"Added docking target {shown(row.name)} (receptor {row.receptor_hash[:12]}, box centre {_triple(row.box['center'])}, size {_triple(row.box['size'])})")
