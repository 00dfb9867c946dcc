"""The one OpenAI-compatible client (concept LLM and openai judge): retries counted, usage summed,
the key scrubbed from errors, against a loopback server."""
from __future__ import annotations

import pytest

from selfsynth.cache import ResponseCache
from selfsynth.errors import UserError
from selfsynth.llm_client import LLMClient
from selfsynth.synth.concepts import ask_llm_concepts
from selfsynth.synth.config import SynthConfig
from tests.fixtures_llm import LoopbackChat, completion

SECRET = "sk-client-test-7c2e"


class Server(LoopbackChat):
    """Answers with the queued (status, body) pairs, then with a fixed completion."""

    def __init__(self, queue: list[tuple[int, dict]]):
        super().__init__()
        self.queue = list(queue)

    def respond(self, body: dict, auth: str) -> tuple[int, dict, dict]:
        if self.queue:
            status, payload = self.queue.pop(0)
            return status, payload, {}
        return 200, completion("- red crown", "m-served", prompt_tokens=11, completion_tokens=4), {}


def test_retries_and_usage_are_counted():
    with Server([(503, {"error": {"message": "busy"}}), (429, {"error": {"message": "slow"}})]) as url:
        client = LLMClient("test LLM", "m", url, api_key=SECRET, max_retries=3, backoff_initial_s=0.01)
        reply = client.chat([{"role": "user", "content": "hi"}], temperature=0.0)
        client.chat([{"role": "user", "content": "again"}])
    assert reply.text == "- red crown" and reply.served_model == "m-served" and reply.finish_reason == "stop"
    assert client.usage() == {"requests": 4, "retries": 2, "prompt_tokens": 22, "completion_tokens": 8}


def test_gives_up_after_the_last_retry():
    with Server([(500, {"error": {"message": "down"}})] * 3) as url:
        client = LLMClient("test LLM", "m", url, api_key=SECRET, max_retries=2, backoff_initial_s=0.01)
        with pytest.raises(UserError, match=r"test LLM 'm' at .*: HTTP 500 after 2 retries; go on later"):
            client.chat([{"role": "user", "content": "hi"}], gave_up_hint="; go on later")
    assert client.usage()["requests"] == 3


def test_concept_llm_errors_never_show_the_key(tmp_path):
    # a server that echoes the rejected key in its error body
    echo = {"error": {"message": f"Incorrect API key provided: {SECRET}", "type": "invalid_request_error"}}
    config = SynthConfig(concept_model="m", concept_max_retries=0)
    with Server([(401, echo)]) as url:
        config.concept_base_url = url
        with pytest.raises(UserError) as exc:
            ask_llm_concepts(["Azure Warbler"], "bird", config, ResponseCache(tmp_path / "c.sqlite"), api_key=SECRET, progress=False)
    message = str(exc.value)
    assert "HTTP 401" in message and "for class 'Azure Warbler'" in message
    assert SECRET not in message and "<redacted>" in message
