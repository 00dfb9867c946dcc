"""`selfsynth match`: what each accuracy rule reads from answers, so a researcher can see why an
answer scored as it did. Ours: the verdict (a class or none), the reason, every class mention and
the negation cue that voids it; the published rule: every class it credits."""
from __future__ import annotations

import argparse
import json

from selfsynth import config as cfg
from selfsynth.configs.commands import MatchConfig

CONFIGS = (MatchConfig,)


def add_parser(parser: argparse.ArgumentParser) -> None:
    cfg.add_arguments(parser, MatchConfig)
    parser.add_argument("--json", action="store_true", help="print one JSON object per answer")


def run(args: argparse.Namespace) -> int:
    from selfsynth.api import parse_option_pairs, read_answers

    config = cfg.from_args(MatchConfig, args)
    rows = read_answers(config.task, config.answers, root=config.root, options=parse_option_pairs(config.task_options),
                        label=config.label, toy_cache=config.toy_cache)
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False, sort_keys=True))
        return 0
    for i, row in enumerate(rows):
        ours, paper = row["ours"], row["paper"]
        print(f"answer {i + 1}: {row['answer']!r}")
        verdict = f"  ours ({row['rule']}): {ours['verdict'] or '(none)'} ({ours['reason']})"
        credited = ", ".join(paper["classes"]) or "(none)"
        published = f"  paper: {credited}"
        if row["label"] is not None:
            verdict += f"  -> {'correct' if ours['match'] else 'wrong'} for {row['label']!r}"
            published += f"  -> {'correct' if paper['match'] else 'wrong'} for {row['label']!r}"
        print(verdict)
        print(published)
        for mention in ours["mentions"]:
            status = f"negated by {mention['negated_by']!r}" if mention["negated_by"] else "counts"
            print(f"    mention {mention['text']!r} -> {mention['names']} ({status})")
    return 0
