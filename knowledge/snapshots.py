"""Training sets: immutable, content-hashed snapshots of the measurements of one property.

The same database state and the same spec always give the same rows in the same order, and so the same
content hash, whatever order the rows were inserted in. Files are written under a folder named after the hash:
``data.csv`` (or ``data.parquet``) and ``manifest.json``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import statistics
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from knowledge.errors import StoreSetupError
from knowledge.models import DatasetSnapshot, Measurement, MeasurementSource, Molecule, QCStatus

SNAPSHOT_COLUMNS = ("inchikey", "smiles", "value", "value_std", "uncertainty", "n")


class DatasetSpec(BaseModel):
    """Which measurements make a training set, and how replicates are combined."""

    model_config = ConfigDict(frozen=True)

    sources: tuple[MeasurementSource, ...] = ("measured", "simulated", "literature")
    qc_statuses: tuple[QCStatus, ...] = ("passed",)
    aggregate: Literal["mean", "median"] = Field(
        default="mean", description="How replicate measurements of one molecule are combined"
    )
    until: datetime | None = Field(default=None, description="Only measurements recorded up to this time")
    format: Literal["csv", "parquet"] = "csv"
    campaign_id: str | None = Field(default=None, description="Only measurements this campaign made")
    conditions: dict[str, str] = Field(
        default_factory=dict,
        description="Only measurements made under these conditions, e.g. {'target': '4IVT'} for docking scores",
    )

    def identity(self) -> dict[str, Any]:
        """The spec as it enters the content hash and the manifest (without a campaign or conditions when there
        are none, so specs that do not name them hash as they did before either could be named)."""
        dumped = self.model_dump(mode="json")
        if dumped["campaign_id"] is None:
            del dumped["campaign_id"]
        if not dumped["conditions"]:
            del dumped["conditions"]
        return dumped


class SnapshotRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    inchikey: str
    smiles: str
    value: float
    value_std: float
    uncertainty: float | None
    n: int


def collect_rows(engine: Engine, property_name: str, spec: DatasetSpec) -> list[SnapshotRow]:
    statement = (
        # sqlmodel types select() for at most four columns; it takes any number at run time
        select(Molecule.inchikey, Molecule.smiles, Measurement.value, Measurement.uncertainty, Measurement.conditions)  # type: ignore[call-overload]
        .join(Molecule, col(Measurement.molecule_id) == col(Molecule.id))
        .where(Measurement.property == property_name)
        .where(col(Measurement.source).in_(spec.sources))
        .where(col(Measurement.qc_status).in_(spec.qc_statuses))
    )
    if spec.until is not None:
        until = spec.until
        if engine.dialect.name == "sqlite" and until.tzinfo is not None:
            from datetime import UTC

            until = until.astimezone(UTC).replace(tzinfo=None)
        statement = statement.where(Measurement.created_at <= until)
    if spec.campaign_id is not None:
        statement = statement.where(Measurement.campaign_id == spec.campaign_id)
    grouped: dict[str, list[tuple[float, float | None]]] = defaultdict(list)
    smiles_by_key: dict[str, str] = {}
    with Session(engine) as session:
        for inchikey, smiles, value, uncertainty, conditions in session.exec(statement):
            if any((conditions or {}).get(key) != wanted for key, wanted in spec.conditions.items()):
                continue  # filtered here: JSON columns query differently in SQLite and PostgreSQL
            grouped[inchikey].append((value, uncertainty))
            smiles_by_key[inchikey] = smiles
    rows = []
    for inchikey in sorted(grouped):
        values = sorted(v for v, _ in grouped[inchikey])
        uncertainties = sorted(u for _, u in grouped[inchikey] if u is not None)
        center = statistics.median(values) if spec.aggregate == "median" else math.fsum(values) / len(values)
        rows.append(
            SnapshotRow(
                inchikey=inchikey,
                smiles=smiles_by_key[inchikey],
                value=center,
                value_std=statistics.stdev(values) if len(values) > 1 else 0.0,
                uncertainty=math.sqrt(math.fsum(u * u for u in uncertainties) / len(uncertainties))
                if uncertainties
                else None,
                n=len(values),
            )
        )
    return rows


def content_hash(property_name: str, spec: DatasetSpec, rows: list[SnapshotRow]) -> str:
    payload = {
        "property": property_name,
        "spec": spec.identity(),
        "columns": SNAPSHOT_COLUMNS,
        "rows": [[r.inchikey, r.smiles, repr(r.value), repr(r.value_std), repr(r.uncertainty), r.n] for r in rows],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def write_snapshot_files(
    folder: Path, property_name: str, unit: str, spec: DatasetSpec, rows: list[SnapshotRow], digest: str
) -> Path:
    """Write the snapshot's data file and manifest into ``folder``; the data file's path.

    Raises:
        StoreSetupError: the folder cannot be made or written (a file in its place, no permission, a full disk).
    """
    try:
        return _write_snapshot_files(folder, property_name, unit, spec, rows, digest)
    except OSError as error:
        raise StoreSetupError(f"cannot write the snapshot into {folder}: {error.strerror or error}") from None


def _write_snapshot_files(
    folder: Path, property_name: str, unit: str, spec: DatasetSpec, rows: list[SnapshotRow], digest: str
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if spec.format == "parquet":
        data_path = folder / "data.parquet"
        _write_parquet(data_path, rows)
    else:
        data_path = folder / "data.csv"
        with data_path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(SNAPSHOT_COLUMNS)
            for r in rows:
                writer.writerow(
                    [r.inchikey, r.smiles, repr(r.value), repr(r.value_std), "" if r.uncertainty is None else repr(r.uncertainty), r.n]
                )
    manifest: dict[str, Any] = {
        "content_hash": digest,
        "property": property_name,
        "unit": unit,
        "spec": spec.identity(),
        "row_count": len(rows),
        "columns": list(SNAPSHOT_COLUMNS),
        "data_file": data_path.name,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return data_path


def _write_parquet(path: Path, rows: list[SnapshotRow]) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as error:
        raise StoreSetupError("Parquet snapshots need pyarrow: pip install 'atomloop[parquet]'") from error
    table = pa.table({column: [getattr(r, column) for r in rows] for column in SNAPSHOT_COLUMNS})
    pq.write_table(table, path)


def record_snapshot(engine: Engine, property_name: str, spec: DatasetSpec, digest: str, rows: int, path: Path) -> DatasetSnapshot:
    """Store the snapshot row once per content hash; return the stored row."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        existing = session.exec(select(DatasetSnapshot).where(DatasetSnapshot.content_hash == digest)).first()
        if existing is not None:
            return existing
        snapshot = DatasetSnapshot(
            content_hash=digest,
            property=property_name,
            spec=spec.identity(),
            row_count=rows,
            path=str(path),
        )
        session.add(snapshot)
        session.flush()
        return snapshot
