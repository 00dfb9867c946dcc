"""What the synthesis tests share: steps 0-2 run once on a subset of the toy world (the session
fixture ``toy_synth`` in tests/conftest.py).

Sizes are cut for speed (3 prompts × 2 samples = 6 descriptions per image, 2 images per class);
the full defaults (3 × 10) are exercised by the runners.

Describe prompts: the toy base model was pre-trained on the toy world's own describe questions
(``selfsynth.toy.dataset.DESCRIBE_QUESTIONS``); the bird domain's long prompts are out of its
distribution and get short, generic captions. The prompts override (prompts are data,
overridable, `--prompts`) uses the questions the toy model knows, as a user would for their model.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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


