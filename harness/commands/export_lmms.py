"""`selfsynth export-lmms`: write a task as a local lmms-eval task (JSONL + YAML + utils.py).

Then: ``python -m lmms_eval --model selfsynth_llava --model_args pretrained=DIR[,peft=ADAPTER]
--tasks selfsynth_<task> --include_path OUT``.
"""
from __future__ import annotations

import argparse
import json


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, help="task name (see `selfsynth ls tasks`)")
    parser.add_argument("--root", default=None, metavar="DIR", help="dataset folder; default for task toy: the generated toy world")
    parser.add_argument("--out", "--output_path", dest="out", required=True, metavar="DIR", help="folder to pass to lmms-eval's --include_path")
    parser.add_argument("--split", action="append", choices=("train", "test"), default=None,
                        help="split(s) to export, repeatable (default: test)")
    parser.add_argument("--max-new-tokens", dest="max_new_tokens", type=int, default=256, help="answer length limit (paper: 256)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="task option, repeatable (see `selfsynth data`)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")


def run(args: argparse.Namespace) -> int:
    from selfsynth.api import build_task, parse_option_pairs
    from selfsynth.tasks.lmms_bridge.export import export_lmms

    from selfsynth.io import claim_output_dir

    task = build_task(args.task, args.root, parse_option_pairs(args.option))
    claim_output_dir(args.out, "lmms-export", adopt=("selfsynth_*/utils.py",))
    result = export_lmms(task, args.out, splits=args.split or ["test"], max_new_tokens=args.max_new_tokens)
    if args.json:
        print(json.dumps(result, sort_keys=True))
        return 0
    for name, count in result["tasks"].items():
        print(f"{name}: {count} samples")
    if result["skipped"]:
        print(f"skipped {len(result['skipped'])} unreadable image(s)")
    print(f"run: python -m lmms_eval --model selfsynth_llava --model_args pretrained=MODEL "
          f"--tasks {','.join(result['tasks'])} --include_path {result['include_path']}")
    return 0
