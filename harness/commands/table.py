"""`selfsynth table`: the paper's tables (1, 11, 12, 13, transfer) from stored results; no model is loaded."""
from __future__ import annotations

import argparse


def add_parser(parser: argparse.ArgumentParser) -> None:
    from selfsynth.reports.tables import ACCURACY_RULES, FORMATS, TABLES

    parser.add_argument("number", nargs="?", default="1", choices=TABLES, help="which table (default: 1)")
    parser.add_argument("--out", "--output_path", dest="out", action="append", default=None, metavar="DIR",
                        help="run folder to read (repeatable; default: runs)")
    parser.add_argument("--experiment", default=None, help="only this experiment (default: every experiment found)")
    parser.add_argument("--metric", default="accuracy", choices=sorted(ACCURACY_RULES), help="which accuracy (default: accuracy)")
    parser.add_argument("--format", default="md", choices=FORMATS, help="output format (default: md)")
    parser.add_argument("--ci", action="store_true", help="add 95%% t-intervals over seeds")
    parser.add_argument("--plots", action="store_true", help="also write the figures (PNG and SVG) to --plots-dir")
    parser.add_argument("--plots-dir", "--plots_dir", dest="plots_dir", default=None, metavar="DIR",
                        help="where --plots writes (default: <first --out>/plots)")


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from selfsynth.reports.tables import build_table, load_store, render

    run_dirs = args.out or ["runs"]
    store = load_store(run_dirs, args.experiment)
    table = build_table(args.number, run_dirs, metric=args.metric, ci=args.ci, store=store)
    print(render(table, args.format))
    if args.plots:
        from selfsynth.io import claim_output_dir
        from selfsynth.reports.plots import write_plots

        plots_dir = claim_output_dir(args.plots_dir or Path(run_dirs[0]) / "plots", "plots", flag="--plots-dir")
        written = write_plots(store, plots_dir, metric=args.metric)
        print(f"plots: {len(written)} files in {Path(args.plots_dir or Path(run_dirs[0]) / 'plots')}", file=sys.stderr)
    return 0
