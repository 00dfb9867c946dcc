"""`--limit` is one seeded class-balanced subset in run, eval and judge; a non-positive limit is a
one-line error."""
from __future__ import annotations

import json

import pytest

from selfsynth.cli import main
from selfsynth.errors import UserError
from selfsynth.io import read_jsonl
from selfsynth.metrics.judges.base import Judge, Verdict
from selfsynth.registry import JUDGES, Entry
from selfsynth.tasks.base import Sample, split_seed, subset

LABELS = ["Crimson Finch", "Azure Warbler", "Ochre Tit"]


def _samples(n_per_class: int = 5) -> list[Sample]:
    # classes interleaved unevenly, as a real split is ordered by file name
    return [Sample(f"s{i:03d}", f"/img/{i}.png", LABELS[(i * 7 + i // 4) % 3]) for i in range(3 * n_per_class)]


def test_subset_is_balanced_seeded_and_keeps_the_split_order():
    samples = _samples()
    picked = subset(samples, 6, seed=3)
    assert [s.label for s in picked].count(LABELS[0]) == 2 and len({s.label for s in picked}) == 3
    assert [samples.index(s) for s in picked] == sorted(samples.index(s) for s in picked)
    assert subset(samples, 6, seed=3) == picked != subset(samples, 6, seed=4)
    assert subset(samples, 100, seed=3) == samples and subset(samples, None, seed=3) == samples
    for bad in (0, -1):
        with pytest.raises(UserError, match=f"limit {bad}: expected a positive number"):
            subset(samples, bad, seed=0)


def test_records_subset_like_their_samples():
    # eval writes records in sample order; the same limit and seed pick the same ids from them
    samples = _samples()
    records = [{"id": s.id, "label": s.label, "answer": "x"} for s in samples]
    for seed in (0, 1, 2):
        by_sample = [s.id for s in subset(samples, 5, split_seed(seed, "test"))]
        by_record = [r["id"] for r in subset(records, 5, split_seed(seed, "test"), label=lambda r: r["label"])]
        assert by_sample == by_record
    assert split_seed(4, "train") == 4 and split_seed(4, "test") == 5


class LengthJudge(Judge):
    """test judge: EE = 1 for answers of 3 words or more (no model to load)"""

    name = "length"
    model_id = "word-counter"
    rubric_version = "length-v1"
    prompt_hash = "0" * 64

    def settings(self):
        return {}

    def _run(self, items, context, progress, store):
        for position, item in enumerate(items):
            store(position, {"words": len(item.answer.split())})

    def _verdict(self, raw, item):
        return Verdict(int(raw["words"] >= 3), 1.0)


def test_judge_limit_takes_the_eval_subset(tmp_path, capsys, monkeypatch):
    JUDGES.names()  # built-ins and entry points first, so the test entry is the only addition
    monkeypatch.setitem(JUDGES._entries, "length", Entry("length", LengthJudge, "test judge", "tests.test_foundation_subset"))
    samples = _samples()
    folder = tmp_path / "eval"
    folder.mkdir()
    records = [{"id": s.id, "label": s.label, "question": "What bird is this?", "answer": f"A {s.label}.", "match": True}
               for s in samples]
    (folder / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "metrics.json").write_text(json.dumps({"task": "toy", "split": "test", "seed": 2}))
    concepts = tmp_path / "concepts.json"
    concepts.write_text(json.dumps({label: ["red crown"] for label in LABELS}))
    assert main(["judge", str(folder), "--concepts", str(concepts), "--judge", "length", "--fluency", "false", "--limit", "4"]) == 0
    capsys.readouterr()
    judged = [r["id"] for r in read_jsonl(folder / "judge_records.jsonl")]
    assert judged == [s.id for s in subset(samples, 4, split_seed(2, "test"))]
    assert main(["judge", str(folder), "--concepts", str(concepts), "--judge", "length", "--fluency", "false", "--limit", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "limit 0" in err
