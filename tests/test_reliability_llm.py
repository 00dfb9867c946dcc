"""The HTTP clients (the openai judge, the concept LLM of step 0) against loopback servers that
misbehave: a flaky one (30% of requests fail in five ways) costs retries, never samples; a
misconfigured one is refused after one probe in seconds with one line saying what to change; an
API key never reaches a file, a cache or an error message, even when the server echoes it."""
from __future__ import annotations

import json
import time
from pathlib import Path

from selfsynth.cache import ResponseCache
from selfsynth.cli import main
from selfsynth.io import write_jsonl
from selfsynth.synth.concepts import ask_llm_concepts
from selfsynth.synth.config import SynthConfig
from tests.fixtures_llm import STALL, FaultyChat, LoopbackChat, completion
from tests.fixtures_reliability import record_figure

KEY_ENV = "SELFSYNTH_TEST_RELIABILITY_KEY"
SECRET = "sk-reliability-7f3e9c-NEVER-WRITTEN"
CONCURRENCY = 3
TIMEOUT_S = 0.5
QUESTION = "What is the exact name of this bird? Explain your answer."


def _evaluation(folder: Path, n: int) -> Path:
    rows = []
    for i in range(n):
        label = "Crimson Finch" if i % 2 else "Azure Warbler"
        answer = f"GARBLE {label} number {i}." if i % 8 == 0 else f"A {label} (number {i}) because of its crown."
        rows.append({"id": f"s{i:03d}", "label": label, "question": QUESTION, "answer": answer, "match": True, "paper_match": True})
    write_jsonl(folder / "records.jsonl", rows)
    (folder.parent / "concepts.json").write_text(json.dumps({"Crimson Finch": ["red crown"], "Azure Warbler": ["blue crown"]}))
    return folder


def _judge_argv(evaluation: Path, url: str, *extra: str) -> list[str]:
    return ["judge", str(evaluation), "--concepts", str(evaluation.parent / "concepts.json"), "--judge", "openai", "--fluency", "false",
            "--openai.base_url", url, "--openai.model", "grader", "--openai.api_key_env", KEY_ENV,
            "--openai.max_concurrency", str(CONCURRENCY), "--openai.timeout_s", str(TIMEOUT_S), "--openai.max_retries", "8",
            "--openai.backoff_initial_s", "0.05", "--openai.backoff_max_s", "0.2", "--json", *extra]


def _files_holding(root: Path, secret: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_flaky_judge_server_costs_retries_not_samples(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV, SECRET)
    n = 40
    evaluation = _evaluation(tmp_path / "eval", n)
    server = FaultyChat(stall_s=5 * TIMEOUT_S)
    with server as url:
        assert main(_judge_argv(evaluation, url)) == 0
    out, err = capsys.readouterr()
    metrics = json.loads(out.strip().splitlines()[-1])
    rows = [json.loads(line) for line in (evaluation / "judge_records.jsonl").read_text().splitlines()]
    garbled = sum(1 for i in range(n) if i % 8 == 0)
    # every sample ends judged: scored, or a counted parse failure of a reply that is not JSON
    assert len(rows) == n and metrics["n"] == n
    assert sum(r["judge_status"] == "scored" for r in rows) == n - garbled
    assert sum(r["judge_status"] == "parse_error" for r in rows) == garbled == metrics["parse_failures"]
    # each injected fault cost exactly one counted retry
    assert server.injected() >= 0.25 * len(server.requests) and all(server.faults.values())
    assert metrics["judge_usage"]["retries"] == server.injected()
    # one request per sample, one per fault, and one re-ask of each reply that did not parse
    assert metrics["judge_usage"]["requests"] == len(server.requests) == n + server.injected() + garbled
    assert 2 <= server.max_in_flight <= CONCURRENCY
    # the 500s echoed the key: it is in no file written and in no message
    assert _files_holding(tmp_path, SECRET) == [] and SECRET not in out + err
    record_figure("faults", "judge", {"requests": len(server.requests), "injected": server.injected(), "survived": metrics["judge_usage"]["retries"],
                                      "by_kind": server.faults, "samples": n, "samples_lost": n - len(rows), "max_in_flight": server.max_in_flight,
                                      "bound": CONCURRENCY})


def test_flaky_concepts_server_costs_retries_not_classes(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    classes = [f"Bird {i}" for i in range(12)]
    server = FaultyChat(stall_s=5 * TIMEOUT_S)
    with server as url:
        cfg = SynthConfig(concept_model="lister", concept_base_url=url, concept_api_key_env=KEY_ENV, concept_timeout=TIMEOUT_S,
                          concept_max_retries=8, concept_concurrency=CONCURRENCY)
        result = ask_llm_concepts(classes, "bird", cfg, ResponseCache(tmp_path / "cache.sqlite"), progress=False)
        result.write(tmp_path / "out")
    assert result.missing == [] and all(result.concepts[c] == ["red crown", "short conical beak", "forked tail"] for c in classes)
    assert server.injected() >= 3 and result.retries == server.injected() and result.requests == len(server.requests) == 12 + server.injected()
    stats = json.loads((tmp_path / "out" / "concepts.stats.json").read_text())
    assert (stats["llm_retries"], stats["llm_requests"]) == (result.retries, result.requests)
    assert server.max_in_flight <= CONCURRENCY
    assert _files_holding(tmp_path, SECRET) == []
    record_figure("faults", "concepts", {"requests": len(server.requests), "injected": server.injected(), "survived": result.retries,
                                         "by_kind": server.faults, "samples": len(classes), "samples_lost": len(result.missing),
                                         "max_in_flight": server.max_in_flight, "bound": CONCURRENCY})


class RefusesJsonSchema(LoopbackChat):
    """Like llama.cpp's server: HTTP 500 to every request asking for a json_schema response format
    (the body echoing the caller's Authorization header); plain JSON mode is answered."""

    def respond(self, body, auth):
        if (body.get("response_format") or {}).get("type") == "json_schema":
            return 500, {"error": {"code": 500, "message": f"unsupported response_format (auth {auth})", "type": "server_error"}}, {}
        return 200, completion(json.dumps({"rationale": "ok", "explanation": 1, "consistency": 4}), body["model"]), {}


def test_misconfigured_endpoint_is_refused_after_one_probe(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV, SECRET)
    evaluation = _evaluation(tmp_path / "eval", 12)
    server = RefusesJsonSchema()
    with server as url:
        started = time.monotonic()
        code = main(_judge_argv(evaluation, url))
        elapsed = time.monotonic() - started
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and "Traceback" not in err
        assert "HTTP 500" in lines[0] and "3 times in a row on the first request" in lines[0]
        assert "--openai.response_format json_object" in lines[0]
        assert len(server.requests) == 3  # the probe alone; nothing fanned out
        assert elapsed < 3 * TIMEOUT_S + 2.0
        assert SECRET not in err and _files_holding(tmp_path, SECRET) == []
        # the change the message names is the fix
        assert main(_judge_argv(evaluation, url, "--openai.response_format", "json_object")) == 0
    record_figure("fail_fast", "json_schema_refused", {"requests": 3, "seconds": round(elapsed, 2), "message": lines[0].replace(url, "URL")})


class Silent(LoopbackChat):
    """A server that accepts connections and never answers."""

    stall_s = 30.0

    def respond(self, body, auth):
        return STALL, {}, {}


def test_silent_endpoint_is_refused_within_the_timeout_budget(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    server = Silent()
    with server as url:
        cfg = SynthConfig(concept_model="lister", concept_base_url=url, concept_api_key_env=KEY_ENV, concept_timeout=TIMEOUT_S,
                          concept_max_retries=20, concept_concurrency=CONCURRENCY)
        started = time.monotonic()
        try:
            ask_llm_concepts([f"Bird {i}" for i in range(8)], "bird", cfg, ResponseCache(tmp_path / "cache.sqlite"), progress=False)
        except Exception as exc:  # noqa: BLE001 - the type is asserted below
            error = exc
        elapsed = time.monotonic() - started
    from selfsynth.errors import UserError

    assert isinstance(error, UserError) and "APITimeoutError 3 times in a row on the first request" in str(error)
    assert len(server.requests) == 3 and server.max_in_flight == 1
    # 3 timeouts and 2 backoffs (1 s, 2 s; up to 25% jitter), never the 20 retries allowed
    assert elapsed < 3 * TIMEOUT_S + 3.75 + 1.0
    record_figure("fail_fast", "silent_endpoint", {"requests": 3, "seconds": round(elapsed, 2), "message": str(error).replace(url, "URL")})
