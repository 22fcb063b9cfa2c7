"""An LLM endpoint that answers with garbage, refuses the configuration or is down: a typed ``PlannerSetupError``
naming the endpoint (never the key), not a traceback; what the run itself got wrong stays a plain ``PlannerError``.

Driven through the loopback OpenAI-compatible server (real HTTP, the real SDK) with small retries and backoff."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from agent.plan import Answer, Plan, PlannerError, PlannerSetupError
from agent.planners.llm import LLMPlanner
from agent.settings import LLMSettings
from tests.agent.openai_fake import FakeOpenAI, RawResponse, ScriptItem, error_body, text_response, tool_call_response
from tools.base import Tool, ToolContext, ToolRegistry

KEY = "sk-fault-SECRET-0123456789"
PREDICT = ("predict_property", '{"smiles": ["CCO"]}')


class PredictIn(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    smiles: list[str] = Field(min_length=1)


class Out(BaseModel):
    ok: bool = True


async def _never(ctx: ToolContext, args: BaseModel) -> Out:
    raise AssertionError("the planner must never run a tool")


@pytest.fixture
def tools() -> ToolRegistry:
    return ToolRegistry([Tool("predict_property", "Predict a property.", PredictIn, Out, _never, effect="compute")])


@pytest.fixture(autouse=True)
def _no_ambient_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OPENAI_"):
            monkeypatch.delenv(name)


def planner_for(base_url: str, tools: ToolRegistry, *, model: str | None = "fake-model", **kwargs: Any) -> LLMPlanner:
    settings = LLMSettings(base_url=base_url, model=model, api_key=SecretStr(KEY), timeout_s=2.0)
    return LLMPlanner(settings, tools, max_transport_retries=kwargs.pop("retries", 1), backoff_s=0.01, **kwargs)


def completion_with(choices: Any) -> bytes:
    return json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "fake-model", "choices": choices}).encode()


GARBAGE: dict[str, tuple[RawResponse, str]] = {
    "html page": (RawResponse(f"<html><body>Welcome to nginx {KEY}</body></html>", content_type="text/html"), "not JSON"),
    "plain text": (RawResponse("OK", content_type="text/plain"), "not JSON"),
    "invalid JSON": (RawResponse("{\"choices\": [", content_type="application/json"), "not valid JSON"),
    "binary as JSON": (RawResponse(bytes(range(256)) * 4), "not valid JSON"),
    "binary stream": (RawResponse(b"\x89PNG\r\n\x1a\n\x00\x00", content_type="application/octet-stream"), "(binary)"),
    "utf-16 JSON": (RawResponse('{"choices": []}'.encode("utf-16")), "without choices"),  # JSON may be UTF-16
    "no content type": (RawResponse("hello", content_type=None), "not JSON"),
    "empty body": (RawResponse(b""), "not valid JSON"),
    "empty object": (RawResponse(b"{}"), "without choices"),
    "a list": (RawResponse(b"[1, 2]"), "JSON but an array, not an object"),
    "a number": (RawResponse(b"42"), "JSON but a number, not an object"),
    "null": (RawResponse(b"null"), "JSON but null, not an object"),
    "an error object with 200": (RawResponse(json.dumps(error_body("model overloaded")).encode()), "without choices"),
    "choices not a list": (RawResponse(completion_with("hello")), "without choices"),
    "empty choices": (RawResponse(completion_with([])), "without choices"),
    "choice without message": (RawResponse(completion_with([{"index": 0, "finish_reason": "stop"}])), "no message"),
    "message is a string": (RawResponse(completion_with([{"index": 0, "message": "hi"}])), "no message"),
    "choice is a number": (RawResponse(completion_with([7])), "no message"),
    "content is a number": (RawResponse(completion_with([{"message": {"role": "assistant", "content": 5}}])), "content is a number, not text"),
    "tool_calls not a list": (RawResponse(completion_with([{"message": {"role": "assistant", "tool_calls": "zz"}}])), "tool_calls is a string, not an array"),
}


@pytest.mark.parametrize("case", sorted(GARBAGE))
def test_a_200_that_is_not_a_chat_completion_is_a_setup_error(tools: ToolRegistry, case: str) -> None:
    response, what = GARBAGE[case]
    with FakeOpenAI(script=[response, text_response("never reached")]) as fake:
        planner = planner_for(fake.base_url, tools)
        with pytest.raises(PlannerSetupError) as caught:
            planner.plan("go", [])
        base_url, requests = fake.base_url, len(fake.requests)
    message = str(caught.value)
    assert requests == 1  # garbage is not retried: the same endpoint would send the same
    assert f"the LLM endpoint {base_url} answered HTTP 200 with something that is not a chat completion" in message
    assert what in message
    assert "ATOMLOOP_LLM__BASE_URL" in message
    assert KEY not in message


def test_the_html_excerpt_is_shown_with_the_key_redacted(tools: ToolRegistry) -> None:
    with FakeOpenAI(script=[GARBAGE["html page"][0]]) as fake:
        with pytest.raises(PlannerSetupError) as caught:
            planner_for(fake.base_url, tools).plan("go", [])
    message = str(caught.value)
    assert f"text/html, {len(GARBAGE['html page'][0].data)} bytes" in message
    assert '"<html><body>Welcome to nginx ***</body></html>"' in message


def test_a_truncated_body_is_retried_then_a_setup_error(tools: ToolRegistry) -> None:
    whole = json.dumps(text_response("hello")).encode()
    cut = RawResponse(whole[:40], content_length=len(whole))
    with FakeOpenAI(script=[cut, cut, cut]) as fake:
        with pytest.raises(PlannerSetupError) as caught:
            planner_for(fake.base_url, tools, retries=2).plan("go", [])
        base_url, requests = fake.base_url, len(fake.requests)
    message = str(caught.value)
    assert requests == 3  # a body cut short is a transport failure: retried like a dropped connection
    assert f"the LLM endpoint {base_url} is unavailable: connection failed" in message and "(3 attempts)" in message
    assert KEY not in message


def test_a_truncated_body_then_a_good_one_gives_the_answer(tools: ToolRegistry) -> None:
    whole = json.dumps(text_response("hello")).encode()
    with FakeOpenAI(script=[RawResponse(whole[:10], content_length=len(whole)), text_response("hello")]) as fake:
        assert planner_for(fake.base_url, tools).plan("go", []) == Answer(text="hello")


def test_arguments_sent_as_a_json_object_are_read_as_the_same_call(tools: ToolRegistry) -> None:
    body = completion_with([{"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "predict_property", "arguments": {"smiles": ["CCO"]}}}
    ]}}])
    with FakeOpenAI(script=[RawResponse(body)]) as fake:
        plan = planner_for(fake.base_url, tools).plan("go", [])
    assert isinstance(plan, Plan) and plan.steps[0].args == {"smiles": ["CCO"]}


def test_garbage_usage_counts_zero_and_the_reply_still_serves(tools: ToolRegistry) -> None:
    reply = text_response("hello")
    reply["usage"] = {"prompt_tokens": "many", "completion_tokens": -3, "total_tokens": None}
    with FakeOpenAI(script=[reply]) as fake:
        planner = planner_for(fake.base_url, tools)
        assert planner.plan("go", []) == Answer(text="hello")
    assert (planner.usage.prompt_tokens, planner.usage.completion_tokens) == (0, 0)


# -- the configuration refused or missing ------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "hint"), [(401, "check the API key"), (403, "may not access this model"), (404, "check the model name")])
def test_a_refused_key_or_unknown_model_is_a_setup_error(tools: ToolRegistry, status: int, hint: str) -> None:
    with FakeOpenAI(script=[(status, error_body(f"no such key {KEY}")), text_response("never")]) as fake:
        with pytest.raises(PlannerSetupError) as caught:
            planner_for(fake.base_url, tools).plan("go", [])
        base_url, requests = fake.base_url, len(fake.requests)
    message = str(caught.value)
    assert requests == 1
    assert message == f"the LLM endpoint {base_url} answered HTTP {status}: no such key ***; " + message.split("; ", 1)[1]
    assert hint in message and KEY not in message


def test_a_400_before_any_accepted_request_is_a_setup_error(tools: ToolRegistry) -> None:
    with FakeOpenAI(script=[(400, "tools are not supported by this model")]) as fake:
        with pytest.raises(PlannerSetupError, match="does the model support tool calls"):
            planner_for(fake.base_url, tools).plan("go", [])


def test_a_400_after_accepted_requests_is_a_run_failure_not_setup(tools: ToolRegistry) -> None:
    script: list[ScriptItem] = [tool_call_response([PREDICT]), (400, "maximum context length exceeded")]
    with FakeOpenAI(script=script) as fake:
        planner = planner_for(fake.base_url, tools)
        assert isinstance(planner.plan("go", []), Plan)
        with pytest.raises(PlannerError) as caught:
            planner.plan("go", [])
    assert not isinstance(caught.value, PlannerSetupError)
    assert "HTTP 400: maximum context length exceeded" in str(caught.value)
    assert "accepted this planner's 1 earlier request(s)" in str(caught.value)


def test_an_unreachable_endpoint_is_a_setup_error_after_retries(tools: ToolRegistry) -> None:
    with FakeOpenAI() as fake:
        base_url = fake.base_url  # nothing listens there once the server stops
    with pytest.raises(PlannerSetupError) as caught:
        planner_for(base_url, tools, retries=1).plan("go", [])
    message = str(caught.value)
    assert message.startswith(f"the LLM endpoint {base_url} is unavailable: connection failed (")
    assert "(2 attempts); check that the server is running and reachable" in message
    assert KEY not in message


def test_a_server_that_keeps_failing_is_a_setup_error_after_retries(tools: ToolRegistry) -> None:
    with FakeOpenAI(script=[(503, f"busy {KEY}")] * 3) as fake:
        with pytest.raises(PlannerSetupError, match=r"is unavailable: HTTP 503 \(3 attempts\)") as caught:
            planner_for(fake.base_url, tools, retries=2).plan("go", [])
        assert len(fake.requests) == 3
    assert KEY not in str(caught.value)


def test_transient_failures_are_still_retried_to_success(tools: ToolRegistry) -> None:
    script: list[ScriptItem] = [(502, "bad gateway"), (429, "slow down"), text_response("fine")]
    with FakeOpenAI(script=script) as fake:
        assert planner_for(fake.base_url, tools, retries=2).plan("go", []) == Answer(text="fine")
        assert len(fake.requests) == 3


def test_no_model_or_no_endpoint_is_a_setup_error_before_any_request(tools: ToolRegistry) -> None:
    with FakeOpenAI(script=[text_response("never")]) as fake:
        with pytest.raises(PlannerSetupError, match="ATOMLOOP_LLM__MODEL"):
            planner_for(fake.base_url, tools, model=None).plan("go", [])
        assert fake.requests == []
    with pytest.raises(PlannerSetupError, match="ATOMLOOP_LLM__BASE_URL"):
        LLMPlanner(LLMSettings(model="fake-model"), tools).plan("go", [])


# -- what the model got wrong stays a run failure, repaired first -------------------------------------------------


def test_malformed_tool_calls_are_still_repaired(tools: ToolRegistry) -> None:
    script: list[ScriptItem] = [
        tool_call_response([("predict_property", "{not json")]),
        tool_call_response([("dispense", "{}")]),
        tool_call_response([PREDICT]),
    ]
    with FakeOpenAI(script=script) as fake:
        plan = planner_for(fake.base_url, tools).plan("go", [])
        assert len(fake.requests) == 3
    assert isinstance(plan, Plan) and plan.steps[0].args == {"smiles": ["CCO"]}


def test_a_model_that_never_repairs_is_a_run_failure(tools: ToolRegistry) -> None:
    bad = tool_call_response([("predict_property", "{not json")])
    with FakeOpenAI(script=[bad] * 3) as fake:
        with pytest.raises(PlannerError, match="kept producing invalid tool calls") as caught:
            planner_for(fake.base_url, tools, max_repairs=2).plan("go", [])
    assert not isinstance(caught.value, PlannerSetupError)
