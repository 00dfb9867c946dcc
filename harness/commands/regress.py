"""`selfsynth regress`: gate a checkpoint in CI against a baseline evaluation of the same samples.

The candidate is an evaluation folder, or a checkpoint (model folder, hub id or LoRA adapter
folder) that is first evaluated exactly as the baseline was (``selfsynth.api.evaluate_like``).
Exit code 0: no regression (or a drop tolerated as not significant with ``--alpha``); 1: the
candidate regressed (see ``selfsynth.reports.regress``); 2: a user error, including two
evaluations that are not comparable (each differing setting is named).
"""
from __future__ import annotations

import argparse
import json

REGRESSED_EXIT_CODE = 1


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", required=True, metavar="DIR", help="evaluation folder (metrics.json + records.jsonl) of the reference model")
    parser.add_argument("--candidate", required=True, metavar="DIR_OR_MODEL",
                        help="evaluation folder of the checkpoint under test, or the checkpoint itself (model folder, hub id or "
                             "LoRA adapter folder), then evaluated with the baseline's recorded settings")
    parser.add_argument("--candidate-out", "--candidate_out", dest="candidate_out", default=None, metavar="DIR",
                        help="where a checkpoint given as --candidate is evaluated (default runs/eval/<task>/<split>-<fingerprint>)")
    parser.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int, default=16,
                        help="generation batch size when evaluating a checkpoint (answers do not depend on it)")
    parser.add_argument("--metric", default="accuracy", choices=["accuracy", "accuracy_paper"], help="which accuracy to gate on")
    parser.add_argument("--max-drop", "--max_drop", dest="max_drop", default="0",
                        help="tolerated absolute accuracy drop (e.g. 0.01 = one point; a drop of exactly this much passes); default 0")
    parser.add_argument("--alpha", type=float, default=None,
                        help="also require McNemar's p < ALPHA before calling a drop a regression; a larger drop that is not "
                             "significant is reported as tolerated (default: any drop beyond --max-drop fails)")
    parser.add_argument("--out", default=None, metavar="FILE", help="write the report as JSON (atomically)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from selfsynth.io import write_json
    from selfsynth.reports.regress import compare, is_evaluation_folder, load_evaluation

    baseline = load_evaluation(args.baseline)
    candidate_dir = args.candidate
    if not is_evaluation_folder(args.candidate):
        from selfsynth.api import evaluate_like

        _, candidate_dir = evaluate_like(baseline.folder, args.candidate, out=args.candidate_out, batch_size=args.batch_size)
    report = compare(baseline, load_evaluation(candidate_dir), args.metric, args.max_drop, args.alpha)
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
        print(f"{report['verdict'].upper()}: {report['reason']}")
    return REGRESSED_EXIT_CODE if report["regressed"] else 0
