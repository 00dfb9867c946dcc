"""The offline toy world (DESIGN §5): a fine-grained toy bird dataset with ground truth and a small
LLaVA base model pre-trained on its generic captions. ``ensure_toy_world()`` builds both once.

Names are imported lazily so that importing ``harness.toy`` does not import torch."""
from __future__ import annotations

from typing import Any

_EXPORTS = {
    "ToyConfig": "harness.toy.world",
    "ToyWorld": "harness.toy.world",
    "ensure_toy_world": "harness.toy.world",
    "ToyDataConfig": "harness.toy.dataset",
    "ToyModelConfig": "harness.toy.model",
    "describe_precision": "harness.toy.evaluate",
    "score_descriptions": "harness.toy.evaluate",
    "DescribeScore": "harness.toy.evaluate",
    "extract_attributes": "harness.toy.dataset",
    "caption": "harness.toy.dataset",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'harness.toy' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
