"""`selfsynth select-eval`: concept-selection precision per text encoder (Table 13) on one task."""
from __future__ import annotations

import argparse

from selfsynth import config as cfg
from selfsynth.configs.commands import SelectEvalConfig
from selfsynth.configs.run import RunConfig

CONFIGS = (RunConfig, SelectEvalConfig)


def add_parser(parser: argparse.ArgumentParser) -> None:
    cfg.add_arguments(parser, SelectEvalConfig)
    parser.add_argument("--config", dest="config_file", default=None, metavar="YAML", help="YAML file of RunConfig keys (flags override it)")
    cfg.add_arguments(parser, RunConfig, skip=("method", "iterations", "judge", "fluency_model", "judging", "train"))
    parser.add_argument("--json", action="store_true", help="print select_eval.json")


def run(args: argparse.Namespace) -> int:
    import json

    from selfsynth.api import evaluate_selection, resolve_run_config

    config = resolve_run_config(args.config_file, cfg.overrides_from_args(args, RunConfig))
    result, path = evaluate_selection(config, cfg.from_args(SelectEvalConfig, args).encoders)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return 0
    print(f"{result['task']}: concept-selection precision on {result['n_images']} images ({result['ground_truth']})")
    for encoder, scores in result["encoders"].items():
        print(f"  {encoder}: precision={scores['precision']:.3f}  random selection={scores['random_precision']:.3f}  "
              f"concepts/image={scores['concepts_per_image']:.2f}")
    print(f"results: {path}")
    return 0
