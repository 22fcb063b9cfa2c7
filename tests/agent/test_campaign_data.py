"""A campaign's data: its measurements carry its id (a foreign key) and each model it trains names the snapshot of
the measurements it was trained on."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlmodel import select

from agent.app import build_app
from agent.campaign import CampaignRunner
from agent.campaign_spec import CampaignSpec
from knowledge.bundled import bundled_dir
from knowledge.database import upgrade
from knowledge.models import DatasetSnapshot, Measurement, ModelVersion


def test_campaign_measurements_link_to_it_and_its_models_carry_their_snapshots_hash(tmp_path: Path) -> None:
    rows = list(csv.DictReader((bundled_dir() / "bace_pic50.csv").open()))[::25]  # 61 molecules
    pool = tmp_path / "pool.csv"
    pool.write_text("smiles\n" + "".join(f"{r['smiles']}\n" for r in rows))
    spec = CampaignSpec.model_validate(
        {
            "name": "data", "objectives": [{"property": "pIC50"}], "pool": {"file": str(pool)},
            "budget": {"experiments": 12, "iterations": 1}, "batch_size": 4, "initial": {"size": 8, "design": "random"},
            "models": {"kind": "fingerprint"}, "acquisition": {"kind": "greedy"},
        }
    )
    app = build_app()
    upgrade(app.unchecked_store.engine)
    status = CampaignRunner.create(app, spec).run()
    assert status.status == "done"
    with app.store.session() as session:
        measurements = session.exec(select(Measurement).where(Measurement.property == "pIC50")).all()
        version = session.get(ModelVersion, status.iterations[1].model_versions["pIC50"])
        snapshots = session.exec(select(DatasetSnapshot)).all()
    assert len(measurements) >= 8 and {m.campaign_id for m in measurements} == {status.id}
    assert version is not None and version.dataset_hash
    [snapshot] = [s for s in snapshots if s.content_hash == version.dataset_hash]
    assert snapshot.spec["campaign_id"] == status.id
    assert snapshot.row_count == len({m.molecule_id for m in measurements if m.provenance["iteration"] == 0})
