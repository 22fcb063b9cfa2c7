"""SQLModel tables of the knowledge store: all tables in one module (SQLModel's advice against cycles).

Schema changes go through the Alembic migrations in ``knowledge/migrations``; ``create_all`` is for tests.
Values are stored in each property's canonical unit (see ``knowledge.properties``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import JSON, Column, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel

MeasurementSource = Literal["measured", "simulated", "literature", "computed"]
MEASUREMENT_SOURCES: tuple[str, ...] = ("measured", "simulated", "literature", "computed")
QCStatus = Literal["pending", "passed", "failed", "flagged"]
QC_STATUSES: tuple[str, ...] = ("pending", "passed", "failed", "flagged")
RunStatus = Literal["running", "waiting_approval", "succeeded", "failed", "cancelled"]
CallStatus = Literal["planned", "running", "succeeded", "failed", "rejected"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def _timestamp(index: bool = False) -> Any:
    return Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False, index=index))


def _json(nullable: bool = False) -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=nullable))


class Molecule(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    inchikey: str = Field(index=True, unique=True, max_length=27)
    smiles: str = Field(description="RDKit canonical SMILES")
    formula: str
    created_at: datetime = _timestamp()


class Sample(SQLModel, table=True):
    """A physical amount of a molecule: in a vial, a well, a tube."""

    id: int | None = Field(default=None, primary_key=True)
    molecule_id: int = Field(foreign_key="molecule.id", index=True)
    container: str = Field(description="Where it is, e.g. 'plate-1:A01' or 'vial-17'")
    amount: float
    amount_unit: str
    purity: float | None = Field(default=None, description="Fraction 0..1")
    parent_id: int | None = Field(default=None, foreign_key="sample.id")
    op_id: str | None = Field(default=None, unique=True, description="Operation that made it (idempotency)")
    created_at: datetime = _timestamp()


class Document(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(index=True, unique=True, max_length=64)
    path: str
    title: str | None = None
    authors: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    pages: int = 0
    flagged_pages: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _timestamp()


class Fact(SQLModel, table=True):
    """A value read from a document, with where it was read."""

    __table_args__ = (UniqueConstraint("document_id", "fingerprint", name="uq_fact_document_fingerprint"),)

    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="document.id", index=True)
    molecule_id: int | None = Field(default=None, foreign_key="molecule.id", index=True)
    compound: str | None = Field(default=None, description="Compound label or name as written")
    property: str = Field(index=True)
    value: float | None = None
    value_high: float | None = Field(default=None, description="Upper end of a range")
    qualifier: str = Field(default="=", description="'=', '<', '>', '<=', '>=', '~', 'range' or 'nd'")
    uncertainty: float | None = None
    unit: str | None = None
    page: int
    bbox: list[float] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    snippet: str
    conditions: dict[str, str] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True), description="What the value was measured under: target, species, pH"
    )
    registered: bool = Field(default=True, description="False: the property is the column's header, not a registry name")
    fingerprint: str = Field(max_length=64, description="Content hash: the same fact is stored once")
    created_at: datetime = _timestamp()


class Measurement(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("op_id", "property", name="uq_measurement_op_property"),)

    id: int | None = Field(default=None, primary_key=True)
    molecule_id: int = Field(foreign_key="molecule.id", index=True)
    sample_id: int | None = Field(default=None, foreign_key="sample.id")
    property: str = Field(index=True)
    value: float
    uncertainty: float | None = None
    unit: str = Field(description="Always the property's canonical unit")
    source: str = Field(index=True, description="measured | simulated | literature | computed")
    qc_status: str = Field(default="passed", description="pending | passed | failed | flagged")
    instrument: str | None = None
    conditions: dict[str, Any] = _json()
    provenance: dict[str, Any] = _json()
    op_id: str | None = Field(default=None, description="The operation that produced it (idempotency key)")
    prediction_id: int | None = Field(default=None, foreign_key="prediction.id")
    fact_id: int | None = Field(default=None, foreign_key="fact.id")
    tool_call_id: int | None = Field(default=None, foreign_key="toolcall.id")
    campaign_id: str | None = Field(default=None, foreign_key="campaign.id", index=True, max_length=64, description="The campaign that measured it")
    created_at: datetime = _timestamp(index=True)


class ModelVersion(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64, description="Content hash of the artifact")
    kind: str = Field(description="Predictor family, e.g. 'fingerprint' or 'unimol'")
    property: str = Field(index=True)
    parent_id: str | None = Field(default=None, foreign_key="modelversion.id")
    dataset_hash: str | None = Field(default=None, max_length=64)
    metrics: dict[str, Any] = _json()
    artifact_path: str | None = None
    approved: bool = False
    created_at: datetime = _timestamp()


class Prediction(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    molecule_id: int = Field(foreign_key="molecule.id", index=True)
    model_version_id: str = Field(foreign_key="modelversion.id", index=True)
    property: str = Field(index=True)
    value: float
    uncertainty: float
    unit: str
    tool_call_id: int | None = Field(default=None, foreign_key="toolcall.id")
    created_at: datetime = _timestamp()


class DatasetSnapshot(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    content_hash: str = Field(index=True, unique=True, max_length=64)
    property: str = Field(index=True)
    spec: dict[str, Any] = _json()
    row_count: int
    path: str
    created_at: datetime = _timestamp()


class Run(SQLModel, table=True):
    """One agent run; its id is the LangGraph thread id."""

    id: str = Field(primary_key=True, max_length=64)
    request: str
    planner: str
    mode: str = Field(default="sim", description="sim | real")
    status: str = Field(default="running")
    answer: str | None = None
    report_path: str | None = None
    error: str | None = None
    created_at: datetime = _timestamp(index=True)
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class Step(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("run_id", "index", name="uq_step_run_index"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="run.id", index=True)
    index: int
    tool: str
    rationale: str = ""
    status: str = Field(default="planned")
    created_at: datetime = _timestamp()


class ToolCall(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="run.id", index=True)
    step_id: int = Field(foreign_key="step.id", index=True)
    tool: str
    args: dict[str, Any] = _json()
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    status: str
    error: str | None = None
    started_at: datetime = _timestamp()
    duration_s: float | None = None


class Campaign(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    name: str
    spec: dict[str, Any] = _json()
    status: str = Field(default="running")
    created_at: datetime = _timestamp()


class Iteration(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("campaign_id", "index", name="uq_iteration_campaign_index"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(foreign_key="campaign.id", index=True)
    index: int
    status: str = Field(default="running")
    model_version_id: str | None = Field(default=None, foreign_key="modelversion.id")
    snapshot_id: int | None = Field(default=None, foreign_key="datasetsnapshot.id")
    metrics: dict[str, Any] = _json()
    created_at: datetime = _timestamp()


class ComputeJob(SQLModel, table=True):
    """One computation run by a compute executor, found again by its content key (the hash of its function and
    inputs) so that a job submitted again reuses a finished result; the result itself lies in a file
    (``result_ref``), written by the worker that computed it."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True, unique=True, max_length=64, description="sha256 of (kind, inputs)")
    kind: str = Field(description="'package.module:function' the worker calls")
    label: str = ""
    group: str = Field(default="", index=True, description="The batch it was submitted with, for people")
    inputs: dict[str, Any] = _json()
    status: str = Field(default="queued", index=True, description="queued | running | succeeded | failed | ...")
    executor: str | None = None
    client: str | None = Field(default=None, description="host:pid of the process that submitted it")
    worker: str | None = None
    attempts: int = 0
    progress: float | None = Field(default=None, description="Fraction done, as the job reports it")
    timeout_s: float | None = None
    result_ref: str | None = Field(default=None, description="The result file, relative to the jobs directory")
    error: str | None = None
    cancel_requested: bool = False
    submitted_at: datetime = _timestamp(index=True)
    started_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class DockingTarget(SQLModel, table=True):
    """A receptor and search box that molecules are docked to, by name (e.g. '1IEP'). The receptor hash names the
    prepared receptor (input file, preparation options and version), so a docking score's target is exact."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=64)
    receptor_hash: str = Field(max_length=64)
    box: dict[str, Any] = _json()
    receptor_path: str = Field(description="The receptor PDB file (bundled targets: 'bundled:<name>')")
    description: str = ""
    created_at: datetime = _timestamp()


class AtomicStructure(SQLModel, table=True):
    """A structure (elements, positions, cell) by the SHA-256 of its content; the file is extxyz under
    ``$ATOMLOOP_HOME/structures/``. Molecules and crystals alike: a crystal has no InChIKey."""

    id: int | None = Field(default=None, primary_key=True)
    structure_hash: str = Field(index=True, unique=True, max_length=64)
    formula: str = Field(index=True, max_length=200)
    n_atoms: int
    periodic: bool
    path: str = Field(description="The extxyz file, relative to $ATOMLOOP_HOME")
    source: str = Field(default="", description="What the user named: a SMILES, a file, a DeePMD folder")
    smiles: str | None = Field(default=None, max_length=2000)
    created_at: datetime = _timestamp()


class AtomisticResult(SQLModel, table=True):
    """One atomistic calculation: a single point, relaxation or MD run of a structure by a potential (model and
    version), its energy (eV), largest force (eV/Å), and where its output structure or trajectory is. ``op_id`` is
    the calculation's content key, so the same calculation recorded twice is one row."""

    id: int | None = Field(default=None, primary_key=True)
    op_id: str = Field(index=True, unique=True, max_length=64)
    task: str = Field(index=True, max_length=32)
    structure_id: int = Field(foreign_key="atomicstructure.id", index=True)
    output_structure_id: int | None = Field(default=None, foreign_key="atomicstructure.id")
    potential: str = Field(index=True, max_length=200)
    potential_version: str = Field(max_length=400)
    energy_ev: float | None = None
    energy_per_atom_ev: float | None = None
    fmax_ev_per_a: float | None = None
    max_force_deviation: float | None = None
    converged: bool | None = None
    steps: int | None = None
    trajectory_path: str | None = None
    details: dict[str, Any] = _json()
    created_at: datetime = _timestamp(index=True)


class LearningRun(SQLModel, table=True):
    """A concurrent-learning run (``atomloop atoms learn``): its configuration, state, and one report per finished
    iteration (the committee's versions, the trust bands of its exploration, the labels spent, held-out errors).
    Its labels are ``AtomisticResult`` rows (task ``label``) and its models ``ModelVersion`` rows."""

    id: str = Field(primary_key=True, max_length=64, description="The configuration's key: the same settings resume the same run")
    name: str = Field(index=True, max_length=80)
    config: dict[str, Any] = _json()
    status: str = Field(default="running", index=True, max_length=16, description="running | converged | finished | failed")
    folder: str = Field(description="Its files (trajectories, labels, data), relative to $ATOMLOOP_HOME")
    iterations: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    labels_spent: int = 0
    error: str | None = None
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()
