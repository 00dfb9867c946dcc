"""`selfsynth data`: read a dataset's layout, check every image, report counts per split.

Exit code 2 (UserError) when a folder or metadata file is missing or malformed; corrupt images
are listed, not fatal.
"""
from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, help="task name (see `selfsynth ls tasks`)")
    parser.add_argument("--root", default=None, help="dataset folder; default: the task's own (toy: the generated toy world)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="task option, repeatable (e.g. pld: seed=1, train_size=500, classes=A___b,C___d)")
    parser.add_argument("--json", action="store_true", help="print one JSON object: task, root, splits, num_classes, skipped")


def summarize(task) -> dict[str, Any]:
    splits = {split: len(task.load(split)) for split in ("train", "test")}
    return {
        "task": task.name,
        "root": str(task.root),
        "splits": splits,
        "num_classes": len(task.class_names()),
        "skipped": list(task.skipped),
    }


def run(args: argparse.Namespace) -> int:
    from selfsynth.api import build_task, parse_option_pairs

    task = build_task(args.task, args.root, parse_option_pairs(args.option))
    report = summarize(task)
    if args.json:
        print(json.dumps(report, sort_keys=True))
        return 0
    print(f"task      {report['task']}")
    print(f"root      {report['root']}")
    for split, count in report["splits"].items():
        print(f"{split:<9} {count} images")
    print(f"classes   {report['num_classes']}")
    print(f"skipped   {len(report['skipped'])} unreadable image(s)")
    for path in report["skipped"]:
        print(f"  {path}")
    return 0
