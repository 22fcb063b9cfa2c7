"""Write the drug-like pretraining corpus: every distinct molecule of the MoleculeNet and BACE files, unlabelled.

QM9 (the first pretraining corpus) holds molecules of at most nine heavy atoms. This corpus is what continued
pretraining on drug-sized molecules reads (the bundled backbone is the QM9 one continued on it), as the issue
suggests ("the MoleculeNet sets add drug-like ones"): the SMILES of ESOL, FreeSolv, Lipophilicity, BBBP and BACE
from ``--data``, canonicalised by RDKit, duplicates and unparsable rows dropped, in file order. No label is
written. The test molecules of the MoleculeNet benchmark are in it (as Uni-Mol's 19M-molecule pretraining set
contains most of them): pretraining sees their structures, never their values.

    .venv/bin/python benchmarks/druglike_corpus.py --output druglike.smi [--data ../shared/data]
    atomloop models pretrain --corpus druglike.smi --initial tools/predict/weights/unimol-small-qm9.pt --epochs 10 --seed 0 --output unimol-small-qm9-druglike.pt

Licences: MoleculeNet files from the chemprop repository (MIT; datasets from Wu et al. 2018, Lipophilicity from
ChEMBL, CC BY-SA 3.0); BACE from MoleculeNet (see the SOURCE.txt files beside them).
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path

import reporting  # benchmarks/reporting.py (this folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
FILES = (
    "moleculenet/delaney.csv",
    "moleculenet/freesolv.csv",
    "moleculenet/lipo.csv",
    "moleculenet/BBBP.csv",
    "bace/bace_pic50.csv",
)


def distinct_smiles(data: Path) -> tuple[list[str], dict[str, int]]:
    """Canonical SMILES of every distinct parsable molecule of ``FILES`` in order, and rows read per file."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    seen: set[str] = set()
    kept: list[str] = []
    read: dict[str, int] = {}
    for name in FILES:
        path = data / name
        if not path.is_file():
            raise SystemExit(f"no {path}: pass --data, the folder holding moleculenet/ and bace/")
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        read[name] = len(rows)
        for row in rows:
            molecule = Chem.MolFromSmiles(row["smiles"])
            if molecule is None:
                continue
            canonical = Chem.MolToSmiles(molecule)
            if canonical not in seen:
                seen.add(canonical)
                kept.append(canonical)
    return kept, read


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="shared data directory")
    parser.add_argument("--output", type=Path, required=True, help="SMILES file to write (one column, 'smiles')")
    args = parser.parse_args(argv)
    kept, read = distinct_smiles(args.data)
    args.output.write_text("smiles\n" + "".join(f"{smiles}\n" for smiles in kept), encoding="utf-8")
    counts = ", ".join(f"{name} {n}" for name, n in read.items())
    reporting.progress(f"wrote {len(kept)} distinct molecules to {args.output} (rows read: {counts})")


if __name__ == "__main__":
    main()
