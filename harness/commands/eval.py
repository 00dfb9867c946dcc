"""`selfsynth eval`: accuracy of a model (optionally + LoRA adapter) on one task's split.

Writes ``records.jsonl`` and ``metrics.json`` under ``--out`` and prints the headline numbers.
``--root`` and ``--model`` default to the task's own (for toy: the generated toy world and its base
model). ``--limit N --seed S`` evaluates the test images a run with ``--limit N --seed S`` evaluates.
"""
from __future__ import annotations

import argparse
import json

from selfsynth import config as cfg
from selfsynth.configs.run import EvalConfig

CONFIGS = (EvalConfig,)


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", dest="config_file", default=None, metavar="YAML", help="YAML file of the settings below (flags override it)")
    cfg.add_arguments(parser, EvalConfig)
    parser.add_argument("--json", action="store_true", help="print metrics.json to stdout")


def run(args: argparse.Namespace) -> int:
    from selfsynth.api import evaluate

    config = cfg.from_args(EvalConfig, args, args.config_file)
    metrics, out = evaluate(config)
    if args.json:
        print(json.dumps(metrics, sort_keys=True))
        return 0
    low, high = metrics["accuracy_ci95"]
    print(f"{metrics['task']}/{config.split}: n={metrics['n']}  accuracy={metrics['accuracy']:.4f} [{low:.4f}, {high:.4f}]  "
          f"accuracy_paper={metrics['accuracy_paper']:.4f}")
    for flag in metrics.get("flags", []):
        print(f"note: {flag}")
    origin = metrics.get("train_run")
    if origin:  # a run's model: `selfsynth table transfer` reads this evaluation as train task → this task
        print(f"model of run {origin['task']}/{origin['method']} seed {origin['seed']} iteration {origin['iteration']} ({origin['run']})")
    print(f"records: {out / 'records.jsonl'}")
    return 0
