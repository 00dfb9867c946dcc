"""Session fixtures of the synthesis tests: steps 0-2 run once on a subset of the toy world.

Sizes are cut for speed (3 prompts × 2 samples = 6 descriptions per image, 2 images per class);
the full defaults (3 × 10) are exercised by the runners.

Describe prompts: the toy base model was pre-trained on the toy world's own describe questions
(``selfsynth.toy.dataset.DESCRIBE_QUESTIONS``); the bird domain's long prompts are out of its
distribution and get short, generic captions. The prompts override (DESIGN: prompts are data,
overridable) uses the questions the toy model knows, as a user would for their model.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class ToySynth:
    world: object
    task: object
    samples: list
    prompts: object
    lm: object
    cache: object
    cfg: object
    concepts: object
    descriptions: dict
    selected: dict
    out: Path


PER_CLASS = 2


@pytest.fixture(scope="session")
def toy_synth(toy_world, tmp_path_factory) -> ToySynth:
    from selfsynth.cache import ResponseCache
    from selfsynth.models import load_model
    from selfsynth.synth.concepts import class_concepts
    from selfsynth.synth.config import SynthConfig
    from selfsynth.synth.describe import describe_images
    from selfsynth.synth.select import select_image_concepts
    from selfsynth.toy.dataset import DESCRIBE_QUESTIONS
    from selfsynth.tasks.toy import ToyTask

    task = ToyTask(toy_world.dataset_root)
    seen: dict[str, int] = {}
    samples = []
    for s in task.load("train"):
        if seen.get(s.label, 0) < PER_CLASS:
            seen[s.label] = seen.get(s.label, 0) + 1
            samples.append(s)
    out = tmp_path_factory.mktemp("synth")
    cfg = SynthConfig(describe_samples=2, describe_max_new_tokens=48, rewrite_max_new_tokens=64,
                      reject_max_new_tokens=64, batch_size=32)
    cache = ResponseCache(out / "cache.sqlite")
    prompts = dataclasses.replace(task.prompts(), describe=list(DESCRIBE_QUESTIONS[:3]))
    lm = load_model(toy_world.model_path)
    concepts = class_concepts(task.class_names(), task.domain, cfg, cache, out, json_path=task.class_concepts_path(), aliases=task.aliases)
    descriptions = describe_images(lm, samples, prompts, cfg, cache, out)
    selected = select_image_concepts(samples, descriptions, concepts, cfg, out, progress=False)
    return ToySynth(toy_world, task, samples, prompts, lm, cache, cfg, concepts, descriptions, selected, out)
