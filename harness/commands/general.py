"""`selfsynth general`: general ability (Table 11) through lmms-eval's own benchmarks, offline.

    selfsynth general --model PATH [--adapter DIR] --benchmarks mmstar,seedbench_2_plus,mmmu_val,mme,mmbench_en_dev
                      [--limit N] [--out DIR] [--data DIR] [--baseline DIR] [--lmms-model selfsynth_llava|llava_hf]

Prints one line per benchmark while it runs and a table at the end; lmms-eval's own output goes
to <out>/lmms_eval.log. Without --model: the toy base model on the toy miniatures.
"""
from __future__ import annotations

import argparse
import json

from selfsynth import config as cfg
from selfsynth.metrics.general import GeneralConfig

CONFIGS = (GeneralConfig,)


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", dest="config_file", default=None, metavar="YAML", help="YAML file of the settings below (flags override it)")
    cfg.add_arguments(parser, GeneralConfig)
    parser.add_argument("--output_path", dest="out", default=argparse.SUPPRESS, metavar="DIR", help="alias of --out")
    parser.add_argument("--json", action="store_true", help="print general.json to stdout instead of the table")


def run(args: argparse.Namespace) -> int:
    from selfsynth.metrics.general import evaluate_general

    config = cfg.from_args(GeneralConfig, args, args.config_file)
    summary = evaluate_general(config, progress=_progress(args.json))
    if args.json:
        print(json.dumps(summary, sort_keys=True))
        return 0
    print(format_summary(summary))
    return 0


def _progress(quiet: bool):
    import sys

    def emit(line: str) -> None:
        # with --json, stdout carries only the JSON document
        print(line, file=sys.stderr if quiet else sys.stdout, flush=True)

    return emit


def format_summary(summary: dict) -> str:
    from tabulate import tabulate

    change = (summary.get("baseline") or {}).get("benchmarks", {})
    rows = []
    for name, entry in summary["benchmarks"].items():
        value = entry["value"]
        row = [name, entry["metric"], "n/a" if value is None else f"{value:.4g}", f"0-{entry['max']:g}", entry["n"]]
        if summary.get("baseline"):
            diff = change.get(name)
            row += ["" if diff is None else f"{diff['delta']:+.4g}",
                    "" if diff is None or diff["relative_pct"] is None else f"{diff['relative_pct']:+.2f}%"]
        rows.append(row)
    headers = ["benchmark", "metric", "value", "range", "n"] + (["change", "relative"] if summary.get("baseline") else [])
    lines = [tabulate(rows, headers=headers)]
    if summary.get("baseline"):
        overall = summary["baseline"]["overall_improvement_pct"]
        lines.append(f"overall improvement vs {summary['baseline']['path']}: "
                     + ("n/a" if overall is None else f"{overall:+.2f}%") + f" ({summary['baseline']['overall_note']})")
    for name, entry in summary["benchmarks"].items():
        for key in ("variant", "note"):
            if entry.get(key):
                lines.append(f"note: {name}: {entry[key]}")
    if summary["data_kind"] == "toy miniatures":
        lines.append("note: data are the toy miniatures: they exercise lmms-eval's scoring offline and mean nothing about general ability")
    if summary["limit"] is not None:
        lines.append(f"note: --limit {summary['limit']}: first documents only; not comparable to the paper")
    lines.append(f"summary: {summary['out']}/general.json; lmms-eval log: {summary['out']}/{summary['log']}")
    return "\n".join(lines)
