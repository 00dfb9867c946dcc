"""`selfsynth table`: accuracy per method and iteration from a run folder."""
from __future__ import annotations

import argparse


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", "--output_path", dest="out", default="runs", help="run store folder (default: runs)")
    parser.add_argument("--experiment", default="default", help="experiment sub-folder (default: default)")
    parser.add_argument("--metric", default="accuracy", choices=["accuracy", "accuracy_paper"], help="which accuracy")
    parser.add_argument("--format", default="github", choices=["github", "csv", "latex", "plain"], help="output format")


def run(args: argparse.Namespace) -> int:
    from selfsynth.reports.tables import accuracy_table, collect, render

    frame = collect(args.out, args.experiment)
    print(render(accuracy_table(frame, args.metric), args.format))
    return 0
