"""A clean evaluation on the toy world: no training row of any method asks the evaluation question,
and no image is asked the same question twice within one iteration (fallback questions included).
The toy domain keeps its small pools (4 simple, 4 explain, 4 CoT), so the draws also exercise pool
exhaustion: 8 rejection-sampling questions from 3 + 4 explain/CoT questions move on to simple ones."""
from __future__ import annotations

import dataclasses
from collections import defaultdict

import pytest

from selfsynth.io import read_json, read_jsonl



IMAGES = 4  # of different classes; short answers: these tests are about the questions


def _no_repeats(rows: list[dict]) -> None:
    by_image: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        by_image[row["id"]].append(row["question"])
    for image, questions in by_image.items():
        assert len(questions) == len(set(questions)), (image, questions)


@pytest.fixture(scope="module")
def method_rows(toy_synth):
    """Iteration 1 and 2 training rows of ours, lge and no_filter on one image per class."""
    from selfsynth.synth.reject import rejection_sample
    from selfsynth.synth.rewrite import rewrite_answers
    from selfsynth.synth.select import class_concepts_per_image

    seen: set[str] = set()
    samples = [s for s in toy_synth.samples if not (s.label in seen or seen.add(s.label))][:IMAGES]
    assert len({s.label for s in samples}) == IMAGES
    cfg = dataclasses.replace(toy_synth.cfg, reject_samples=2, rewrite_max_new_tokens=24, reject_max_new_tokens=24)
    assert cfg.rewrite_questions == cfg.reject_questions == 8 and not cfg.train_on_eval_question
    selected = {s.id: toy_synth.selected[s.id] for s in samples}
    every = class_concepts_per_image(samples, toy_synth.concepts)
    out = toy_synth.out / "fidelity"
    args = (toy_synth.task, samples)
    rows = {
        ("ours", 1): rewrite_answers(toy_synth.lm, *args, selected, toy_synth.prompts, cfg, toy_synth.cache, out / "ours1"),
        ("lge", 1): rewrite_answers(toy_synth.lm, *args, every, toy_synth.prompts, cfg, toy_synth.cache, out / "lge1"),
    }
    for method, mode, concepts in (("ours", "infonce", selected), ("lge", "label", every), ("no_filter", "random", selected)):
        rows[(method, 2)] = rejection_sample(toy_synth.lm, *args, concepts, toy_synth.concepts, toy_synth.prompts, cfg,
                                             toy_synth.cache, out / f"{method}2", mode=mode, iteration=2)
    return samples, out, rows


def test_no_training_row_asks_the_evaluation_question(toy_synth, method_rows):
    samples, out, rows = method_rows
    eval_question = toy_synth.prompts.explain[0]
    assert eval_question == "Based on what you see, what is the exact name of this bird? Explain your answer."
    for (method, iteration), data in rows.items():
        assert data, (method, iteration)
        assert all(r["question"] != eval_question for r in data), (method, iteration)
        _no_repeats(data)
    # provenance: every drawn question (kept or not) is distinct per image, and the fallback
    # questions of rejection sampling never repeat one the image was asked
    for method in ("ours1", "lge1"):
        prov = read_jsonl(out / method / "rewrite.jsonl")
        assert len(prov) == 8 * len(samples) and all(r["question"] != eval_question for r in prov)
        _no_repeats(prov)
    for method in ("ours2", "lge2", "no_filter2"):
        prov = read_jsonl(out / method / "reject.jsonl")
        stats = read_json(out / method / "reject.stats.json")
        assert len(prov) == 8 * len(samples)  # 3 explain + 4 CoT, then one simple question
        assert sum(r["candidate_question_type"] == "simple" for r in prov) == len(samples)
        asked: dict[str, list[str]] = defaultdict(list)
        for r in prov:
            asked[r["id"]].append(r["candidate_question"])
            if r["fallback"] and r["question"] is not None:
                asked[r["id"]].append(r["question"])
        for questions in asked.values():
            assert len(questions) == len(set(questions)) and eval_question not in questions
        # a fallback with no question left is dropped and counted, never repeated
        assert stats["dropped_no_question_left"] == sum(r["answer"] is None for r in prov)
        assert len(rows[(method[:-1], 2)]) == len(prov) - stats["dropped_no_question_left"]


def test_nl_questions_follow_the_seed_and_never_repeat(toy_world, tmp_path):
    from selfsynth.cache import ResponseCache
    from selfsynth.runner import RunConfig
    from selfsynth.runners.nl import NlRunner
    from selfsynth.store import RunStore
    from selfsynth.tasks.toy import ToyTask

    task = ToyTask(toy_world.dataset_root)
    eval_question = task.prompts().explain[0]
    data = {}
    for seed in (0, 1):
        config = RunConfig(task="toy", method="nl", limit=24, seed=seed)
        assert config.synth.seed == seed  # --seed reaches the synthesis draws
        runner = NlRunner(config, task, RunStore(tmp_path / "runs"), ResponseCache(tmp_path / "cache.sqlite"), toy_world.model_path)
        rows = runner.build_data(1, toy_world.model_path, tmp_path)
        assert len(rows) == 8 * len(runner.train_samples)  # 4 simple, then 4 from the other pools
        assert all(r["question"] != eval_question for r in rows)
        _no_repeats(rows)
        simple = set(task.prompts().simple)
        for image in {r["id"] for r in rows}:
            mine = [r for r in rows if r["id"] == image]
            assert {r["question"] for r in mine[:4]} == simple and all(r["question"] not in simple for r in mine[4:])
        data[seed] = rows
    same_images = {r["id"] for r in data[0]} & {r["id"] for r in data[1]}
    assert same_images
    questions = {seed: [(r["id"], r["question"]) for r in rows if r["id"] in same_images] for seed, rows in data.items()}
    assert questions[0] != questions[1]  # another seed, other questions


def test_cached_stage_loads_no_model(toy_synth):
    """The base model's descriptions are checked every iteration; with them on disk, no load."""
    from selfsynth.generate import GenerateConfig
    from selfsynth.runner import LazyModel
    from selfsynth.synth.describe import describe_images

    lazy = LazyModel(str(toy_synth.world.model_path), GenerateConfig())
    assert lazy.fingerprint == toy_synth.lm.fingerprint
    again = describe_images(lazy, toy_synth.samples, toy_synth.prompts, toy_synth.cfg, toy_synth.cache, toy_synth.out)
    assert again == toy_synth.descriptions and not lazy.loaded
    assert lazy.processor is not None and lazy.loaded  # first real use loads it
    lazy.close()
    assert not lazy.loaded
