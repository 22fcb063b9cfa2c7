"""Hydration free energies: the solute parametrised, its solvent coupling sampled at λ windows (one compute job
each, so a killed calculation resumes with its finished windows and a cluster runs them side by side), and MBAR
for ΔG_hyd = F(solvated) − F(vacuum), its statistical error and the overlap of neighbouring states.

The implicit-solvent route (OBC2) couples the solvent force linearly (``tools.freeenergy.sampling``): one leg,
vacuum to solvated. The explicit route (TIP3P, ``tools.freeenergy.explicit``) has two: the solute's charges switched
on in vacuum, and its interactions with the water removed through openmmtools' alchemical states. What a calculation
leaves under ``$ATOMLOOP_HOME/freeenergy/hydration/<key>``: the MBAR input (``mbar_input.npz``: every leg's raw
energies and states), a convergence and overlap plot, and the report as JSON.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tools.compute.fanout import package_versions
from tools.freeenergy.analysis import POOR_OVERLAP, MbarEstimate, forward_convergence, mbar_estimate
from tools.freeenergy.errors import FreeEnergyFailed, SoluteInputError
from tools.freeenergy.explicit import ALCHEMICAL_WINDOW_JOB_KIND, AlchemicalProtocol, explicit_protocol, solvated_alchemical_system, vacuum_charging_system
from tools.freeenergy.parameters import ForceFieldName, SoluteParameters, load_system, save_system, solute_parameters
from tools.freeenergy.protocol import SamplingProtocol, implicit_protocol
from tools.freeenergy.sampling import MOLAR_GAS_CONSTANT, SOLUTE_GROUP, SOLVENT_GROUP, WINDOW_JOB_KIND
from tools.freeenergy.solute import Solute

if TYPE_CHECKING:
    from knowledge.store import NewMeasurement
    from tools.compute.jobs import ComputeExecutor

log = logging.getLogger(__name__)
SolventModel = Literal["obc2", "tip3p"]
SOLVENTS: tuple[SolventModel, ...] = ("obc2", "tip3p")
KJ_PER_KCAL = 4.184
WINDOW_TIMEOUT_S = 4 * 3600.0
DRIFT_KCAL = 0.3  # the half-data and full-data estimates differing by more than this (and 2σ) is a warning
METHOD = "alchemical solvent coupling, independent Langevin windows, MBAR"


class HydrationOptions(BaseModel):
    """How to compute: the force field, the solvent model, the protocol, the seed and the OpenMM platform."""

    model_config = ConfigDict(frozen=True)

    forcefield: ForceFieldName = "gaff-2.11"
    solvent: SolventModel = "obc2"
    protocol: str = "quick"
    seed: int = Field(default=0, ge=0)
    platform: str = "auto"


class LegResult(BaseModel):
    """One leg of the thermodynamic cycle: its free energy (kcal/mol, first to last state), the error, its states
    (λ, or λ_electrostatics and λ_sterics), the smallest overlap between neighbours, and how it enters ΔG_hyd."""

    model_config = ConfigDict(frozen=True)

    name: str
    delta_g_kcal: float
    error_kcal: float
    states: list[list[float]]
    sign: int
    min_overlap: float
    samples: list[int]
    statistical_inefficiency: list[float]


class HydrationResult(BaseModel):
    """A computed hydration free energy (kcal/mol, 298.15 K unless the protocol says otherwise) with its
    statistical error (one standard error, MBAR's, samples decorrelated, legs combined) and how it was computed."""

    model_config = ConfigDict(frozen=True)

    key: str
    smiles: str
    inchikey: str
    name: str
    value_kcal: float
    uncertainty_kcal: float
    unit: str = "kcal/mol"
    method: str = METHOD
    forcefield: ForceFieldName
    charge_method: str
    solvent: SolventModel
    protocol_name: str
    protocol: dict[str, Any]
    temperature_k: float
    legs: list[LegResult]
    min_overlap: float
    convergence_kcal: list[tuple[float, float, float]]
    warnings: list[str]
    cpu_seconds: float
    wall_seconds: float
    platform: str
    atoms: int
    windows: int
    reused_windows: int
    folder: str
    mbar_input: str
    plot: str | None
    software: dict[str, str]


    def measurement(self, home: Path | None = None) -> NewMeasurement:
        """The ``hydration_free_energy`` measurement this result is (source ``computed``): value and uncertainty in
        kcal/mol, the conditions it holds under, and how it was computed (artifacts relative to ``home``). Its op_id
        is the calculation's content key, so the same calculation recorded twice is one row."""
        from knowledge.store import NewMeasurement

        artifacts = {name: _relative(path, home) for name, path in (("folder", self.folder), ("mbar_input", self.mbar_input), ("plot", self.plot)) if path}
        return NewMeasurement(
            smiles=self.smiles, property="hydration_free_energy", value=self.value_kcal, unit="kcal/mol", uncertainty=self.uncertainty_kcal,
            source="computed", conditions={"temperature_k": self.temperature_k, "solvent_model": self.solvent},
            provenance={
                "method": self.method, "forcefield": self.forcefield, "charge_method": self.charge_method, "protocol": self.protocol,
                "atoms": self.atoms, "legs": [leg.model_dump(mode="json") for leg in self.legs], "min_overlap": round(self.min_overlap, 4),
                "warnings": self.warnings, "cpu_seconds": round(self.cpu_seconds, 1), "platform": self.platform, "software": self.software,
                "artifacts": artifacts, "calculation_key": self.key,
            },
            op_id=f"fe-hydration:{self.key}",
        )


ProgressCallback = Callable[[int, int], None]


class _Leg(BaseModel):
    """A leg to run: its windows' jobs, how to turn their results into reduced potentials, and its sign in ΔG_hyd."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    states: list[list[float]]
    sign: int
    jobs: list[Any]
    coupling: tuple[float, ...] | None = None  # a linear-coupling leg's λ values; None for alchemical states


def window_count(options: HydrationOptions) -> int:
    """How many λ windows (compute jobs) the calculation runs."""
    if options.solvent == "tip3p":
        protocol = explicit_protocol(options.protocol)
        return len(protocol.states) + len(protocol.vacuum.lambdas)
    return len(implicit_protocol(options.protocol).lambdas)


def compute_hydration(
    solute: Solute, options: HydrationOptions, executor: ComputeExecutor, home: Path, *, threads: int = 1,
    on_progress: ProgressCallback | None = None,
) -> HydrationResult:
    """The hydration free energy of ``solute``, its windows run as compute jobs on ``executor``.

    Raises:
        SoluteInputError: an unknown protocol or solvent, or a force field the solvent model does not take.
        ParametrizationFailed: the force field has no parameters for the molecule.
        FreeEnergySetupError: a package or the OpenMM platform is missing.
        FreeEnergyFailed: a window failed, timed out or blew up.
    """
    if options.solvent not in SOLVENTS:
        raise SoluteInputError(f"unknown solvent model {options.solvent!r}: one of {', '.join(SOLVENTS)}")
    if options.solvent == "tip3p" and options.forcefield != "gaff-2.11":
        raise SoluteInputError("TIP3P water is built with --forcefield gaff-2.11 (MMFF94 is for the implicit solvent, obc2)")
    started = time.perf_counter()
    root = home / "freeenergy"
    parameters = solute_parameters(solute, options.forcefield, root / "parameters")
    positions = (solute.mol().GetConformer().GetPositions() / 10.0).tolist()
    protocol: Any
    if options.solvent == "tip3p":
        protocol = explicit_protocol(options.protocol)
        legs, atoms = _explicit_legs(solute, parameters, protocol, options, positions, root, threads)
    else:
        protocol = implicit_protocol(options.protocol)
        system_path, system_sha = _coupled_system(solute, parameters, root / "systems")
        legs = [_coupling_leg("solvation (vacuum to OBC2)", +1, system_path, system_sha, positions, protocol, options, solute.name, threads, 0)]
        atoms = solute.atoms
    key = hashlib.sha256(json.dumps(
        ["hydration", solute.smiles, [[job.key for job in leg.jobs] for leg in legs], options.model_dump(mode="json")],
        sort_keys=True, separators=(",", ":"),
    ).encode()).hexdigest()
    jobs = [job for leg in legs for job in leg.jobs]
    outcomes = executor.run(jobs, group=f"fe hydration {solute.name}"[:200], on_progress=on_progress)
    for outcome in outcomes:
        if not outcome.ok:
            lines = [line for line in (outcome.error or "").strip().splitlines() if line.strip()]
            raise FreeEnergyFailed(f"the window {outcome.label} {outcome.status.replace('_', ' ')}: {lines[0][:400] if lines else 'no error given'}")
    kt_kj = MOLAR_GAS_CONSTANT * protocol.temperature_k
    kt_kcal = kt_kj / KJ_PER_KCAL
    results, estimates, reduced_by_leg, windows_by_leg = [], [], [], []
    offset = 0
    for leg in legs:
        windows = [outcome.result for outcome in outcomes[offset: offset + len(leg.jobs)]]
        offset += len(leg.jobs)
        reduced = (coupling_reduced_potentials(windows, leg.coupling, kt_kj) if leg.coupling is not None
                   else [np.asarray(window["energies_kj"], dtype=float) / kt_kj for window in windows])
        estimate = mbar_estimate(reduced)
        results.append(LegResult(
            name=leg.name, delta_g_kcal=estimate.delta_f_kt * kt_kcal, error_kcal=estimate.error_kt * kt_kcal, states=leg.states, sign=leg.sign,
            min_overlap=estimate.min_neighbour_overlap, samples=estimate.samples, statistical_inefficiency=estimate.statistical_inefficiency,
        ))
        estimates.append(estimate)
        reduced_by_leg.append(reduced)
        windows_by_leg.append(windows)
    value = sum(leg.sign * leg.delta_g_kcal for leg in results)
    error = math.sqrt(sum(leg.error_kcal**2 for leg in results))
    convergence = _combined_convergence(legs, reduced_by_leg, kt_kcal)
    folder = root / "hydration" / key[:16]
    folder.mkdir(parents=True, exist_ok=True)
    mbar_input = _save_mbar_input(folder, legs, windows_by_leg, kt_kj)
    warnings = [warning for leg, estimate in zip(results, estimates, strict=True) for warning in _overlap_warnings(leg, estimate)]
    warnings += _drift_warnings(value, error, convergence)
    all_windows = [window for windows in windows_by_leg for window in windows]
    result = HydrationResult(
        key=key, smiles=solute.smiles, inchikey=solute.inchikey, name=solute.name, value_kcal=value, uncertainty_kcal=error,
        forcefield=options.forcefield, charge_method=parameters.charge_method, solvent=options.solvent, protocol_name=protocol.name,
        protocol=protocol.model_dump(mode="json"), temperature_k=protocol.temperature_k, legs=results,
        min_overlap=min(leg.min_overlap for leg in results), convergence_kcal=convergence, warnings=warnings,
        cpu_seconds=float(sum(window["seconds"] for window in all_windows)), wall_seconds=time.perf_counter() - started,
        platform=", ".join(sorted({str(window["platform"]) for window in all_windows})), atoms=atoms, windows=len(all_windows),
        reused_windows=sum(1 for o in outcomes if o.reused), folder=str(folder), mbar_input=str(mbar_input), plot=None,
        software={**parameters.software, **package_versions("openmm", "pymbar")},
    )
    plot = write_plot(result, estimates, folder / "convergence.png")
    result = result.model_copy(update={"plot": str(plot) if plot else None})
    (folder / "report.json").write_text(result.model_dump_json(indent=2))
    return result


def _coupling_leg(
    name: str, sign: int, system_path: Path, system_sha: str, positions: list[list[float]], protocol: SamplingProtocol,
    options: HydrationOptions, label: str, threads: int, seed_offset: int,
) -> _Leg:
    from tools.compute.jobs import JobRequest

    jobs = [
        JobRequest(
            kind=WINDOW_JOB_KIND,
            inputs={"system_path": str(system_path), "system_sha256": system_sha, "positions_nm": positions, "coupling": coupling,
                    "protocol": protocol.model_dump(mode="json"), "seed": options.seed * 1000 + seed_offset + k + 1,
                    "platform": options.platform, "threads": threads},
            label=f"{name.split(' ')[0]} λ={coupling:g} {label}"[:200],
            timeout_s=WINDOW_TIMEOUT_S,
        )
        for k, coupling in enumerate(protocol.lambdas)
    ]
    return _Leg(name=name, states=[[c] for c in protocol.lambdas], sign=sign, jobs=jobs, coupling=protocol.lambdas)


def _explicit_legs(
    solute: Solute, parameters: SoluteParameters, protocol: AlchemicalProtocol, options: HydrationOptions, positions: list[list[float]],
    root: Path, threads: int,
) -> tuple[list[_Leg], int]:
    """The vacuum charging leg (ΔF from uncharged to charged: it enters with -1) and the solvent leg (ΔF from
    coupled to decoupled: -1 too), so ΔG_hyd = -ΔF_vacuum - ΔF_solvent."""
    from tools.compute.jobs import JobRequest
    from tools.freeenergy.parameters import gaff_template_cache

    vacuum_path, vacuum_sha = vacuum_charging_system(load_system(parameters), root / "systems")
    vacuum = _coupling_leg("vacuum (charges off to on)", -1, vacuum_path, vacuum_sha, positions, protocol.vacuum, options, solute.name, threads, 500)
    path, sha, box_positions, atoms = solvated_alchemical_system(
        solute.mol(), solute.name, gaff_template_cache(solute, root / "parameters"), root / "systems")
    jobs = [
        JobRequest(
            kind=ALCHEMICAL_WINDOW_JOB_KIND,
            inputs={"system_path": str(path), "system_sha256": sha, "positions_nm": box_positions, "state": k,
                    "protocol": protocol.model_dump(mode="json"), "seed": options.seed * 1000 + k + 1, "platform": options.platform,
                    "threads": threads},
            label=f"water λe={e:g} λs={s:g} {solute.name}"[:200],
            timeout_s=WINDOW_TIMEOUT_S,
        )
        for k, (e, s) in enumerate(protocol.states)
    ]
    solvent = _Leg(name="TIP3P (coupled to decoupled)", states=[[e, s] for e, s in protocol.states], sign=-1, jobs=jobs)
    return [vacuum, solvent], atoms


def _combined_convergence(legs: list[_Leg], reduced_by_leg: list[list[np.ndarray]], kt_kcal: float) -> list[tuple[float, float, float]]:
    series = [forward_convergence(reduced) for reduced in reduced_by_leg]
    combined = []
    for points in zip(*series, strict=True):
        value = sum(leg.sign * point[1] for leg, point in zip(legs, points, strict=True)) * kt_kcal
        error = math.sqrt(sum(point[2] ** 2 for point in points)) * kt_kcal
        combined.append((points[0][0], value, error))
    return combined


def coupling_reduced_potentials(windows: list[dict[str, Any]], lambdas: tuple[float, ...], kt_kj: float) -> list[np.ndarray]:
    """Each window's samples' reduced potentials at every state: u_j(x) = (U_solute(x) + λ_j·U_solvent(x)) / kT."""
    couplings = np.asarray(lambdas, dtype=float)[:, None]
    reduced = []
    for window in windows:
        solute = np.asarray(window["solute_kj"], dtype=float)[None, :]
        solvent = np.asarray(window["solvent_kj"], dtype=float)[None, :]
        reduced.append((solute + couplings * solvent) / kt_kj)
    return reduced


def _overlap_warnings(leg: LegResult, estimate: MbarEstimate) -> list[str]:
    poor = [k for k, value in enumerate(estimate.neighbour_overlaps) if value < POOR_OVERLAP]
    if not poor:
        return []
    pairs = ", ".join(f"{_state_label(leg.states[k])} to {_state_label(leg.states[k + 1])}" for k in poor)
    return [f"{leg.name}: poor overlap between neighbouring states ({pairs}: below {POOR_OVERLAP}); add λ states or sample longer"]


def _drift_warnings(value: float, error: float, convergence: list[tuple[float, float, float]]) -> list[str]:
    part = next((v for fraction, v, _ in convergence if abs(fraction - 0.6) < 1e-9), None)
    if part is not None and abs(part - value) > max(DRIFT_KCAL, 2 * error):
        return [f"not converged: 60% of the samples give {part:.2f}, all give {value:.2f} kcal/mol; sample longer (--protocol standard)"]
    return []


def _state_label(state: list[float]) -> str:
    return f"λ {state[0]:g}" if len(state) == 1 else f"λe {state[0]:g}/λs {state[1]:g}"


def _coupled_system(solute: Solute, parameters: SoluteParameters, folder: Path) -> tuple[Path, str]:
    """The solute's system with its own forces in group 0 and the OBC2 solvent in group 1, saved by content hash."""
    from tools.freeenergy.implicit import obc2_force

    system = load_system(parameters)
    for force in system.getForces():
        force.setForceGroup(SOLUTE_GROUP)
    solvent = obc2_force(solute.mol(), list(parameters.charges))
    solvent.setForceGroup(SOLVENT_GROUP)
    system.addForce(solvent)
    return save_system(system, folder)


def _save_mbar_input(folder: Path, legs: list[_Leg], windows_by_leg: list[list[dict[str, Any]]], kt_kj: float) -> Path:
    """Every leg's raw energies (kJ/mol): a coupling leg's solute and solvent energies per window and sample, an
    alchemical leg's energies at every state (windows × states × samples), with the states and kT."""
    arrays: dict[str, Any] = {"kt_kj_per_mol": np.asarray(kt_kj)}
    for index, (leg, windows) in enumerate(zip(legs, windows_by_leg, strict=True)):
        arrays[f"leg{index}_states"] = np.asarray(leg.states, dtype=float)
        if leg.coupling is not None:
            arrays[f"leg{index}_solute_kj"] = np.asarray([w["solute_kj"] for w in windows], dtype=float)
            arrays[f"leg{index}_solvent_kj"] = np.asarray([w["solvent_kj"] for w in windows], dtype=float)
        else:
            arrays[f"leg{index}_energies_kj"] = np.asarray([w["energies_kj"] for w in windows], dtype=float)
    path = folder / "mbar_input.npz"
    np.savez_compressed(path, **arrays)
    return path


def write_plot(result: HydrationResult, estimates: list[MbarEstimate], path: Path) -> Path | None:
    """The forward convergence of the estimate (with its error) beside each leg's overlap matrix, as a PNG; None
    when matplotlib cannot draw."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return None
    figure, axes = plt.subplots(1, 1 + len(estimates), figsize=(5 * (1 + len(estimates)), 4), squeeze=False)
    left = axes[0][0]
    fractions = [100 * f for f, _, _ in result.convergence_kcal]
    left.errorbar(fractions, [v for _, v, _ in result.convergence_kcal], yerr=[e for _, _, e in result.convergence_kcal], marker="o", capsize=3)
    left.set_xlabel("production samples used (%)")
    left.set_ylabel("ΔG hydration (kcal/mol)")
    left.set_title(f"{result.name[:40]}: {result.value_kcal:.2f} ± {result.uncertainty_kcal:.2f} kcal/mol")
    for axis, leg, estimate in zip(axes[0][1:], result.legs, estimates, strict=True):
        image = axis.imshow(np.asarray(estimate.overlap), vmin=0, vmax=1, cmap="viridis")
        labels = [_state_label(state).replace("λ ", "") for state in leg.states]
        axis.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
        axis.set_yticks(range(len(labels)), labels, fontsize=6)
        axis.set_title(f"{leg.name[:30]}: overlap (smallest {leg.min_overlap:.2f})", fontsize=9)
        figure.colorbar(image, ax=axis)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _relative(path: str, home: Path | None) -> str:
    """``path`` relative to the home when it lies under it (the home can move), else as it is."""
    if home is None:
        return path
    try:
        return str(Path(path).resolve().relative_to(home.resolve()))
    except ValueError:
        return path
