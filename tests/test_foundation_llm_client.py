"""The one OpenAI-compatible client (concept LLM and openai judge): retries counted, usage summed,
the key scrubbed from errors, every reply shape handled, against a loopback server."""
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

    def __init__(self, queue: list[tuple[int, dict | bytes] | tuple[int, dict | bytes, dict]]):
        super().__init__()
        self.queue = list(queue)

    def respond(self, body: dict, auth: str) -> tuple[int, dict, dict]:
        if self.queue:
            status, payload, *headers = self.queue.pop(0)
            return status, payload, (headers or [{}])[0]
        return 200, completion("- red crown", "m-served", prompt_tokens=11, completion_tokens=4), {}


def test_retries_and_usage_are_counted():
    server = Server([(503, {"error": {"message": "busy"}}), (429, {"error": {"message": "slow"}})])
    with server as url:
        client = LLMClient("test LLM", "m", url, api_key=SECRET, max_retries=3, backoff_initial_s=0.01)
        reply = client.chat([{"role": "user", "content": "hi"}], temperature=0.0)
        client.chat([{"role": "user", "content": "again"}])
    assert reply.text == "- red crown" and reply.served_model == "m-served" and reply.finish_reason == "stop"
    assert client.usage() == {"requests": 4, "retries": 2, "prompt_tokens": 22, "completion_tokens": 8}
    # the retries are the openai SDK's own loop: it numbers its attempts, we only count them
    assert [r["retry"] for r in server.requests] == ["0", "1", "2", "0"]


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


HTML = (200, b"<html><body>502 Bad Gateway</body></html>", {"Content-Type": "text/html"})
CUT = (200, b'{"id": "x", "choices": [{"ind', {})
NO_CHOICES_KEY = (200, {"id": "x", "object": "chat.completion", "error": {"message": "upstream timeout"}})


@pytest.mark.parametrize("bad", [HTML, CUT, NO_CHOICES_KEY], ids=["html_page", "cut_json", "json_without_choices"])
def test_a_200_that_is_not_a_completion_is_retried_by_the_sdk(bad):
    server = Server([bad, bad])
    with server as url:
        client = LLMClient("test LLM", "m", url, api_key=SECRET, max_retries=3, backoff_initial_s=0.01)
        reply = client.chat([{"role": "user", "content": "hi"}])
    assert reply.text == "- red crown"
    assert client.usage()["requests"] == 3 and client.usage()["retries"] == 2
    assert [r["retry"] for r in server.requests] == ["0", "1", "2"]


@pytest.mark.parametrize("bad,what", [(HTML, "a reply that is not valid JSON"), (NO_CHOICES_KEY, "a reply that is not a chat completion")])
def test_a_200_that_is_never_a_completion_gives_up_in_one_line(bad, what):
    with Server([bad] * 3) as url:
        client = LLMClient("test LLM", "m", url, api_key=SECRET, max_retries=2, backoff_initial_s=0.01)
        with pytest.raises(UserError) as exc:
            client.chat([{"role": "user", "content": "hi"}])
    assert str(exc.value).endswith(f": {what} after 2 retries") and "\n" not in str(exc.value)


def _completion(**message) -> dict:
    body = completion("", "m-served")
    body["choices"][0]["message"] = {"role": "assistant", **message}
    return body


def test_every_reply_shape_is_a_chat_reply():
    empty = completion("", "m-served")
    empty["choices"] = []
    cut = completion('{"rationale": "the crown is', "m-served")
    cut["choices"][0]["finish_reason"] = "length"
    queue = [(200, empty), (200, _completion(content=None, refusal="I can't help with grading that.")), (200, cut),
             (200, _completion(content=None))]
    with Server(queue) as url:
        client = LLMClient("test LLM", "m", url, api_key=SECRET, max_retries=0)
        no_choices, refused, truncated, no_content = (client.chat([{"role": "user", "content": "hi"}]) for _ in range(4))
    assert (no_choices.text, no_choices.finish_reason) == ("", "no_choices")
    assert (refused.text, refused.refusal) == ("", "I can't help with grading that.")
    assert truncated.truncated and truncated.text == '{"rationale": "the crown is' and not refused.truncated
    assert no_content.text == "" and no_content.refusal is None
    assert client.usage()["requests"] == 4 and client.usage()["retries"] == 0


def test_client_errors_are_not_retried():
    server = Server([(404, {"error": {"message": "model m not found"}})])
    with server as url:
        client = LLMClient("test LLM", "m", url, api_key=SECRET, max_retries=5, backoff_initial_s=0.01)
        with pytest.raises(UserError, match=r"HTTP 404: .*model m not found"):
            client.chat([{"role": "user", "content": "hi"}])
    assert len(server.requests) == 1 and client.usage()["retries"] == 0
