"""The knowledge store: validated, idempotent writes and typed queries over the SQLModel tables.

Every write goes through ``KnowledgeStore.transaction()``, which yields a ``StoreWriter`` bound to one
database transaction: a recorded agent step, an import or a batch of measurements commits whole or not at all.
Inputs are validated (structure, property, unit, finite value) *before* the transaction starts, so a bad
input raises a typed ``StoreInputError`` and leaves the database as it was.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from knowledge.chem import CanonicalStructure, canonicalize
from knowledge.database import retry_while_locked, writer_engine
from knowledge.errors import InvalidValue, NotFoundError, StoreReadOnly, StoreSetupError
from knowledge.models import (
    AtomicStructure,
    AtomisticResult,
    DatasetSnapshot,
    DockingTarget,
    Document,
    Fact,
    Measurement,
    MeasurementSource,
    ModelVersion,
    Molecule,
    Prediction,
    QCStatus,
    Run,
    Sample,
)
from knowledge.properties import PropertyRegistry, PropertySpec
from knowledge.snapshots import DatasetSpec, collect_rows, content_hash, record_snapshot, write_snapshot_files
from knowledge.units import UnitConverter, check_finite

log = logging.getLogger(__name__)

T = TypeVar("T")

_LOOKUP_CHUNK = 500


class NewMeasurement(BaseModel):
    """A measurement as it arrives: any SMILES spelling, any compatible unit."""

    model_config = ConfigDict(frozen=True)

    smiles: str
    property: str
    value: float
    unit: str | None = Field(default=None, description="None means the property's canonical unit")
    uncertainty: float | None = Field(default=None, description="One standard deviation, in `unit`")
    source: MeasurementSource = "measured"
    qc_status: QCStatus = "passed"
    instrument: str | None = None
    conditions: dict[str, Any] = Field(default_factory=dict)
    provenance: dict[str, Any] = Field(default_factory=dict)
    op_id: str | None = None
    sample_id: int | None = None
    prediction_id: int | None = None
    fact_id: int | None = None
    tool_call_id: int | None = None
    campaign_id: str | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _finite_value(cls, value: Any) -> float:
        return check_finite(value, "value")

    @field_validator("uncertainty", mode="before")
    @classmethod
    def _finite_uncertainty(cls, value: Any) -> float | None:
        if value is None:
            return None
        number = check_finite(value, "uncertainty")
        if number < 0:
            raise InvalidValue(f"uncertainty must not be negative, got {number!r}")
        return number


class PreparedMeasurement(BaseModel):
    """A measurement after validation: canonical structure, canonical property name and unit."""

    model_config = ConfigDict(frozen=True)

    structure: CanonicalStructure
    spec: PropertySpec
    value: float
    uncertainty: float | None
    source: MeasurementSource
    qc_status: QCStatus
    instrument: str | None
    conditions: dict[str, Any]
    provenance: dict[str, Any]
    op_id: str | None
    sample_id: int | None
    prediction_id: int | None
    fact_id: int | None
    tool_call_id: int | None
    campaign_id: str | None = None

    def row(self, molecule_id: int) -> dict[str, Any]:
        return {
            "molecule_id": molecule_id,
            "sample_id": self.sample_id,
            "property": self.spec.name,
            "value": self.value,
            "uncertainty": self.uncertainty,
            "unit": self.spec.canonical_unit,
            "source": self.source,
            "qc_status": self.qc_status,
            "instrument": self.instrument,
            "conditions": self.conditions,
            "provenance": self.provenance,
            "op_id": self.op_id,
            "prediction_id": self.prediction_id,
            "fact_id": self.fact_id,
            "tool_call_id": self.tool_call_id,
            "campaign_id": self.campaign_id,
            "created_at": datetime.now(UTC),
        }


class MeasurementRecord(BaseModel):
    """A stored measurement with its molecule, as queries return it."""

    model_config = ConfigDict(frozen=True)

    id: int
    smiles: str
    inchikey: str
    property: str
    value: float
    uncertainty: float | None
    unit: str
    source: str
    qc_status: str
    instrument: str | None
    conditions: dict[str, Any]
    provenance: dict[str, Any]
    op_id: str | None
    prediction_id: int | None
    created_at: datetime
    campaign_id: str | None = None


class StoreStats(BaseModel):
    model_config = ConfigDict(frozen=True)

    molecules: int
    measurements: int
    measurements_by_property: dict[str, int]
    measurements_by_source: dict[str, int]
    samples: int
    documents: int
    facts: int
    predictions: int
    model_versions: int
    dataset_snapshots: int
    runs: int


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time the store writes is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class StructureCache:
    """Canonical structures by SMILES text, least recently used dropped first (RDKit + InChI cost ~0.5 ms)."""

    def __init__(self, capacity: int = 200_000) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, CanonicalStructure] = OrderedDict()

    def get(self, smiles: str) -> CanonicalStructure:
        entry = self._entries.get(smiles)
        if entry is not None:
            self._entries.move_to_end(smiles)
            return entry
        entry = canonicalize(smiles)  # raises InvalidStructure: failures are not cached
        self._entries[smiles] = entry
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
        return entry


class MeasurementPreparer:
    """Validates incoming measurements against the property registry and converts their units."""

    def __init__(self, properties: PropertyRegistry, units: UnitConverter, structures: StructureCache) -> None:
        self._properties = properties
        self._units = units
        self._structures = structures

    def structure(self, smiles: str) -> CanonicalStructure:
        return self._structures.get(smiles)

    def prepare(self, new: NewMeasurement) -> PreparedMeasurement:
        spec = self._properties.get(new.property)
        structure = self.structure(new.smiles)
        value = self._units.to_canonical(spec, new.value, new.unit, structure.molar_mass)
        if spec.minimum is not None and value < spec.minimum or spec.maximum is not None and value > spec.maximum:
            raise InvalidValue(
                f"{spec.name} = {value:g} {spec.canonical_unit} is outside the possible range "
                f"[{spec.minimum}, {spec.maximum}]"
            )
        uncertainty = None
        if new.uncertainty is not None:
            uncertainty = self._canonical_uncertainty(spec, new, value, structure.molar_mass)
        return PreparedMeasurement(
            structure=structure,
            spec=spec,
            value=value,
            uncertainty=uncertainty,
            source=new.source,
            qc_status=new.qc_status,
            instrument=new.instrument,
            conditions=new.conditions,
            provenance=new.provenance,
            op_id=new.op_id,
            sample_id=new.sample_id,
            prediction_id=new.prediction_id,
            fact_id=new.fact_id,
            tool_call_id=new.tool_call_id,
            campaign_id=new.campaign_id,
        )

    def _canonical_uncertainty(
        self, spec: PropertySpec, new: NewMeasurement, canonical_value: float, molar_mass: float
    ) -> float:
        """Propagate a standard deviation through the unit conversion (first order; exact when linear)."""
        assert new.uncertainty is not None
        if new.uncertainty == 0:
            return 0.0
        upper = self._units.to_canonical(spec, new.value + new.uncertainty, new.unit, molar_mass)
        lower_value = new.value - new.uncertainty
        try:
            lower = self._units.to_canonical(spec, lower_value, new.unit, molar_mass)
        except InvalidValue:  # e.g. the log of a concentration that the lower bound takes below zero
            return abs(upper - canonical_value)
        return abs(upper - lower) / 2


class StoreWriter:
    """Writes inside one open transaction. Obtain one from ``KnowledgeStore.transaction()``."""

    def __init__(self, session: Session, preparer: MeasurementPreparer) -> None:
        self.session = session
        self._preparer = preparer

    def _insert(self, table: type[Any]) -> Any:
        dialect = self.session.get_bind().dialect.name
        if dialect == "sqlite":
            from sqlalchemy.dialects import sqlite

            return sqlite.insert(table)
        if dialect == "postgresql":
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(table)
        raise StoreSetupError(f"unsupported database dialect {dialect!r}: use SQLite or PostgreSQL")

    def upsert_molecules(self, structures: Iterable[CanonicalStructure]) -> dict[str, int]:
        """Insert the molecules that are new (by InChIKey); return InChIKey -> molecule id for all of them."""
        by_key = {structure.inchikey: structure for structure in structures}
        if not by_key:
            return {}
        rows = [
            {"inchikey": s.inchikey, "smiles": s.smiles, "formula": s.formula, "created_at": datetime.now(UTC)}
            for s in sorted(by_key.values(), key=lambda s: s.inchikey)
        ]
        statement = self._insert(Molecule).on_conflict_do_nothing(index_elements=["inchikey"])
        self.session.execute(statement, rows)
        ids: dict[str, int] = {}
        keys = sorted(by_key)
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = keys[start : start + _LOOKUP_CHUNK]
            found = self.session.execute(select(Molecule.inchikey, Molecule.id).where(col(Molecule.inchikey).in_(chunk)))
            ids.update({key: molecule_id for key, molecule_id in found})
        return ids

    def upsert_molecule(self, smiles_or_structure: str | CanonicalStructure) -> Molecule:
        structure = (
            self._preparer.structure(smiles_or_structure)
            if isinstance(smiles_or_structure, str)
            else smiles_or_structure
        )
        molecule_id = self.upsert_molecules([structure])[structure.inchikey]
        molecule = self.session.get(Molecule, molecule_id)
        assert molecule is not None
        return molecule

    def add_measurements(self, prepared: Sequence[PreparedMeasurement]) -> int:
        """Insert measurements; those whose (op_id, property) is already stored are skipped.

        Returns the number of new rows.
        """
        if not prepared:
            return 0
        molecule_ids = self.upsert_molecules(p.structure for p in prepared)
        before = self._count(Measurement)
        rows = [p.row(molecule_ids[p.structure.inchikey]) for p in prepared]
        statement = self._insert(Measurement).on_conflict_do_nothing(index_elements=["op_id", "property"])
        self.session.execute(statement, rows)
        return self._count(Measurement) - before

    def add_measurement(self, new: NewMeasurement | PreparedMeasurement) -> Measurement:
        """Insert one measurement, or return the stored one with the same (op_id, property)."""
        prepared = self._preparer.prepare(new) if isinstance(new, NewMeasurement) else new
        if prepared.op_id is not None:
            existing = self.session.exec(
                select(Measurement).where(
                    Measurement.op_id == prepared.op_id, Measurement.property == prepared.spec.name
                )
            ).first()
            if existing is not None:
                return existing
        molecule = self.upsert_molecule(prepared.structure)
        assert molecule.id is not None
        measurement = Measurement(**prepared.row(molecule.id))
        self.session.add(measurement)
        self.session.flush()
        return measurement

    def add_sample(
        self,
        smiles: str,
        *,
        container: str,
        amount: float,
        amount_unit: str,
        purity: float | None = None,
        parent_id: int | None = None,
        op_id: str | None = None,
    ) -> Sample:
        check_finite(amount, "amount")
        if amount < 0:
            raise InvalidValue(f"a sample amount cannot be negative, got {amount!r}")
        if purity is not None and not 0 <= check_finite(purity, "purity") <= 1:
            raise InvalidValue(f"purity is a fraction between 0 and 1, got {purity!r}")
        if op_id is not None:
            existing = self.session.exec(select(Sample).where(Sample.op_id == op_id)).first()
            if existing is not None:
                return existing
        molecule = self.upsert_molecule(smiles)
        assert molecule.id is not None
        sample = Sample(
            molecule_id=molecule.id,
            container=container,
            amount=amount,
            amount_unit=amount_unit,
            purity=purity,
            parent_id=parent_id,
            op_id=op_id,
        )
        self.session.add(sample)
        self.session.flush()
        return sample

    def upsert_docking_target(self, name: str, *, receptor_hash: str, box: dict[str, Any], receptor_path: str, description: str = "") -> DockingTarget:
        """The docking target called ``name``: created, or updated to this receptor and box (a name means one target)."""
        target = self.session.exec(select(DockingTarget).where(DockingTarget.name == name)).first()
        if target is None:
            target = DockingTarget(name=name, receptor_hash=receptor_hash, box=box, receptor_path=receptor_path, description=description)
        else:
            target.receptor_hash, target.box, target.receptor_path = receptor_hash, box, receptor_path
            target.description = description or target.description
        self.session.add(target)
        self.session.flush()
        return target

    def upsert_atomic_structure(self, structure_hash: str, **fields: Any) -> AtomicStructure:
        """The atomic structure of this content hash: the stored row, or a new one from ``fields`` (formula,
        n_atoms, periodic, path, source, smiles)."""
        statement = self._insert(AtomicStructure).values(structure_hash=structure_hash, created_at=datetime.now(UTC), **fields)
        self.session.execute(statement.on_conflict_do_nothing(index_elements=["structure_hash"]))
        return self.session.exec(select(AtomicStructure).where(AtomicStructure.structure_hash == structure_hash)).one()

    def add_atomistic_result(self, op_id: str, **fields: Any) -> tuple[AtomisticResult, bool]:
        """The calculation whose content key is ``op_id``: added from ``fields``, or the stored one (the same
        calculation recorded twice is one row); with whether it is new."""
        statement = self._insert(AtomisticResult).values(op_id=op_id, created_at=datetime.now(UTC), **fields)
        statement = statement.on_conflict_do_nothing(index_elements=["op_id"]).returning(AtomisticResult.id)
        inserted = self.session.execute(statement).first() is not None  # no row back: it was there already
        row = self.session.exec(select(AtomisticResult).where(AtomisticResult.op_id == op_id)).one()
        return row, bool(inserted)

    def add(self, row: T) -> T:
        """Add any table row (a Run, a ModelVersion, ...) and flush it so its id is known."""
        self.session.add(row)
        self.session.flush()
        return row

    def _count(self, table: type[Any]) -> int:
        return int(self.session.execute(select(func.count()).select_from(table)).scalar_one())


class KnowledgeStore:
    """What AtomLoop knows: molecules, samples, measurements, predictions, facts, runs, model versions."""

    def __init__(
        self,
        engine: Engine,
        *,
        snapshot_dir: Path,
        properties: PropertyRegistry | None = None,
        units: UnitConverter | None = None,
    ) -> None:
        self.engine = engine
        self._writer_engine = writer_engine(engine)
        self.properties = properties or PropertyRegistry.default()
        self.units = units or UnitConverter()
        self.snapshot_dir = snapshot_dir
        self._structures = StructureCache()

    # -- writing -----------------------------------------------------------------------------------

    def preparer(self) -> MeasurementPreparer:
        return MeasurementPreparer(self.properties, self.units, self._structures)

    @contextmanager
    def transaction(self) -> Iterator[StoreWriter]:
        """One database transaction: commits when the block ends, rolls back on any exception."""
        with Session(self._writer_engine, expire_on_commit=False) as session:
            with session.begin():
                yield StoreWriter(session, self.preparer())

    def write(self, work: Callable[[StoreWriter], T]) -> T:
        """Run ``work`` in a transaction, retrying if SQLite reports the database locked."""

        def transaction() -> T:
            with self.transaction() as writer:
                return work(writer)

        return retry_while_locked(transaction)

    def add_molecule(self, smiles: str) -> Molecule:
        structure = self._structures.get(smiles)
        return self.write(lambda writer: writer.upsert_molecule(structure))

    def record_measurement(self, new: NewMeasurement) -> Measurement:
        prepared = self.preparer().prepare(new)
        return self.write(lambda writer: writer.add_measurement(prepared))

    def record_measurements(self, new: Sequence[NewMeasurement]) -> int:
        """Validate all, then write all in one transaction. Returns the number of new rows."""
        preparer = self.preparer()
        prepared = [preparer.prepare(item) for item in new]
        return self.write(lambda writer: writer.add_measurements(prepared))

    # -- reading -----------------------------------------------------------------------------------

    def session(self) -> Session:
        """A read session (for queries the helpers below do not cover)."""
        return Session(self.engine, expire_on_commit=False)

    def molecule(self, smiles_or_inchikey: str) -> Molecule:
        """Look up a molecule by any SMILES spelling or by InChIKey."""
        key = smiles_or_inchikey.strip()
        if not _looks_like_inchikey(key):
            key = canonicalize(key).inchikey
        with self.session() as session:
            molecule = session.exec(select(Molecule).where(Molecule.inchikey == key)).first()
        if molecule is None:
            raise NotFoundError(f"no molecule {smiles_or_inchikey!r} in the store")
        return molecule

    def measurements(
        self,
        property: str | None = None,
        *,
        since: datetime | None = None,
        source: str | Sequence[str] | None = None,
        molecule: str | None = None,
        qc_status: str | Sequence[str] | None = None,
        campaign: str | None = None,
        limit: int | None = None,
    ) -> list[MeasurementRecord]:
        """Measurements, oldest first, filtered by property (name or alias), time, source, molecule, QC, and the
        campaign that made them."""
        statement = select(Measurement, Molecule.smiles, Molecule.inchikey).join(
            Molecule, col(Measurement.molecule_id) == col(Molecule.id)
        )
        if property is not None:
            statement = statement.where(Measurement.property == self.properties.get(property).name)
        if since is not None:
            statement = statement.where(Measurement.created_at >= _bindable_time(since, self.engine))
        if source is not None:
            sources = [source] if isinstance(source, str) else list(source)
            statement = statement.where(col(Measurement.source).in_(sources))
        if qc_status is not None:
            statuses = [qc_status] if isinstance(qc_status, str) else list(qc_status)
            statement = statement.where(col(Measurement.qc_status).in_(statuses))
        if molecule is not None:
            statement = statement.where(Molecule.id == self.molecule(molecule).id)
        if campaign is not None:
            statement = statement.where(Measurement.campaign_id == campaign)
        statement = statement.order_by(col(Measurement.created_at), col(Measurement.id))
        if limit is not None:
            statement = statement.limit(limit)
        with self.session() as session:
            rows = session.execute(statement).all()
        return [
            MeasurementRecord(
                id=m.id,
                smiles=smiles,
                inchikey=inchikey,
                property=m.property,
                value=m.value,
                uncertainty=m.uncertainty,
                unit=m.unit,
                source=m.source,
                qc_status=m.qc_status,
                instrument=m.instrument,
                conditions=m.conditions,
                provenance=m.provenance,
                op_id=m.op_id,
                prediction_id=m.prediction_id,
                created_at=as_utc(m.created_at),
                campaign_id=m.campaign_id,
            )
            for m, smiles, inchikey in rows
        ]

    def training_set(
        self, property: str, spec: DatasetSpec | None = None, *, out_dir: Path | None = None
    ) -> DatasetSnapshot:
        """A deterministic, content-hashed snapshot of the measurements of ``property``.

        Files go to ``out_dir`` if given, else to ``<snapshot_dir>/<property>-<hash prefix>/``.
        """
        spec = spec or DatasetSpec()
        property_spec = self.properties.get(property)
        rows = collect_rows(self.engine, property_spec.name, spec)
        digest = content_hash(property_spec.name, spec, rows)
        folder = out_dir or self.snapshot_dir / f"{property_spec.name}-{digest[:16]}"
        data_path = write_snapshot_files(folder, property_spec.name, property_spec.canonical_unit, spec, rows, digest)
        return record_snapshot(self._writer_engine, property_spec.name, spec, digest, len(rows), data_path)

    def docking_targets(self) -> list[DockingTarget]:
        """The docking targets in the store, by name."""
        with self.session() as session:
            return list(session.exec(select(DockingTarget).order_by(col(DockingTarget.name))))

    def docking_target(self, name: str) -> DockingTarget | None:
        """The docking target called ``name`` (case-insensitive), or None."""
        with self.session() as session:
            return session.exec(select(DockingTarget).where(func.upper(DockingTarget.name) == name.strip().upper())).first()

    def atomistic_results(self, *, task: str | None = None, potential: str | None = None, limit: int = 100) -> list[tuple[AtomisticResult, AtomicStructure]]:
        """The latest atomistic calculations (newest first) with their input structures."""
        statement = select(AtomisticResult, AtomicStructure).where(AtomisticResult.structure_id == AtomicStructure.id)
        if task is not None:
            statement = statement.where(AtomisticResult.task == task)
        if potential is not None:
            statement = statement.where(AtomisticResult.potential == potential)
        statement = statement.order_by(col(AtomisticResult.created_at).desc(), col(AtomisticResult.id).desc()).limit(limit)
        with self.session() as session:
            return [(result, structure) for result, structure in session.exec(statement)]

    def reader(self) -> StoreReader:
        """A read-only view of this store (what tools get)."""
        return StoreReader(self)

    def stats(self) -> StoreStats:
        with self.session() as session:

            def count(table: type[Any]) -> int:
                return int(session.execute(select(func.count()).select_from(table)).scalar_one())

            def grouped(column: Any) -> dict[str, int]:
                rows = session.execute(select(column, func.count()).group_by(column).order_by(column))
                return {str(key): int(n) for key, n in rows}

            return StoreStats(
                molecules=count(Molecule),
                measurements=count(Measurement),
                measurements_by_property=grouped(Measurement.property),
                measurements_by_source=grouped(Measurement.source),
                samples=count(Sample),
                documents=count(Document),
                facts=count(Fact),
                predictions=count(Prediction),
                model_versions=count(ModelVersion),
                dataset_snapshots=count(DatasetSnapshot),
                runs=count(Run),
            )


class ReadOnlySession(Session):
    """A session that refuses to flush changes: a view's queries cannot write by accident."""

    def flush(self, objects: Sequence[Any] | None = None) -> None:
        if self.new or self.dirty or self.deleted:
            raise StoreReadOnly("this is a read-only view of the knowledge store: tools return results, the record step writes them")
        super().flush(objects)


class StoreReader:
    """A read-only view of a ``KnowledgeStore``: its registries, lookups and queries, and sessions that cannot
    write. Tools get this view, never the store itself."""

    def __init__(self, store: KnowledgeStore) -> None:
        self._store = store

    @property
    def properties(self) -> PropertyRegistry:
        return self._store.properties

    @property
    def units(self) -> UnitConverter:
        return self._store.units

    def session(self) -> Session:
        return ReadOnlySession(self._store.engine, expire_on_commit=False)

    def molecule(self, smiles_or_inchikey: str) -> Molecule:
        return self._store.molecule(smiles_or_inchikey)

    def measurements(self, property: str | None = None, **filters: Any) -> list[MeasurementRecord]:
        return self._store.measurements(property, **filters)

    def docking_targets(self) -> list[DockingTarget]:
        return self._store.docking_targets()

    def docking_target(self, name: str) -> DockingTarget | None:
        return self._store.docking_target(name)

    def stats(self) -> StoreStats:
        return self._store.stats()


def _looks_like_inchikey(text: str) -> bool:
    parts = text.split("-")
    return len(text) == 27 and [len(p) for p in parts] == [14, 10, 1] and text.upper() == text


def _bindable_time(moment: datetime, engine: Engine) -> datetime:
    utc = as_utc(moment)
    # SQLite stores naive UTC strings; compare like with like.
    return utc.replace(tzinfo=None) if engine.dialect.name == "sqlite" else utc
