"""`selfsynth concepts`: step 0 on its own — the class concepts file a run's ``--concepts`` reads.

Either asks an OpenAI-compatible endpoint once per class (``selfsynth.synth.concepts``: cached,
retried, token use and cost reported), or imports a public descriptor file ``{class: [concept]}``
(``--from-json``), matching its keys to the task's class names and aliases. Writes ``--out``
(``{class name: [concept, ...]}`` in the task's class order) and ``<out>.stats.json`` beside it
(``selfsynth.api.make_concepts``; flags from ``ConceptsConfig``, declared in ``selfsynth.cli``).
"""
from __future__ import annotations

from typing import Any


def show(stats: dict[str, Any], config) -> str:
    lines = [f"{config.out}: {stats['classes']} classes, {stats['concepts_total']} concepts "
             f"({stats['concepts_per_class_mean']:.1f} per class) from {stats['source']}"]
    if stats["missing"]:
        lines.append(f"  no concepts for {len(stats['missing'])} classes, e.g. {stats['missing'][0]!r}")
    if stats["unmatched_keys"]:
        lines.append(f"  {len(stats['unmatched_keys'])} keys named no class, e.g. {stats['unmatched_keys'][0]!r}")
    if not config.from_json:
        cost = f", ${stats['cost_usd']:.4f}" if stats["cost_usd"] is not None else ""
        lines.append(f"  requests sent: {stats['llm_calls']} ({stats['classes'] - stats['llm_calls']} cached), "
                     f"tokens {stats['prompt_tokens']}+{stats['completion_tokens']}{cost}")
    return "\n".join(lines)
