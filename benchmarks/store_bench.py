"""Knowledge-store throughput: insert 100,000 measurements, then export the training set.

Run on SQLite (default) and, with --postgres-url, on PostgreSQL. Beside each AtomLoop row it times the
reference: the same rows written with plain SQLAlchemy Core executemany (no validation, no unit conversion,
no idempotency), so the ratio is the price of what the store checks.

    .venv/bin/python benchmarks/store_bench.py [--rows 100000] [--postgres-url URL] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, text

from knowledge.bundled import bundled_dir
from knowledge.chem import canonicalize
from knowledge.database import make_engine, upgrade
from knowledge.models import Measurement, Molecule
from knowledge.store import KnowledgeStore, NewMeasurement

PROPERTIES = [("logS", "log10(mol/L)", (-8, 1)), ("pIC50", "nM", (1, 10000)), ("logD", None, (-2, 5)),
              ("melting_point", "degC", (20, 300)), ("yield", "%", (5, 95))]


def load_smiles(data: Path) -> list[str]:
    files = [data / "moleculenet" / name for name in ("lipo.csv", "delaney.csv", "freesolv.csv", "BBBP.csv")]
    files += [data / "bace" / "bace_pic50.csv"]
    if not all(f.exists() for f in files):
        files = sorted(bundled_dir().glob("*.csv"))
    smiles: list[str] = []
    for path in files:
        with path.open() as handle:
            smiles.extend(row["smiles"] for row in csv.DictReader(handle))
    return smiles


def make_rows(smiles: list[str], n: int, seed: int = 0) -> list[NewMeasurement]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        prop, unit, (low, high) = PROPERTIES[i % len(PROPERTIES)]
        rows.append(
            NewMeasurement(
                smiles=smiles[(i // len(PROPERTIES)) % len(smiles)],
                property=prop,
                value=rng.uniform(low, high),
                unit=unit,
                uncertainty=0.1,
                source="simulated",
                op_id=f"bench-{i}",
            )
        )
    return rows


def reset(url: str) -> None:
    if url.startswith("postgresql"):
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()


def bench_atomloop(url: str, rows: list[NewMeasurement], batch: int, workdir: Path) -> dict[str, float]:
    reset(url)
    engine = make_engine(url)
    upgrade(engine)
    store = KnowledgeStore(engine, snapshot_dir=workdir / "snapshots")
    start = time.perf_counter()
    for offset in range(0, len(rows), batch):
        store.record_measurements(rows[offset : offset + batch])
    insert_s = time.perf_counter() - start
    stored = store.stats().measurements
    assert stored == len(rows), (stored, len(rows))
    start = time.perf_counter()
    snapshot = store.training_set("logS")
    export_s = time.perf_counter() - start
    start = time.perf_counter()
    again = store.training_set("logS")
    assert again.content_hash == snapshot.content_hash
    engine.dispose()
    return {"insert_s": insert_s, "rows_per_s": len(rows) / insert_s, "export_s": export_s,
            "export_rows": snapshot.row_count}


def bench_per_step(url: str, rows: list[NewMeasurement], workdir: Path) -> dict[str, float]:
    """One transaction per measurement, as an agent's record step writes them."""
    reset(url)
    engine = make_engine(url)
    upgrade(engine)
    store = KnowledgeStore(engine, snapshot_dir=workdir / "snapshots")
    start = time.perf_counter()
    for row in rows:
        store.record_measurement(row)
    elapsed = time.perf_counter() - start
    engine.dispose()
    return {"rows": len(rows), "rows_per_s": len(rows) / elapsed}


def bench_reference(url: str, rows: list[NewMeasurement], batch: int) -> dict[str, float]:
    """Plain SQLAlchemy Core: pre-canonicalised molecules, raw executemany, no checks."""
    reset(url)
    engine = make_engine(url)
    upgrade(engine)
    structures = {r.smiles: canonicalize(r.smiles) for r in rows}
    now = datetime.now(UTC)
    start = time.perf_counter()
    with engine.begin() as connection:
        keys = {}
        for s in {s.inchikey: s for s in structures.values()}.values():
            keys[s.inchikey] = connection.execute(
                insert(Molecule).values(inchikey=s.inchikey, smiles=s.smiles, formula=s.formula, created_at=now)
            ).inserted_primary_key[0]
    for offset in range(0, len(rows), batch):
        chunk = rows[offset : offset + batch]
        with engine.begin() as connection:
            connection.execute(
                insert(Measurement),
                [
                    {"molecule_id": keys[structures[r.smiles].inchikey], "property": r.property, "value": r.value,
                     "uncertainty": r.uncertainty, "unit": r.unit or "", "source": r.source, "qc_status": "passed",
                     "conditions": {}, "provenance": {}, "op_id": r.op_id, "created_at": now}
                    for r in chunk
                ],
            )
    elapsed = time.perf_counter() - start
    engine.dispose()
    return {"insert_s": elapsed, "rows_per_s": len(rows) / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--per-step-rows", type=int, default=2_000)
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    args = parser.parse_args()

    smiles = load_smiles(args.data)
    rows = make_rows(smiles, args.rows)
    print(f"{len(rows):,} measurements over {len({r.smiles for r in rows}):,} SMILES, batches of {args.batch:,}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        backends = [("sqlite", f"sqlite:///{workdir / 'bench.db'}")]
        if args.postgres_url:
            backends.append(("postgresql", args.postgres_url))
        print("| backend | AtomLoop insert rows/s | reference (Core executemany) rows/s | ratio | "
              "one transaction per row, rows/s | logS training-set export s (rows) |")
        print("|---|---|---|---|---|---|")
        for name, url in backends:
            if name == "sqlite":
                url = f"sqlite:///{workdir / 'atomloop.db'}"
            ours = bench_atomloop(url, rows, args.batch, workdir)
            per_step = bench_per_step(url if name != "sqlite" else f"sqlite:///{workdir / 'step.db'}",
                                      rows[: args.per_step_rows], workdir)
            ref_url = url if name != "sqlite" else f"sqlite:///{workdir / 'reference.db'}"
            reference = bench_reference(ref_url, rows, args.batch)
            print(f"| {name} | {ours['rows_per_s']:,.0f} | {reference['rows_per_s']:,.0f} | "
                  f"{ours['rows_per_s'] / reference['rows_per_s']:.2f} | {per_step['rows_per_s']:,.0f} | "
                  f"{ours['export_s']:.2f} ({ours['export_rows']:,}) |")


if __name__ == "__main__":
    main()
