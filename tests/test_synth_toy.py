"""Steps 1-3 and the rejection filter on the toy world (real toy model, reduced sizes)."""
from __future__ import annotations

import json

import numpy as np

from selfsynth.io import read_json, read_jsonl
from selfsynth.metrics.concepts import concept_precision


def test_descriptions_written_and_resumed(toy_synth):
    stats = read_json(toy_synth.out / "describe.stats.json")
    assert stats["images"] == len(toy_synth.samples)
    assert stats["descriptions"] == len(toy_synth.samples) * 3 * 2
    rows = read_jsonl(toy_synth.out / "describe.jsonl")
    assert {r["sample_index"] for r in rows} == {0, 1} and {r["prompt_index"] for r in rows} == {0, 1, 2}
    from selfsynth.synth.describe import describe_images

    before = len(toy_synth.cache)
    again = describe_images(toy_synth.lm, toy_synth.samples, toy_synth.prompts, toy_synth.cfg, toy_synth.cache, toy_synth.out)
    assert again == toy_synth.descriptions and len(toy_synth.cache) == before


def test_selection_precision_beats_random_concepts(toy_synth):
    rows = read_jsonl(toy_synth.out / "select.jsonl")
    visible = {s.id: s.metadata["visible_concepts"] for s in toy_synth.samples}
    precision = np.mean([concept_precision(r["selected"], visible[r["id"]]) for r in rows])
    class_lists = toy_synth.concepts.concepts
    label = {s.id: s.label for s in toy_synth.samples}
    random_precision = np.mean([concept_precision(class_lists[label[r["id"]]], visible[r["id"]]) for r in rows])
    stats = read_json(toy_synth.out / "select.stats.json")
    assert abs(stats["precision"] - precision) < 1e-9 and abs(stats["random_precision"] - random_precision) < 1e-9
    print(json.dumps({"selection_precision": precision, "random_class_concepts": random_precision}))
    # measured: 0.854 vs 0.708 here (0.146), and 0.902 vs 0.712 over 3 seeds in the demo
    assert precision - random_precision >= 0.1
    assert all(len(r["selected"]) >= 3 for r in rows)


def test_rejection_modes_on_toy(toy_synth):
    from dataclasses import replace

    from selfsynth.synth.reject import rejection_sample

    cfg = replace(toy_synth.cfg, reject_questions=2, reject_samples=2)
    samples = toy_synth.samples[:6]
    selected = {s.id: toy_synth.selected[s.id] for s in samples}
    label_sentence = toy_synth.prompts.label_sentence
    results = {}
    for mode in ("infonce", "random", "label"):
        out = toy_synth.out / f"reject_{mode}"
        rows = rejection_sample(toy_synth.lm, toy_synth.task, samples, selected, toy_synth.concepts, toy_synth.prompts,
                                cfg, toy_synth.cache, out, mode=mode, iteration=2)
        prov = read_jsonl(out / "reject.jsonl")
        stats = read_json(out / "reject.stats.json")
        assert len(rows) == len(prov) == len(samples) * 2 and stats["questions"] == len(prov)
        assert all(set(r) >= {"id", "image", "question", "answer"} for r in rows)
        for p, r in zip(prov, rows):
            assert len(p["candidates"]) == 2 and r["answer"] == p["answer"]
            if p["kept"]:
                assert p["answer"] == p["candidates"][p["chosen"]] and p["question"] == p["candidate_question"]
            else:  # fallback: a simple question answered by the label sentence
                assert p["question"] in toy_synth.prompts.simple
                assert p["answer"] == label_sentence.format(label=p["label"])
            if mode == "infonce":
                assert np.isfinite(p["scores"]).all() and p["chosen"] == int(np.argmax(p["scores"]))
                assert p["kept"] == p["has_label"][p["chosen"]]
            if mode == "label":
                assert p["kept"] == any(p["has_label"])
        results[mode] = stats
    assert results["random"]["kept_rate"] == 1.0 and results["random"]["fallback_rate"] == 0.0
    # the base model has never seen a class name, so ranking + label check falls back everywhere
    assert results["infonce"]["fallback_rate"] == 1.0 - results["infonce"]["kept_rate"]
