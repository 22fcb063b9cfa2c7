"""Training DPA-2 models with deepmd-kit's PyTorch backend (``dp --pt train`` and ``dp --pt freeze``), from scratch
or fine-tuned from a checkpoint (``--finetune``, the parent's own model settings), in a work folder of its own.

Two model sizes: ``small`` is deepmd-kit's smallest published DPA-2 for water (three repformer layers, float64),
and ``quick`` a one-layer float32 DPA-2 that trains in minutes on a laptop CPU and still learns forces. Neighbour
selections (``nsel``) come from the data (the most neighbours any atom has within each cut-off, plus a margin),
counted with ASE, so deepmd-kit's slow neighbour statistics are skipped and no neighbour is silently dropped.

``model_test`` measures any potential on labelled frames: the energy RMSE per atom (meV/atom) and the force RMSE
(meV/Å), as ``dp test`` reports them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tools.atomistic.errors import CalculationFailed, StructureInputError

if TYPE_CHECKING:
    from ase import Atoms

    from tools.atomistic.potential import Potential

log = logging.getLogger(__name__)

ModelSize = Literal["quick", "small"]
REPINIT_RCUT_A = 6.0
REPFORMER_RCUT_A = 4.0
THREE_BODY_RCUT_A = 4.0
NSEL_MARGIN = 1.25
_BATCH = re.compile(r"Batch\s+(\d+):")

Progress = Callable[[int, int], None]


class TrainingPlan(BaseModel):
    """One training: the DeePMD data folders to learn from and to validate on, the type map, the model size, the
    steps and the seed; ``finetune_from`` is the parent's checkpoint (``.pt``) when fine-tuning."""

    model_config = ConfigDict(frozen=True)

    training: list[str] = Field(min_length=1)
    validation: list[str] = Field(min_length=1)
    type_map: list[str] = Field(min_length=1)
    size: ModelSize = "quick"
    steps: int = Field(default=2000, ge=1, le=10_000_000)
    seed: int = Field(default=1, ge=0)
    finetune_from: str | None = None
    nsel: dict[str, int] = Field(default_factory=dict, description="repinit, repformer, three_body neighbour selections")
    start_lr: float = Field(default=2e-3, gt=0)
    stop_lr: float | None = Field(default=None, gt=0, description="None: start_lr over min(100, steps/20)")

    @property
    def final_lr(self) -> float:
        """The learning rate at the last step: a hundredth of the first for a long training, less of a fall for a
        short one (which would otherwise spend half its steps at a rate too small to learn)."""
        return self.stop_lr if self.stop_lr is not None else self.start_lr / min(100.0, max(2.0, self.steps / 20))


class TrainedFiles(BaseModel):
    """What a training leaves: the checkpoint (to fine-tune from), the frozen model (to run), the learning curve
    and the input deepmd-kit was given."""

    model_config = ConfigDict(frozen=True)

    checkpoint: str
    frozen: str
    lcurve: str
    input: str
    seconds: float
    steps: int


def training_input(plan: TrainingPlan) -> dict[str, Any]:
    """The ``dp --pt train`` input of ``plan``."""
    quick = plan.size == "quick"
    precision = "float32" if quick else "float64"
    nsel = {"repinit": 120, "repformer": 48, "three_body": 48, **plan.nsel}
    repinit = {
        "tebd_dim": 8, "rcut": REPINIT_RCUT_A, "rcut_smth": 0.5, "nsel": nsel["repinit"], "neuron": [16, 32, 64] if quick else [25, 50, 100],
        "axis_neuron": 12, "activation_function": "tanh", "three_body_sel": nsel["three_body"], "three_body_rcut": THREE_BODY_RCUT_A,
        "three_body_rcut_smth": 3.5, "use_three_body": not quick,
    }
    repformer = {
        "rcut": REPFORMER_RCUT_A, "rcut_smth": 3.5, "nsel": nsel["repformer"], "nlayers": 1 if quick else 3, "g1_dim": 32 if quick else 128,
        "g2_dim": 16 if quick else 32, "attn2_hidden": 16 if quick else 32, "attn2_nhead": 4, "attn1_hidden": 32 if quick else 128,
        "attn1_nhead": 4, "axis_neuron": 4, "update_h2": False, "update_g1_has_conv": True, "update_g1_has_grrg": True,
        "update_g1_has_drrd": True, "update_g1_has_attn": False, "update_g2_has_g1g1": False, "update_g2_has_attn": False,
        "update_style": "res_residual", "update_residual": 0.01, "update_residual_init": "norm", "attn2_has_gate": True,
        "use_sqrt_nnei": True, "g1_out_conv": True, "g1_out_mlp": True,
    }
    decay_steps = max(1, plan.steps // 20)
    return {
        "model": {
            "type_map": list(plan.type_map),
            "descriptor": {"type": "dpa2", "repinit": repinit, "repformer": repformer, "precision": precision,
                           "add_tebd_to_repinit_out": False, "seed": plan.seed},
            "fitting_net": {"neuron": [64, 64, 64] if quick else [240, 240, 240], "resnet_dt": True, "precision": precision, "seed": plan.seed},
        },
        "learning_rate": {"type": "exp", "decay_steps": decay_steps, "start_lr": plan.start_lr, "stop_lr": plan.final_lr},
        "loss": {"type": "ener", "start_pref_e": 0.02, "limit_pref_e": 1, "start_pref_f": 1000, "limit_pref_f": 1, "start_pref_v": 0, "limit_pref_v": 0},
        "training": {
            "training_data": {"systems": list(plan.training), "batch_size": "auto"},
            "validation_data": {"systems": list(plan.validation), "batch_size": "auto"},
            "numb_steps": plan.steps, "gradient_max_norm": 5.0, "seed": plan.seed, "disp_file": "lcurve.out",
            "disp_freq": max(1, min(100, plan.steps // 20)), "save_freq": plan.steps, "stat_file": "stat.hdf5",
        },
    }


def neighbour_selection(frames: Sequence[Atoms], stride: int = 1) -> dict[str, int]:
    """The ``nsel`` values that hold every neighbour of every atom in ``frames`` (every ``stride``-th frame), with a
    margin for configurations the model will meet in MD, rounded up to a multiple of 4."""
    from ase.neighborlist import neighbor_list

    most = {"repinit": 1, "repformer": 1, "three_body": 1}
    cutoffs = {"repinit": REPINIT_RCUT_A, "repformer": REPFORMER_RCUT_A, "three_body": THREE_BODY_RCUT_A}
    for frame in list(frames)[::stride]:
        work = frame if frame.pbc.any() else _boxed(frame)
        for name, cutoff in cutoffs.items():
            first = neighbor_list("i", work, cutoff)
            counts = np.bincount(first, minlength=len(work)) if len(first) else np.zeros(1, dtype=int)
            most[name] = max(most[name], int(counts.max()))
    selection = {name: int(4 * math.ceil(count * NSEL_MARGIN / 4)) for name, count in most.items()}
    selection["repinit"] = max(selection["repinit"], selection["repformer"] + 4)  # DPA-2 wants the wider cut-off to hold more
    return selection


def _boxed(frame: Atoms) -> Atoms:
    boxed = frame.copy()
    boxed.pbc = False
    return boxed


def dp_command() -> list[str]:
    """How to run ``dp``: the one beside this Python (the virtual environment's), else on the PATH."""
    beside = Path(sys.executable).with_name("dp")
    found = str(beside) if beside.exists() else shutil.which("dp")
    if found is None:
        from tools.atomistic.errors import PotentialMissing

        raise PotentialMissing("dpa2", "deepmd-kit")
    return [found, "--pt"]


def train(plan: TrainingPlan, folder: Path, on_progress: Progress | None = None, threads: int = 1) -> TrainedFiles:
    """Train (or fine-tune) the model ``plan`` describes in ``folder``, then freeze it.

    Raises:
        CalculationFailed: ``dp`` exited with an error (the last lines of its log are in the message).
    """
    from tools.atomistic.potentials.deepmd import import_deepmd_pt

    import_deepmd_pt()  # a setup error now, not a crash inside dp
    folder.mkdir(parents=True, exist_ok=True)
    input_path = folder / "input.json"
    input_path.write_text(json.dumps(training_input(plan), indent=1), encoding="utf-8")
    command = [*dp_command(), "train", input_path.name, "--skip-neighbor-stat"]
    if plan.finetune_from is not None:
        command += ["--finetune", str(Path(plan.finetune_from).resolve()), "--use-pretrain-script"]
    started = time.perf_counter()
    _run_dp(command, folder, plan.steps, on_progress, threads)
    latest = folder / "model.ckpt.pt"  # dp's link to its last checkpoint
    if not latest.exists():
        raise CalculationFailed(f"dp train finished without a checkpoint in {folder}")
    checkpoint = folder / "checkpoint.pt"
    os.replace(latest.resolve(), checkpoint)
    latest.unlink(missing_ok=True)
    _run_dp([*dp_command(), "freeze", "-c", str(checkpoint), "-o", "model.pth"], folder, 0, None, threads)
    return TrainedFiles(
        checkpoint=str(checkpoint.resolve()), frozen=str((folder / "model.pth").resolve()), lcurve=str(folder / "lcurve.out"),
        input=str(input_path), seconds=time.perf_counter() - started, steps=plan.steps,
    )


def _run_dp(command: list[str], folder: Path, steps: int, on_progress: Progress | None, threads: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "DP_INTRA_OP_PARALLELISM_THREADS": str(threads), "DP_INTER_OP_PARALLELISM_THREADS": "1",
           "NUM_WORKERS": "0"}  # frames load in dp's own process: no data-loader processes, each importing torch, beside it
    log_path = folder / f"dp-{command[2]}.log"
    with log_path.open("w", encoding="utf-8") as log_file, subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            log_file.write(line)
            match = _BATCH.search(line)
            if match and on_progress is not None:
                on_progress(int(match.group(1)), steps)
        code = process.wait()
    if code != 0:
        lines = [line.strip() for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        raise CalculationFailed(f"dp {command[2]} failed (exit {code}): {lines[-1] if lines else 'no output'} (its log: {log_path})")


class ModelTest(BaseModel):
    """A potential measured on labelled frames: energy RMSE per atom (meV/atom), force RMSE (meV/Å, over every
    force component, as ``dp test``), and their MAEs, on ``frames`` frames of ``atoms`` atoms in all."""

    model_config = ConfigDict(frozen=True)

    frames: int
    atoms: int
    energy_rmse_per_atom_mev: float
    energy_mae_per_atom_mev: float
    force_rmse_mev_per_a: float
    force_mae_mev_per_a: float
    zero_force_rmse_mev_per_a: float = Field(description="The RMSE of predicting no force at all: what learning must beat")
    seconds: float


def labels(frame: Atoms) -> tuple[float, np.ndarray]:
    """A labelled frame's reference energy and forces.

    Raises:
        StructureInputError: the frame has no energy or forces.
    """
    calc = frame.calc
    results = getattr(calc, "results", {}) if calc is not None else {}
    if "energy" not in results or "forces" not in results:
        raise StructureInputError(frame.info.get("source", frame.get_chemical_formula()), "has frames without an energy and forces to test or train on")
    return float(results["energy"]), np.asarray(results["forces"], dtype=float)


def model_test(potential: Potential, frames: Sequence[Atoms]) -> ModelTest:
    """Measure ``potential`` against the labels of ``frames`` (batched for a DeePMD model)."""
    if not frames:
        raise StructureInputError("(no frames)", "there are no frames to test on")
    reference = [labels(frame) for frame in frames]
    started = time.perf_counter()
    batched = getattr(potential, "evaluate_frames", None)
    predicted = []
    if batched is not None:
        for group in _by_composition(frames):
            predicted += list(zip(group, batched([frames[i] for i in group]), strict=True))
        predicted.sort(key=lambda pair: pair[0])
        evaluations = [evaluation for _, evaluation in predicted]
    else:
        evaluations = [potential.evaluate(frame) for frame in frames]
    seconds = time.perf_counter() - started
    energy_errors = np.array([(e.energy - ref[0]) / len(f) for e, ref, f in zip(evaluations, reference, frames, strict=True)])
    force_errors = np.concatenate([(e.forces - ref[1]).reshape(-1) for e, ref in zip(evaluations, reference, strict=True)])
    zero = np.concatenate([ref[1].reshape(-1) for ref in reference])
    return ModelTest(
        frames=len(frames), atoms=sum(len(f) for f in frames),
        energy_rmse_per_atom_mev=float(np.sqrt((energy_errors**2).mean()) * 1000), energy_mae_per_atom_mev=float(np.abs(energy_errors).mean() * 1000),
        force_rmse_mev_per_a=float(np.sqrt((force_errors**2).mean()) * 1000), force_mae_mev_per_a=float(np.abs(force_errors).mean() * 1000),
        zero_force_rmse_mev_per_a=float(np.sqrt((zero**2).mean()) * 1000), seconds=seconds,
    )


def _by_composition(frames: Sequence[Atoms]) -> list[list[int]]:
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, frame in enumerate(frames):
        groups.setdefault((tuple(frame.numbers), bool(frame.pbc.any())), []).append(i)
    return list(groups.values())
