"""The offline toy world (README "Two commands"): a fine-grained toy bird dataset with ground truth and a small
LLaVA base model pre-trained on its generic captions. ``ensure_toy_world()`` builds both once.

Names are imported lazily so that importing ``selfsynth.toy`` does not import torch."""
from __future__ import annotations

from typing import Any

_EXPORTS = {
    "ToyConfig": "selfsynth.toy.world",
    "ToyWorld": "selfsynth.toy.world",
    "ensure_toy_world": "selfsynth.toy.world",
    "ToyDataConfig": "selfsynth.toy.dataset",
    "ToyModelConfig": "selfsynth.toy.model",
    "describe_precision": "selfsynth.toy.evaluate",
    "score_descriptions": "selfsynth.toy.evaluate",
    "DescribeScore": "selfsynth.toy.evaluate",
    "extract_attributes": "selfsynth.toy.dataset",
    "caption": "selfsynth.toy.dataset",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'selfsynth.toy' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
