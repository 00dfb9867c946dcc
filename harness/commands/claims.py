"""`selfsynth claims`: the paper's claims checked over stored runs — a paired 95% interval (seeds,
then images) and a verdict per claim: holds, not shown or contradicted.

The claims are data (``selfsynth.reports.claims``: the paper's list, or ``--claims FILE``).
Exit code 0 whatever the verdicts (they are findings, not failures; CI reads ``--format json``);
2 for a user error (no stored results, a bad claims file).
"""
from __future__ import annotations

import argparse


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", "--output_path", dest="out", action="append", metavar="DIR",
                        help="run folder to read, repeatable (default: runs)")
    parser.add_argument("--claims", default=None, metavar="FILE",
                        help="a YAML list of claims (default: the paper's, reports/claims/paper.yaml)")
    parser.add_argument("--experiment", default=None, help="only this experiment (default: every experiment found)")
    parser.add_argument("--format", default="text", choices=["text", "md", "json"], help="output format (json for CI)")


def run(args: argparse.Namespace) -> int:
    from selfsynth.reports.claims import check_claims, render_claims

    print(render_claims(check_claims(args.out or ["runs"], args.claims, args.experiment), args.format))
    return 0
