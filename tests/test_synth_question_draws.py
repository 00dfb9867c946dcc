"""Question draws: ours (no question twice per image and iteration, evaluation question held out)
and the released procedure behind `synth.train_on_eval_question` (independent draws with
replacement) at the released mix 0.4 / 0.192 / 0.408 of configs/paper/*.yaml."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from selfsynth import config as cfg
from selfsynth.synth.config import SynthConfig
from selfsynth.synth.stage import draw_questions, image_rng
from tests.fixtures_toy import REPO

POOLS = {"simple": [f"s{i}" for i in range(5)], "explain": [f"e{i}" for i in range(10)], "cot": [f"c{i}" for i in range(5)]}


def _released_type(rng: random.Random) -> str:
    # the released step 1.3's nested draw, as published
    if rng.random() < 0.4:
        return "simple"
    if rng.random() > 0.6 and rng.random() < 0.8:
        return "explain"
    return "cot"


def test_paper_configs_carry_the_released_mix():
    for path in sorted((REPO / "configs" / "paper").glob("*.yaml")):
        synth = cfg.from_dict(SynthConfig, cfg.read_yaml(path)["synth"])
        assert (synth.rewrite_p_simple, synth.rewrite_p_explain, synth.rewrite_p_cot) == (0.4, 0.192, 0.408), path.name
    rng = random.Random(0)
    counts = Counter(_released_type(rng) for _ in range(40000))
    assert counts["explain"] / 40000 == pytest.approx(0.192, abs=0.006)
    assert counts["cot"] / 40000 == pytest.approx(0.408, abs=0.008)


def test_released_draws_are_independent_with_the_mix_and_repeat():
    weights = {"simple": 0.4, "explain": 0.192, "cot": 0.408}
    drawn = [draw_questions(image_rng(0, "rewrite", f"img{i}"), POOLS, weights, 8, replace=True) for i in range(3000)]
    assert all(len(d) == 8 for d in drawn)
    kinds = Counter(kind for d in drawn for kind, _ in d)
    total = sum(kinds.values())
    for kind, p in weights.items():
        assert kinds[kind] / total == pytest.approx(p, abs=0.012), kind
    repeats = sum(len({q for _, q in d}) < 8 for d in drawn) / len(drawn)
    # 8 draws from pools of 5/10/5: most images get some question twice
    assert repeats > 0.8
    assert all(q in POOLS[kind] for d in drawn for kind, q in d)


def test_our_draws_never_repeat_a_question_per_image():
    weights = {"simple": 0.4, "explain": 0.2, "cot": 0.4}
    for i in range(500):
        got = draw_questions(image_rng(0, "rewrite", f"img{i}"), POOLS, weights, 8)
        assert len({q for _, q in got}) == len(got) == 8
    tiny = {"simple": ["s0"], "explain": ["e0"], "cot": []}
    assert len(draw_questions(random.Random(1), tiny, weights, 8)) == 2  # fewer, never repeats
    assert len(draw_questions(random.Random(1), tiny, weights, 8, replace=True)) == 8
