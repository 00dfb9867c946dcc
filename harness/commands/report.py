"""`selfsynth report`: a static HTML report of a run folder that opens from disk (no server, no network)."""
from __future__ import annotations

import argparse


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", metavar="OUT_DIR", help="run store folder (the --out of `selfsynth run`)")
    parser.add_argument("--html", default=None, metavar="DIR", help="where the report goes (default: OUT_DIR/report)")
    parser.add_argument("--experiment", default="default", help="experiment sub-folder (default: default)")
    parser.add_argument("--regress", action="append", default=[], metavar="FILE",
                        help="a `selfsynth regress --out FILE` result shown on the Regression page; repeatable")
    parser.add_argument("--title", default=None, help="the report's title (default: from the folder name)")
    parser.add_argument("--judge", default=None, metavar="NAME",
                        help="where an evaluation was graded by several judges, show this one (default: the first found)")


def run(args: argparse.Namespace) -> int:
    from selfsynth.reports.html import build_report

    summary = build_report(args.out, args.html, experiment=args.experiment, regress=args.regress, title=args.title, judge=args.judge)
    failed = f", {summary.thumbnail_failures} images unreadable" if summary.thumbnail_failures else ""
    print(f"{summary.samples} test images x {summary.columns} evaluated models, {summary.train_images} training images, "
          f"{summary.thumbnails} thumbnails{failed}; written in {summary.seconds:.1f} s")
    print(summary.index.resolve())
    return 0
