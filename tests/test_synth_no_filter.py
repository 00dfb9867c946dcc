"""The Table 12 ablation (`no_filter`) at iteration 1: the hidden context holds a seeded random
subset of the class concepts, as many as step 2 keeps, not step 2's selection."""
from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

from selfsynth.synth.config import SynthConfig
from selfsynth.synth.select import random_concepts_per_image
from selfsynth.tasks.base import Sample


def _samples():
    return [Sample(f"img{i}", f"/x/{i}.png", "A" if i < 3 else "B", {}) for i in range(6)]


CONCEPTS = {"A": [f"a{k}" for k in range(8)], "B": [f"b{k}" for k in range(5)]}


def test_random_subset_has_the_filters_size_and_is_seeded_per_image():
    samples = _samples()
    sizes = {"img0": 3, "img1": 4, "img2": 20, "img3": 3, "img4": 0, "img5": 5}
    got = random_concepts_per_image(samples, CONCEPTS, sizes, seed=7)
    assert {k: len(v) for k, v in got.items()} == {"img0": 3, "img1": 4, "img2": 8, "img3": 3, "img4": 0, "img5": 5}
    for sample in samples:
        assert set(got[sample.id]) <= set(CONCEPTS[sample.label]) and len(set(got[sample.id])) == len(got[sample.id])
    # the same image gets the same draw whatever the other images; another seed draws differently
    assert random_concepts_per_image(samples[:1], CONCEPTS, sizes, seed=7) == {"img0": got["img0"]}
    others = [random_concepts_per_image(samples, CONCEPTS, sizes, seed=s) for s in range(8, 12)]
    assert any(o["img0"] != got["img0"] for o in others)


class _Probe:
    """A stand-in for the runner's steps: records the concepts iteration 1 is built with."""

    def __init__(self, synth):
        from selfsynth.runners.no_filter import NoFilterRunner

        self.runner = NoFilterRunner.__new__(NoFilterRunner)
        self.runner.config = SimpleNamespace(synth=synth)
        self.runner.train_samples = _samples()
        self.selected = {s.id: CONCEPTS[s.label][:3] for s in self.runner.train_samples}
        self.runner.selected_concepts = lambda: self.selected
        self.runner.class_concepts = lambda: SimpleNamespace(concepts=CONCEPTS)
        self.calls = []
        self.runner.synthesized_data = lambda it, path, out, concepts, mode: self.calls.append((concepts, mode)) or []


def test_no_filter_iteration_1_uses_random_concepts_and_the_switch_restores_the_selection():
    probe = _Probe(SynthConfig(seed=0))
    probe.runner.build_data(1, "m", None)
    concepts, mode = probe.calls[0]
    assert mode == "random"
    assert {k: len(v) for k, v in concepts.items()} == {k: len(v) for k, v in probe.selected.items()}
    assert concepts != probe.selected  # 6 draws of 3 from 8 or 5 concepts: not all the first three
    assert concepts == random_concepts_per_image(probe.runner.train_samples, CONCEPTS, {k: 3 for k in probe.selected}, 0)

    old = _Probe(SynthConfig(seed=0, no_filter_concepts="selected"))
    old.runner.build_data(1, "m", None)
    assert old.calls[0] == (old.selected, "random")


def test_toy_iteration_1_training_rows_differ_from_ours(toy_synth):
    """Step 3 on toy images: the same questions, answered with the random subset instead of the
    selection, give other training rows."""
    from selfsynth.synth.rewrite import rewrite_answers

    cfg = replace(toy_synth.cfg, rewrite_questions=2)
    samples = toy_synth.samples[:6]
    selected = {s.id: toy_synth.selected[s.id] for s in samples}
    random_subset = random_concepts_per_image(samples, toy_synth.concepts, {k: len(v) for k, v in selected.items()}, cfg.draw_seed)
    assert random_subset != selected
    rows = {}
    for name, concepts in (("ours", selected), ("no_filter", random_subset)):
        rows[name] = rewrite_answers(toy_synth.lm, toy_synth.task, samples, concepts, toy_synth.prompts, cfg,
                                     toy_synth.cache, toy_synth.out / f"rewrite_{name}")
    pairs = {name: [(r["id"], r["question"], r["answer"]) for r in got] for name, got in rows.items()}
    print({name: len(p) for name, p in pairs.items()})
    assert pairs["ours"] and pairs["no_filter"]
    assert pairs["ours"] != pairs["no_filter"]
