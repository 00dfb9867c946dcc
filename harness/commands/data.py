"""`selfsynth data`: read a dataset's layout, check every image, report counts per split.

Exit code 2 (UserError) when a folder or metadata file is missing or malformed; corrupt images
are listed, not fatal.
"""
from __future__ import annotations

import argparse
import json

from selfsynth import config as cfg
from selfsynth.configs.commands import DataConfig

CONFIGS = (DataConfig,)


def add_parser(parser: argparse.ArgumentParser) -> None:
    cfg.add_arguments(parser, DataConfig)
    parser.add_argument("--json", action="store_true", help="print one JSON object: task, root, splits, num_classes, skipped")


def run(args: argparse.Namespace) -> int:
    from selfsynth.api import check_dataset

    report = check_dataset(cfg.from_args(DataConfig, args))
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
