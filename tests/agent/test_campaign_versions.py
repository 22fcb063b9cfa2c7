"""Campaign spec versions: a spec stored before ``spec_version`` existed (version 1) resumes as it ran, under the id
it was given; a new spec is written as the current version; the removed ``acquisition.uncertainty`` is refused."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlmodel import select

from agent.app import App, build_app
from agent.campaign import CampaignRunner
from agent.campaign_spec import SPEC_VERSION, CampaignSpec, InitialSpec, InvalidCampaign, StageSpec
from knowledge.bundled import bundled_dir
from knowledge.database import upgrade
from knowledge.models import Campaign, Iteration, Measurement

OLD_ID = "cmp-a70fef71-1"  # as ids were made for version-1 specs: it cannot be recomputed from the spec now


def _pool(tmp_path: Path) -> Path:
    rows = list(csv.DictReader((bundled_dir() / "bace_pic50.csv").open()))[::15]  # 101 molecules
    pool = tmp_path / "pool.csv"
    pool.write_text("smiles\n" + "".join(f"{r['smiles']}\n" for r in rows))
    return pool


def _version_1_spec(pool: Path, **acquisition: object) -> dict[str, Any]:
    """A spec as a campaign row stored it before spec versions: no spec_version, the initial batch as ``random: N``,
    a ``prefilter``, no ``batch_method`` or ``incumbent_rank``, and the ``uncertainty`` it scored with."""
    return {
        "name": "a campaign from before spec versions",
        "objectives": [{"property": "pIC50", "direction": "maximize", "target": 8.0}],
        "constraints": [{"property": "logS", "op": ">=", "value": -5.0}],
        "pool": {"file": str(pool), "store": False},
        "budget": {"experiments": 8, "iterations": 1, "lab_hours": None},
        "batch_size": 4,
        "initial": {"random": 4},
        "acquisition": {"kind": "ei", "kappa": 1.0, "diversity": 0.7, "uncertainty": "measurement", **acquisition},
        "models": {"kind": "gp", "seed": 0},
        "prefilter": {"property": "logS", "direction": "maximize", "keep_fraction": 0.5},
        "seed": 1,
    }


def _store_campaign(app: App, campaign_id: str, spec: dict[str, Any]) -> None:
    app.store.write(lambda writer: writer.add(Campaign(id=campaign_id, name=spec["name"], spec=spec, status="running")))


@pytest.fixture
def app() -> App:
    app = build_app()
    upgrade(app.unchecked_store.engine)
    return app


def test_a_version_1_spec_resumes_as_it_ran_and_keeps_its_id(app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tools.acquisition

    stored = _version_1_spec(_pool(tmp_path))
    _store_campaign(app, OLD_ID, stored)
    messages: list[str] = []
    runner = CampaignRunner.load(app, OLD_ID, messages.append)
    spec = runner.spec
    assert runner.id == OLD_ID and spec.spec_version == 1
    assert spec.initial == InitialSpec(size=4, design="random")
    assert spec.stages == [StageSpec(property="logS", direction="maximize", keep_fraction=0.5)]
    assert (spec.acquisition.batch_method, spec.acquisition.incumbent_rank) == ("diversity_filter", None)
    assert not runner.batches_by_believer()
    random_start = runner._random_batch(4, [])  # what a random initial design measures first

    filled: list[int] = []
    diverse_batch = tools.acquisition.diverse_batch

    def counted(*args: Any, **kwargs: Any) -> list[str]:
        filled.append(args[2])
        return diverse_batch(*args, **kwargs)

    def never(*args: Any, **kwargs: Any) -> list[str]:
        raise AssertionError("a version-1 campaign filled its batch by the kriging believer")

    monkeypatch.setattr(tools.acquisition, "diverse_batch", counted)  # a spy: the real filter still runs
    monkeypatch.setattr(tools.acquisition, "kriging_believer_batch", never)
    status = runner.run()

    assert status.status == "done" and status.id == OLD_ID
    assert filled == [4]  # iteration 1 by the diversity filter
    assert any(m.startswith("iteration 1: stage predicted logS kept") for m in messages)  # the prefilter ran
    report = Path(status.report_path or "").read_text()
    assert "with at most 0.7 Tanimoto similarity" in report and "over the best mean measured so far" in report
    with app.store.session() as session:
        assert [row.id for row in session.exec(select(Campaign))] == [OLD_ID]  # no new campaign, no new id
        row = session.get(Campaign, OLD_ID)
        assert row is not None and row.spec == stored  # the stored spec is left as it was
        first = session.exec(select(Iteration).where(Iteration.campaign_id == OLD_ID, Iteration.index == 0)).one()
        measurements = session.exec(select(Measurement)).all()
    assert sorted(first.metrics["batch"]) == sorted(random_start)
    assert measurements and all(m.campaign_id == OLD_ID and str(m.op_id).startswith(f"{OLD_ID}:") for m in measurements)


def test_a_version_1_spec_that_scored_with_the_latent_sigma_cannot_resume(app: App, tmp_path: Path) -> None:
    _store_campaign(app, OLD_ID, _version_1_spec(_pool(tmp_path), uncertainty="latent"))
    with pytest.raises(InvalidCampaign, match=r"stored spec is not valid now: acquisition.uncertainty: 'latent' was removed"):
        CampaignRunner.load(app, OLD_ID)


def test_a_new_spec_is_written_as_the_current_version(app: App, tmp_path: Path) -> None:
    from agent.scheduling import scheduled_spec_yaml

    assert SPEC_VERSION == 2
    data = {k: v for k, v in _version_1_spec(_pool(tmp_path)).items() if k != "prefilter"}
    del data["acquisition"]["uncertainty"]
    spec = CampaignSpec.from_data(data, "campaign file new.yaml")  # a file without spec_version: the current one
    assert spec.spec_version == 2
    assert (spec.acquisition.batch_method, spec.acquisition.incumbent_rank) == ("kriging_believer", 8)  # today's
    runner = CampaignRunner.create(app, spec)
    with app.store.session() as session:
        row = session.get(Campaign, runner.id)
    assert row is not None and row.spec["spec_version"] == 2 and row.spec == spec.model_dump(mode="json")
    assert CampaignRunner.load(app, runner.id).spec == spec  # a version-2 spec loads as it was written
    assert yaml.safe_load(scheduled_spec_yaml(spec))["spec_version"] == 2
    assert scheduled_spec_yaml(spec).startswith("spec_version: 2\n")
    # A file may name version 1: it means what a version-1 spec meant (its id is made by today's rule).
    old = CampaignSpec.from_data({**data, "spec_version": 1}, "campaign file old.yaml")
    assert (old.acquisition.batch_method, old.acquisition.incumbent_rank) == ("diversity_filter", None)
    assert CampaignRunner.create(app, old).id.rsplit("-", 1)[0] != runner.id.rsplit("-", 1)[0]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"spec_version": 3}, "spec_version: Input should be less than or equal to 2"),
        ({"spec_version": 0}, "spec_version: Input should be greater than or equal to 1"),
        ({"acquisition": {"kind": "ei", "uncertainty": "measurement"}}, "acquisition.uncertainty: 'measurement' was removed"),
        ({"acquisition": {"kind": "ei", "uncertainty": "latent"}}, "acquisition.uncertainty: 'latent' was removed"),
    ],
)
def test_a_file_with_an_unknown_version_or_the_removed_uncertainty_is_refused(
    tmp_path: Path, change: dict[str, Any], problem: str
) -> None:
    data = {"name": "x", "objectives": [{"property": "pIC50"}], "pool": {"file": "pool.csv"}, **change}
    with pytest.raises(InvalidCampaign, match=f"invalid campaign file x.yaml: {problem}"):
        CampaignSpec.from_data(data, "campaign file x.yaml")


def test_the_example_campaign_file_is_the_demos_campaign(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.demo import demo_campaign_spec

    root = Path(__file__).resolve().parents[2]
    example = CampaignSpec.from_data(yaml.safe_load((root / "examples" / "campaign.yaml").read_text()), "examples/campaign.yaml")
    demo = demo_campaign_spec()
    assert example.spec_version == SPEC_VERSION
    assert (root / str(example.pool.file)).read_bytes() == Path(str(demo.pool.file)).read_bytes()  # the bundled pool
    same_pool = {"pool": demo.pool, "name": demo.name}
    assert example.model_copy(update=same_pool) == demo
