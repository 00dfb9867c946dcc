"""`selfsynth data`: read a dataset's layout, check every image, report counts per split.

Exit code 2 (UserError) when a folder or metadata file is missing or malformed; corrupt images
are listed, not fatal.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from harness.errors import UserError


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, help="task name (see `selfsynth ls tasks`)")
    parser.add_argument("--root", default=None, help="dataset folder; default for task toy: the generated toy world")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="task option, repeatable (e.g. pld: seed=1, train_size=500, classes=A___b,C___d)")
    parser.add_argument("--json", action="store_true", help="print one JSON object: task, root, splits, num_classes, skipped")


def parse_options(pairs: list[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--option {pair!r}: expected KEY=VALUE")
        options[key.strip()] = value.strip()
    return options


def build_task(name: str, root: str | None, options: dict[str, Any] | None = None):
    """The task ``name`` on ``root``; for toy without a root, the generated toy world."""
    from harness.registry import TASKS

    task_cls = TASKS.get(name)
    if root is None:
        if name != "toy":
            raise UserError(f"task {name!r} needs --root (the dataset folder)")
        from harness.toy import ensure_toy_world

        root = str(ensure_toy_world().dataset_root)
    return task_cls(root, **(options or {}))


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
    task = build_task(args.task, args.root, parse_options(args.option))
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
