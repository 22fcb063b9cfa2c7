"""The registry and compute jobs: training hands the registry's executor to the families that take one (their
work folders under the models directory, gone afterwards), and a large pool's molecules are prepared by jobs
(features, conformers) before one in-process prediction, identical to the prediction without jobs, through the
predict_property tool too."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tools.predict.fingerprint as fingerprint
import tools.predict.registry as registry_module
import tools.predict.unimol as unimol
from tools.base import ToolContext, ToolSettings
from tools.compute.local import LocalExecutor
from tools.paths import AllowedPaths
from tools.predict.base import TrainingRows
from tools.predict.gp import FingerprintGPPredictor as GP
from tools.predict.predict_property import PredictPropertyInput, predict_property
from tools.predict.registry import PredictorRegistry
from tools.structures.cache import ConformerCache

PARAMS = fingerprint.FingerprintParams(n_members=2, n_estimators=10, n_jobs=1)
TINY_UNIMOL = unimol.UniMolConfig(layers=2, embed_dim=32, ffn_dim=64, heads=4, kernels=16)



class SmallForests:
    """The fingerprint family with small forests (fast to train) that takes an executor, as the registry calls it
    (``FingerprintPredictor.train`` itself is wrapped by the suite's conftest in a cache that names no executor)."""

    def train(
        self, rows: TrainingRows, seed: int = 0, *, executor: Any = None, work_dir: Path | None = None
    ) -> fingerprint.FingerprintPredictor:
        return fingerprint.FingerprintPredictor.train(rows, seed, params=PARAMS, executor=executor, work_dir=work_dir)

    def load(self, directory: Path) -> fingerprint.FingerprintPredictor:
        return fingerprint.FingerprintPredictor.load(directory)


@pytest.fixture(scope="module")
def esol() -> TrainingRows:
    return TrainingRows.from_bundled("logS")


@pytest.fixture()
def pool(esol: TrainingRows) -> list[str]:
    """45 molecules with one that is not a molecule in the middle."""
    smiles = list(esol.smiles[500:545])
    smiles.insert(20, "C1CC(N")
    return smiles


@pytest.fixture()
def small_pools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "MIN_POOL_TO_FAN_OUT", 10)
    monkeypatch.setattr(registry_module, "MIN_POOL_CHUNK", 10)


@pytest.fixture(scope="module")
def local_pool() -> Iterator[LocalExecutor]:
    executor = LocalExecutor(None, workers=2)
    yield executor
    executor.close()


def test_training_hands_the_registrys_executor_to_families_that_take_one(
    store, esol: TrainingRows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, two_slot_inline: Callable[[], Any],  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setattr(fingerprint, "MIN_ROWS_TO_FAN_OUT", 10)
    executor = two_slot_inline()
    families = {"fingerprint": SmallForests(), "gp": GP}
    registry = PredictorRegistry(store, tmp_path / "models", families=families, executor=executor)
    rows = esol.subset(range(120))
    trained = registry.train("logS", rows)
    assert executor.kinds == [fingerprint.MEMBER_JOB_KIND] * 2
    assert [p.name for p in (tmp_path / "models").iterdir()] == [trained.record.id]  # no work folder left
    child = registry.train("logS", esol.subset(range(120, 150)), parent=trained.record.id)
    assert executor.kinds == [fingerprint.MEMBER_JOB_KIND] * 4  # fine-tuning fans out too
    serial = PredictorRegistry(store, tmp_path / "serial", families=families).train("logS", rows)
    assert serial.record.id == trained.record.id and serial.record.metrics["rmse"] == trained.record.metrics["rmse"]
    gp = registry.train("logS", rows, kind="gp")  # a family without members takes no executor and trains as before
    assert gp.predictor.name == "gp" and len(executor.kinds) == 4 and child.record.parent_id == trained.record.id


@pytest.mark.usefixtures("small_pools")
def test_a_large_pool_is_prepared_in_jobs_and_predicted_as_in_one_call(
    store, esol: TrainingRows, pool: list[str], local_pool: LocalExecutor, tmp_path: Path, two_slot_inline: Callable[[], Any],  # type: ignore[no-untyped-def]
) -> None:
    registry = PredictorRegistry(store, tmp_path / "models", families={"fingerprint": SmallForests()})
    trained = registry.train("logS", esol.subset(range(120)))
    artifact = Path(trained.record.artifact_path or "")
    expected = [item.model_dump() for item in fingerprint.FingerprintPredictor.load(artifact).predict(pool)]
    assert expected[20]["error_type"] == "InvalidStructure"
    inline = two_slot_inline()
    for executor in (inline, local_pool):
        predictor = fingerprint.FingerprintPredictor.load(artifact)  # empty caches
        results = registry.predict(predictor, pool, executor=executor)
        assert [item.model_dump() for item in results] == expected
        assert len(predictor.featurizer.structures) == 45  # every valid molecule came from a job
    assert inline.kinds == [fingerprint.FEATURIZE_JOB_KIND] * 4  # 46 molecules in chunks of 12
    registry.predict(trained.predictor, pool[:9], executor=inline)
    assert len(inline.kinds) == 4  # below MIN_POOL_TO_FAN_OUT: one call in this process, no job


@pytest.mark.usefixtures("small_pools")
def test_unimol_pools_get_their_conformers_from_jobs(
    store, esol: TrainingRows, pool: list[str], tmp_path: Path, two_slot_inline: Callable[[], Any],  # type: ignore[no-untyped-def]
) -> None:
    params = unimol.UniMolTrainParams(min_steps=0, epochs=1, n_members=2, n_conformers=2)
    model = unimol.UniMolPredictor.train(esol.subset(range(30)), seed=0, config=TINY_UNIMOL, params=params,
                                         conformers=ConformerCache(tmp_path / "conformers"))
    model.save(tmp_path / "model")
    expected = [item.model_dump() for item in model.predict(pool)]
    # a new process's view: the conformers are on disk, nothing is in memory
    fresh = unimol.UniMolPredictor.load(tmp_path / "model", conformers=ConformerCache(tmp_path / "conformers"))
    executor = two_slot_inline()
    results = PredictorRegistry(store, tmp_path / "models").predict(fresh, pool, executor=executor)
    assert [item.model_dump() for item in results] == expected and executor.kinds == [unimol.CONFORMERS_JOB_KIND] * 4
    cache = fresh.featurizer.conformers
    assert (cache.computed, cache.disk_hits) == (0, 0)  # every conformer came from the jobs' results


@pytest.mark.usefixtures("small_pools")
def test_a_predictor_that_cannot_prepare_in_jobs_predicts_in_process(
    store, esol: TrainingRows, pool: list[str], tmp_path: Path, two_slot_inline: Callable[[], Any],  # type: ignore[no-untyped-def]
) -> None:
    registry = PredictorRegistry(store, tmp_path / "models")
    gp = registry.train("logS", esol.subset(range(120)), kind="gp").predictor
    executor = two_slot_inline()
    results = registry.predict(gp, pool, executor=executor)
    assert [r.model_dump() for r in results] == [r.model_dump() for r in gp.predict(pool)] and executor.kinds == []


@pytest.mark.usefixtures("small_pools")
def test_predict_property_sends_a_large_pool_to_the_executor(
    store, pool: list[str], tmp_path: Path, two_slot_inline: Callable[[], Any],  # type: ignore[no-untyped-def]
) -> None:
    registry = PredictorRegistry(store, tmp_path / "models", families={"fingerprint": SmallForests()})
    registry.register(registry.train("logS", TrainingRows.from_bundled("logS").subset(range(150))))

    def call(executor: Any) -> dict[str, Any]:
        registry._loaded.clear()  # a predictor with empty caches each time
        ctx = ToolContext(store=store.reader(), predictors=registry, lab=None, settings=ToolSettings(home=tmp_path),
                          run_id="run", step_index=0, paths=AllowedPaths.of([tmp_path]), executor=executor)
        output = asyncio.run(predict_property(ctx, PredictPropertyInput(smiles=pool, property="logS")))
        return output.model_dump()

    executor = two_slot_inline()
    through_jobs = call(executor)
    assert executor.kinds == [fingerprint.FEATURIZE_JOB_KIND] * 4
    assert through_jobs == call(None)
    assert len(through_jobs["predictions"]) == 45 and [f["input"] for f in through_jobs["failures"]] == ["C1CC(N"]
