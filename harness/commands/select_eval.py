"""`selfsynth select-eval`: concept-selection precision per text encoder (Table 13) on one task."""
from __future__ import annotations

import argparse

from selfsynth import config as cfg


def add_parser(parser: argparse.ArgumentParser) -> None:
    from selfsynth.runner import RunConfig

    parser.add_argument("--encoders", required=True, metavar="A,B",
                        help="comma-separated text encoders to compare (known names, local folders or cached hub ids)")
    parser.add_argument("--config", dest="config_file", default=None, metavar="YAML", help="YAML file of RunConfig keys (flags override it)")
    cfg.add_arguments(parser, RunConfig, skip=("method", "iterations", "judge", "fluency_model", "judging", "train"))
    parser.add_argument("--json", action="store_true", help="print select_eval.json")


def run(args: argparse.Namespace) -> int:
    import json

    from selfsynth.api import resolve_run_config
    from selfsynth.api import evaluate_selection
    from selfsynth.runner import RunConfig

    config = resolve_run_config(args.config_file, cfg.overrides_from_args(args, RunConfig))
    result, path = evaluate_selection(config, args.encoders.split(","))
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return 0
    print(f"{result['task']}: concept-selection precision on {result['n_images']} images ({result['ground_truth']})")
    for encoder, scores in result["encoders"].items():
        print(f"  {encoder}: precision={scores['precision']:.3f}  random selection={scores['random_precision']:.3f}  "
              f"concepts/image={scores['concepts_per_image']:.2f}")
    print(f"results: {path}")
    return 0
