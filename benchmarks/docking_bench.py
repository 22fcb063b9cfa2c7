"""Docking (issue #22): redocking success of AtomLoop's Vina path, ligands started from SMILES.

Redocking sets (``--data``, default ``../shared/data``; ``--complexes DIR`` adds a folder of one's own):

* ``docking/posebusters_examples/<id>/``: ``*protein*.pdb`` and the crystal ``<id>_ligand.sdf`` (4 Astex-diverse
  complexes, 6 from PoseBusters' tests; MIT).
* ``docking/vina_examples/``: the AutoDock Vina tutorials' complexes (1iep, 1uw6, 5x72 with two ligands, 1s63
  with its zinc, the BACE-1 macrocycle); Apache-2.0.
* ``--complexes DIR``: ``DIR/<id>/`` with a receptor ``*.pdb`` (the one named ``receptor.pdb[.gz]`` or ``*protein*``)
  and a crystal ligand ``ligand.sdf`` (else ``ligand.pdb``/``ligand.mol2``, with ``ligand.smi`` giving the SMILES
  when the file has no bond orders).

``benchmarks/complexes_unseen/`` holds 16 complexes that are not in ``../shared`` (collected from PyPI/Debian
packages' test data by a separate helper after the docking code was written, and not used to tune it; see its
INDEX.md and each SOURCE.txt): ``--complexes benchmarks/complexes_unseen``.

For each complex: the receptor is prepared from its PDB file as ``atomloop dock`` prepares it (waters and other
hetero groups removed, metals and known cofactors kept), the box is the crystal ligand's heavy atoms grown by 4 Å
on every side (GNINA's ``--autobox_add`` default), the ligand starts from the crystal ligand's SMILES (protonated at
pH 7.4, embedded from scratch: its crystal coordinates are never used), Vina docks it with exhaustiveness 8, seed
0, 9 poses. Success: symmetry-aware heavy-atom RMSD < 2 Å of the top pose to the crystal pose (and of any pose,
"best of N"); with ``--rescore cnn`` (the default) the poses are also ranked by GNINA's CNN pose score and its top
pose is scored too ("CNN top-1"). Times are wall seconds per complex on this machine (preparation included, grids included).

    python benchmarks/docking_bench.py [--sets posebusters,vina] [--complexes DIR] [--exhaustiveness 8] [--out CSV]
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

log = logging.getLogger("docking_bench")


@dataclass
class Complex:
    set: str
    name: str
    receptor: Path
    ligand: Path
    smiles: str | None = None


@dataclass
class Row:
    set: str
    complex: str
    heavy_atoms: int | None
    torsions: int | None
    top1_rmsd: float | None
    best_rmsd: float | None
    cnn_top1_rmsd: float | None
    top1_score: float | None
    seconds: float
    error: str | None = None


def posebusters(data: Path) -> list[Complex]:
    found = []
    for folder in sorted((data / "docking" / "posebusters_examples").iterdir()):
        if not folder.is_dir():
            continue
        proteins = sorted(folder.glob("*protein*.pdb"))
        ligand = folder / f"{folder.name}_ligand.sdf"
        if proteins and ligand.exists():
            found.append(Complex("posebusters", folder.name, proteins[0], ligand))
    return found


def vina_examples(data: Path) -> list[Complex]:
    folder = data / "docking" / "vina_examples"
    pairs = [
        ("1iep", "basic_docking__1iep_receptorH.pdb", "basic_docking__1iep_ligand.sdf"),
        ("1uw6", "hydrated_docking__1uw6_receptorH.pdb", "hydrated_docking__1uw6_ligand.sdf"),
        ("5x72_p59", "mulitple_ligands_docking__5x72_receptorH.pdb", "mulitple_ligands_docking__5x72_ligand_p59.sdf"),
        ("5x72_p69", "mulitple_ligands_docking__5x72_receptorH.pdb", "mulitple_ligands_docking__5x72_ligand_p69.sdf"),
        ("1s63", "docking_with_zinc_metalloproteins__1s63_proteinH.pdb", "docking_with_zinc_metalloproteins__1s63_ligand.sdf"),
        ("BACE_1", "docking_with_macrocycles__BACE_1_receptorH.pdb", "docking_with_macrocycles__BACE_1_ligand.mol2"),
    ]
    return [Complex("vina", name, folder / receptor, folder / ligand) for name, receptor, ligand in pairs if (folder / receptor).exists()]


def own_complexes(directory: Path) -> list[Complex]:
    found = []
    for folder in sorted(p for p in directory.iterdir() if p.is_dir()):
        receptor = next((folder / name for name in ("receptor.pdb", "receptor.pdb.gz") if (folder / name).exists()), folder / "receptor.pdb")
        if not receptor.exists():
            candidates = sorted(folder.glob("*protein*.pdb")) or sorted(p for p in folder.glob("*.pdb") if "ligand" not in p.name)
            if not candidates:
                continue
            receptor = candidates[0]
        ligand = next((folder / name for name in ("ligand.sdf", "ligand.mol2", "ligand.pdb") if (folder / name).exists()), None)
        if ligand is None:
            continue
        smiles_file = folder / "ligand.smi"
        smiles = smiles_file.read_text().split()[0] if smiles_file.exists() else None
        found.append(Complex(directory.name, folder.name, receptor, ligand, smiles))
    return found


def crystal_smiles(path: Path) -> str:
    from rdkit import Chem

    if path.suffix == ".mol2":
        mol = Chem.MolFromMol2File(str(path))
    elif path.suffix == ".pdb":
        raise ValueError(f"{path}: a PDB ligand needs a ligand.smi beside it")
    else:
        mol = next(m for m in Chem.SDMolSupplier(str(path)) if m is not None)
    if mol is None:
        raise ValueError(f"{path}: RDKit cannot read the crystal ligand with bond orders")
    return Chem.MolToSmiles(Chem.RemoveHs(mol))


def redock(complex_: Complex, exhaustiveness: int, home: Path, rescore: str = "none") -> Row:
    from tools.docking.box import box_from_ligand
    from tools.docking.engine import DockingSettings
    from tools.docking.ligands import prepare_ligand
    from tools.docking.service import LigandInput, dock_ligands
    from tools.docking.targets import DockingTargetSpec
    from tools.docking.vina_engine import VinaEngine

    started = time.perf_counter()
    try:
        smiles = complex_.smiles or crystal_smiles(complex_.ligand)
        prepared = prepare_ligand(smiles)
        target = DockingTargetSpec(name=complex_.name, receptor_path=str(complex_.receptor), box=box_from_ligand(complex_.ligand, 4.0), source="file")
        report = dock_ligands(
            target, [LigandInput(label=complex_.name, smiles=smiles)], VinaEngine(cpu=0), home,
            settings=DockingSettings(exhaustiveness=exhaustiveness, seed=0), reference_ligand=complex_.ligand, rescore=rescore,  # type: ignore[arg-type]
        )
    except Exception as error:  # a benchmark row records every failure and goes on
        return Row(complex_.set, complex_.name, None, None, None, None, None, None, time.perf_counter() - started, f"{type(error).__name__}: {error}")
    (result,) = report.results
    rmsds = result.reference_rmsd or ()
    return Row(
        complex_.set, complex_.name, prepared.heavy_atoms, prepared.torsions,
        rmsds[0] if rmsds else None, min(rmsds) if rmsds else None,
        rmsds[result.cnn_top] if rmsds and result.cnn_top is not None else None, result.score, time.perf_counter() - started,
        result.error or (None if rmsds else "the poses do not map onto the crystal ligand"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--sets", default="posebusters,vina", help="comma-separated: posebusters, vina ('' for none)")
    parser.add_argument("--complexes", type=Path, action="append", default=[], help="a folder of complexes of one's own")
    parser.add_argument("--exhaustiveness", type=int, default=8)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--rescore", choices=["none", "cnn"], default="cnn", help="also rank the poses by GNINA's CNN (default)")
    parser.add_argument("--out", type=Path, default=None, help="write the rows as CSV")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    complexes: list[Complex] = []
    sets = [name for name in args.sets.split(",") if name]
    if "posebusters" in sets:
        complexes += posebusters(args.data)
    if "vina" in sets:
        complexes += vina_examples(args.data)
    for directory in args.complexes:
        complexes += own_complexes(directory)
    complexes = complexes[: args.limit] if args.limit else complexes
    rows = []
    with tempfile.TemporaryDirectory(prefix="docking-bench-") as home:
        for index, complex_ in enumerate(complexes, start=1):
            row = redock(complex_, args.exhaustiveness, Path(home), args.rescore)
            rows.append(row)
            shown = f"{row.top1_rmsd:.2f}" if row.top1_rmsd is not None else "-"
            print(f"[{index}/{len(complexes)}] {row.set}/{row.complex}: top-1 {shown} A, {row.seconds:.0f} s {row.error or ''}", file=sys.stderr, flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(asdict(rows[0])))
            writer.writeheader()
            writer.writerows(asdict(row) for row in rows)
    print(markdown(rows))
    return 0


def markdown(rows: list[Row]) -> str:
    lines = ["| set | complex | heavy atoms | torsions | top-1 RMSD (Å) | CNN top-1 (Å) | best of N (Å) | top-1 score | s | note |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        cells = [row.set, row.complex, row.heavy_atoms, row.torsions, _f(row.top1_rmsd), _f(row.cnn_top1_rmsd), _f(row.best_rmsd), _f(row.top1_score), f"{row.seconds:.0f}", row.error or ""]
        lines.append("| " + " | ".join("" if cell is None else str(cell) for cell in cells) + " |")
    by_set: dict[str, list[Row]] = {}
    for row in rows:
        by_set.setdefault(row.set, []).append(row)
    lines.append("")
    for name, group in [*by_set.items(), ("all", rows)]:
        top1 = sum(1 for row in group if row.top1_rmsd is not None and row.top1_rmsd < 2.0)
        best = sum(1 for row in group if row.best_rmsd is not None and row.best_rmsd < 2.0)
        cnn = sum(1 for row in group if row.cnn_top1_rmsd is not None and row.cnn_top1_rmsd < 2.0)
        seconds = sum(row.seconds for row in group) / max(len(group), 1)
        lines.append(f"- {name}: top-1 < 2 Å {top1}/{len(group)} (Vina's ranking), {cnn}/{len(group)} (CNN's), best of N {best}/{len(group)}, {seconds:.0f} s per complex")
    return "\n".join(lines)


def _f(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    raise SystemExit(main())
