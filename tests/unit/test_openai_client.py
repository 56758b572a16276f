"""The OpenAI-compatible client (evalkit/serving/openai_client.py) against scripted servers: exact
bodies, replies handed back as they arrive, a failure raised only after the replies that did
arrive, the key read from the named variable, and servers without /models."""

from __future__ import annotations

import pytest

from evalkit.serving.openai_client import ChatRequest, EndpointError, OpenAIChatClient, run_concurrently
from tests.support.judge_server import ScriptedServer


def test_bodies_leave_unset_fields_out_and_replies_carry_usage() -> None:
    with ScriptedServer(lambda body: body["messages"][0]["content"].upper(), models=["m"]) as server:
        client = OpenAIChatClient(server.base_url, max_retries=0)
        requests = [ChatRequest("m", ({"role": "user", "content": f"q{i}"},), temperature=0.0 if i else None)
                    for i in range(6)]
        replies = dict(client.complete_many(requests, concurrency=3))
    assert {i: r.text for i, r in replies.items()} == {i: f"Q{i}" for i in range(6)}
    assert replies[0].model == "m" and replies[0].prompt_tokens == 10 and replies[0].completion_tokens == 3
    bodies = sorted(server.bodies, key=lambda b: b["messages"][0]["content"])
    assert "temperature" not in bodies[0] and bodies[1]["temperature"] == 0.0
    assert all(set(b) <= {"model", "messages", "temperature"} for b in bodies)


def test_a_failure_is_raised_after_the_replies_that_arrived() -> None:
    def call(x: int) -> int:
        if x == 3:
            raise ValueError("boom")
        return x * 10

    got = {}
    with pytest.raises(ValueError, match="boom"):
        for index, value in run_concurrently(call, list(range(6)), concurrency=1):
            got[index] = value
    assert got == {0: 0, 1: 10, 2: 20}


def test_key_from_the_named_variable(monkeypatch) -> None:
    monkeypatch.setenv("MY_JUDGE_KEY", "secret")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with ScriptedServer(lambda body: "ok", models=["m"], api_key="secret") as server:
        OpenAIChatClient(server.base_url, api_key_env="MY_JUDGE_KEY", max_retries=0).check("m")
        with pytest.raises(EndpointError, match=r"rejected the API key \(read from \$OPENAI_API_KEY\)"):
            OpenAIChatClient(server.base_url, max_retries=0).check("m")


def test_a_server_without_a_models_endpoint_is_checked_with_one_request() -> None:
    with ScriptedServer(lambda body: "pong", models=None) as server:
        OpenAIChatClient(server.base_url, max_retries=0).check("any-model")
    assert server.bodies == [{"model": "any-model", "max_tokens": 1, "messages": [{"role": "user", "content": "ping"}]}]
