"""`selfsynth match`: what each accuracy rule reads from answers, so a researcher can see why an
answer scored as it did. Ours: the verdict (a class or none), the reason, every class mention and
the negation cue that voids it; the published rule: every class it credits."""
from __future__ import annotations

import argparse
import json


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, help="task name (see `selfsynth ls tasks`)")
    parser.add_argument("--root", default=None, help="dataset folder (needed for the class list of every task but toy)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="task option, repeatable (e.g. chest_xray: question=classname)")
    parser.add_argument("--toy_cache", "--toy-cache", default=None, help="cache folder of the toy world (default ~/.cache/selfsynth/toy)")
    parser.add_argument("--label", default=None, help="the true class: also print both rules' verdicts on it")
    parser.add_argument("--json", action="store_true", help="print one JSON object per answer")
    parser.add_argument("answers", nargs="+", metavar="ANSWER", help="answer text(s) to read")


def run(args: argparse.Namespace) -> int:
    from selfsynth.api import parse_option_pairs, read_answers

    rows = read_answers(args.task, args.answers, root=args.root, options=parse_option_pairs(args.option), label=args.label,
                        toy_cache=args.toy_cache)
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
