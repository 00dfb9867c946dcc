"""Work that parallel lanes share is done once: two processes (threads here, each with its own
lock object, as two processes have) scoring or judging the same answers at the same time compute
them once; the other waits and reads them from the cache. Different answer sets never wait."""
from __future__ import annotations

import threading
import time
from pathlib import Path

from selfsynth.cache import ResponseCache
from selfsynth.io import read_jsonl
from selfsynth.metrics.fluency import FluencyScorer
from selfsynth.metrics.judges.base import JudgeContext, JudgeItem
from selfsynth.metrics.judges.local import LocalJudge

TEXTS = ["The bird has a red crown.", "This bird is a Marsh Warbler.", "A plain wing and a long tail."]


def slow_scorer(cache: ResponseCache, calls: list[list[str]]) -> FluencyScorer:
    scorer = FluencyScorer(cache=cache)

    def perplexities(texts, progress):
        calls.append(list(texts))
        time.sleep(0.3)  # long enough for the other thread to arrive while this one computes
        return {t: {"perplexity": float(len(t)), "mean_nll": 1.0, "tokens": 3, "truncated": False} for t in texts}

    scorer._perplexities = perplexities  # the model itself is not what this test is about
    return scorer


def run_together(*jobs):
    start = threading.Barrier(len(jobs))
    results = [None] * len(jobs)

    def go(i, job):
        start.wait()
        results[i] = job()

    threads = [threading.Thread(target=go, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_the_same_answers_are_scored_once(tmp_path):
    calls: list[list[str]] = []
    a = slow_scorer(ResponseCache(tmp_path / "cache.sqlite"), calls)
    b = slow_scorer(ResponseCache(tmp_path / "cache.sqlite"), calls)
    first, second = run_together(lambda: a.score(TEXTS), lambda: b.score(list(reversed(TEXTS))))
    assert len(calls) == 1 and sorted(calls[0]) == sorted(TEXTS)
    assert first == list(reversed(second))
    assert sorted([a.new_scores, b.new_scores]) == [0, 3] and sorted([a.cache_hits, b.cache_hits]) == [0, 3]


def test_different_answers_do_not_wait(tmp_path):
    calls: list[list[str]] = []
    a = slow_scorer(ResponseCache(tmp_path / "cache.sqlite"), calls)
    b = slow_scorer(ResponseCache(tmp_path / "cache.sqlite"), calls)
    started = time.perf_counter()
    run_together(lambda: a.score(TEXTS[:2]), lambda: b.score(TEXTS[2:]))
    assert len(calls) == 2 and a.new_scores == 2 and b.new_scores == 1
    assert time.perf_counter() - started < 0.55  # side by side (0.3 s each), not one after the other


def test_the_same_answers_are_judged_once(tmp_path):
    items = [JudgeItem(str(i), "What bird is this?", text, "Marsh Warbler", ["red crown", "long tail"])
             for i, text in enumerate(TEXTS)]
    judges = [LocalJudge(cache=ResponseCache(tmp_path / "cache.sqlite")) for _ in range(2)]
    asked: list[int] = []
    for judge in judges:
        original = judge._run

        def counted(batch, context, progress, store, original=original):
            asked.append(len(batch))
            time.sleep(0.3)
            return original(batch, context, progress, store)

        judge._run = counted
    context = JudgeContext(label_names=["Marsh Warbler"], concept_pool=["red crown", "long tail"])
    first, second = run_together(*(lambda j=j: j.judge(items, context) for j in judges))
    assert asked == [3]
    assert [(v.ee, v.cs) for v in first] == [(v.ee, v.cs) for v in second]
    assert sorted(sum(v.cached for v in verdicts) for verdicts in (first, second)) == [0, 3]


def test_the_same_greedy_answers_are_generated_once(tmp_path, toy_world, toy_lm, monkeypatch):
    import selfsynth.generate as gen

    root = Path(toy_world.dataset_root)
    requests = [(str(root / r["image"]), "Describe the bird in the image.") for r in read_jsonl(root / "test.jsonl")[:3]]
    rows_generated: list[int] = []
    real = gen._generate_rows

    def counted(lm, rows, args):
        rows_generated.append(len(rows))
        time.sleep(0.3)
        return real(lm, rows, args)

    monkeypatch.setattr(gen, "_generate_rows", counted)
    caches = [ResponseCache(tmp_path / "gen.sqlite") for _ in range(2)]
    args = gen.GenArgs(max_new_tokens=12)
    first, second = run_together(*(lambda c=c: gen.generate(toy_lm, requests, args, cache=c) for c in caches))
    assert first == second and sum(rows_generated) == 3
    # the one that waited found everything cached, and its misses were not counted twice
    assert sorted((c.hits, c.misses) for c in caches) == [(0, 3), (3, 0)]
