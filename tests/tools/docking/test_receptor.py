from __future__ import annotations

from pathlib import Path

import pytest

from tools.docking.box import Box
from tools.docking.errors import ReceptorError
from tools.docking.receptor import ReceptorOptions, prepare_receptor


def _ad_types(path: str) -> list[str]:
    return [line[77:79].strip() for line in Path(path).read_text().splitlines() if line.startswith(("ATOM", "HETATM"))]


def test_a_raw_crystal_structure_loses_waters_ligand_and_sulfates_and_gains_polar_hydrogens(raw_4ivt: Path, tmp_path: Path) -> None:
    receptor = prepare_receptor(raw_4ivt, tmp_path)
    assert receptor.waters_removed == 413
    assert sorted(group.residue for group in receptor.removed) == ["SO4 A:402", "SO4 A:403", "VTI A:401"]
    assert receptor.hydrogens_added > 500  # the file has none; meeko's templates add the polar ones
    types = _ad_types(receptor.pdbqt_path)
    assert types.count("HD") == receptor.hydrogens_added
    assert {"C", "A", "N", "NA", "OA", "SA", "HD"} <= set(types)
    # side chains the crystal did not resolve keep their atoms, typed from them
    assert "LYS A:9" in receptor.typed_from_atoms
    assert receptor.atoms == len(types)


def test_the_same_file_prepared_again_is_a_cache_hit_with_the_same_hash(receptor_1iep: Path, tmp_path: Path) -> None:
    first = prepare_receptor(receptor_1iep, tmp_path)
    stamp = Path(first.pdbqt_path).stat().st_mtime_ns
    again = prepare_receptor(receptor_1iep, tmp_path)
    assert again.receptor_hash == first.receptor_hash
    assert Path(again.pdbqt_path).stat().st_mtime_ns == stamp
    assert prepare_receptor(receptor_1iep, tmp_path, ReceptorOptions(keep_waters=True)).receptor_hash != first.receptor_hash


def _synthetic_pdb(receptor_1iep: Path, tmp_path: Path) -> Path:
    """Three residues of 1IEP written out of order (an interrupted residue), a selenomethionine, a zinc, a water,
    a glycerol and a heme-named group."""
    lines = [line for line in receptor_1iep.read_text().splitlines() if line.startswith("ATOM") and line[22:26].strip() in {"300", "301", "302"}]
    interrupted = lines[3:] + lines[:3]
    extra = [
        "HETATM 9001 ZN    ZN A 900      10.000  10.000  10.000  1.00  0.00          ZN",
        "HETATM 9002  O   HOH A 901      12.000  10.000  10.000  1.00  0.00           O",
        "HETATM 9003  C1  GOL A 902      14.000  10.000  10.000  1.00  0.00           C",
        "HETATM 9004  O1  GOL A 902      15.400  10.000  10.000  1.00  0.00           O",
        "HETATM 9005  FE  HEM A 903      18.000  10.000  10.000  1.00  0.00          FE",
        "HETATM 9006  NA  HEM A 903      20.000  10.000  10.000  1.00  0.00           N",
    ]
    path = tmp_path / "synthetic.pdb"
    path.write_text("\n".join(interrupted + extra) + "\nEND\n")
    return path


def test_metals_and_cofactors_stay_typed_for_vina_waters_and_additives_go(receptor_1iep: Path, tmp_path: Path) -> None:
    receptor = prepare_receptor(_synthetic_pdb(receptor_1iep, tmp_path), tmp_path / "cache")
    assert receptor.kept_hetero == ("ZN A:900", "HEM A:903")
    assert [group.residue for group in receptor.removed] == ["GOL A:902"]
    assert receptor.waters_removed == 1
    assert receptor.residues == 3  # the interrupted residue is one residue again
    types = _ad_types(receptor.pdbqt_path)
    assert types[-3:] == ["Zn", "Fe", "NA"]
    kept = prepare_receptor(_synthetic_pdb(receptor_1iep, tmp_path), tmp_path / "cache", ReceptorOptions(keep_waters=True, keep=("GOL",), remove=("HEM",)))
    assert kept.kept_hetero == ("ZN A:900", "GOL A:902")
    assert kept.removed[0].residue == "HEM A:903" and kept.removed[0].reason == "removed as asked"
    assert _ad_types(kept.pdbqt_path)[-4:] == ["Zn", "OA", "C", "OA"]


def test_a_box_away_from_the_receptor_and_unreadable_files_are_typed_errors(receptor_1iep: Path, tmp_path: Path) -> None:
    receptor = prepare_receptor(receptor_1iep, tmp_path)
    with pytest.raises(ReceptorError, match="no receptor atom lies in the box"):
        receptor.check_box(Box.of([200, 200, 200], [20, 20, 20]))
    assert receptor.atoms_in(Box.of([15.19, 53.903, 16.917], [20, 20, 20])) > 200
    utf16 = tmp_path / "utf16.pdb"
    utf16.write_text(receptor_1iep.read_text()[:2000], encoding="utf-16")
    with pytest.raises(ReceptorError, match="binary or UTF-16"):
        prepare_receptor(utf16, tmp_path)
    empty = tmp_path / "empty.pdb"
    empty.write_text("HEADER nothing here\nEND\n")
    with pytest.raises(ReceptorError, match="no ATOM or HETATM"):
        prepare_receptor(empty, tmp_path)
    only_water = tmp_path / "water.pdb"
    only_water.write_text("HETATM    1  O   HOH A   1       0.000   0.000   0.000  1.00  0.00           O\n")
    with pytest.raises(ReceptorError, match="no protein"):
        prepare_receptor(only_water, tmp_path)
    with pytest.raises(ReceptorError, match="cannot be read"):
        prepare_receptor(tmp_path / "missing.pdb", tmp_path)


def test_a_receptor_pdbqt_is_used_as_prepared_and_a_ligand_pdbqt_is_refused(receptor_1iep: Path, tmp_path: Path) -> None:
    prepared = prepare_receptor(receptor_1iep, tmp_path)
    given = tmp_path / "given.pdbqt"
    given.write_text(Path(prepared.pdbqt_path).read_text())
    as_given = prepare_receptor(given, tmp_path / "cache")
    assert as_given.method == "prepared-pdbqt" and as_given.atoms == prepared.atoms
    assert Path(as_given.pdbqt_path).read_text() == given.read_text()
    ligand = tmp_path / "ligand.pdbqt"
    ligand.write_text("ROOT\nATOM      1  C1  LIG A   1       0.000   0.000   0.000  1.00  0.00     0.000 C \nENDROOT\nTORSDOF 0\n")
    with pytest.raises(ReceptorError, match="ligand PDBQT"):
        prepare_receptor(ligand, tmp_path)


DISTORTED_LYSINE = """\
ATOM    572  N   LYS B  93      19.408 -19.511  29.850  1.00  0.00           N
ATOM    573  CA  LYS B  93      19.346 -20.768  29.049  1.00  0.00           C
ATOM    574  C   LYS B  93      20.420 -20.740  27.912  1.00  0.00           C
ATOM    575  O   LYS B  93      21.172 -21.693  27.718  1.00  0.00           O
ATOM    576  CB  LYS B  93      17.918 -21.004  28.509  1.00  0.00           C
ATOM    577  CG  LYS B  93      18.909 -22.247  28.195  1.00  0.00           C
ATOM    578  CD  LYS B  93      18.999 -23.012  26.915  1.00  0.00           C
ATOM    579  CE  LYS B  93      20.319 -22.505  27.129  1.00  0.00           C
ATOM    580  NZ  LYS B  93      19.366 -21.434  27.374  1.00  0.00           N
"""


def test_a_residue_meeko_cannot_build_at_all_keeps_its_atoms_and_the_rest_is_prepared(receptor_1iep: Path, tmp_path: Path) -> None:
    # a lysine whose side chain folds onto itself (as in PDB 1OF6): its bonds by distance make a pentavalent carbon
    lines = [line for line in receptor_1iep.read_text().splitlines() if line.startswith("ATOM") and line[22:26].strip() in {"300", "301"}]
    path = tmp_path / "distorted.pdb"
    path.write_text("\n".join(lines) + "\n" + DISTORTED_LYSINE + "END\n")
    receptor = prepare_receptor(path, tmp_path / "cache")
    assert receptor.typed_from_atoms == ("LYS B:93",)
    assert _ad_types(receptor.pdbqt_path)[-9:] == ["N", "C", "C", "OA", "C", "C", "C", "C", "N"]


def test_a_gzipped_pdb_is_read_as_the_pdb_distributes_it(receptor_1iep: Path, tmp_path: Path) -> None:
    import gzip

    packed = tmp_path / "1iep.pdb.gz"
    packed.write_bytes(gzip.compress(receptor_1iep.read_bytes()))
    assert prepare_receptor(packed, tmp_path / "a").atoms == prepare_receptor(receptor_1iep, tmp_path / "b").atoms
    damaged = tmp_path / "damaged.pdb.gz"
    damaged.write_bytes(packed.read_bytes()[:200])
    with pytest.raises(ReceptorError, match="damaged gzip"):
        prepare_receptor(damaged, tmp_path)


def test_charmm_histidines_are_renamed_and_an_untemplated_residue_is_typed_without_a_download(receptor_1iep: Path, tmp_path: Path) -> None:
    lines = [line for line in receptor_1iep.read_text().splitlines() if line.startswith("ATOM") and line[22:26].strip() in {"300", "301", "302"}]
    renamed = [line[:17] + "XYZ" + line[20:] if line[22:26].strip() == "302" else line for line in lines]
    histidine = [line for line in receptor_1iep.read_text().splitlines() if line.startswith("ATOM") and line[17:20] in {"HIS", "HID", "HIE"}]
    first = histidine[0][22:26]
    charmm = [line[:17] + "HSD" + line[20:] for line in histidine if line[22:26] == first and line[76:78].strip() != "H"]
    path = tmp_path / "names.pdb"
    path.write_text("\n".join(renamed + charmm) + "\nEND\n")
    receptor = prepare_receptor(path, tmp_path / "cache")  # the suite forbids network access: no template download
    assert [label.split()[0] for label in receptor.typed_from_atoms] == ["XYZ"]
    assert receptor.residues == 4
    assert " HID " in Path(receptor.pdbqt_path).read_text()
