"""`selfsynth regress`: gate a checkpoint in CI against a baseline evaluation of the same samples.

Exit code 0: no regression; 1: the candidate regressed (see ``selfsynth.reports.regress``); 2: a user
error, including two evaluations that are not comparable.
"""
from __future__ import annotations

import argparse
import json

REGRESSED_EXIT_CODE = 1


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", required=True, metavar="DIR", help="evaluation folder (metrics.json + records.jsonl) of the reference model")
    parser.add_argument("--candidate", required=True, metavar="DIR", help="evaluation folder of the checkpoint under test, on the same samples")
    parser.add_argument("--metric", default="accuracy", choices=["accuracy", "accuracy_paper"], help="which accuracy to gate on")
    parser.add_argument("--max-drop", "--max_drop", dest="max_drop", type=float, default=0.0,
                        help="tolerated absolute accuracy drop (e.g. 0.01 = one point); default 0")
    parser.add_argument("--alpha", type=float, default=None,
                        help="also require McNemar's p < ALPHA before calling a drop a regression (default: any drop beyond --max-drop)")
    parser.add_argument("--out", default=None, metavar="FILE", help="write the report as JSON (atomically)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from selfsynth.io import write_json
    from selfsynth.reports.regress import compare, load_evaluation

    report = compare(load_evaluation(args.baseline), load_evaluation(args.candidate), args.metric, args.max_drop, args.alpha)
    if args.out:
        write_json(args.out, report)
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        metric = report["metric"]
        low, high = report["delta_ci95"]
        print(f"{report['task']}: n={report['n']}  {metric} {report['baseline'][metric]:.4f} -> {report['candidate'][metric]:.4f}  "
              f"delta {report['delta']:+.4f} [{low:+.4f}, {high:+.4f}]  lost {report['lost']} / gained {report['gained']}  "
              f"McNemar p={report['mcnemar_p']:.3g}")
        for row in report["classes_dropped"][:5]:
            print(f"  dropped: {row['label']} {row['baseline']:.3f} -> {row['candidate']:.3f} (n={row['n']})")
        print("REGRESSED" if report["regressed"] else "OK")
    return REGRESSED_EXIT_CODE if report["regressed"] else 0
