"""The fan-out helpers: how many jobs an executor runs at once, results with failures as None, the work folder."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tools.compute.book import JobBook
from tools.compute.fanout import check_file, file_sha256, job_results, parallel_slots, work_folder
from tools.compute.inline import InlineExecutor
from tools.compute.jobs import JobRequest
from tools.compute.local import LocalExecutor


def test_parallel_slots_are_the_executors_workers_or_one() -> None:
    assert parallel_slots(None) == 1
    assert parallel_slots(InlineExecutor(None)) == 1
    assert parallel_slots(LocalExecutor(None, workers=3)) == 3
    assert parallel_slots(LocalExecutor(None, workers=1)) == 1


def test_job_results_are_in_order_with_none_for_a_failed_job(book: JobBook, caplog: pytest.LogCaptureFixture) -> None:
    jobs = [JobRequest(kind="job_functions:square", inputs={"x": 3}),
            JobRequest(kind="job_functions:fail", inputs={"message": "broken"}, label="the failing one"),
            JobRequest(kind="job_functions:square", inputs={"x": 4})]
    with caplog.at_level(logging.WARNING, logger="tools.compute.fanout"):
        assert job_results(InlineExecutor(book), jobs, group="squares") == [9, None, 16]
    assert [r.getMessage() for r in caplog.records] == [
        "squares: job the failing one failed (ValueError: broken); doing its part in this process"
    ]


def test_the_work_folder_is_removed_and_files_are_checked(tmp_path: Path) -> None:
    with work_folder(tmp_path / "parent", prefix=".x-") as folder:
        assert folder.parent == tmp_path / "parent" and folder.name.startswith(".x-")
        data = folder / "data.bin"
        data.write_bytes(b"abc")
        digest = file_sha256(data)
        assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        assert check_file(data, digest) == data
        data.write_bytes(b"abd")
        with pytest.raises(ValueError, match="not the file this job was made for"):
            check_file(data, digest)
    assert not folder.exists() and (tmp_path / "parent").is_dir()
