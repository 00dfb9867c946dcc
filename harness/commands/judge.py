"""`selfsynth judge`: EE, CS and FS (README "Explanations: EE, CS and FS") of the answers in one evaluation folder.

Grades ``records.jsonl`` (written by ``selfsynth eval`` or a run's ``iter_<r>/eval/``) with
``selfsynth.metrics.grading.grade_folder`` and writes judge_records.jsonl and judge_metrics.json next
to the records or under ``--out``; see that module for what they hold and how reference concepts
are found. ``selfsynth run --judge`` grades every iteration of a run through the same function.
Judge and FS calls go through ``<out>/judge_cache.sqlite`` (or ``--cache``): a re-run costs nothing.
"""
from __future__ import annotations

import argparse
import json

from selfsynth import config as cfg
from selfsynth.configs.judge import JudgeCommandConfig

CONFIGS = (JudgeCommandConfig,)


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, metavar="YAML", help="defaults for the settings below; flags override")
    # the grading of a records folder needs no toy world: its dataset is the one metrics.json names
    cfg.add_arguments(parser, JudgeCommandConfig, skip=("judge_options", "toy_cache"))
    parser.add_argument("--json", action="store_true", help="print judge_metrics.json to stdout")


def run(args: argparse.Namespace) -> int:
    from selfsynth.api import judge

    from pathlib import Path

    from selfsynth.io import claim_output_dir

    config = cfg.from_args(JudgeCommandConfig, args, args.config)
    # the grades go into --out, or beside the records: either way a folder of ours (or an evaluation folder)
    if config.out:
        claim_output_dir(config.out, "judge", accept=("eval",))
    else:
        source = Path(config.eval_dir)
        folder = source.parent if source.is_file() else source
        if folder.is_dir():
            claim_output_dir(folder, "eval", flag="EVAL_DIR", accept=("judge",), adopt=("records.jsonl",))
    metrics, out = judge(config)
    if args.json:
        print(json.dumps(metrics, sort_keys=True))
        return 0
    identity = metrics["judge"]
    print(f"{metrics['records']}: n={metrics['n']}  judge={identity['judge']} ({identity['model']}, {identity['rubric_version']})")
    print(f"  EE={_fmt(metrics['ee'])} (n={metrics['n_ee']})  CS={_fmt(metrics['cs'])} (n={metrics['n_cs']})  "
          f"parse failures={metrics['parse_failures']}  no concepts={metrics['no_concepts']}")
    if config.fluency:
        print(f"  FS mean={_fmt(metrics['fs_mean'])} median={_fmt(metrics['fs_median'])} token-weighted={_fmt(metrics.get('fs_token_weighted'))}"
              f" (n={metrics['n_fs']}, empty={metrics['n_empty']})"
              f"  reference={metrics['fluency_reference']['name']}")
    usage = metrics["judge_usage"]
    if "requests" in usage:
        cost = f"  cost=${usage['cost_usd']:.4f}" if usage.get("cost_usd") is not None else ""
        print(f"  judge requests={usage['requests']} retries={usage['retries']} cache hits={usage['cache_hits']} "
              f"tokens={usage['prompt_tokens']}+{usage['completion_tokens']}{cost}")
    if "note" in metrics:
        print(f"  note: {metrics['note']}")
    print(f"records: {out / 'judge_records.jsonl'}")
    return 0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
