"""Turning what a person types into a structure: a SMILES, an InChIKey-free common name, or an IUPAC name.

Offline and without Java there is no general name-to-structure service, so common names come from a small
curated table (drugs, solvents and reference compounds); a SMILES is always accepted. Unresolvable text raises
``ToolInputError`` naming what was not understood.
"""

from __future__ import annotations

import re

from tools.errors import ToolInputError

COMMON_NAMES: dict[str, str] = {
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O",
    "acetylsalicylic acid": "CC(=O)Oc1ccccc1C(=O)O",
    "caffeine": "Cn1cnc2c1c(=O)n(C)c(=O)n2C",
    "paracetamol": "CC(=O)Nc1ccc(O)cc1",
    "acetaminophen": "CC(=O)Nc1ccc(O)cc1",
    "ibuprofen": "CC(C)Cc1ccc(C(C)C(=O)O)cc1",
    "naproxen": "COc1ccc2cc(C(C)C(=O)O)ccc2c1",
    "diclofenac": "OC(=O)Cc1ccccc1Nc1c(Cl)cccc1Cl",
    "imatinib": "Cc1ccc(NC(=O)c2ccc(CN3CCN(C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1",
    "metformin": "CN(C)C(=N)N=C(N)N",
    "nicotine": "CN1CCC[C@H]1c1cccnc1",
    "morphine": "CN1CC[C@]23c4c5ccc(O)c4O[C@H]2[C@@H](O)C=C[C@H]3[C@H]1C5",
    "penicillin g": "CC1(C)S[C@@H]2[C@H](NC(=O)Cc3ccccc3)C(=O)N2[C@H]1C(=O)O",
    "salicylic acid": "OC(=O)c1ccccc1O",
    "benzoic acid": "OC(=O)c1ccccc1",
    "phenol": "Oc1ccccc1",
    "benzene": "c1ccccc1",
    "toluene": "Cc1ccccc1",
    "naphthalene": "c1ccc2ccccc2c1",
    "anthracene": "c1ccc2cc3ccccc3cc2c1",
    "pyridine": "c1ccncc1",
    "ethanol": "CCO",
    "methanol": "CO",
    "acetone": "CC(C)=O",
    "acetonitrile": "CC#N",
    "dmso": "CS(C)=O",
    "dimethyl sulfoxide": "CS(C)=O",
    "water": "O",
    "glucose": "OC[C@H]1OC(O)[C@H](O)[C@@H](O)[C@@H]1O",
    "sucrose": "OC[C@H]1O[C@@](CO)(O[C@H]2O[C@H](CO)[C@@H](O)[C@H](O)[C@H]2O)[C@@H](O)[C@@H]1O",
    "urea": "NC(N)=O",
    "glycine": "NCC(=O)O",
    "testosterone": "C[C@]12CC[C@H]3[C@@H](CCC4=CC(=O)CC[C@@]43C)[C@@H]1CC[C@@H]2O",
    "cholesterol": "CC(C)CCC[C@@H](C)[C@H]1CC[C@H]2[C@@H]3CC=C4C[C@@H](O)CC[C@]4(C)[C@H]3CC[C@]12C",
    "warfarin": "CC(=O)CC(c1ccccc1)c1c(O)c2ccccc2oc1=O",
    "atorvastatin": "CC(C)c1c(C(=O)Nc2ccccc2)c(-c2ccccc2)c(-c2ccc(F)cc2)n1CC[C@@H](O)C[C@@H](O)CC(=O)O",
    "celecoxib": "Cc1ccc(-c2cc(C(F)(F)F)nn2-c2ccc(S(N)(=O)=O)cc2)cc1",
    "lidocaine": "CCN(CC)CC(=O)Nc1c(C)cccc1C",
    "theophylline": "Cn1c(=O)c2[nH]cnc2n(C)c1=O",
    "quinine": "COc1ccc2nccc([C@@H](O)[C@@H]3C[C@@H]4CCN3C[C@@H]4C=C)c2c1",
    "tamoxifen": "CC/C(=C(\\c1ccccc1)c1ccc(OCCN(C)C)cc1)c1ccccc1",
}

_SMILES_CHARS = re.compile(r"^[A-Za-z0-9@+\-\[\]\(\)=#$:/\\.%*]+$")


def resolve_molecule(text: str) -> str:
    """A canonical SMILES for ``text`` (a SMILES or a known common name), or ``ToolInputError``."""
    from knowledge.chem import canonicalize
    from knowledge.errors import InvalidStructure

    cleaned = text.strip().strip(".,;'\"")
    known = COMMON_NAMES.get(cleaned.lower())
    if known is not None:
        return canonicalize(known).smiles
    if _SMILES_CHARS.match(cleaned):
        try:
            return canonicalize(cleaned).smiles
        except InvalidStructure:
            pass
    raise ToolInputError(
        f"cannot turn {text!r} into a structure: give a SMILES, or one of the common names AtomLoop knows offline"
    )
