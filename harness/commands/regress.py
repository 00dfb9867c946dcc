"""`selfsynth regress`: gate a checkpoint in CI against a baseline evaluation of the same samples.

The candidate is an evaluation folder, or a checkpoint (model folder, hub id or LoRA adapter
folder) that is first evaluated exactly as the baseline was (``selfsynth.api.evaluate_like``).
Exit code 0: non-inferiority shown (the candidate is no worse than the baseline by more than
``--max-drop``, one-sided exact test at ``--alpha``), improved or not; 1: not shown, or a drop
beyond the margin shown (see ``selfsynth.reports.regress``); 2: a user error, including two
evaluations that are not comparable (each differing setting is named) or an empty one.
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
                        help="non-inferiority margin: the gate passes when the data show the accuracy drop is less than this "
                             "(e.g. 0.01 = one point); default 0 (the candidate must be shown no worse)")
    parser.add_argument("--alpha", type=float, default=0.025,
                        help="one-sided level of the exact non-inferiority test (default 0.025: the decision agrees with "
                             "the printed two-sided 95%% interval)")
    parser.add_argument("--out", default=None, metavar="FILE", help="write the report as JSON (atomically)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from selfsynth.io import claim_output_dir, write_json
    from selfsynth.reports.regress import compare, is_evaluation_folder, load_evaluation, stored_decision

    baseline = load_evaluation(args.baseline)
    candidate_dir = args.candidate
    if not is_evaluation_folder(args.candidate):
        from selfsynth.api import EVAL_FILES, evaluate_like

        if args.candidate_out:  # an earlier evaluation of ours is replaced; any other folder is refused
            claim_output_dir(args.candidate_out, "eval", flag="--candidate-out", adopt=EVAL_FILES)
        _, candidate_dir = evaluate_like(baseline.folder, args.candidate, out=args.candidate_out, batch_size=args.batch_size)
    candidate = load_evaluation(candidate_dir)
    report = compare(baseline, candidate, args.metric, args.max_drop, args.alpha)
    if args.out:
        write_json(args.out, stored_decision(report, baseline, candidate))
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        metric = report["metric"]
        low, high = report["delta_interval"]
        print(f"{report['task']}: n={report['n']}  {metric} {report['baseline'][metric]:.4f} ({report['baseline_right']} of {report['n']}) -> "
              f"{report['candidate'][metric]:.4f} ({report['candidate_right']} of {report['n']})  delta {report['delta']:+.4f} "
              f"[{report['interval_level']:.0%}: {low:+.4f}, {high:+.4f}]  lost {report['lost']} / gained {report['gained']}")
        for row in report["classes_dropped"][:5]:
            print(f"  dropped: {row['label']} {row['baseline']:.3f} -> {row['candidate']:.3f} (n={row['n']})")
        print(f"{report['verdict'].upper()}: {report['reason']}")
    return REGRESSED_EXIT_CODE if report["regressed"] else 0
