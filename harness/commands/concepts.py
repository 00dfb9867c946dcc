"""`selfsynth concepts`: step 0 on its own — the class concepts file a run's ``--concepts`` reads.

Either asks an OpenAI-compatible endpoint once per class (``selfsynth.synth.concepts``: cached,
retried, token use and cost reported), or imports a public descriptor file ``{class: [concept]}``
(``--from-json``), matching its keys to the task's class names and aliases. Writes ``--out``
(``{class name: [concept, ...]}`` in the task's class order) and ``<out>.stats.json`` beside it.
"""
from __future__ import annotations

import argparse
import json

from selfsynth import config as cfg
from selfsynth.configs.commands import ConceptsConfig

CONFIGS = (ConceptsConfig,)


def add_parser(parser: argparse.ArgumentParser) -> None:
    cfg.add_arguments(parser, ConceptsConfig)
    parser.add_argument("--json", action="store_true", help="print the statistics as JSON")


def run(args: argparse.Namespace) -> int:
    from selfsynth.api import make_concepts

    config = cfg.from_args(ConceptsConfig, args)
    stats, result = make_concepts(config)
    if args.json:
        print(json.dumps(stats, sort_keys=True))
        return 0
    print(f"{config.out}: {stats['classes']} classes, {stats['concepts_total']} concepts "
          f"({stats['concepts_per_class_mean']:.1f} per class) from {stats['source']}")
    if result.missing:
        print(f"  no concepts for {len(result.missing)} classes, e.g. {result.missing[0]!r}")
    if result.unmatched_keys:
        print(f"  {len(result.unmatched_keys)} keys named no class, e.g. {result.unmatched_keys[0]!r}")
    if not config.from_json:
        cost = f", ${stats['cost_usd']:.4f}" if stats["cost_usd"] is not None else ""
        print(f"  requests sent: {result.calls} ({stats['classes'] - result.calls} cached), tokens {result.prompt_tokens}+{result.completion_tokens}{cost}")
    return 0
