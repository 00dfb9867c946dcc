"""`selfsynth judge`: EE, CS and FS (DESIGN §3) of the answers in one evaluation folder.

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


def add_parser(parser: argparse.ArgumentParser) -> None:
    from selfsynth.metrics.grading import JudgeConfig

    parser.add_argument("eval_dir", metavar="EVAL_DIR", help="evaluation folder holding records.jsonl (or the records.jsonl file itself)")
    parser.add_argument("--config", default=None, metavar="YAML", help="defaults for the settings below; flags override")
    parser.add_argument("--task", default=None, help="task of the records (default: the 'task' in metrics.json next to them)")
    parser.add_argument("--root", default=None, metavar="DIR", help="task toy: the dataset folder the records came from")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="task option, repeatable")
    parser.add_argument("--concepts", default=None, metavar="JSON", help="reference concepts per class {class name: [concept, ...]}")
    parser.add_argument("--out", "--output_path", dest="out", default=None, metavar="DIR",
                        help="where judge_records.jsonl and judge_metrics.json go (default: next to the records)")
    parser.add_argument("--cache", default=None, metavar="SQLITE", help="judge and fluency cache (default <out>/judge_cache.sqlite)")
    parser.add_argument("--json", action="store_true", help="print judge_metrics.json to stdout")
    cfg.add_arguments(parser, JudgeConfig, skip=("judge_options",))


def run(args: argparse.Namespace) -> int:
    from selfsynth.api import parse_option_pairs
    from selfsynth.metrics.grading import JudgeConfig, grade_folder

    from pathlib import Path

    from selfsynth.io import claim_output_dir

    config = cfg.resolve(JudgeConfig, args.config, cfg.overrides_from_args(args, JudgeConfig))
    # the grades go into --out, or beside the records: either way a folder of ours (or an evaluation folder)
    if args.out:
        claim_output_dir(args.out, "judge", accept=("eval",))
    else:
        source = Path(args.eval_dir)
        folder = source.parent if source.is_file() else source
        if folder.is_dir():
            claim_output_dir(folder, "eval", flag="EVAL_DIR", accept=("judge",), adopt=("records.jsonl",))
    metrics, out = grade_folder(args.eval_dir, config, task=args.task, concepts=args.concepts, root=args.root,
                                options=parse_option_pairs(args.option), out_dir=args.out, cache=args.cache)
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
