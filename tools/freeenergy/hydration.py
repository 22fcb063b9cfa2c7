"""Hydration free energies: the solute parametrised, its solvent coupling sampled at λ windows (one compute job
each, so a killed calculation resumes with its finished windows and a cluster runs them side by side), and MBAR
for ΔG_hyd = F(solvated) − F(vacuum), its statistical error and the overlap of neighbouring states.

The implicit-solvent route (OBC2) couples the solvent force linearly (``tools.freeenergy.sampling``): one leg,
vacuum to solvated. What a calculation leaves under ``$ATOMLOOP_HOME/freeenergy/hydration/<key>``: the MBAR input
(``mbar_input.npz``: every sample's solute and solvent energies and the λ values), a convergence and overlap plot,
and the report as JSON.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tools.freeenergy.analysis import POOR_OVERLAP, MbarEstimate, forward_convergence, mbar_estimate
from tools.freeenergy.errors import FreeEnergyFailed, SoluteInputError
from tools.freeenergy.parameters import ForceFieldName, SoluteParameters, load_system, solute_parameters
from tools.freeenergy.protocol import SamplingProtocol, implicit_protocol
from tools.freeenergy.sampling import MOLAR_GAS_CONSTANT, SOLUTE_GROUP, SOLVENT_GROUP, WINDOW_JOB_KIND
from tools.freeenergy.solute import Solute

if TYPE_CHECKING:
    from tools.compute.jobs import ComputeExecutor

log = logging.getLogger(__name__)
SolventModel = Literal["obc2"]
SOLVENTS: tuple[SolventModel, ...] = ("obc2",)
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
    and the smallest overlap between neighbours."""

    model_config = ConfigDict(frozen=True)

    name: str
    delta_g_kcal: float
    error_kcal: float
    lambdas: tuple[float, ...]
    min_overlap: float
    samples: list[int]
    statistical_inefficiency: list[float]


class HydrationResult(BaseModel):
    """A computed hydration free energy (kcal/mol, 298.15 K unless the protocol says otherwise) with its
    statistical error (one standard error, MBAR's, samples decorrelated) and how it was computed."""

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
    protocol: SamplingProtocol
    temperature_k: float
    legs: list[LegResult]
    min_overlap: float
    convergence_kcal: list[tuple[float, float, float]]
    warnings: list[str]
    cpu_seconds: float
    wall_seconds: float
    platform: str
    windows: int
    reused_windows: int
    folder: str
    mbar_input: str
    plot: str | None
    software: dict[str, str]


ProgressCallback = Callable[[int, int], None]


def compute_hydration(
    solute: Solute, options: HydrationOptions, executor: ComputeExecutor, home: Path, *, threads: int = 1,
    on_progress: ProgressCallback | None = None,
) -> HydrationResult:
    """The hydration free energy of ``solute``, its windows run as compute jobs on ``executor``.

    Raises:
        SoluteInputError: an unknown protocol or solvent.
        ParametrizationFailed: the force field has no parameters for the molecule.
        FreeEnergySetupError: a package or the OpenMM platform is missing.
        FreeEnergyFailed: a window failed, timed out or blew up.
    """
    if options.solvent not in SOLVENTS:
        raise SoluteInputError(f"unknown solvent model {options.solvent!r}: one of {', '.join(SOLVENTS)}")
    started = time.perf_counter()
    protocol = implicit_protocol(options.protocol)
    root = home / "freeenergy"
    parameters = solute_parameters(solute, options.forcefield, root / "parameters")
    system_path, system_sha = _coupled_system(solute, parameters, root / "systems")
    positions = (solute.mol().GetConformer().GetPositions() / 10.0).tolist()
    key = hashlib.sha256(json.dumps(
        ["hydration", solute.smiles, system_sha, positions, options.model_dump(mode="json"), protocol.model_dump(mode="json")],
        sort_keys=True, separators=(",", ":"),
    ).encode()).hexdigest()
    from tools.compute.jobs import JobRequest

    jobs = [
        JobRequest(
            kind=WINDOW_JOB_KIND,
            inputs={"system_path": str(system_path), "system_sha256": system_sha, "positions_nm": positions, "coupling": coupling,
                    "protocol": protocol.model_dump(mode="json"), "seed": options.seed * 1000 + k + 1, "platform": options.platform,
                    "threads": threads},
            label=f"λ={coupling:g} {solute.name}"[:200],
            timeout_s=WINDOW_TIMEOUT_S,
        )
        for k, coupling in enumerate(protocol.lambdas)
    ]
    outcomes = executor.run(jobs, group=f"fe hydration {solute.name}"[:200], on_progress=on_progress)
    for outcome in outcomes:
        if not outcome.ok:
            lines = [line for line in (outcome.error or "").strip().splitlines() if line.strip()]
            raise FreeEnergyFailed(f"the window {outcome.label} {outcome.status.replace('_', ' ')}: {lines[0][:400] if lines else 'no error given'}")
    windows = [outcome.result for outcome in outcomes]
    kt_kj = MOLAR_GAS_CONSTANT * protocol.temperature_k
    reduced = coupling_reduced_potentials(windows, protocol.lambdas, kt_kj)
    estimate = mbar_estimate(reduced)
    kt_kcal = kt_kj / KJ_PER_KCAL
    convergence = [(f, d * kt_kcal, e * kt_kcal) for f, d, e in forward_convergence(reduced)]
    leg = _leg("solvation (vacuum to OBC2)", estimate, protocol.lambdas, kt_kcal)
    folder = root / "hydration" / key[:16]
    folder.mkdir(parents=True, exist_ok=True)
    mbar_input = _save_mbar_input(folder, windows, protocol.lambdas, kt_kj)
    warnings = _warnings(estimate, leg, convergence)
    result = HydrationResult(
        key=key, smiles=solute.smiles, inchikey=solute.inchikey, name=solute.name, value_kcal=leg.delta_g_kcal,
        uncertainty_kcal=leg.error_kcal, forcefield=options.forcefield, charge_method=parameters.charge_method,
        solvent=options.solvent, protocol=protocol, temperature_k=protocol.temperature_k, legs=[leg],
        min_overlap=estimate.min_neighbour_overlap, convergence_kcal=convergence, warnings=warnings,
        cpu_seconds=float(sum(window["seconds"] for window in windows)), wall_seconds=time.perf_counter() - started,
        platform=str(windows[0]["platform"]), windows=len(windows), reused_windows=sum(1 for o in outcomes if o.reused),
        folder=str(folder), mbar_input=str(mbar_input), plot=None, software={**parameters.software, **_versions()},
    )
    plot = write_plot(result, estimate, folder / "convergence.png")
    result = result.model_copy(update={"plot": str(plot) if plot else None})
    (folder / "report.json").write_text(result.model_dump_json(indent=2))
    return result


def coupling_reduced_potentials(windows: list[dict[str, Any]], lambdas: tuple[float, ...], kt_kj: float) -> list[np.ndarray]:
    """Each window's samples' reduced potentials at every state: u_j(x) = (U_solute(x) + λ_j·U_solvent(x)) / kT."""
    couplings = np.asarray(lambdas, dtype=float)[:, None]
    reduced = []
    for window in windows:
        solute = np.asarray(window["solute_kj"], dtype=float)[None, :]
        solvent = np.asarray(window["solvent_kj"], dtype=float)[None, :]
        reduced.append((solute + couplings * solvent) / kt_kj)
    return reduced


def _leg(name: str, estimate: MbarEstimate, lambdas: tuple[float, ...], kt_kcal: float) -> LegResult:
    return LegResult(
        name=name, delta_g_kcal=estimate.delta_f_kt * kt_kcal, error_kcal=estimate.error_kt * kt_kcal, lambdas=lambdas,
        min_overlap=estimate.min_neighbour_overlap, samples=estimate.samples, statistical_inefficiency=estimate.statistical_inefficiency,
    )


def _warnings(estimate: MbarEstimate, leg: LegResult, convergence: list[tuple[float, float, float]]) -> list[str]:
    warnings = []
    poor = [k for k, value in enumerate(estimate.neighbour_overlaps) if value < POOR_OVERLAP]
    if poor:
        pairs = ", ".join(f"λ {leg.lambdas[k]:g}-{leg.lambdas[k + 1]:g}" for k in poor)
        warnings.append(f"poor overlap between neighbouring states ({pairs}: below {POOR_OVERLAP}); add λ states or sample longer")
    half = next((value for fraction, value, _ in convergence if abs(fraction - 0.6) < 1e-9), None)
    if half is not None and abs(half - leg.delta_g_kcal) > max(DRIFT_KCAL, 2 * leg.error_kcal):
        warnings.append(f"not converged: 60% of the samples give {half:.2f}, all give {leg.delta_g_kcal:.2f} kcal/mol; sample longer (--protocol standard)")
    return warnings


def _coupled_system(solute: Solute, parameters: SoluteParameters, folder: Path) -> tuple[Path, str]:
    """The solute's system with its own forces in group 0 and the OBC2 solvent in group 1, saved by content hash."""
    import openmm

    from tools.freeenergy.implicit import obc2_force

    system = load_system(parameters)
    for force in system.getForces():
        force.setForceGroup(SOLUTE_GROUP)
    solvent = obc2_force(solute.mol(), list(parameters.charges))
    solvent.setForceGroup(SOLVENT_GROUP)
    system.addForce(solvent)
    text = openmm.XmlSerializer.serialize(system)
    digest = hashlib.sha256(text.encode()).hexdigest()
    path = folder / f"{digest}.xml"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(text)
        temporary.replace(path)
    return path, digest


def _save_mbar_input(folder: Path, windows: list[dict[str, Any]], lambdas: tuple[float, ...], kt_kj: float) -> Path:
    path = folder / "mbar_input.npz"
    np.savez_compressed(
        path, lambdas=np.asarray(lambdas), kt_kj_per_mol=np.asarray(kt_kj),
        solute_kj=np.asarray([w["solute_kj"] for w in windows], dtype=float),
        solvent_kj=np.asarray([w["solvent_kj"] for w in windows], dtype=float),
    )
    return path


def write_plot(result: HydrationResult, estimate: MbarEstimate, path: Path) -> Path | None:
    """The forward convergence of the estimate (with its error) beside the overlap matrix, as a PNG; None when
    matplotlib cannot draw."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return None
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    fractions = [100 * f for f, _, _ in result.convergence_kcal]
    left.errorbar(fractions, [v for _, v, _ in result.convergence_kcal], yerr=[e for _, _, e in result.convergence_kcal], marker="o", capsize=3)
    left.set_xlabel("production samples used (%)")
    left.set_ylabel("ΔG hydration (kcal/mol)")
    left.set_title(f"{result.name[:40]}: {result.value_kcal:.2f} ± {result.uncertainty_kcal:.2f} kcal/mol")
    image = right.imshow(np.asarray(estimate.overlap), vmin=0, vmax=1, cmap="viridis")
    labels = [f"{value:g}" for value in result.protocol.lambdas]
    right.set_xticks(range(len(labels)), labels, rotation=90)
    right.set_yticks(range(len(labels)), labels)
    right.set_title(f"MBAR overlap (λ; smallest neighbour {result.min_overlap:.2f})")
    figure.colorbar(image, ax=right)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("openmm", "pymbar"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:  # pragma: no cover
            pass
    return versions
