"""Small public datasets shipped with AtomLoop (see SOURCE.txt here for origin and licence).

Also reachable from a checkout as ``data/`` at the project root.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from knowledge.errors import NotFoundError


class BundledDataset(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    filename: str
    property: str
    smiles_column: str
    value_column: str
    description: str


BUNDLED_DATASETS: tuple[BundledDataset, ...] = (
    BundledDataset(
        name="esol",
        filename="delaney.csv",
        property="logS",
        smiles_column="smiles",
        value_column="logp",  # sic: the chemprop copy names the measured logS column 'logp'
        description="ESOL aqueous solubility (Delaney 2004), 1128 molecules, log10(mol/L)",
    ),
    BundledDataset(
        name="freesolv",
        filename="freesolv.csv",
        property="hydration_free_energy",
        smiles_column="smiles",
        value_column="freesolv",
        description="FreeSolv experimental hydration free energies, 642 molecules, kcal/mol",
    ),
    BundledDataset(
        name="lipophilicity",
        filename="lipo.csv",
        property="logD",
        smiles_column="smiles",
        value_column="lipo",
        description="Lipophilicity (ChEMBL) logD at pH 7.4, 4200 molecules",
    ),
    BundledDataset(
        name="bace",
        filename="bace_pic50.csv",
        property="pIC50",
        smiles_column="smiles",
        value_column="pIC50",
        description="MoleculeNet BACE-1 inhibitors with pIC50, 1513 molecules",
    ),
)


def bundled_dir() -> Path:
    return Path(__file__).parent


def bundled_dataset(name: str) -> tuple[BundledDataset, Path]:
    """The dataset's description and the path of its CSV file."""
    for dataset in BUNDLED_DATASETS:
        if dataset.name == name.lower():
            return dataset, bundled_dir() / dataset.filename
    known = ", ".join(d.name for d in BUNDLED_DATASETS)
    raise NotFoundError(f"no bundled dataset {name!r}; bundled: {known}")
