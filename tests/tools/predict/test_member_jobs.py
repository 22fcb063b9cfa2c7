"""Ensemble members trained as compute jobs are the members the in-process loop trains: the same seeds give
identical predictions through the inline executor (the job functions in this process) and the local pool (in job
processes), for the fingerprint forests and the Uni-Mol networks, new and fine-tuned; a member whose job fails is
trained in this process; and without an executor that runs several jobs at once nothing is sent."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tools.predict.fingerprint as fingerprint
import tools.predict.unimol as unimol
from tools.compute.inline import InlineExecutor
from tools.compute.local import LocalExecutor
from tools.predict.base import PredictedValue, PredictionFailure, TrainingRows
from tools.structures.cache import ConformerCache

TINY = unimol.UniMolConfig(layers=2, embed_dim=32, ffn_dim=64, heads=4, kernels=16)
UNIMOL_PARAMS = unimol.UniMolTrainParams(min_steps=0, epochs=3, fine_tune_epochs=2, n_members=2, n_conformers=2)
FOREST_PARAMS = fingerprint.FingerprintParams(n_members=3, n_estimators=20, n_jobs=1)



@pytest.fixture(scope="module")
def esol() -> TrainingRows:
    return TrainingRows.from_bundled("logS")


@pytest.fixture(scope="module")
def local_pool() -> Iterator[LocalExecutor]:
    pool = LocalExecutor(None, workers=2)
    yield pool
    pool.close()


def dumps(results: list[PredictedValue | PredictionFailure]) -> list[dict[str, Any]]:
    return [result.model_dump() for result in results]


def test_fingerprint_members_as_jobs_are_the_serial_members(
    esol: TrainingRows, local_pool: LocalExecutor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, two_slot_inline: Callable[[], Any],
) -> None:
    monkeypatch.setattr(fingerprint, "MIN_ROWS_TO_FAN_OUT", 10)
    rows, more, probe = esol.subset(range(150)), esol.subset(range(150, 170)), list(esol.smiles[300:330])
    serial = fingerprint.FingerprintPredictor.train(rows, seed=3, params=FOREST_PARAMS)
    inline = two_slot_inline()
    through_inline = fingerprint.FingerprintPredictor.train(rows, seed=3, params=FOREST_PARAMS, executor=inline,
                                                             work_dir=tmp_path)
    through_pool = fingerprint.FingerprintPredictor.train(rows, seed=3, params=FOREST_PARAMS, executor=local_pool,
                                                           work_dir=tmp_path)
    assert inline.kinds == [fingerprint.MEMBER_JOB_KIND] * 3
    assert through_inline.version == through_pool.version == serial.version
    assert dumps(through_inline.predict(probe)) == dumps(through_pool.predict(probe)) == dumps(serial.predict(probe))
    assert through_pool.residual == serial.residual and through_pool.baseline_used == serial.baseline_used
    child = serial.fine_tune(more)
    assert dumps(through_pool.fine_tune(more, executor=local_pool).predict(probe)) == dumps(child.predict(probe))
    assert list(tmp_path.iterdir()) == []  # the work folders are gone


def test_fingerprint_training_stays_in_process_without_parallel_slots(
    esol: TrainingRows, monkeypatch: pytest.MonkeyPatch, two_slot_inline: Callable[[], Any],
) -> None:
    rows = esol.subset(range(150))
    one_slot = InlineExecutor(None)
    monkeypatch.setattr(one_slot, "run", lambda *a, **k: pytest.fail("no job may be sent"))
    fingerprint.FingerprintPredictor.train(rows, seed=3, params=FOREST_PARAMS.model_copy(update={"n_members": 2}),
                                           executor=one_slot)
    too_few_rows = two_slot_inline()  # two slots, but 150 rows are below MIN_ROWS_TO_FAN_OUT
    fingerprint.FingerprintPredictor.train(rows, seed=3, params=FOREST_PARAMS, executor=too_few_rows)
    threads = two_slot_inline()  # two slots, but each forest already uses two threads
    monkeypatch.setattr(fingerprint, "MIN_ROWS_TO_FAN_OUT", 10)
    fingerprint.FingerprintPredictor.train(rows, seed=3, params=FOREST_PARAMS.model_copy(update={"n_jobs": 2}),
                                           executor=threads)
    assert too_few_rows.kinds == threads.kinds == []


def test_a_member_whose_job_fails_is_fitted_in_process(
    esol: TrainingRows, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, two_slot_inline: Callable[[], Any],
) -> None:
    monkeypatch.setattr(fingerprint, "MIN_ROWS_TO_FAN_OUT", 10)
    rows, probe = esol.subset(range(150)), list(esol.smiles[300:330])
    serial = fingerprint.FingerprintPredictor.train(rows, seed=5, params=FOREST_PARAMS)
    real_job = fingerprint.fit_member_job

    def second_member_fails(**inputs: Any) -> dict[str, Any]:
        if inputs["member"] == 1:
            raise RuntimeError("this worker ran out of memory")
        return real_job(**inputs)

    monkeypatch.setattr(fingerprint, "fit_member_job", second_member_fails)
    with caplog.at_level(logging.WARNING, logger="tools.compute.fanout"):
        patched = fingerprint.FingerprintPredictor.train(rows, seed=5, params=FOREST_PARAMS, executor=two_slot_inline())
    assert [r.getMessage() for r in caplog.records] == [
        "fingerprint members (150 rows): job fingerprint member 2 of 3 (150 rows) failed (RuntimeError: this worker "
        "ran out of memory); doing its part in this process"
    ]
    assert dumps(patched.predict(probe)) == dumps(serial.predict(probe))


@pytest.mark.parametrize(("config", "pool"), [(TINY, False), (unimol.UniMolConfig.small(), True)],
                         ids=["from-scratch", "bundled-backbone"])
def test_unimol_members_as_jobs_are_the_serial_members(
    config: unimol.UniMolConfig, pool: bool, esol: TrainingRows, local_pool: LocalExecutor, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, two_slot_inline: Callable[[], Any],
) -> None:
    monkeypatch.setattr(unimol, "MIN_STEPS_TO_FAN_OUT", 1)
    rows, more, probe = esol.subset(range(60)), esol.subset(range(60, 75)), list(esol.smiles[300:320])
    conformers = ConformerCache(tmp_path / "conformers")

    def train(executor: Any) -> tuple[unimol.UniMolPredictor, unimol.UniMolPredictor]:
        model = unimol.UniMolPredictor.train(rows, seed=1, config=config, params=UNIMOL_PARAMS, conformers=conformers,
                                             executor=executor, work_dir=tmp_path / "work")
        return model, model.fine_tune(more, executor=executor, work_dir=tmp_path / "work")

    serial, serial_child = train(None)
    assert (serial.pretrained_hash is None) == (config == TINY)
    inline = two_slot_inline()
    for executor in (inline, local_pool) if pool else (inline,):
        model, child = train(executor)
        assert (model.version, child.version) == (serial.version, serial_child.version)
        assert dumps(model.predict(probe)) == dumps(serial.predict(probe))
        assert dumps(child.predict(probe)) == dumps(serial_child.predict(probe))
    assert inline.kinds == [unimol.MEMBER_JOB_KIND] * 4  # two members, trained and then fine-tuned
    assert list((tmp_path / "work").iterdir()) == []


def test_unimol_members_too_short_to_pay_stay_in_process(esol: TrainingRows, tmp_path: Path, two_slot_inline: Callable[[], Any]) -> None:
    executor = two_slot_inline()  # 40 rows x 3 epochs are a few steps, far below MIN_STEPS_TO_FAN_OUT
    unimol.UniMolPredictor.train(esol.subset(range(40)), seed=1, config=TINY, params=UNIMOL_PARAMS,
                                 conformers=ConformerCache(tmp_path), executor=executor)
    assert executor.kinds == []
