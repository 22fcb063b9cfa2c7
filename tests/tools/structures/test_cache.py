"""The conformer cache by InChIKey, and Uni-Mol's conformers unchanged by the move into tools/structures.

``data/unimol_conformers_before_the_move.json`` holds cache files written by the conformer code as it was in
``tools/predict/unimol.py`` before it moved here: the same molecules and seeds must give the same geometries, and
a cache directory written then must be served as it is, without recomputing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from knowledge.chem import canonicalize
from tools.predict.unimol import UniMolConfig, UniMolFeaturizer
from tools.structures.cache import ConformerCache
from tools.structures.conformers import (
    CONFORMER_GENERATOR,
    CONFORMER_SEED,
    Conformer,
    generate_conformer,
)

REFERENCE = Path(__file__).with_name("data") / "unimol_conformers_before_the_move.json"


@pytest.fixture(scope="module")
def reference() -> list[dict[str, object]]:
    return json.loads(REFERENCE.read_text(encoding="utf-8"))["conformers"]


def same_geometry(a: Conformer, b: Conformer) -> bool:
    """Same atoms and method, coordinates within 1e-6 Angstrom (bit-identical on one CPU; another CPU's vector
    kernels may move the last bits, while a change of seed, parameters or force field moves them by far more)."""
    return (
        (a.inchikey, a.smiles, a.symbols, a.method) == (b.inchikey, b.smiles, b.symbols, b.method)
        and np.abs(np.asarray(a.coordinates) - np.asarray(b.coordinates)).max() < 1e-6
    )


def test_the_generator_seed_and_tag_are_the_ones_uni_mol_models_name() -> None:
    assert (CONFORMER_GENERATOR, CONFORMER_SEED) == ("rdkit-etkdgv3-mmff94", 24301)
    assert ConformerCache().tag == "rdkit-etkdgv3-mmff94-seed24301"
    assert ConformerCache(seed=CONFORMER_SEED + 2).tag == "rdkit-etkdgv3-mmff94-seed24303"


def test_uni_mol_conformers_are_the_ones_written_before_the_move(reference: list[dict[str, object]]) -> None:
    assert len(reference) == 12
    for item in reference:
        before = Conformer.from_json(str(item["json"]))
        now = generate_conformer(str(item["smiles"]), str(item["inchikey"]), int(item["seed"]))  # type: ignore[call-overload]
        assert same_geometry(now, before), item["smiles"]
        assert json.loads(now.to_json()).keys() == json.loads(str(item["json"])).keys()


def test_a_cache_written_before_the_move_is_served_without_recomputing(
    reference: list[dict[str, object]], tmp_path: Path
) -> None:
    for item in reference:
        path = tmp_path / str(item["tag"]) / f"{item['inchikey']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(item["json"]), encoding="utf-8")
    first_seed = [item for item in reference if item["seed"] == CONFORMER_SEED]
    cache = ConformerCache(tmp_path)
    for item in first_seed:
        assert cache.conformer(str(item["smiles"])) == Conformer.from_json(str(item["json"]))
    assert (cache.computed, cache.disk_hits) == (0, len(first_seed))
    # the featurizer's further conformers (seed + k) read their own folders of the same directory
    featurizer = UniMolFeaturizer(UniMolConfig.small(), ConformerCache(tmp_path))
    second = featurizer.conformer_cache(1)
    second.conformer("CCO")
    assert (second.tag, second.computed, second.disk_hits) == ("rdkit-etkdgv3-mmff94-seed24302", 0, 1)


def test_the_cache_writes_the_same_files_and_reuses_them_from_disk(
    reference: list[dict[str, object]], tmp_path: Path
) -> None:
    item = next(i for i in reference if i["smiles"] == "CC(C)Cc1ccc(C(C)C(=O)O)cc1" and i["seed"] == CONFORMER_SEED)
    cache = ConformerCache(tmp_path)
    made = cache.conformer("CC(C)Cc1ccc(cc1)C(C)C(=O)O")
    assert (cache.computed, cache.disk_hits) == (1, 0)
    written = tmp_path / str(item["tag"]) / f"{item['inchikey']}.json"
    assert sorted(p.name for p in written.parent.iterdir()) == [written.name]  # no staging file left
    assert same_geometry(Conformer.from_json(written.read_text(encoding="utf-8")), Conformer.from_json(str(item["json"])))
    assert written.read_text(encoding="utf-8") == made.to_json()
    cache.conformer("OC(=O)C(C)c1ccc(CC(C)C)cc1")  # another spelling: memory
    assert (cache.computed, cache.memory.hits) == (1, 1)
    fresh = ConformerCache(tmp_path)  # another process: from disk
    assert fresh.get(canonicalize("CC(C)Cc1ccc(cc1)C(C)C(=O)O")) == made
    assert (fresh.computed, fresh.disk_hits) == (0, 1)


def test_an_unreadable_cache_file_is_made_again(tmp_path: Path) -> None:
    structure = canonicalize("CCO")
    path = tmp_path / ConformerCache().tag / f"{structure.inchikey}.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    cache = ConformerCache(tmp_path)
    conformer = cache.get(structure)
    assert cache.computed == 1 and conformer.method == "etkdgv3+mmff94"
    assert Conformer.from_json(path.read_text(encoding="utf-8")) == conformer
