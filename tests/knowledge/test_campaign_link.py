"""Measurements link to their campaign by a foreign key, and a campaign's training sets are snapshots."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from knowledge.database import make_engine, upgrade
from knowledge.snapshots import DatasetSpec
from knowledge.store import KnowledgeStore, NewMeasurement


def test_the_upgrade_links_existing_campaign_measurements_by_their_provenance(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine, "0002_compute_jobs")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO molecule (inchikey, smiles, formula, created_at) VALUES ('LFQSCWFLJHTTHZ-UHFFFAOYSA-N', 'CCO', 'C2H6O', CURRENT_TIMESTAMP)"))
        connection.execute(text("INSERT INTO campaign (id, name, spec, status, created_at) VALUES ('cmp-old-1', 'old', '{}', 'done', CURRENT_TIMESTAMP)"))
        for provenance in ({"campaign_id": "cmp-old-1", "iteration": 0}, {"run_id": "run-1"}, {"campaign_id": "cmp-gone-1"}):
            connection.execute(
                text(
                    "INSERT INTO measurement (molecule_id, property, value, unit, source, qc_status, conditions, provenance, created_at) "
                    "VALUES (1, 'logS', -1.0, 'log10(mol/L)', 'simulated', 'passed', '{}', :provenance, CURRENT_TIMESTAMP)"
                ),
                {"provenance": json.dumps(provenance)},
            )
    upgrade(engine)
    with engine.connect() as connection:
        links = [row[0] for row in connection.execute(text("SELECT campaign_id FROM measurement ORDER BY id"))]
    assert links == ["cmp-old-1", None, None]  # a campaign that is not in the store is no link
    engine.dispose()


def test_a_snapshot_of_one_campaign_holds_only_its_measurements_and_hashes_apart(store: KnowledgeStore, tmp_path: Path) -> None:
    from knowledge.models import Campaign

    store.write(lambda writer: [writer.add(Campaign(id=name, name=name, spec={}, status="running")) for name in ("cmp-a-1", "cmp-b-1")])
    store.record_measurements(
        [
            NewMeasurement(smiles="CCO", property="logS", value=-1.0, source="simulated", campaign_id="cmp-a-1"),
            NewMeasurement(smiles="CCN", property="logS", value=-2.0, source="simulated", campaign_id="cmp-a-1", qc_status="flagged"),
            NewMeasurement(smiles="CCC", property="logS", value=-3.0, source="simulated", campaign_id="cmp-b-1"),
            NewMeasurement(smiles="CCCl", property="logS", value=-4.0, source="measured"),
        ]
    )
    assert [m.smiles for m in store.measurements("logS", campaign="cmp-a-1")] == ["CCO", "CCN"]
    spec = DatasetSpec(qc_statuses=("passed", "flagged"), campaign_id="cmp-a-1")
    snapshot = store.training_set("logS", spec)
    assert snapshot.row_count == 2
    assert snapshot.spec["campaign_id"] == "cmp-a-1"
    other = store.training_set("logS", DatasetSpec(qc_statuses=("passed", "flagged"), campaign_id="cmp-b-1"))
    assert (other.row_count, other.content_hash != snapshot.content_hash) == (1, True)
    assert "campaign_id" not in store.training_set("logS").spec  # a spec without a campaign hashes as before
