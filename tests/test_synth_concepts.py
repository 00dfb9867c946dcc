"""Step 0: concepts from an OpenAI-compatible endpoint (a loopback HTTP server) or a JSON file."""
from __future__ import annotations

import json

import pytest

from selfsynth.cache import ResponseCache
from selfsynth.errors import UserError
from selfsynth.synth.concepts import (
    CONCEPT_PROMPT_VERSION,
    ask_llm_concepts,
    class_concepts,
    concept_prompt,
    load_concepts_json,
    parse_concepts,
)
from selfsynth.synth.config import SynthConfig
from tests.fixtures_llm import LoopbackChat, completion


class _ChatServer(LoopbackChat):
    """Answers /v1/chat/completions with bullet lists; can fail the first N requests with 503."""

    def __init__(self, fail_first: int = 0):
        super().__init__()
        self.fail_left = fail_first

    def respond(self, body: dict, auth: str) -> tuple[int, dict, dict]:
        if self.fail_left > 0:
            self.fail_left -= 1
            return 503, {"error": {"message": "busy", "type": "server_error"}}, {}
        prompt = body["messages"][0]["content"]
        name = prompt.split('"')[1]
        text = "Here you go:\n" if "Empty" not in name else "I cannot help with that."
        if "Empty" not in name:
            text += f"- {name.lower()} crest\n- bright wing bars\n  - indented line counts\n* star bullets do not\n- bright wing bars\n"
        return 200, completion(text, body["model"]), {}


def test_parse_concepts():
    text = "Intro\n- red crown\n-no space\n  - indented\n* star\n- red crown\n-   \n- forked tail  "
    assert parse_concepts(text) == ["red crown", "indented", "forked tail"]


def test_prompt_is_versioned_and_names_class():
    p = concept_prompt("Azure Warbler", "bird")
    assert '"Azure Warbler"' in p and "bird species" in p and '"- "' in p
    assert CONCEPT_PROMPT_VERSION == "concepts-v1"  # bump when CONCEPT_PROMPT changes


def test_llm_concepts_cached_and_retried(tmp_path):
    cfg = SynthConfig(concept_model="toy-llm", concept_max_retries=2, concept_timeout=10)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    classes = ["Azure Warbler", "Dusky Finch", "Marsh Tanager"]
    server = _ChatServer(fail_first=1)
    with server as url:
        cfg.concept_base_url = url
        result = ask_llm_concepts(classes, "bird", cfg, cache, api_key="sk-test", progress=False)
        assert result.calls == 3
        assert result.concepts["Dusky Finch"] == ["dusky finch crest", "bright wing bars", "indented line counts"]
        assert result.missing == []
        # re-run: everything from the cache, no request reaches the server
        again = ask_llm_concepts(classes, "bird", cfg, cache, api_key="sk-test", progress=False)
        assert again.calls == 0 and again.concepts == result.concepts
    assert len(server.requests) == 4  # 3 classes + 1 retry of the 503


def test_llm_requests_and_missing(tmp_path):
    cfg = SynthConfig(concept_model="toy-llm", concept_max_retries=0, concept_timeout=10)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    server = _ChatServer()
    with server as url:
        cfg.concept_base_url = url
        with pytest.raises(UserError, match="Empty Shrike"):
            ask_llm_concepts(["Empty Shrike", "Frost Pipit"], "bird", cfg, cache, api_key="sk-test", progress=False)
        result = class_concepts(["Empty Shrike", "Frost Pipit"], "bird", cfg, cache, tmp_path / "out", api_key="sk-test", allow_missing=True)
    assert result.missing == ["Empty Shrike"]
    assert result.calls == 1  # Frost Pipit came from the cache; the empty answer was not cached
    bodies = [r["body"] for r in server.requests]
    assert all(b["model"] == "toy-llm" and b["temperature"] == 0.0 for b in bodies)
    assert all(r["path"] == "/v1/chat/completions" and r["auth"] == "Bearer sk-test" for r in server.requests)
    written = json.loads((tmp_path / "out" / "concepts.json").read_text())
    assert written["Frost Pipit"][0] == "frost pipit crest"
    stats = json.loads((tmp_path / "out" / "concepts.stats.json").read_text())
    assert stats["missing"] == ["Empty Shrike"] and stats["llm_calls"] == 1


def test_llm_retry_after_503(tmp_path):
    cfg = SynthConfig(concept_model="toy-llm", concept_max_retries=2, concept_timeout=10, concept_concurrency=1)
    server = _ChatServer(fail_first=1)
    with server as url:
        cfg.concept_base_url = url
        result = ask_llm_concepts(["Copper Vireo"], "bird", cfg, ResponseCache(tmp_path / "c.sqlite"), api_key="k", progress=False)
    assert len(server.requests) == 2 and result.concepts["Copper Vireo"]


def test_missing_api_key(tmp_path, monkeypatch):
    monkeypatch.delenv("SELFSYNTH_TEST_NO_KEY", raising=False)
    cfg = SynthConfig(concept_api_key_env="SELFSYNTH_TEST_NO_KEY")
    with pytest.raises(UserError, match="SELFSYNTH_TEST_NO_KEY"):
        ask_llm_concepts(["A"], "bird", cfg, ResponseCache(tmp_path / "c.sqlite"), progress=False)


def test_json_import_matching(tmp_path):
    path = tmp_path / "descriptors.json"
    path.write_text(json.dumps({
        "black-footed albatross": ["dark body", "pale face ring"],
        "001.Black_footed_Albatross": ["dark body", "long narrow wings"],
        "Artic Tern": ["black cap"],
        "Unknown Bird": ["x"],
    }))
    classes = ["Black footed Albatross", "Arctic Tern", "Forsters Tern"]
    aliases = {"Arctic Tern": ("Artic Tern",)}
    with pytest.raises(UserError, match="Forsters Tern"):
        load_concepts_json(path, classes, lambda c: aliases.get(c, ()))
    got = load_concepts_json(path, classes, lambda c: aliases.get(c, ()), allow_missing=True)
    assert got.concepts["Black footed Albatross"] == ["dark body", "pale face ring", "long narrow wings"]
    assert got.concepts["Arctic Tern"] == ["black cap"]
    assert got.missing == ["Forsters Tern"] and got.unmatched_keys == ["Unknown Bird"]


def test_json_import_bad_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"A": "not a list"}')
    with pytest.raises(UserError, match="list of strings"):
        load_concepts_json(bad, ["A"])
    bad.write_text("[1, 2]")
    with pytest.raises(UserError, match="JSON object"):
        load_concepts_json(bad, ["A"])
    with pytest.raises(UserError, match="not found"):
        load_concepts_json(tmp_path / "nope.json", ["A"])
