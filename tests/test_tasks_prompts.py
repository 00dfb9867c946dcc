"""Domain prompts: shipped YAML validated, user override, frozen evaluation questions."""
from __future__ import annotations

import pytest

from selfsynth.errors import UserError
from selfsynth.tasks.prompts import DOMAINS, load_prompts, prompts_hash

# Snapshot of the evaluation question per domain: a change must be deliberate and visible here.
EVAL_QUESTIONS = {
    "bird": "Based on what you see, what is the exact name of this bird? Explain your answer.",
    "toy": "Based on what you see, what is the exact name of this bird? Explain your answer.",
    "dog": "Based on what you see, what is the exact breed of this dog? Explain your answer.",
    "aircraft": "Based on what you see, what is the exact model of this aircraft? Explain your answer.",
    "leaf": "Based on what you see, what is the exact plant and disease shown on this leaf? Explain your answer.",
    "skin_lesion": "Based on what you see, what is the exact type of this skin lesion? Explain your answer.",
    "chest_xray": "Based on what you see, does this chest X-ray show pneumonia? Explain which visible findings support your answer.",
}


@pytest.mark.parametrize("domain", DOMAINS)
def test_shipped_prompts(domain):
    prompts = load_prompts(domain)
    assert prompts.explain[0] == EVAL_QUESTIONS[domain]
    assert len(prompts.describe) == 3
    assert all(any(k in p for k in ("leave out", "Do not describe", "ignoring")) for p in prompts.describe)
    assert len(prompts.simple) >= 3 and len(prompts.explain) >= 3 and len(prompts.cot) >= 3
    assert "{label}" in prompts.label_sentence
    assert len(prompts_hash(prompts)) == 12
    every = prompts.simple + prompts.explain + prompts.cot
    assert len(set(every)) == len(every)  # no question in two pools or twice in one


PAPER_DOMAINS = [d for d in DOMAINS if d != "toy"]


@pytest.mark.parametrize("domain", PAPER_DOMAINS)
def test_paper_domains_have_paper_size_pools(domain):
    # paper: ~50 simple, ~100 explain, ~48 chain-of-thought questions per domain
    prompts = load_prompts(domain)
    assert len(prompts.simple) >= 40 and len(prompts.explain) >= 80 and len(prompts.cot) >= 40
    # the held-out evaluation question leaves every training pool at paper size
    from selfsynth.synth.stage import question_pools

    pools = question_pools(prompts)
    assert prompts.explain[0] not in pools["explain"] and len(pools["explain"]) == len(prompts.explain) - 1


def test_toy_keeps_its_small_pools():
    # the cached toy model was pre-trained on exactly these questions (selfsynth.toy.world); its
    # pools stay small, and draws fall back to other pools when one is used up for an image
    prompts = load_prompts("toy")
    assert (len(prompts.simple), len(prompts.explain), len(prompts.cot)) == (4, 4, 4)


def test_every_task_domain_has_prompts():
    from selfsynth.registry import TASKS

    for entry in TASKS.entries():
        if entry.target.startswith("tasks.") if isinstance(entry.target, str) else True:
            assert TASKS.get(entry.name).domain in DOMAINS


def test_override_and_validation(tmp_path):
    good = tmp_path / "mine.yaml"
    good.write_text(
        "describe: [Describe it.]\nsimple: ['What is it?']\nexplain: ['What is it and why?']\n"
        "cot: [Think, then name it.]\nlabel_sentence: 'It is {label}.'\n"
    )
    prompts = load_prompts("bird", good)
    assert prompts.explain == ["What is it and why?"] and prompts.domain == "bird"

    bad = tmp_path / "bad.yaml"
    bad.write_text("describe: [x]\nsimple: [x]\nexplain: [x]\nlabel_sentence: 'It is {label}.'\nextra: 1\n")
    with pytest.raises(UserError, match=r"missing keys cot; unknown keys extra"):
        load_prompts("bird", bad)
    bad.write_text("describe: [x]\nsimple: [x]\nexplain: []\ncot: [x]\nlabel_sentence: 'It is {label}.'\n")
    with pytest.raises(UserError, match="'explain' must be a non-empty list"):
        load_prompts("bird", bad)
    bad.write_text("describe: [x]\nsimple: [x]\nexplain: [x]\ncot: [x]\nlabel_sentence: 'It is a bird.'\n")
    with pytest.raises(UserError, match="placeholder"):
        load_prompts("bird", bad)
    with pytest.raises(UserError, match="does not exist"):
        load_prompts("bird", tmp_path / "nope.yaml")
    with pytest.raises(UserError, match="no prompts for domain 'fish'"):
        load_prompts("fish")


def test_task_prompts_option(tmp_path):
    from tests.fixtures_datasets import make_toy
    from selfsynth.tasks.toy import ToyTask

    make_toy(tmp_path)
    override = tmp_path / "p.yaml"
    override.write_text("describe: [D]\nsimple: [S]\nexplain: [E]\ncot: [C]\nlabel_sentence: '{label}.'\n")
    assert ToyTask(tmp_path, prompts=str(override)).prompts().explain == ["E"]
    assert ToyTask(tmp_path).prompts().explain[0] == EVAL_QUESTIONS["bird"]
