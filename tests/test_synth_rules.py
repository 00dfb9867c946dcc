"""Rewriting keep/append/drop, question draws, candidate choice and stage resume (no model needed)."""
from __future__ import annotations

import random

import pytest

from selfsynth.synth.rewrite import LabelChecker, apply_keep_rule, label_ratio, rewrite_prompt
from selfsynth.synth.reject import choose_candidate
from selfsynth.synth.stage import Stage, draw_questions, image_rng
from selfsynth.tasks.base import Prompts, Sample, Task


class _Names(Task):
    """A task that only knows class names and aliases (enough for label checks)."""

    name = "names"
    domain = "bird"

    def __init__(self, names, aliases=None):
        super().__init__(".")
        self._names, self._aliases = list(names), dict(aliases or {})

    def load(self, split):
        return []

    def class_names(self):
        return self._names

    def aliases(self, label):
        return self._aliases.get(label, ())


PROMPTS = Prompts(
    domain="bird", describe=["d1", "d2", "d3"], simple=["s1", "s2"], explain=["e1", "e2", "e3"],
    cot=["c1", "c2"], label_sentence="This bird is a {label}.",
)


def test_keep_append_drop():
    checker = LabelChecker(_Names(["Dusky Finch", "Arctic Tern", "Tern"], {"Arctic Tern": ("Artic Tern",)}))
    kept, reason, _ = apply_keep_rule("It is a dusky finch, with a red crown.", "Dusky Finch", checker, PROMPTS, 0.7)
    assert (kept, reason) == ("It is a dusky finch, with a red crown.", "label")
    kept, reason, ratio = apply_keep_rule("This looks like a Dusky Fench with a red crown.", "Dusky Finch", checker, PROMPTS, 0.7)
    assert reason == "near_label_appended" and ratio >= 0.7
    assert kept == "This looks like a Dusky Fench with a red crown. This bird is a Dusky Finch."
    kept, reason, ratio = apply_keep_rule("The bird has a red crown and a forked tail.", "Dusky Finch", checker, PROMPTS, 0.7)
    assert kept is None and reason == "no_label" and ratio < 0.7
    assert apply_keep_rule("   ", "Dusky Finch", checker, PROMPTS, 0.7)[1] == "empty"
    # aliases count as the label; a longer class name that contains the label does not
    assert apply_keep_rule("An artic tern.", "Arctic Tern", checker, PROMPTS, 0.7)[1] == "label"
    assert apply_keep_rule("An arctic tern.", "Tern", checker, PROMPTS, 0.7)[1] != "label"
    # the paper rule is plain containment after its normalization
    paper = LabelChecker(_Names(["Tern", "Arctic Tern"]), rule="paper")
    assert paper.contains("An arctic tern.", "Tern")


def test_label_ratio_windows():
    assert label_ratio("a fine artic tern indeed", "Arctic Tern") > 0.9
    assert label_ratio("the bird has a red crown", "Arctic Tern") < 0.6
    assert label_ratio("", "Arctic Tern") == 0.0


def test_rewrite_prompt_states_label_and_concepts():
    p = rewrite_prompt("What is this bird?", "Dusky Finch", ["red crown", "forked tail"], PROMPTS)
    assert "This bird is a Dusky Finch." in p and "red crown; forked tail" in p
    assert p.endswith("\nWhat is this bird?")


def test_draw_questions_weights_and_no_repeats():
    pools = {"simple": PROMPTS.simple, "explain": PROMPTS.explain, "cot": PROMPTS.cot}
    weights = {"simple": 0.4, "explain": 0.2, "cot": 0.4}
    drawn = [draw_questions(image_rng(0, "rewrite", f"img{i}"), pools, weights, 8) for i in range(400)]
    kinds = [k for d in drawn for k, _ in d]
    assert abs(kinds.count("simple") / len(kinds) - 0.4) < 0.03
    assert abs(kinds.count("explain") / len(kinds) - 0.2) < 0.03
    for d in drawn:  # within one image a question repeats only after its pool is used up
        for kind, pool in pools.items():
            qs = [q for k, q in d if k == kind]
            assert len(set(qs)) == min(len(qs), len(pool))
    assert drawn[0] == draw_questions(image_rng(0, "rewrite", "img0"), pools, weights, 8)
    assert all(k in ("explain", "cot") for k, _ in draw_questions(random.Random(1), pools, {"explain": 0.5, "cot": 0.5}, 50))


def test_choose_candidate_modes():
    rng = random.Random(0)
    assert choose_candidate("infonce", [True, False, True], [1.0, 3.0, 2.0], rng) == (1, False, "best_lacks_label")
    assert choose_candidate("infonce", [True, False, True], [1.0, 0.0, 2.0], rng) == (2, True, "best_has_label")
    assert choose_candidate("infonce", [True, True, True], [2.0, 2.0, 1.0], rng)[0] == 0  # tie → lowest index
    picks = {choose_candidate("random", [False, False, False], None, random.Random(s))[0] for s in range(30)}
    assert picks == {0, 1, 2}
    assert all(choose_candidate("random", [False] * 3, None, random.Random(s))[1] for s in range(5))
    for s in range(20):
        chosen, keep, reason = choose_candidate("label", [False, True, True], None, random.Random(s))
        assert chosen in (1, 2) and keep and reason == "random_with_label"
    assert choose_candidate("label", [False, False], None, rng)[1:] == (False, "none_with_label")


def test_stage_resume(tmp_path):
    stage = Stage(tmp_path, "demo", {"a": 1})
    assert not stage.done()
    stage.finish([{"id": "x"}], {"kept_rate": 1.0})
    again = Stage(tmp_path, "demo", {"a": 1})
    assert again.done() and again.load() == [{"id": "x"}] and again.stats()["kept_rate"] == 1.0
    assert not Stage(tmp_path, "demo", {"a": 2}).done()  # other inputs: recompute
    (tmp_path / "demo.stats.json").write_text("{broken")
    assert not Stage(tmp_path, "demo", {"a": 1}).done()
