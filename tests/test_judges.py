"""EE/CS judges: the openai judge against a loopback OpenAI-compatible server (retries, parse
failures, cache, key hygiene), the local proxy on hand-written answers, and `selfsynth judge`."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from selfsynth.cache import ResponseCache
from selfsynth.cli import main
from selfsynth.errors import UserError
from selfsynth.registry import JUDGES, Entry
from selfsynth.metrics.judges.base import (
    EMPTY_ANSWER,
    NO_CONCEPTS,
    PARSE_ERROR,
    Judge,
    JudgeContext,
    JudgeItem,
    Verdict,
    summarize,
)
from selfsynth.metrics.judges.local import LocalJudge, extract_claims
from selfsynth.metrics.judges.openai_judge import (
    PROMPT_HASH,
    RUBRIC_VERSION,
    OpenAIJudge,
    OpenAIJudgeConfig,
    parse_reply,
    render_messages,
)
from tests.fixtures_datasets import make_toy
from tests.fixtures_llm import LoopbackChat, completion

KEY_ENV = "SELFSYNTH_TEST_JUDGE_KEY"
SECRET = "sk-test-DO-NOT-LEAK-8d1f3a"
QUESTION = "Based on what you see, what is the exact name of this bird? Explain your answer."


class FakeOpenAI(LoopbackChat):
    """A loopback /v1/chat/completions server with canned grades, chosen by markers in the answer:
    "because" → explanation 1, consistency 3; "GARBLE" → a reply that is not JSON; "THROTTLE" →
    429 on its first request; "BROKEN" → 503 on every request; "DENY" → 401 echoing the key;
    "LONG" → a reply cut at max_tokens (finish_reason "length") unless max_tokens is above 256;
    else explanation 0, consistency 0."""

    def __init__(self):
        super().__init__()
        self._throttled: set[str] = set()

    def respond(self, body: dict, auth: str) -> tuple[int, dict, dict]:
        answer = body["messages"][1]["content"].split("<<<ANSWER\n", 1)[1].split("\nANSWER>>>", 1)[0]
        if "DENY" in answer:  # like servers that echo the rejected key in the error body
            return 401, {"error": {"message": f"Incorrect API key provided: {auth.removeprefix('Bearer ')}", "type": "auth"}}, {}
        if "BROKEN" in answer:
            return 503, {"error": {"message": "overloaded", "type": "server_error"}}, {}
        if "THROTTLE" in answer:
            with self._lock:
                first = answer not in self._throttled
                self._throttled.add(answer)
            if first:
                return 429, {"error": {"message": "slow down", "type": "rate_limit"}}, {"Retry-After": "0"}
        if "LONG" in answer:
            full = json.dumps({"rationale": "a long rationale " * 40, "explanation": 1, "consistency": 4})
            if body["max_tokens"] <= 256:
                reply = completion(full[:200], body["model"] + "-served", prompt_tokens=100, completion_tokens=256)
                reply["choices"][0]["finish_reason"] = "length"
                return 200, reply, {}
            return 200, completion(full, body["model"] + "-served", prompt_tokens=100, completion_tokens=300), {}
        if "GARBLE" in answer:
            content = "The answer looks reasonable to me."
        elif "because" in answer:
            content = json.dumps({"rationale": "names matching traits", "explanation": 1, "consistency": 3})
        else:
            content = "```json\n" + json.dumps({"rationale": "label only", "explanation": 0, "consistency": 0}) + "\n```"
        return 200, completion(content, body["model"] + "-served", prompt_tokens=100, completion_tokens=20), {}


def _items() -> list[JudgeItem]:
    concepts = ("red crown", "short beak", "forked tail")
    return [
        JudgeItem("a", QUESTION, "This is a Crimson Finch because it has a red crown.", "Crimson Finch", concepts),
        JudgeItem("b", QUESTION, "This is a Crimson Finch.", "Crimson Finch", concepts),
        JudgeItem("c", QUESTION, "GARBLE this is a Crimson Finch.", "Crimson Finch", concepts),
        JudgeItem("d", QUESTION, "THROTTLE: a Crimson Finch because of its forked tail.", "Crimson Finch", concepts),
        JudgeItem("e", QUESTION, "   ", "Crimson Finch", concepts),
        JudgeItem("f", QUESTION, "This is a Crimson Finch because it has a red crown.", "Crimson Finch", ()),
    ]


def _openai_config(url: str, **overrides) -> OpenAIJudgeConfig:
    settings = {"model": "grader-1", "base_url": url, "api_key_env": KEY_ENV, "max_concurrency": 3, "max_retries": 3,
                "timeout_s": 10.0, "backoff_initial_s": 0.01, "backoff_max_s": 0.05,
                "price_input_per_mtok": 2.5, "price_output_per_mtok": 10.0}
    settings.update(overrides)
    return OpenAIJudgeConfig(**settings)


def test_openai_judge_retries_counts_parse_failures_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    cache = ResponseCache(tmp_path / "judge.sqlite")
    server = FakeOpenAI()
    with server as url:
        judge = OpenAIJudge(_openai_config(url), cache)
        verdicts = judge.judge(_items(), JudgeContext())
        by_id = dict(zip("abcdef", verdicts))
        assert (by_id["a"].ee, by_id["a"].cs, by_id["a"].status) == (1, 0.75, "scored")
        assert (by_id["b"].ee, by_id["b"].cs) == (0, 0.0)  # fenced JSON is still parsed
        assert by_id["c"].status == PARSE_ERROR and by_id["c"].ee is None and by_id["c"].cs is None
        assert "not JSON" in by_id["c"].error
        assert (by_id["d"].ee, by_id["d"].cs) == (1, 0.75)  # served after one 429
        assert (by_id["e"].status, by_id["e"].ee, by_id["e"].cs) == (EMPTY_ANSWER, 0, 0.0)
        assert (by_id["f"].status, by_id["f"].ee) == (NO_CONCEPTS, None)
        assert by_id["a"].detail["served_model"] == "grader-1-served"

        usage = judge.usage_summary()
        # 4 answers sent (the empty one and the one without concepts are not), + 1 retry of the 429,
        # + the unparseable reply asked once more (with a 4x token limit)
        assert (usage["requests"], usage["retries"], usage["new_results"], usage["cache_hits"], usage["reasked"]) == (6, 1, 4, 0, 1)
        assert server.requests[-1]["body"]["max_tokens"] == 4 * server.requests[0]["body"]["max_tokens"]
        assert by_id["c"].detail["reasked"] is True
        assert (usage["prompt_tokens"], usage["completion_tokens"]) == (500, 100)
        assert usage["cost_usd"] == pytest.approx((500 * 2.5 + 100 * 10.0) / 1e6)
        summary = summarize(verdicts)
        assert (summary["n"], summary["n_ee"], summary["parse_failures"], summary["empty_answers"], summary["no_concepts"]) == (6, 4, 1, 1, 1)
        assert summary["ee"] == pytest.approx(2 / 4) and summary["cs"] == pytest.approx(1.5 / 4)

        sent = server.requests[0]
        assert sent["path"] == "/v1/chat/completions" and sent["auth"] == f"Bearer {SECRET}"
        assert sent["body"]["temperature"] == 0.0 and sent["body"]["model"] == "grader-1"
        assert sent["body"]["response_format"]["type"] == "json_schema"

        # a re-run is served from the cache, except the reply that never parsed: it was not cached
        # as final, so it is asked again (and re-asked), and still counted as a parse failure
        before = len(server.requests)
        again = OpenAIJudge(_openai_config(url), cache).judge(_items(), JudgeContext())
        assert len(server.requests) == before + 2
        assert [r["body"]["messages"][1]["content"].count("GARBLE") for r in server.requests[before:]] == [1, 1]
        assert [(v.ee, v.cs, v.status) for v in again] == [(v.ee, v.cs, v.status) for v in verdicts]
        assert [v.cached for v in again[:4]] == [True, True, False, True]
        assert summarize(again)["parse_failures"] == 1
        assert summarize(again)["records_prompt_tokens"] == 400  # the three cached judgments + the new unparsed one


def test_a_reply_cut_at_max_tokens_is_reasked_with_room_and_cached_only_when_it_parses(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    cache = ResponseCache(tmp_path / "judge.sqlite")
    long_answer = JudgeItem("g", QUESTION, "LONG: a Crimson Finch because of its red crown.", "Crimson Finch", ("red crown",))
    server = FakeOpenAI()
    with server as url:
        judge = OpenAIJudge(_openai_config(url), cache)
        [verdict] = judge.judge([long_answer])
        # the first reply was cut (finish_reason length) and did not parse: asked again with 1024 tokens
        assert [r["body"]["max_tokens"] for r in server.requests] == [256, 1024]
        assert (verdict.status, verdict.ee, verdict.cs, verdict.detail["reasked"]) == ("scored", 1, 1.0, True)
        assert judge.usage_summary()["reasked"] == 1
        # the parsed reply is what was cached: a re-run costs nothing and scores the same
        again = OpenAIJudge(_openai_config(url), cache)
        [cached] = again.judge([long_answer])
        assert len(server.requests) == 2 and cached.cached and (cached.ee, cached.cs) == (1, 1.0)
        assert again.usage_summary()["cache_hits"] == 1


def test_openai_judge_gives_up_after_retries_and_on_client_errors(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    server = FakeOpenAI()
    with server as url:
        judge = OpenAIJudge(_openai_config(url, max_retries=2, max_concurrency=1), ResponseCache(tmp_path / "c.sqlite"))
        broken = JudgeItem("x", QUESTION, "BROKEN because red crown", "Crimson Finch", ("red crown",))
        with pytest.raises(UserError, match="HTTP 503 after 2 retries"):
            judge.judge([broken])
        assert judge.usage_summary()["requests"] == 3 and judge.usage_summary()["retries"] == 2
        denied = JudgeItem("y", QUESTION, "DENY because red crown", "Crimson Finch", ("red crown",))
        with pytest.raises(UserError, match="HTTP 401") as exc:
            judge.judge([denied])
        assert SECRET not in str(exc.value) and "<redacted>" in str(exc.value)
        assert judge.usage_summary()["requests"] == 4  # a 401 is not retried
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(UserError, match=f"environment variable {KEY_ENV}"):
        OpenAIJudge(_openai_config("http://127.0.0.1:9/v1")).judge([broken])


def test_rubric_is_versioned_hashed_and_parsed_strictly():
    # the rubric text is frozen by its hash: changing it must come with a new RUBRIC_VERSION
    assert (RUBRIC_VERSION, PROMPT_HASH) == ("ee-cs-rubric-v1", "6f1f67413835eec7d6daad479c227233b409bc857b2ee83c245092c12879efbe")
    messages = render_messages(_items()[0])
    assert "- red crown\n- short beak\n- forked tail" in messages[1]["content"]
    assert "Correct category of the image: Crimson Finch" in messages[1]["content"]
    assert parse_reply('{"explanation": true, "consistency": 4.0}')[:2] == (1, 1.0)
    for bad, reason in [("[1, 2]", "expected an object"), ('{"explanation": 2, "consistency": 1}', "'explanation'"),
                        ('{"explanation": 1, "consistency": 5}', "'consistency'"), ('{"explanation": 1}', "'consistency'")]:
        with pytest.raises(ValueError, match=reason):
            parse_reply(bad)


# -- local proxy -------------------------------------------------------------------------------
TRUE_CONCEPTS = ("yellow crown", "green wings", "spotted wings", "forked tail", "long beak")
POOL = TRUE_CONCEPTS + ("red crown", "blue crown", "blue wings", "plain wings", "pointed tail", "short beak", "hooked beak")
LABELS = ("Thistle Warbler", "Azure Bunting", "Marsh Pipit")


@pytest.fixture(scope="module")
def local_cache(tmp_path_factory):
    return ResponseCache(tmp_path_factory.mktemp("local") / "judge.sqlite")


@pytest.fixture(scope="module")
def local_verdicts(local_cache):
    answers = {
        "label_only": "This bird is a Thistle Warbler.",
        "other_label_only": "This bird is an Azure Bunting.",
        "true": "This is a Thistle Warbler because it has a yellow crown, green spotted wings and a forked tail.",
        "wrong": "This is a Thistle Warbler because it has a red crown, blue plain wings and a pointed tail.",
        "half": "A Thistle Warbler: it has a yellow crown and a hooked beak.",
        "filler": "This is a Thistle Warbler. I am quite sure about it, it is a beautiful bird.",
    }
    items = [JudgeItem(name, QUESTION, text, "Thistle Warbler", TRUE_CONCEPTS) for name, text in answers.items()]
    judge = LocalJudge(cache=local_cache)
    return dict(zip(answers, judge.judge(items, JudgeContext(LABELS, POOL)))), items


def test_local_claims_drop_labels_and_filler():
    claims = extract_claims("This bird is an Azure Bunting. It has a red crown, and green spotted wings!", QUESTION, LABELS)
    assert claims == ["red crown", "green spotted wings"]


def test_local_label_only_answers_have_no_explanation(local_verdicts):
    verdicts, _ = local_verdicts
    for name in ("label_only", "other_label_only", "filler"):
        assert (verdicts[name].ee, verdicts[name].cs) == (0, 0.0), name
    assert verdicts["filler"].detail["other_claims"] == ["am sure", "beautiful"]


def test_local_true_concepts_score_higher_than_wrong_ones(local_verdicts):
    verdicts, _ = local_verdicts
    assert (verdicts["true"].ee, verdicts["true"].cs) == (1, 1.0)
    assert (verdicts["wrong"].ee, verdicts["wrong"].cs) == (1, 0.0)
    assert (verdicts["half"].ee, verdicts["half"].cs) == (1, 0.5)
    wrong = {c["claim"]: c for c in verdicts["wrong"].detail["attribute_claims"]}
    # "pointed tail" is nearer the contrast concept it names than the image's "forked tail"
    assert wrong["pointed tail"]["contrast"] == "pointed tail" and not wrong["pointed tail"]["consistent"]
    assert verdicts["true"].detail["contrast_concepts"] == len(POOL) - len(TRUE_CONCEPTS)


def test_local_rerun_is_cached_without_loading_the_encoder(local_verdicts, local_cache):
    verdicts, items = local_verdicts
    judge = LocalJudge(cache=local_cache)
    again = judge.judge(items, JudgeContext(LABELS, POOL))
    assert judge.cache_hits == len(items) and judge.new_results == 0
    assert judge.encoder._model is None
    assert [(v.ee, v.cs) for v in again] == [(verdicts[it.id].ee, verdicts[it.id].cs) for it in items]
    # another concept pool is another judgment
    assert judge.cache_key(items[0], JudgeContext(LABELS, POOL)) != judge.cache_key(items[0], JudgeContext(LABELS, POOL[:6]))


def test_builtin_judges_are_lazy_and_listed():
    entries = {e.name: e for e in JUDGES.entries()}
    assert {"local", "openai"} <= set(entries)
    assert JUDGES.get("local") is LocalJudge and JUDGES.get("openai") is OpenAIJudge


# -- selfsynth judge -----------------------------------------------------------------------------
def _write_records(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def _row(sample_id: str, label: str, answer: str) -> dict:
    return {"id": sample_id, "label": label, "question": QUESTION, "answer": answer, "match": label in answer, "paper_match": label in answer}


def test_cli_openai_writes_results_without_the_key(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV, SECRET)
    evaluation = _write_records(tmp_path / "eval", [
        _row("1", "Crimson Finch", "A Crimson Finch because it has a red crown."),
        _row("2", "Azure Warbler", "GARBLE an Azure Warbler."),
        _row("3", "Azure Warbler", ""),
    ])
    concepts = tmp_path / "concepts.json"
    concepts.write_text(json.dumps({"001.Crimson_Finch": ["red crown", "short beak"], "002.Azure_Warbler": ["blue crown"]}))
    server = FakeOpenAI()
    with server as url:
        argv = ["judge", str(evaluation), "--concepts", str(concepts), "--judge", "openai", "--fluency", "false",
                "--openai.base_url", url, "--openai.model", "grader-1", "--openai.api_key_env", KEY_ENV,
                "--openai.backoff_initial_s", "0.01", "--json"]
        assert main(argv) == 0
        metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert len(server.requests) == 3  # the empty answer is not sent; the unparseable one is asked twice
        assert main(argv) == 0
        assert len(server.requests) == 5  # re-run: only the reply that never parsed is asked again
    assert (metrics["n"], metrics["parse_failures"], metrics["empty_answers"], metrics["ee"], metrics["cs"]) == (3, 1, 1, 0.5, 0.375)
    assert metrics["judge"]["prompt_hash"] == PROMPT_HASH and metrics["judge"]["rubric_version"] == RUBRIC_VERSION
    assert metrics["judge_usage"]["requests"] == 3 and metrics["config"]["openai"]["api_key_env"] == KEY_ENV
    rows = [json.loads(line) for line in (evaluation / "judge_records.jsonl").read_text().splitlines()]
    assert [r["judge_status"] for r in rows] == ["scored", "parse_error", "empty_answer"]
    assert rows[0]["concepts"] == ["red crown", "short beak"] and rows[0]["prompt_hash"] == PROMPT_HASH
    written = [p for p in evaluation.iterdir() if p.is_file()]
    assert {p.name for p in written} >= {"judge_records.jsonl", "judge_metrics.json", "judge_cache.sqlite"}
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path.name


def test_cli_local_on_toy_layout(tmp_path, capsys):
    root = tmp_path / "toy"
    make_toy(root)  # test rows: visible_concepts ["red crown"] (Crimson Finch) / ["blue crown"] (Azure Warbler)
    evaluation = _write_records(tmp_path / "eval", [
        _row("test_00000", "Crimson Finch", "This bird is a Crimson Finch. The bird has a red crown."),
        _row("test_00001", "Azure Warbler", "This bird is an Azure Warbler. The bird has a red crown."),
        _row("test_00002", "Crimson Finch", "This bird is an Azure Warbler."),
    ])
    out = tmp_path / "judged"
    assert main(["judge", str(evaluation), "--task", "toy", "--root", str(root), "--fluency", "false", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "local-proxy" in printed and "EE=0.6667" in printed and "CS=0.3333" in printed
    rows = [json.loads(line) for line in (out / "judge_records.jsonl").read_text().splitlines()]
    assert [(r["ee"], r["cs"]) for r in rows] == [(1, 1.0), (1, 0.0), (0, 0.0)]
    assert all(r["judge"] == "local-proxy" for r in rows)
    metrics = json.loads((out / "judge_metrics.json").read_text())
    assert metrics["judge"]["proxy"] is True and "proxy" in metrics["note"]
    assert metrics["task"] == "toy" and not (evaluation / "judge_records.jsonl").exists()


@pytest.mark.parametrize("case, expected", [
    ("missing_records", "nowhere: not found (expected an evaluation folder with records.jsonl"),
    ("bad_record", "records.jsonl:2: expected a JSON object with id, label, question, answer"),
    ("bad_concepts", "concepts.json: the value of 'Crimson Finch' must be a list of strings"),
    ("unknown_class", "concepts.json: no concepts for class 'Azure Warbler'"),
    ("no_concepts_source", "pass --concepts FILE"),
    ("unknown_judge", "unknown judge 'opnai'; did you mean 'openai'"),
])
def test_cli_bad_input_is_a_one_line_user_error(tmp_path, capsys, case, expected):
    evaluation = _write_records(tmp_path / "eval", [_row("1", "Crimson Finch", "A Crimson Finch."), _row("2", "Azure Warbler", "An Azure Warbler.")])
    concepts = tmp_path / "concepts.json"
    concepts.write_text(json.dumps({"Crimson Finch": ["red crown"], "Azure Warbler": ["blue crown"]}))
    argv = ["judge", str(evaluation), "--concepts", str(concepts), "--fluency", "false"]
    if case == "missing_records":
        argv[1] = str(tmp_path / "nowhere")
    elif case == "bad_record":
        (evaluation / "records.jsonl").write_text(json.dumps(_row("1", "Crimson Finch", "x")) + "\n" + json.dumps({"id": "2"}) + "\n")
    elif case == "bad_concepts":
        concepts.write_text(json.dumps({"Crimson Finch": "red crown"}))
    elif case == "unknown_class":
        concepts.write_text(json.dumps({"Crimson Finch": ["red crown"]}))
    elif case == "no_concepts_source":
        argv = ["judge", str(evaluation), "--fluency", "false"]
    elif case == "unknown_judge":
        argv += ["--judge", "opnai"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err and err.startswith("selfsynth judge: error:")


@dataclasses.dataclass
class CountingConfig:
    min_words: int = 3


class CountingJudge(Judge):
    """test plugin: EE = 1 when the answer has at least `min_words` words; CS = 1 - 1/words"""

    name = "counting"
    config_class = CountingConfig

    @property
    def model_id(self) -> str:
        return "word-counter"

    @property
    def rubric_version(self) -> str:
        return "counting-v1"

    @property
    def prompt_hash(self) -> str:
        return "0" * 64

    def settings(self):
        return {"min_words": self.config.min_words}

    def _run(self, items, context, progress, store):
        for position, item in enumerate(items):
            store(position, {"words": len(item.answer.split())})

    def _verdict(self, raw, item):
        return Verdict(int(raw["words"] >= self.config.min_words), 1 - 1 / raw["words"])


def test_cli_plugin_judge_takes_its_settings_from_yaml(tmp_path, monkeypatch, capsys):
    JUDGES.names()  # built-ins and entry points first, so the test entry is the only addition
    monkeypatch.setitem(JUDGES._entries, "counting", Entry("counting", CountingJudge, "test plugin", "tests.test_judges"))
    evaluation = _write_records(tmp_path / "eval", [_row("1", "Crimson Finch", "A Crimson Finch."),
                                                    _row("2", "Crimson Finch", "A Crimson Finch, red crown.")])
    concepts = tmp_path / "concepts.json"
    concepts.write_text(json.dumps({"Crimson Finch": ["red crown"]}))
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text("judge: counting\nfluency: false\njudge_options:\n  min_words: 4\n")
    assert main(["judge", str(evaluation), "--concepts", str(concepts), "--config", str(run_yaml), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["judge"]["judge"] == "counting" and metrics["judge"]["settings"] == {"min_words": 4}
    assert (metrics["ee"], metrics["cs"]) == (0.5, pytest.approx(((1 - 1 / 3) + (1 - 1 / 5)) / 2))
    run_yaml.write_text("judge: counting\nfluency: false\njudge_options:\n  min_word: 4\n")
    assert main(["judge", str(evaluation), "--concepts", str(concepts), "--config", str(run_yaml)]) == 2
    assert "unknown key(s) 'min_word' (did you mean 'min_words'?)" in capsys.readouterr().err
