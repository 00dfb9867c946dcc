"""`selfsynth run`: run or resume one method on one task (synthesize → train → evaluate, per iteration)."""
from __future__ import annotations

import argparse
from typing import Any

from selfsynth import config as cfg
from selfsynth.configs.run import RunConfig

CONFIGS = (RunConfig,)


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", dest="config_file", default=None, metavar="YAML", help="YAML file of RunConfig keys (flags override it)")
    cfg.add_arguments(parser, RunConfig)
    parser.add_argument("--json", action="store_true", help="print the results object as JSON")
    parser.add_argument("--print-config", "--print_config", dest="print_config", action="store_true",
                        help="print the resolved config (defaults < task preset < YAML < flags) as YAML and exit")


def run(args: argparse.Namespace) -> int:
    import json

    from selfsynth.api import resolve_run_config
    from selfsynth.api import run as run_method

    config = resolve_run_config(args.config_file, cfg.overrides_from_args(args, RunConfig))
    if args.print_config:
        print(cfg.dump_yaml(config), end="")
        return 0
    results = run_method(config)
    if args.json:
        print(json.dumps(results, indent=2, sort_keys=True))
    else:
        print(format_iterations(results))
    return 0


def format_iterations(results: dict[str, Any]) -> str:
    from tabulate import tabulate

    rows = []
    for record in results["iterations"]:
        metrics = record.get("metrics", {})
        rows.append([
            record["iteration"],
            metrics.get("accuracy"),
            metrics.get("accuracy_paper"),
            (record.get("data") or {}).get("n_examples", "-"),
            (record.get("train") or {}).get("final_loss", "-"),
        ])
    title = f"{results['task']} / {results['method']} (n_test={results['n_test']}, limit={results['limit']})"
    return title + "\n" + tabulate(rows, headers=["iteration", "accuracy", "accuracy_paper", "train examples", "final loss"], floatfmt=".3f")
