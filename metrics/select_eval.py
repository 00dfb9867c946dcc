"""Concept-selection precision per text encoder (Figure 5 / Table 13).

For one task, the base model describes the training images (step 1, served from the response
cache after the first encoder), then the information bottleneck selects each image's concepts
(step 2) once per text encoder; precision is the share of selected concepts that are truly in the
image (``selfsynth.metrics.concepts.concept_precision``):

- tasks with per-image concepts (``has_image_concepts``, the toy world): the recorded visible
  concepts, compared exactly;
- CUB (a task with ``image_attributes``): its per-image attribute annotations ("blue wing color",
  present and at least "probably" certain). A selected concept counts as visible when some
  annotated attribute's words all occur in it, plural "s" ignored, the attribute kind words
  (color, pattern, shape, ...) and parenthesised glosses ("curved (up or down)") left out —
  "bright blue wings" matches "blue wing color". This
  lexical mapping is ours; it undercounts paraphrases ("azure" for blue).

Writes ``<out>/<experiment>/<task>/select_eval/seed_<s>/select_eval.json`` (read by Table 13).
"""
from __future__ import annotations

import re
from typing import Any, Sequence

from selfsynth.errors import UserError
from selfsynth.metrics.concepts import concept_precision

RESULT_FILE = "select_eval.json"
# words of a CUB attribute that name its kind, not what is seen
ATTRIBUTE_KIND_WORDS = frozenset({"color", "colour", "pattern", "shape", "size", "length", "primary", "has"})
_WORD = re.compile(r"[a-z]+")
_GLOSS = re.compile(r"\([^)]*\)")


def _stems(text: str) -> set[str]:
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in _WORD.findall(text.lower())}


def attribute_visible(concept: str, attributes: Sequence[str]) -> bool:
    """Whether ``concept`` states one of the image's annotated ``attributes`` (rule in the module doc)."""
    words = _stems(concept)
    for attribute in attributes:
        needed = _stems(_GLOSS.sub(" ", attribute)) - ATTRIBUTE_KIND_WORDS
        if needed and needed <= words:
            return True
    return False


def ground_truth(task) -> tuple[str, Any]:
    """(description, precision function(sample, selected concepts) -> float) for ``task``."""
    if getattr(task, "has_image_concepts", False):
        return (f"{task.name} recorded visible concepts (exact match)",
                lambda sample, selected: concept_precision(selected, task.image_concepts(sample)))
    if hasattr(task, "image_attributes"):
        def precision(sample, selected):
            attributes = task.image_attributes(sample.id)
            if not selected:
                return 0.0
            return sum(attribute_visible(c, attributes) for c in selected) / len(selected)

        return f"{task.name} per-image attribute annotations (lexical match)", precision
    raise UserError(f"task {task.name!r} has no per-image ground truth for concept selection "
                    "(select-eval needs recorded visible concepts, as toy has, or attribute annotations, as cub200 has)")
