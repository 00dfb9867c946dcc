"""Rewriting keep/append/drop, question draws, candidate choice and stage resume (no model needed)."""
from __future__ import annotations

import dataclasses
import random

import pytest

from selfsynth.synth.rewrite import LabelChecker, apply_keep_rule, label_ratio, rewrite_prompt
from selfsynth.synth.reject import choose_candidate
from selfsynth.synth.stage import QuestionDraw, Stage, draw_questions, image_rng, question_pools
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
    kept, reason, _, _ = apply_keep_rule("It is a dusky finch, with a red crown.", "Dusky Finch", checker, PROMPTS, 0.7)
    assert (kept, reason) == ("It is a dusky finch, with a red crown.", "label")
    # the published near-miss rule compares the label with the WHOLE answer: a short misspelling
    # gets the label sentence, a misspelling inside a longer answer is dropped
    kept, reason, ratio, _ = apply_keep_rule("A Dusky Fench.", "Dusky Finch", checker, PROMPTS, 0.7)
    assert reason == "near_label_appended" and ratio == pytest.approx(0.833, abs=1e-3)
    assert kept == "A Dusky Fench. This bird is a Dusky Finch."
    kept, reason, ratio, _ = apply_keep_rule("This looks like a Dusky Fench with a red crown.", "Dusky Finch", checker, PROMPTS, 0.7)
    assert kept is None and reason == "no_label" and ratio == pytest.approx(0.351, abs=1e-3)
    kept, reason, ratio, _ = apply_keep_rule("The bird has a red crown and a forked tail.", "Dusky Finch", checker, PROMPTS, 0.7)
    assert kept is None and reason == "no_label" and ratio < 0.7
    assert apply_keep_rule("   ", "Dusky Finch", checker, PROMPTS, 0.7).reason == "empty"
    # aliases count as the label; a longer class name that contains the label does not
    assert apply_keep_rule("An artic tern.", "Arctic Tern", checker, PROMPTS, 0.7).reason == "label"
    assert apply_keep_rule("An arctic tern.", "Tern", checker, PROMPTS, 0.7).reason != "label"
    # the paper rule is plain containment after its normalization
    paper = LabelChecker(_Names(["Tern", "Arctic Tern"]), rule="paper")
    assert paper.contains("An arctic tern.", "Tern")


BIRDS = ["Brewer Sparrow", "Baird Sparrow", "Clay colored Sparrow", "Arctic Tern", "Common Tern"]
AIRCRAFT = ["737-300", "737-800", "A320", "A321", "747-400"]
DOGS = ["Chihuahua", "Japanese Spaniel", "Maltese Dog"]

# (classes, label, answer, expected reason): similar names of other classes, digit variants and
# real misspellings of the label, under the published whole-answer ratio >= 0.7
NEAR_MISSES = [
    (BIRDS, "Brewer Sparrow", "Baird Sparrow", "names_other_class"),  # ratio 0.74, another class
    (BIRDS, "Brewer Sparrow", "It is a Baird Sparrow.", "no_label"),  # whole answer: ratio 0.57
    (BIRDS, "Brewer Sparrow", "Brewers Sparow", "near_label_appended"),  # misspelling, 0.93
    (BIRDS, "Brewer Sparrow", "Brewer Sparow.", "near_label_appended"),
    (BIRDS, "Arctic Tern", "Artic Tern", "near_label_appended"),  # CUB's own misspelling, no alias here
    (AIRCRAFT, "737-800", "737-300", "names_other_class"),  # digit variant: ratio 0.86
    (AIRCRAFT, "A320", "A321", "names_other_class"),  # ratio 0.80
    (AIRCRAFT, "737-800", "737-30", "names_other_class"),  # 0.77 to the label, 0.92 to 737-300: a better match
    (AIRCRAFT, "737-800", "737800", "near_label_appended"),  # the label without its hyphen
    (AIRCRAFT, "737-800", "This is a Boeing 737-300.", "no_label"),
    (DOGS, "Chihuahua", "Chihuaua", "near_label_appended"),
    (DOGS, "Chihuahua", "Chiuahua.", "near_label_appended"),
    (DOGS, "Japanese Spaniel", "Japanese Spanial", "near_label_appended"),
    (DOGS, "Maltese Dog", "Maltese", "near_label_appended"),  # a shortened label, ratio 0.78
]


@pytest.mark.parametrize("classes,label,answer,expected", NEAR_MISSES)
def test_near_miss_rule_labelled_cases(classes, label, answer, expected):
    checker = LabelChecker(_Names(classes))
    decision = apply_keep_rule(answer, label, checker, PROMPTS, 0.7)
    assert decision.reason == expected, (decision, label_ratio(answer, label))
    if expected == "near_label_appended":
        assert decision.answer == f"{answer} This bird is a {label}." and decision.ratio >= 0.7
    else:
        assert decision.answer is None
    if expected == "names_other_class":
        assert decision.other_class in classes and decision.other_class != label and decision.ratio >= 0.7


def test_near_miss_appends_when_no_other_class_is_near():
    # the same answer as above is appended when the task has no class it could mean instead
    checker = LabelChecker(_Names(["Brewer Sparrow", "Arctic Tern"]))
    assert apply_keep_rule("Baird Sparrow", "Brewer Sparrow", checker, PROMPTS, 0.7).reason == "near_label_appended"


def test_label_ratio_whole_answer():
    assert label_ratio("Artic Tern", "Arctic Tern") == pytest.approx(20 / 21)
    assert label_ratio("a fine artic tern indeed", "Arctic Tern") < 0.7  # no best-window search
    assert label_ratio("the bird has a red crown", "Arctic Tern") < 0.6
    assert label_ratio("", "Arctic Tern") == 0.0


def test_rewrite_stats_count_kept_appended_dropped():
    from selfsynth.synth.rewrite import _rewrite_stats

    reasons = ["label", "label", "near_label_appended", "names_other_class", "no_label", "no_label", "empty"]
    rows = [{"id": f"i{k}", "question_type": "simple", "reason": r, "kept": r in ("label", "near_label_appended"),
             "concepts_mentioned": []} for k, r in enumerate(reasons)]
    counts = _rewrite_stats(rows, [], {})["counts"]
    assert counts == {"kept": 2, "appended": 1, "dropped": 4, "dropped_names_other_class": 1,
                      "dropped_no_label": 2, "dropped_empty": 1}


def test_rewrite_prompt_states_label_and_concepts():
    p = rewrite_prompt("What is this bird?", "Dusky Finch", ["red crown", "forked tail"], PROMPTS)
    assert "This bird is a Dusky Finch." in p and "red crown; forked tail" in p
    assert p.endswith("\nWhat is this bird?")


def test_question_pools_hold_out_the_evaluation_question():
    prompts = Prompts(domain="bird", describe=["d"], simple=["s1", "e1"], explain=["e1", "e2", "e2"], cot=["c1"],
                      label_sentence="{label}.")
    assert question_pools(prompts) == {"simple": ["s1"], "explain": ["e2"], "cot": ["c1"]}
    assert question_pools(prompts, include_eval_question=True) == {"simple": ["s1", "e1"], "explain": ["e1", "e2"], "cot": ["c1"]}
    # a yes/no evaluation question (chest x-ray) is held out too
    yes_no = dataclasses.replace(prompts, cot=["c1", "Pneumonia? Answer yes or no."], yes_no="Pneumonia? Answer yes or no.")
    assert question_pools(yes_no)["cot"] == ["c1"]


def test_draw_questions_weights_and_no_repeats():
    big = {k: [f"{k}{i}" for i in range(40)] for k in ("simple", "explain", "cot")}
    weights = {"simple": 0.4, "explain": 0.2, "cot": 0.4}
    drawn = [draw_questions(image_rng(0, "rewrite", f"img{i}"), big, weights, 8) for i in range(400)]
    kinds = [k for d in drawn for k, _ in d]
    assert abs(kinds.count("simple") / len(kinds) - 0.4) < 0.03
    assert abs(kinds.count("explain") / len(kinds) - 0.2) < 0.03
    assert all(len(d) == 8 and len({q for _, q in d}) == 8 for d in drawn)
    assert all(q in big[k] for d in drawn for k, q in d)
    assert drawn[0] == draw_questions(image_rng(0, "rewrite", "img0"), big, weights, 8)
    assert drawn[0] != draw_questions(image_rng(1, "rewrite", "img0"), big, weights, 8)  # the seed matters
    # small pools: once explain and cot are used up the draw moves to simple, then stops; no repeats
    pools = {"simple": PROMPTS.simple, "explain": PROMPTS.explain, "cot": PROMPTS.cot}
    small = draw_questions(random.Random(1), pools, {"explain": 0.5, "cot": 0.5}, 50)
    assert [k for k, _ in small[:5]].count("simple") == 0 and {k for k, _ in small[5:]} == {"simple"}
    assert sorted(q for _, q in small) == sorted(PROMPTS.simple + PROMPTS.explain + PROMPTS.cot)


def test_question_draw_take_falls_back_and_never_repeats():
    drawer = QuestionDraw(random.Random(0), {"simple": ["s1", "x"], "explain": ["x", "e1"], "cot": ["c1"]})
    taken = [drawer.take("simple") for _ in range(5)]
    assert [k for k, _ in taken[:2]] == ["simple", "simple"]
    questions = [q for _, q in taken[:4]]
    assert sorted(questions) == ["c1", "e1", "s1", "x"]  # "x" sits in two pools: asked once
    assert taken[4] is None and drawer.draw({"simple": 1.0}) is None


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
