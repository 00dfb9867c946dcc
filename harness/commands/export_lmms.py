"""`selfsynth export-lmms`: write a task as a local lmms-eval task (JSONL + YAML + utils.py).

Then: ``python -m lmms_eval --model selfsynth_llava --model_args pretrained=DIR[,peft=ADAPTER]
--tasks selfsynth_<task> --include_path OUT``.
"""
from __future__ import annotations

import argparse
import json

from selfsynth import config as cfg
from selfsynth.configs.commands import ExportLmmsConfig

CONFIGS = (ExportLmmsConfig,)


def add_parser(parser: argparse.ArgumentParser) -> None:
    cfg.add_arguments(parser, ExportLmmsConfig)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")


def run(args: argparse.Namespace) -> int:
    from selfsynth.api import build_task, parse_option_pairs
    from selfsynth.tasks.lmms_bridge.export import export_lmms

    from selfsynth.io import claim_output_dir

    config = cfg.from_args(ExportLmmsConfig, args)
    task = build_task(config.task, config.root, parse_option_pairs(config.task_options), cache_dir=config.toy_cache)
    claim_output_dir(config.out, "lmms-export", adopt=("selfsynth_*/utils.py",))
    result = export_lmms(task, config.out, splits=config.split, max_new_tokens=config.max_new_tokens)
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
