"""The offline toy world (README "Two commands"): a fine-grained toy bird dataset with ground truth and a small
LLaVA base model pre-trained on its generic captions. ``ensure_toy_world()`` builds both once.

Names are imported lazily so that importing ``selfsynth.toy`` does not import torch."""
from __future__ import annotations

from selfsynth.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "selfsynth.toy.world": ("ToyConfig", "ToyWorld", "ensure_toy_world"),
    "selfsynth.toy.dataset": ("ToyDataConfig", "extract_attributes", "caption"),
    "selfsynth.toy.model": ("ToyModelConfig",),
    "selfsynth.toy.evaluate": ("describe_precision", "score_descriptions", "DescribeScore"),
})
