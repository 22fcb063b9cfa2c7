"""One λ window of a coupling calculation as a compute job.

The implicit-solvent path couples the solvent linearly: U(λ) = U_solute + λ·U_solvent, with the solute's own forces
in force group 0 and the OBC2 solvent force in group 1. A ``CustomIntegrator`` (Langevin BAOAB, as OpenMM's
``LangevinMiddleIntegrator``) moves the atoms on the λ-mixed forces, and each sample records the two group energies,
from which every state's reduced potential follows (MBAR's input) without re-evaluating the system per state. No
particle appears or vanishes on this path, so no soft core is needed; and it runs at the plain forces' speed
(openmmtools' alchemical custom forces are two orders of magnitude slower for a small solute on one core).
"""

from __future__ import annotations

import math
import time
from typing import Any

from tools.freeenergy.errors import FreeEnergyFailed, FreeEnergySetupError
from tools.freeenergy.protocol import SamplingProtocol

WINDOW_JOB_KIND = "tools.freeenergy.sampling:coupling_window_job"
SOLUTE_GROUP, SOLVENT_GROUP = 0, 1
MOLAR_GAS_CONSTANT = 0.00831446261815324  # kJ/(mol K)
SMALL_SYSTEM_ATOMS = 400  # below this, and without a periodic box, OpenMM's Reference platform is fastest on a CPU


def coupling_window_job(
    system_path: str, system_sha256: str, positions_nm: list[list[float]], coupling: float, protocol: dict[str, Any],
    seed: int, platform: str = "auto", threads: int = 1,
) -> dict[str, Any]:
    """A compute job: sample the window at ``coupling`` (λ) and return the solute and solvent energies (kJ/mol) of
    each sample, the seconds it took and the platform used."""
    import openmm
    import openmm.unit as unit

    from tools.freeenergy.parameters import read_system

    system = read_system(system_path, system_sha256)
    spec = SamplingProtocol.model_validate(protocol)
    started = time.perf_counter()
    integrator = coupled_langevin(coupling, spec, seed)
    chosen = choose_platform(platform, system)
    properties = {"Threads": str(threads)} if chosen == "CPU" else {}
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName(chosen), properties)
    context.setPositions(positions_nm)
    context.applyConstraints(1e-6)
    openmm.LocalEnergyMinimizer.minimize(context, 1.0, 500)
    context.setVelocitiesToTemperature(spec.temperature_k * unit.kelvin, seed)
    integrator.step(spec.equilibration_steps)
    solute, solvent = [], []
    for _ in range(spec.samples):
        integrator.step(spec.steps_per_sample)
        solute.append(_group_energy(context, SOLUTE_GROUP))
        solvent.append(_group_energy(context, SOLVENT_GROUP))
        if not (math.isfinite(solute[-1]) and math.isfinite(solvent[-1])):
            raise FreeEnergyFailed(f"the λ = {coupling:g} window blew up (a non-finite energy after {len(solute)} samples)")
    return {"coupling": coupling, "solute_kj": solute, "solvent_kj": solvent, "seconds": time.perf_counter() - started, "platform": chosen}


def coupled_langevin(coupling: float, protocol: SamplingProtocol, seed: int) -> Any:
    """Langevin BAOAB on the forces F_solute + λ·F_solvent, holding constraints (OpenMM's LangevinMiddle scheme)."""
    import openmm

    dt_ps = protocol.timestep_fs / 1000.0
    integrator = openmm.CustomIntegrator(dt_ps)
    integrator.addGlobalVariable("coupling", coupling)
    integrator.addGlobalVariable("a", math.exp(-protocol.friction_per_ps * dt_ps))
    integrator.addGlobalVariable("b", math.sqrt(1.0 - math.exp(-2.0 * protocol.friction_per_ps * dt_ps)))
    integrator.addGlobalVariable("kT", MOLAR_GAS_CONSTANT * protocol.temperature_k)
    integrator.addPerDofVariable("force", 0.0)
    integrator.addPerDofVariable("x1", 0.0)
    integrator.addUpdateContextState()
    integrator.addComputePerDof("force", f"f{SOLUTE_GROUP}")  # one force group per computation (an OpenMM rule)
    integrator.addComputePerDof("force", f"force + coupling*f{SOLVENT_GROUP}")
    integrator.addComputePerDof("v", "v + dt*force/m")
    integrator.addConstrainVelocities()
    integrator.addComputePerDof("x", "x + 0.5*dt*v")
    integrator.addComputePerDof("v", "a*v + b*sqrt(kT/m)*gaussian")
    integrator.addComputePerDof("x", "x + 0.5*dt*v")
    integrator.addComputePerDof("x1", "x")
    integrator.addConstrainPositions()
    integrator.addComputePerDof("v", "v + (x - x1)/dt")
    integrator.setRandomNumberSeed(seed)
    return integrator


def choose_platform(requested: str, system: Any) -> str:
    """The OpenMM platform to run on: the requested one, or for ``auto`` Reference for a small non-periodic system
    (the CPU platform's and a GPU's per-step overhead dominate below a few hundred atoms), else CUDA when present,
    else CPU.

    Raises:
        FreeEnergySetupError: the requested platform is not available here.
    """
    import openmm

    available = [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]
    if requested != "auto":
        if requested not in available:
            raise FreeEnergySetupError(f"the OpenMM platform {requested!r} is not available here (available: {', '.join(available)})")
        return requested
    if system.getNumParticles() < SMALL_SYSTEM_ATOMS and not system.usesPeriodicBoundaryConditions():
        return "Reference"
    if "CUDA" in available:
        return "CUDA"
    return "CPU" if "CPU" in available else "Reference"


def _group_energy(context: Any, group: int) -> float:
    import openmm.unit as unit

    return float(context.getState(getEnergy=True, groups={group}).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole))
