"""The self-synthesis pipeline (README "Fidelity"), one function per step, each a resumable stage.

Every stage writes ``<out_dir>/<stage>.jsonl`` (provenance: image id, prompt, sample index,
scores, kept/dropped and why) and ``<out_dir>/<stage>.stats.json``; re-running with the same
inputs loads the finished file instead of recomputing. Training rows are
``{"id", "image", "question", "answer"}`` plus light provenance fields.

How a runner composes them (``lm`` from ``selfsynth.models.load_model``, ``cache`` a
``ResponseCache``, ``cfg`` a ``SynthConfig``, ``prompts`` from ``selfsynth.tasks.prompts.load_prompts``)::

    from selfsynth.synth import (class_concepts, describe_images, select_image_concepts,
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
``no_filter`` = ``rewrite_answers`` with ``random_concepts_per_image`` (a random subset of the
class concepts, the size step 2 keeps; ``synth.no_filter_concepts selected`` uses the selection)
and ``rejection_sample(mode="random")``.

Names are imported lazily so ``import harness.synth`` stays light.
"""
from __future__ import annotations

from selfsynth.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "selfsynth.synth.config": ("SynthConfig",),
    "selfsynth.synth.concepts": ("ConceptSet", "class_concepts", "ask_llm_concepts", "load_concepts_json"),
    "selfsynth.synth.describe": ("describe_images",),
    "selfsynth.synth.infonce": ("select_concepts", "select_concepts_corpus", "infonce_scores"),
    "selfsynth.metrics.concepts": ("concept_precision",),
    "selfsynth.synth.select": ("select_image_concepts", "class_concepts_per_image", "random_concepts_per_image"),
    "selfsynth.synth.rewrite": ("rewrite_answers", "rewrite_prompt"),
    "selfsynth.synth.reject": ("rejection_sample",),
})
