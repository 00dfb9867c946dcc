"""What an evaluation records about its scoring: the rule's version, the verdict per answer, the
chest X-ray yes/no question, and the unreadable images of the evaluated split only."""
from __future__ import annotations

import json

import pytest

from selfsynth.api import build_task
from selfsynth.evaluate import evaluate, skipped_images
from selfsynth.tasks.labels import SCORING_RULE
from tests.fixtures_datasets import make_chest, make_cub, write_corrupt


@pytest.mark.parametrize("corrupt_train, corrupt_test", [(0, 1), (1, 1), (2, 0)])
def test_skipped_images_count_the_evaluated_split(tmp_path, corrupt_train, corrupt_test):
    make_cub(tmp_path, corrupt=corrupt_test == 1)
    images = tmp_path / "CUB_200_2011" / "images"
    train_images = sorted(p for p in images.rglob("*.jpg") if p.stem.endswith(("_0000", "_0001")))
    for path in train_images[:corrupt_train]:
        write_corrupt(path)
    task = build_task("cub200", str(tmp_path))
    task.load("train"), task.load("test")  # both splits loaded: the task has seen every bad file
    assert len(task.skipped) == corrupt_train + corrupt_test
    assert skipped_images(task, "test") == corrupt_test
    assert skipped_images(task, "train") == corrupt_train


def test_evaluation_records_rule_and_verdicts(toy_lm, toy_world, tmp_path):
    task = build_task("toy", str(toy_world.dataset_root))
    samples = task.load("test")[:4]
    metrics = evaluate(task, samples, toy_lm, tmp_path, max_new_tokens=24, extra={"split": "test"})
    assert metrics["scoring_rule"] == SCORING_RULE == task.answer_reader().rule
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    reader = task.answer_reader()
    for record in records:
        assert record["verdict"] == reader.read(record["answer"]).verdict
        assert record["match"] == (record["verdict"] == record["label"])
    assert metrics["accuracy"] == pytest.approx(sum(r["match"] for r in records) / len(records))


def test_chest_xray_is_asked_the_yes_no_question(toy_lm, tmp_path):
    root = tmp_path / "data"
    make_chest(root)
    for question, rule_suffix in (("yesno", "/yes-no"), ("classname", "")):
        task = build_task("chest_xray", str(root), {"question": question})
        out = tmp_path / question
        metrics = evaluate(task, task.load("test")[:2], toy_lm, out, max_new_tokens=8, extra={"split": "test"})
        prompts = task.prompts()
        assert metrics["question"] == (prompts.yes_no if question == "yesno" else prompts.explain[0])
        assert metrics["scoring_rule"] == SCORING_RULE + rule_suffix
        records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
        assert all(r["question"] == metrics["question"] for r in records)


@pytest.mark.parametrize("n, hits", [(40, 13), (200, 150), (1000, 999)])
def test_bootstrap_ci_matches_resampling(n, hits):
    import numpy as np

    from selfsynth.metrics.accuracy import bootstrap_ci

    values = np.array([1.0] * hits + [0.0] * (n - hits))
    rng = np.random.default_rng(123)
    resampled = values[rng.integers(0, n, size=(20000, n))].mean(axis=1)
    expected = np.quantile(resampled, [0.025, 0.975])
    low, high = bootstrap_ci(values.astype(bool).tolist(), n_boot=20000, seed=0)
    assert low == pytest.approx(expected[0], abs=1.5 / n + 1e-9) and high == pytest.approx(expected[1], abs=1.5 / n + 1e-9)


def test_bootstrap_ci_memory_is_independent_of_n():
    import tracemalloc

    from selfsynth.metrics.accuracy import bootstrap_ci

    hits = [i % 3 == 0 for i in range(50_000)]
    tracemalloc.start()
    bootstrap_ci(hits, n_boot=1000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5 * 2**20  # the index-matrix bootstrap held 50,000 x 1,000 int64 (400 MB)
