"""The concurrent-learning loop (``atomloop atoms learn``): explore → select by committee disagreement → label with
the oracle → fine-tune the committee, with every step a compute job and every result in the store.

Resuming is replaying: the run is keyed by its configuration, and each step's job has the content key of its inputs
(the oracle's MD, each training, each exploration, each frame's label), so after a kill the loop runs again from the
start and the job book answers every step that had finished, without relabelling a frame; the first step that had
not finished runs for real. Each iteration's report (trust bands, labels spent, held-out errors of the committee
and of the random-selection model) is written to the ``LearningRun`` row as the iteration ends.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.atomic_models import AtomicModel, Member, train_models
from agent.atomistic import Calculation, calculate_batch, calculate_each, model_spec, prepare_structure, record_calculation
from tools.atomistic.errors import CalculationFailed
from tools.atomistic.learning import LearnConfig, config_key, select_at_random, select_by_deviation, trust_bands

if TYPE_CHECKING:
    from ase import Atoms

    from agent.app import App
    from knowledge.models import LearningRun
    from tools.atomistic.jobs import StructureRef
    from tools.atomistic.models import ModelSpec

log = logging.getLogger(__name__)
STOP_DEVIATION_FACTOR = 3.0  # an exploration stops once the committee's deviation is this many times the upper level
Events = Callable[[str], None]


def run_learning(app: App, config: LearnConfig, on_event: Events | None = None) -> LearningRun:
    """Run (or resume) the concurrent-learning run ``config`` describes, to convergence, its iterations or its
    label budget; the run's row, marked converged, finished or (re-raising the error) failed."""
    say = on_event or (lambda message: log.info("%s", message))
    run_id = config_key(config)
    home = app.settings.home_dir
    folder = home / "learning" / f"{_slug(config.name)}-{run_id}"
    row = _start(app, config, run_id, folder)
    if row.status in ("converged", "finished"):
        say(f"{config.name}: {row.status} before ({len(row.iterations)} iterations); nothing to do")
        return row
    try:
        status = _loop(app, config, run_id, folder, say)
    except BaseException as error:  # KeyboardInterrupt too: the run is failed, not left running
        _update(app, run_id, status="failed", error=f"{type(error).__name__}: {error}"[:2000])
        raise
    return _update(app, run_id, status=status, error=None)


def _loop(app: App, config: LearnConfig, run_id: str, folder: Path, say: Events) -> str:
    home = app.settings.home_dir
    executor, store = app.executor, app.store
    oracle = model_spec(config.oracle)
    if oracle.name.startswith("dpa2"):
        from tools.errors import ToolInputError

        raise ToolInputError("the oracle labels frames: give xtb, gfn1-xtb, sevennet-0 or chgnet, not a DPA-2 model")
    from tools.atomistic.structure import read_structure

    start = prepare_structure(read_structure(config.system.source), oracle, home, "md")
    context = {"learning_run": run_id}

    say(f"Oracle ({oracle.label}) MD for the held-out and the initial frames")
    heldout, initial = _oracle_frames(app, config, start, oracle, context)
    labelled = list(initial)
    random_labelled = list(initial)
    labels_spent = len(initial)
    members = [Member(seed=config.seed * 100 + k + 1) for k in range(config.model.committee)]
    say(f"Training the committee of {len(members)} on {len(labelled)} labelled frames")
    committee = train_models(store, executor, home, labelled, members, size=config.model.size, steps=config.model.initial_steps,
                             heldout=heldout, label=f"learn {config.name}: initial")
    random_model: AtomicModel | None = committee[0] if config.compare_random else None
    reports: list[dict[str, Any]] = [_report(0, committee, random_model, None, 0, labels_spent, 0, [])]
    _update(app, run_id, iterations=reports, labels_spent=labels_spent)

    for iteration in range(1, config.iterations + 1):
        say(f"Iteration {iteration}: exploring with the committee")
        explored, deviations, trajectories = _explore(app, config, start, [m.spec for m in committee], iteration)
        bands = trust_bands(deviations, config.select.lower, config.select.upper)
        if bands.accurate >= config.select.converged_fraction:
            reports.append(_report(iteration, committee, random_model, bands, 0, labels_spent, 0, trajectories, converged=True))
            _update(app, run_id, iterations=reports, labels_spent=labels_spent)
            say(f"Converged: {bands.accurate:.0%} of {bands.frames} explored frames below the lower trust level")
            return "converged"
        count = min(config.select.max_per_iteration, config.label_budget - labels_spent)
        if count <= 0:
            say("The label budget is spent")
            break
        picked = select_by_deviation(deviations[: len(explored)], config.select.lower, config.select.upper, count, config.seed + iteration,
                                     fill_from_failed=config.select.fill_from_failed)
        if not picked:
            reports.append(_report(iteration, committee, random_model, bands, 0, labels_spent, 0, trajectories))
            _update(app, run_id, iterations=reports, labels_spent=labels_spent)
            say("No frame between the trust levels: nothing to label this iteration")
            continue
        say(f"Labelling {len(picked)} selected frames with {oracle.label}")
        labels = _label(app, [explored[i] for i in picked], oracle, {**context, "iteration": iteration, "role": "selected"})
        labelled += labels
        labels_spent += len(labels)
        random_count = 0
        if random_model is not None:
            chosen = select_at_random(len(explored), len(labels), config.seed + 1000 + iteration)
            random_labels = _label(app, [explored[i] for i in chosen], oracle, {**context, "iteration": iteration, "role": "random"})
            random_labelled += random_labels
            random_count = len(random_labels)
        say(f"Fine-tuning the committee on {len(labelled)} labelled frames")
        committee = train_models(store, executor, home, labelled, [Member(seed=m.metrics["seed"], parent=m.spec) for m in committee],
                                 size=config.model.size, steps=config.model.finetune_steps, heldout=heldout, label=f"learn {config.name}: iteration {iteration}")
        if random_model is not None:
            random_model = train_models(store, executor, home, random_labelled, [Member(seed=random_model.metrics["seed"], parent=random_model.spec)],
                                        size=config.model.size, steps=config.model.finetune_steps, heldout=heldout,
                                        label=f"learn {config.name}: iteration {iteration}, random selection")[0]
        reports.append(_report(iteration, committee, random_model, bands, len(labels), labels_spent, random_count, trajectories))
        _update(app, run_id, iterations=reports, labels_spent=labels_spent)
        last = reports[-1]
        say(f"Iteration {iteration}: held-out force RMSE {last['heldout_force_rmse_mev_per_a']:.0f} meV/Å"
            + (f" (random selection {last['random_heldout_force_rmse_mev_per_a']:.0f})" if last.get("random_heldout_force_rmse_mev_per_a") else ""))
    return "finished"


def _oracle_frames(app: App, config: LearnConfig, start: StructureRef, oracle: ModelSpec, context: dict[str, Any]) -> tuple[list[Atoms], list[Atoms]]:
    """Oracle MD at the highest temperature (the held-out frames) and at the lowest (the initial training frames),
    as two jobs; each trajectory's last frames, labelled by the oracle as it ran."""
    from ase.io import read

    from tools.atomistic.tasks import MdOptions

    data, explore = config.data, config.explore
    runs = [
        ("heldout", max(explore.temperatures), data.heldout_frames, config.seed + 1),
        ("initial", min(explore.temperatures), data.initial_frames, config.seed + 2),
    ]
    calculations = [
        Calculation(task="md", structure=start, model=oracle, options=MdOptions(
            temperature_k=temperature, steps=frames * data.interval, interval=data.interval, timestep_fs=explore.timestep_fs, seed=seed,
        ).model_dump(mode="json"))
        for _, temperature, frames, seed in runs
    ]
    answers = calculate_batch(app.executor, calculations, app.settings.home_dir, group="atoms learn: oracle MD")
    sets: list[list[Atoms]] = []
    for (role, _, frames, _), (result, key, _) in zip(runs, answers, strict=True):
        record_calculation(app.store, app.settings.home_dir, result, key, {**context, "role": role})
        assert result.trajectory is not None
        trajectory = list(read(result.trajectory, index=":", format="extxyz"))
        sets.append(trajectory[-frames:])
    return sets[0], sets[1]


def _explore(app: App, config: LearnConfig, start: StructureRef, models: Sequence[ModelSpec], iteration: int) -> tuple[list[Atoms], list[float], list[str]]:
    """The committee's MD at each temperature (one job each); the frames reached, their deviations, and the
    trajectories. Frames an exploration did not reach (it stopped when the committee diverged) count as failed."""
    from ase.io import read

    from agent.atomistic import job_error
    from tools.atomistic.errors import CalculationFailed
    from tools.atomistic.jobs import EXPLORATION_JOB_KIND
    from tools.atomistic.tasks import MdOptions
    from tools.compute.fanout import threads_per_job
    from tools.compute.jobs import JobRequest

    explore = config.explore
    threads = threads_per_job(app.executor, len(explore.temperatures))
    jobs = [
        JobRequest(
            kind=EXPLORATION_JOB_KIND,
            inputs={"models": [m.model_dump(mode="json") for m in models], "structure": start.model_dump(mode="json"), "home": str(app.settings.home_dir),
                    "threads": threads, "options": MdOptions(
                        temperature_k=temperature, steps=explore.steps, interval=explore.interval, timestep_fs=explore.timestep_fs,
                        seed=config.seed * 1000 + iteration * 10 + k, stop_deviation=STOP_DEVIATION_FACTOR * config.select.upper,
                    ).model_dump(mode="json")},
            label=f"learn {config.name}: explore at {temperature:g} K, iteration {iteration}",
        )
        for k, temperature in enumerate(explore.temperatures)
    ]
    frames: list[Atoms] = []
    deviations: list[float] = []
    unreached = 0
    trajectories: list[str] = []
    for outcome in app.executor.run(jobs, group="atoms learn: exploration"):
        if not outcome.ok:
            raise CalculationFailed(f"an exploration {outcome.status.replace('_', ' ')}: {job_error(outcome.error)}")
        result = outcome.result
        if result["trajectory"]:
            trajectories.append(result["trajectory"])
            frames += list(read(result["trajectory"], index=":", format="extxyz"))
            deviations += [float(d) for d in result["deviations"]]
        unreached += max(0, int(result["expected_frames"]) - len(result["deviations"]))
    frames = frames[: len(deviations)]
    return frames, deviations + [float("inf")] * unreached, trajectories


def _label(app: App, frames: Sequence[Atoms], oracle: ModelSpec, context: dict[str, Any]) -> list[Atoms]:
    """The oracle's energy and forces of each frame, one job each (a frame labelled before is the job book's
    answer), recorded in the store; the frames with those labels attached."""
    from ase.calculators.singlepoint import SinglePointCalculator

    from tools.atomistic.jobs import structure_ref

    home = app.settings.home_dir
    refs = [structure_ref(_bare(frame), home) for frame in frames]
    answers = calculate_each(app.executor, [Calculation(task="calc", structure=ref, model=oracle) for ref in refs], home, group="atoms learn: labels")
    labelled: list[Atoms] = []
    for frame, answer in zip(frames, answers, strict=True):
        if isinstance(answer, CalculationFailed):  # a geometry the oracle cannot label (an SCF that does not converge): dropped, as DP-GEN does
            log.warning("%s; the frame is not labelled", answer)
            continue
        result, key, _ = answer
        record_calculation(app.store, home, result, key, context)
        copy = _bare(frame)
        copy.calc = SinglePointCalculator(copy, energy=result.energy_ev, forces=np.asarray(result.forces))
        labelled.append(copy)
    return labelled


def _bare(frame: Atoms) -> Atoms:
    """The frame's atoms without the committee's results or deviation (what the oracle is given)."""
    copy = frame.copy()
    copy.calc = None
    copy.info.pop("max_force_deviation", None)
    return copy


def _report(
    iteration: int, committee: Sequence[AtomicModel], random_model: AtomicModel | None, bands: Any, selected: int, labels: int,
    random_labels: int, trajectories: Sequence[str], converged: bool = False,
) -> dict[str, Any]:
    forces = [m.metrics["heldout"]["force_rmse_mev_per_a"] for m in committee]
    energies = [m.metrics["heldout"]["energy_rmse_per_atom_mev"] for m in committee]
    return {
        "iteration": iteration,
        "models": [m.version for m in committee],
        "random_model": random_model.version if random_model is not None else None,
        "explored": bands.frames if bands is not None else 0,
        "accurate": bands.accurate if bands is not None else None,
        "candidate": bands.candidate if bands is not None else None,
        "failed": bands.failed if bands is not None else None,
        "selected": selected,
        "labels_spent": labels,
        "random_labels": random_labels,
        "heldout_force_rmse_mev_per_a": forces[0],  # the first member: the same seed and steps as the random-selection model
        "heldout_energy_rmse_per_atom_mev": energies[0],
        "committee_heldout_force_rmse_mev_per_a": forces,
        "zero_force_rmse_mev_per_a": committee[0].metrics["heldout"]["zero_force_rmse_mev_per_a"],
        "random_heldout_force_rmse_mev_per_a": random_model.metrics["heldout"]["force_rmse_mev_per_a"] if random_model is not None else None,
        "trajectories": list(trajectories),
        "converged": converged,
    }


def _start(app: App, config: LearnConfig, run_id: str, folder: Path) -> LearningRun:
    from knowledge.models import LearningRun

    folder.mkdir(parents=True, exist_ok=True)
    relative = str(folder.relative_to(app.settings.home_dir)) if folder.is_relative_to(app.settings.home_dir) else str(folder)

    def work(writer: Any) -> LearningRun:
        row = writer.session.get(LearningRun, run_id)
        if row is None:
            row = writer.add(LearningRun(id=run_id, name=config.name, config=config.model_dump(mode="json"), folder=relative))
        elif row.status == "failed":
            row.status, row.error, row.updated_at = "running", None, datetime.now(UTC)
            writer.session.add(row)
        return row

    row: LearningRun = app.store.write(work)
    return row


def _update(app: App, run_id: str, **values: Any) -> LearningRun:
    from knowledge.models import LearningRun

    def work(writer: Any) -> LearningRun:
        row = writer.session.get(LearningRun, run_id)
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = datetime.now(UTC)
        writer.session.add(row)
        writer.session.flush()
        return row

    row: LearningRun = app.store.write(work)
    return row


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")[:40] or "run"
