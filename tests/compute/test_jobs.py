from __future__ import annotations

import pytest
from pydantic import ValidationError

from tools.compute.jobs import JobRequest, content_key


def test_the_content_key_is_stable_and_depends_on_the_function_and_every_input() -> None:
    job = JobRequest(kind="pkg.mod:fn", inputs={"smiles": "CCO", "n": 3, "opts": {"b": 1, "a": [1, 2]}}, label="ethanol")
    same = JobRequest(kind="pkg.mod:fn", inputs={"opts": {"a": [1, 2], "b": 1}, "n": 3, "smiles": "CCO"}, label="other")
    assert job.key == same.key == content_key("pkg.mod:fn", {"n": 3, "smiles": "CCO", "opts": {"b": 1, "a": [1, 2]}})
    assert len(job.key) == 64 and int(job.key, 16) >= 0
    variants = [
        JobRequest(kind="pkg.mod:fn", inputs={"smiles": "CCN", "n": 3, "opts": {"b": 1, "a": [1, 2]}}),
        JobRequest(kind="pkg.mod:fn", inputs={"smiles": "CCO", "n": 4, "opts": {"b": 1, "a": [1, 2]}}),
        JobRequest(kind="pkg.mod:fn", inputs={"smiles": "CCO", "n": 3, "opts": {"b": 1, "a": [2, 1]}}),
        JobRequest(kind="pkg.mod:other", inputs={"smiles": "CCO", "n": 3, "opts": {"b": 1, "a": [1, 2]}}),
        JobRequest(kind="pkg.mod:fn", inputs={"smiles": "CCO", "n": 3.5, "opts": {"b": 1, "a": [1, 2]}}),
    ]
    assert len({job.key, *(variant.key for variant in variants)}) == 1 + len(variants)
    assert JobRequest(kind="pkg.mod:fn", inputs={"smiles": "CCO", "n": 3, "opts": {"b": 1, "a": [1, 2]}},
                      timeout_s=5, max_retries=3).key == job.key


def test_a_known_key_value_pins_the_canonical_form() -> None:
    # sha256 of '["m:f",{"a":1,"b":"é"}]' (sorted keys, no spaces, UTF-8)
    import hashlib

    expected = hashlib.sha256('["m:f",{"a":1,"b":"é"}]'.encode()).hexdigest()
    assert JobRequest(kind="m:f", inputs={"b": "é", "a": 1}).key == expected


@pytest.mark.parametrize("kind", ["no_colon", ":fn", "mod:", "a:b:c"])
def test_a_kind_that_names_no_function_is_refused(kind: str) -> None:
    with pytest.raises(ValidationError, match="package.module:function"):
        JobRequest(kind=kind, inputs={})


def test_inputs_must_be_json_and_requests_are_frozen() -> None:
    with pytest.raises(ValidationError, match="JSON-able"):
        JobRequest(kind="m:f", inputs={"x": object()})
    with pytest.raises(ValidationError, match="JSON-able"):
        JobRequest(kind="m:f", inputs={"x": float("nan")})
    with pytest.raises(ValidationError):
        JobRequest(kind="m:f", inputs={}, unknown=1)  # type: ignore[call-arg]
    job = JobRequest(kind="m:f", inputs={})
    with pytest.raises(ValidationError):
        job.label = "x"  # type: ignore[misc]
