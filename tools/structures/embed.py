"""Embedding a file of molecules in 3D through compute jobs: protonate each at a pH, make its conformers, write an SDF.

The work is a batch of compute jobs (``tools.compute.jobs``), each a call of ``embed_smiles_job`` on a few
molecules with plain-data inputs and a plain-data result (mol blocks and energies), so any executor can run it: in
this process, a local process pool, or Dask. A job's content key hashes its inputs (the SMILES, the number of
conformers, the seed, the pH, and the versions of RDKit and dimorphite-dl that make the geometries), so embedding
the same file again, after a crash included, reuses every job that finished and runs only the rest. The caller's
side (``embed_file``) reads the file, sends the valid molecules, and assembles the SDF from the results in file
order; entries that are not molecules are reported with their line, not fatal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from tools.errors import ToolError, ToolInputError
from tools.structures.conformers import CONFORMER_SEED, DEFAULT_PRUNE_RMS, ConformerSet
from tools.structures.errors import EmbeddingMismatch
from tools.structures.protonation import DEFAULT_PH, check_ph

if TYPE_CHECKING:
    from tools.compute.jobs import ComputeExecutor, JobOutcome, JobRequest

log = logging.getLogger(__name__)

EMBED_JOB_KIND = "tools.structures.embed:embed_smiles_job"
# Bumped whenever the embedding code changes what it makes: it is part of every job's key.
EMBED_METHOD = "dimorphite-ph/etkdgv3/mmff94-1"
# Molecules per job. The embedding itself dominates (about 0.2 s for a drug-sized molecule): 200 Lipophilicity
# molecules on two workers took 36 s in jobs of one molecule and 40 s in jobs of eight on the local pool, 56 s and
# 66 s on a Dask LocalCluster (its start included), and jobs of one are reused one by one after an edit of the file.
DEFAULT_CHUNK_SIZE = 1
DEFAULT_TIMEOUT_PER_MOLECULE_S = 300.0  # a job is stopped after this times its molecules


def embedding_software(protonating: bool) -> dict[str, str]:
    """The versions that decide the geometries (and the protonation state when ``protonating``)."""
    import rdkit

    software = {"method": EMBED_METHOD, "rdkit": str(rdkit.__version__)}
    if protonating:
        from tools.structures.protonation import dimorphite_version

        software["dimorphite_dl"] = dimorphite_version()
    return software


def embed_smiles_job(
    smiles: list[str],
    n_conformers: int,
    seed: int,
    ph: float | None,
    prune_rms: float,
    software: dict[str, str],
) -> list[dict[str, Any]]:
    """Embed each SMILES (protonated at ``ph`` first, unless it is ``None``): one plain-data result per molecule,
    ``{"input_smiles", "smiles", "inchikey", "ph", "method", "seed", "energies", "molblocks", "seconds"}``, or
    ``{"input_smiles", "error"}`` where the molecule could not be embedded.

    Raises:
        EmbeddingMismatch: this worker's RDKit or dimorphite-dl is not the one ``software`` names (its geometries
            would not be the ones the job's key stands for).
    """
    from rdkit import Chem

    from knowledge.errors import StoreError
    from tools.structures.conformers import embed_conformers
    from tools.structures.protonation import protonate

    here = embedding_software(ph is not None)
    if here != software:
        raise EmbeddingMismatch(f"this worker embeds with {here}, the job was made for {software}")
    results: list[dict[str, Any]] = []
    for text in smiles:
        started = time.perf_counter()
        try:
            embedded = protonate(text, ph) if ph is not None else text
            conformers = embed_conformers(embedded, n_conformers, seed, prune_rms=prune_rms)
        except (ToolError, StoreError, ValueError, RuntimeError) as error:
            results.append({"input_smiles": text, "error": f"{type(error).__name__}: {error}"})
            continue
        results.append({
            "input_smiles": text,
            "smiles": embedded,
            # of the SMILES, not the geometry: an unspecified stereocentre stays unspecified in the key
            "inchikey": str(Chem.MolToInchiKey(Chem.MolFromSmiles(embedded))),
            "ph": ph,
            **conformers.to_json(),
            "seconds": round(time.perf_counter() - started, 4),
        })
    return results


class EmbedOptions(BaseModel):
    """How to embed: conformers per molecule, the pH to protonate at (``None``: as written), the seed, the pruning
    threshold, and how the work is cut into jobs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_conformers: int = Field(default=1, ge=1, le=1000)
    ph: float | None = Field(default=DEFAULT_PH, ge=0, le=14)
    seed: int = Field(default=CONFORMER_SEED, ge=0, lt=2**31)
    prune_rms: float = Field(default=DEFAULT_PRUNE_RMS, ge=0)
    chunk_size: int = Field(default=DEFAULT_CHUNK_SIZE, ge=1, le=10_000)
    timeout_per_molecule_s: float | None = Field(default=DEFAULT_TIMEOUT_PER_MOLECULE_S, gt=0)


class SkippedEntry(BaseModel):
    """An entry of the input that was not embedded: where, what it was called, and why."""

    model_config = ConfigDict(frozen=True)

    line: int
    label: str
    text: str
    reason: str


class EmbedReport(BaseModel):
    """What ``embed_file`` did: counts, the entries it could not use, the jobs it ran or reused, and the time."""

    model_config = ConfigDict(frozen=True)

    path: str
    format: str
    out: str | None = Field(description="The SDF written; None when no molecule was embedded (nothing written)")
    molecules: int = Field(description="Entries in the file")
    embedded: int
    conformers: int = Field(description="SDF records written (one per conformer)")
    invalid: list[SkippedEntry] = Field(description="Entries that are not molecules, with the line they start on")
    failed: list[SkippedEntry] = Field(description="Molecules whose embedding failed (a job failed or timed out)")
    jobs: int
    reused_jobs: int
    executor: str
    n_conformers: int
    ph: float | None
    seed: int
    seconds: float


ProgressCallback = Callable[[int, int], None]


def embed_file(
    path: Path | str,
    out: Path | str,
    executor: ComputeExecutor,
    options: EmbedOptions | None = None,
    *,
    smiles_column: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> EmbedReport:
    """Embed every molecule of ``path`` (SMILES, CSV or SDF) and write their conformers to the SDF ``out``.

    Each record is one conformer, titled with the entry's label, with data fields ``source_line``,
    ``input_smiles``, ``smiles`` (as embedded: protonated), ``inchikey``, ``ph``, ``conformer``, ``conformers``,
    ``method``, ``seed`` and, from the force field, ``energy_kcal_per_mol`` and ``force_field``. Molecules are
    written in file order, a molecule's conformers in embedding order. Nothing is written when no molecule is
    embedded.

    Raises:
        StructureFileError: the input cannot be read as a SMILES, CSV or SDF file.
        ToolInputError: ``out`` is not an ``.sdf`` path that can be written, or is the input itself.
    """
    from tools.structures.io import conformer_entries, read_molecules, write_sdf

    options = options or EmbedOptions()
    if options.ph is not None:
        check_ph(options.ph)
    started = time.perf_counter()
    source, target = Path(path), Path(out)
    _check_output(source, target)
    molecules = read_molecules(source, smiles_column=smiles_column)
    invalid = [SkippedEntry(line=e.line, label=e.label, text=e.text, reason=e.error or "not a molecule")
               for e in molecules.invalid]
    valid = molecules.valid
    smiles_of = [_job_smiles(entry.mol) for entry in valid]
    unique = list(dict.fromkeys(smiles_of))
    chunks = [unique[i : i + options.chunk_size] for i in range(0, len(unique), options.chunk_size)]
    software = embedding_software(options.ph is not None)
    labels: dict[str, str] = {}
    for s, entry in zip(smiles_of, valid, strict=True):
        labels.setdefault(s, entry.label)
    jobs = [_job(chunk, options, software, labels) for chunk in chunks]
    group = f"structures embed {source.name}"
    outcomes = executor.run(jobs, group=group, on_progress=on_progress) if jobs else []
    results, failures = _collect(chunks, outcomes)

    entries = []
    failed: list[SkippedEntry] = []
    embedded = 0
    for entry, smiles in zip(valid, smiles_of, strict=True):
        result = results.get(smiles)
        if result is None or "error" in result:
            reason = result["error"] if result is not None else failures.get(smiles, "the job gave no result")
            failed.append(SkippedEntry(line=entry.line, label=entry.label, text=entry.text, reason=reason))
            continue
        conformers = ConformerSet.from_json(result)
        embedded += 1
        entries.extend(conformer_entries(conformers, entry.label, {
            "source_line": entry.line,
            "input_smiles": entry.text if molecules.format != "sdf" else smiles,
            "smiles": result["smiles"],
            "inchikey": result["inchikey"],
            "ph": result["ph"],
        }))
    written = 0
    if entries:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            written = write_sdf(target, entries)
        except OSError as error:
            raise ToolInputError(f"cannot write {target}: {error.strerror or error}") from None
    return EmbedReport(
        path=str(source), format=molecules.format, out=str(target) if written else None,
        molecules=len(molecules.entries), embedded=embedded, conformers=written, invalid=invalid, failed=failed,
        jobs=len(jobs), reused_jobs=sum(1 for o in outcomes if o.reused), executor=executor.name,
        n_conformers=options.n_conformers, ph=options.ph, seed=options.seed,
        seconds=round(time.perf_counter() - started, 3),
    )


def _check_output(source: Path, target: Path) -> None:
    if target.suffix.lower() != ".sdf":
        raise ToolInputError(f"--out {target}: the conformers are written as SDF; name a file ending in .sdf")
    if target.exists() and target.is_dir():
        raise ToolInputError(f"--out {target} is a folder: name an .sdf file")
    try:
        same = target.exists() and source.exists() and target.resolve() == source.resolve()
    except OSError:
        same = False
    if same:
        raise ToolInputError(f"--out {target} is the input file: name another file")


def _job_smiles(mol: Any) -> str:
    """The SMILES a job embeds: canonical, hydrogens implicit (an SDF's explicit ones are made again)."""
    from rdkit import Chem

    return str(Chem.MolToSmiles(Chem.RemoveHs(mol)))


def _job(chunk: Sequence[str], options: EmbedOptions, software: dict[str, str], labels: dict[str, str]) -> JobRequest:
    from tools.compute.jobs import JobRequest

    first = f"{labels[chunk[0]]}: {chunk[0]}"  # for people in `atomloop jobs list`
    label = (first if len(chunk) == 1 else f"{first} and {len(chunk) - 1} more")[:200]
    return JobRequest(
        kind=EMBED_JOB_KIND,
        inputs={"smiles": list(chunk), "n_conformers": options.n_conformers, "seed": options.seed, "ph": options.ph,
                "prune_rms": options.prune_rms, "software": software},
        label=label,
        timeout_s=None if options.timeout_per_molecule_s is None else options.timeout_per_molecule_s * len(chunk),
    )


def _collect(
    chunks: Sequence[Sequence[str]], outcomes: Sequence[JobOutcome]
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Per SMILES: the job's result for it, or why its job gave none."""
    results: dict[str, dict[str, Any]] = {}
    failures: dict[str, str] = {}
    for chunk, outcome in zip(chunks, outcomes, strict=True):
        if outcome.ok and isinstance(outcome.result, list) and len(outcome.result) == len(chunk):
            for smiles, result in zip(chunk, outcome.result, strict=True):
                results[smiles] = result
            continue
        reason = f"the job {outcome.status.replace('_', ' ')}" + (f": {outcome.error}" if outcome.error else "")
        if outcome.ok:
            reason = "the job's result does not match its molecules"
        for smiles in chunk:
            failures[smiles] = reason
    return results, failures
