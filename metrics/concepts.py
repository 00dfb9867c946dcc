"""Concept-selection precision (Figure 5 / Table 13): how many of the concepts the information
bottleneck kept for an image are really visible in it."""
from __future__ import annotations

from typing import Iterable


def concept_precision(selected: Iterable[str], visible: Iterable[str]) -> float:
    """Share of selected concepts that are among the image's visible (ground-truth) concepts.

    Strings are compared after lower-casing and whitespace collapsing. An empty selection has
    precision 0 (selecting nothing is not rewarded).
    """
    norm = lambda s: " ".join(str(s).lower().split())  # noqa: E731
    chosen = [norm(s) for s in selected]
    truth = {norm(s) for s in visible}
    if not chosen:
        return 0.0
    return sum(s in truth for s in chosen) / len(chosen)
