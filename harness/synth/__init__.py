"""The self-synthesis pipeline (DESIGN §2), one function per step, each a resumable stage.

Every stage writes ``<out_dir>/<stage>.jsonl`` (provenance: image id, prompt, sample index,
scores, kept/dropped and why) and ``<out_dir>/<stage>.stats.json``; re-running with the same
inputs loads the finished file instead of recomputing. Training rows are
``{"id", "image", "question", "answer"}`` plus light provenance fields.

How a runner composes them (``lm`` from ``harness.models.load_model``, ``cache`` a
``ResponseCache``, ``cfg`` a ``SynthConfig``, ``prompts`` from ``tasks.prompts.load_prompts``)::

    from harness.synth import (class_concepts, describe_images, select_image_concepts,
                               class_concepts_per_image, rewrite_answers, rejection_sample)

    concepts = class_concepts(task.class_names(), task.domain, cfg, cache, shared_dir,
                              json_path=concepts_json, aliases=task.aliases)        # step 0
    descriptions = describe_images(base_lm, train, prompts, cfg, cache, shared_dir)  # step 1
    selected = select_image_concepts(train, descriptions, concepts, cfg, shared_dir) # step 2
    rows_1 = rewrite_answers(base_lm, task, train, selected, prompts, cfg, cache, it1_dir)  # step 3
    rows_r = rejection_sample(prev_lm, task, train, selected, concepts, prompts, cfg, cache,
                              itr_dir, mode="infonce", iteration=r)                 # r ≥ 2

Methods: ``ours`` = the above; ``lge`` = ``rewrite_answers`` with
``class_concepts_per_image(train, concepts)`` and ``rejection_sample(mode="label")``;
``no_filter`` = ``ours`` with ``rejection_sample(mode="random")``.

Names are imported lazily so ``import harness.synth`` stays light.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SynthConfig": "harness.synth.config",
    "ConceptSet": "harness.synth.concepts",
    "class_concepts": "harness.synth.concepts",
    "ask_llm_concepts": "harness.synth.concepts",
    "load_concepts_json": "harness.synth.concepts",
    "describe_images": "harness.synth.describe",
    "select_concepts": "harness.synth.select",
    "select_concepts_corpus": "harness.synth.select",
    "infonce_scores": "harness.synth.select",
    "concept_precision": "harness.synth.select",
    "select_image_concepts": "harness.synth.selection",
    "class_concepts_per_image": "harness.synth.selection",
    "rewrite_answers": "harness.synth.rewrite",
    "rewrite_prompt": "harness.synth.rewrite",
    "rejection_sample": "harness.synth.reject",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'harness.synth' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
