"""Explicit TIP3P water: the solute in a box of water with PME, its interactions with the water removed through
openmmtools' alchemical states (electrostatics annihilated first, then Lennard-Jones decoupled with soft-core), and
the matching vacuum leg.

Solvent leg: GAFF-2.11 solute + TIP3P (Amber's ``tip3p_standard``), PME with a 0.9 nm cut-off, bonds to hydrogen
constrained and hydrogen masses repartitioned (3 amu) for a 4 fs step, 1 atm (Monte Carlo barostat), 298.15 K.
``AbsoluteAlchemicalFactory`` with the exact PME treatment annihilates the solute's charges (intramolecular
electrostatics included) and decouples its Lennard-Jones from the water (intramolecular Lennard-Jones kept). Each
window samples one (λ_electrostatics, λ_sterics) state and evaluates every state's energy at each sample (MBAR's
input; the pV term is the same at every state of a sample, so it cancels).

Vacuum leg: the solute's charges switched on in vacuum, from the decoupled state's Hamiltonian (bonded terms and
Lennard-Jones, no Coulomb) to the full one, as a linear coupling of the Coulomb energy (the path in between is free;
only the end states must be the solvent leg's).
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Any

from pydantic import Field

from tools.freeenergy.errors import FreeEnergyFailed, FreeEnergySetupError, ParametrizationFailed
from tools.freeenergy.parameters import read_system, save_system
from tools.freeenergy.protocol import TEMPERATURE_K, SamplingProtocol, WindowTiming
from tools.freeenergy.sampling import SOLUTE_GROUP, SOLVENT_GROUP, choose_platform

ALCHEMICAL_WINDOW_JOB_KIND = "tools.freeenergy.explicit:alchemical_window_job"
PADDING_NM = 1.0
CUTOFF_NM = 0.9
PRESSURE_BAR = 1.01325
HYDROGEN_MASS_AMU = 3.0


class AlchemicalProtocol(WindowTiming):
    """The solvent leg's states, coupled (1, 1) to decoupled (0, 0) as (λ_electrostatics, λ_sterics), each
    window's equilibration (NPT) and sampling (4 fs steps: hydrogen masses are repartitioned), and the vacuum
    leg's protocol."""

    name: str
    states: tuple[tuple[float, float], ...]
    sample_interval_ps: float = Field(default=1.0, gt=0)
    timestep_fs: float = Field(default=4.0, gt=0, le=4.0)
    vacuum: SamplingProtocol


def _states(electrostatics: tuple[float, ...], sterics: tuple[float, ...]) -> tuple[tuple[float, float], ...]:
    return tuple((e, 1.0) for e in electrostatics) + tuple((0.0, s) for s in sterics)


EXPLICIT_PROTOCOLS: dict[str, AlchemicalProtocol] = {
    "quick": AlchemicalProtocol(
        name="quick",
        states=_states((1.0, 0.75, 0.5, 0.25, 0.0), (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0)),
        equilibration_ps=20.0, production_ps=100.0,
        vacuum=SamplingProtocol(name="quick-vacuum", lambdas=(0.0, 0.25, 0.5, 0.75, 1.0), equilibration_ps=10.0, production_ps=100.0),
    ),
    "standard": AlchemicalProtocol(
        name="standard",
        states=_states((1.0, 0.8, 0.6, 0.4, 0.2, 0.0),
                       (0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05, 0.0)),
        equilibration_ps=100.0, production_ps=1000.0,
        vacuum=SamplingProtocol(name="standard-vacuum", lambdas=tuple(i / 10 for i in range(11)), equilibration_ps=50.0, production_ps=1000.0),
    ),
}


def explicit_protocol(name: str) -> AlchemicalProtocol:
    from tools.errors import ToolInputError

    if name not in EXPLICIT_PROTOCOLS:
        raise ToolInputError(f"unknown protocol {name!r}: one of {', '.join(EXPLICIT_PROTOCOLS)}")
    return EXPLICIT_PROTOCOLS[name]


def solvated_alchemical_system(mol: Any, name: str, gaff_cache: Path, folder: Path) -> tuple[Path, str, list[list[float]], int]:
    """The solute (GAFF-2.11, AM1-BCC from the cache) in a TIP3P box, made alchemical and saved by content hash:
    (the file, its sha256, the box's positions in nm, the number of atoms)."""
    from tools.freeenergy.analysis import quiet_pymbar

    quiet_pymbar()  # openmmtools imports pymbar
    try:
        import openmm
        import openmm.app as app
        import openmm.unit as unit
        from openff.toolkit import Molecule
        from openmmforcefields.generators import GAFFTemplateGenerator
        from openmmtools.alchemy import AbsoluteAlchemicalFactory, AlchemicalRegion
    except ImportError as error:
        raise FreeEnergySetupError(f"TIP3P free energies need the free-energy extra (openmm, openmmforcefields, openmmtools): {error}") from None
    from tools.freeenergy.parameters import ambertools_on_path

    ambertools_on_path()
    try:
        molecule = Molecule.from_rdkit(mol, allow_undefined_stereo=True, hydrogens_are_explicit=True)
        generator = GAFFTemplateGenerator(molecules=[molecule], forcefield="gaff-2.11", cache=str(gaff_cache))
        forcefield = app.ForceField("amber/tip3p_standard.xml")
        forcefield.registerTemplateGenerator(generator.generator)
        modeller = app.Modeller(molecule.to_topology().to_openmm(), (mol.GetConformer().GetPositions() / 10.0) * unit.nanometer)
        modeller.addSolvent(forcefield, model="tip3p", padding=PADDING_NM * unit.nanometer)
        system = forcefield.createSystem(
            modeller.topology, nonbondedMethod=app.PME, nonbondedCutoff=CUTOFF_NM * unit.nanometer, constraints=app.HBonds,
            hydrogenMass=HYDROGEN_MASS_AMU * unit.amu,
        )
    except Exception as error:  # the toolkit, antechamber and the template matcher raise many kinds
        first = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
        raise ParametrizationFailed(f"{name}: the solute in TIP3P could not be parametrised ({first})") from None
    system.addForce(openmm.MonteCarloBarostat(PRESSURE_BAR * unit.bar, TEMPERATURE_K * unit.kelvin, 25))
    region = AlchemicalRegion(alchemical_atoms=list(range(mol.GetNumAtoms())), annihilate_electrostatics=True, annihilate_sterics=False)
    alchemical = AbsoluteAlchemicalFactory(alchemical_pme_treatment="exact").create_alchemical_system(system, region)
    positions = [[float(v) for v in p.value_in_unit(unit.nanometer)] for p in modeller.positions]
    path, digest = save_system(alchemical, folder)
    return path, digest, positions, alchemical.getNumParticles()


def vacuum_charging_system(system: Any, folder: Path) -> tuple[Path, str]:
    """The solute's vacuum system with its Coulomb energy in force group 1 and everything else (bonded terms,
    Lennard-Jones) in group 0, saved by content hash: U(μ) = U_rest + μ·U_Coulomb."""
    import openmm

    system = copy.deepcopy(system)
    nonbonded = next(f for f in system.getForces() if isinstance(f, openmm.NonbondedForce))
    coulomb = copy.deepcopy(nonbonded)
    for i in range(nonbonded.getNumParticles()):
        charge, sigma, epsilon = nonbonded.getParticleParameters(i)
        nonbonded.setParticleParameters(i, 0.0, sigma, epsilon)
        coulomb.setParticleParameters(i, charge, sigma, 0.0)
    for k in range(nonbonded.getNumExceptions()):
        i, j, product, sigma, epsilon = nonbonded.getExceptionParameters(k)
        nonbonded.setExceptionParameters(k, i, j, 0.0, sigma, epsilon)
        coulomb.setExceptionParameters(k, i, j, product, sigma, 0.0)
    for force in system.getForces():
        force.setForceGroup(SOLUTE_GROUP)
    coulomb.setForceGroup(SOLVENT_GROUP)
    system.addForce(coulomb)
    return save_system(system, folder)


def alchemical_window_job(
    system_path: str, system_sha256: str, positions_nm: list[list[float]], state: int, protocol: dict[str, Any], seed: int,
    platform: str = "auto", threads: int = 1,
) -> dict[str, Any]:
    """A compute job: sample the solvent leg's state ``state`` and return every state's energy (kJ/mol) at each
    sample (states × samples), the seconds it took, the platform and the mean box volume (nm³)."""
    import openmm
    import openmm.unit as unit

    system = read_system(system_path, system_sha256)
    spec = AlchemicalProtocol.model_validate(protocol)
    started = time.perf_counter()
    integrator = openmm.LangevinMiddleIntegrator(spec.temperature_k * unit.kelvin, spec.friction_per_ps / unit.picosecond,
                                                 spec.timestep_fs * unit.femtosecond)
    integrator.setRandomNumberSeed(seed)
    chosen = choose_platform(platform, system)
    properties = {"Threads": str(threads)} if chosen == "CPU" else {}
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName(chosen), properties)
    context.setPositions(positions_nm)
    electrostatics, sterics = spec.states[state]
    _set_state(context, electrostatics, sterics)
    openmm.LocalEnergyMinimizer.minimize(context, 10.0, 1000)
    context.setVelocitiesToTemperature(spec.temperature_k * unit.kelvin, seed)
    integrator.step(spec.equilibration_steps)
    energies: list[list[float]] = [[] for _ in spec.states]
    volumes = []
    for sample in range(spec.samples):
        integrator.step(spec.steps_per_sample)
        for k, (e, s) in enumerate(spec.states):
            _set_state(context, e, s)
            energies[k].append(float(context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)))
        _set_state(context, electrostatics, sterics)
        volumes.append(float(context.getState().getPeriodicBoxVolume().value_in_unit(unit.nanometer**3)))
        if not all(math.isfinite(row[-1]) for row in energies):
            raise FreeEnergyFailed(f"the state {state} window (λ_elec {electrostatics:g}, λ_sterics {sterics:g}) blew up after {sample + 1} samples")
    return {"state": state, "energies_kj": energies, "seconds": time.perf_counter() - started, "platform": chosen,
            "mean_volume_nm3": sum(volumes) / len(volumes)}


def _set_state(context: Any, electrostatics: float, sterics: float) -> None:
    context.setParameter("lambda_electrostatics", electrostatics)
    context.setParameter("lambda_sterics", sterics)
