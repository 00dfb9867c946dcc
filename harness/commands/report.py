"""`selfsynth report`: a static HTML report of a run folder that opens from disk (no server, no network)."""
from __future__ import annotations

import argparse

from selfsynth import config as cfg
from selfsynth.configs.commands import ReportConfig

CONFIGS = (ReportConfig,)


def add_parser(parser: argparse.ArgumentParser) -> None:
    cfg.add_arguments(parser, ReportConfig)


def run(args: argparse.Namespace) -> int:
    from selfsynth.reports.html import build_report

    config = cfg.from_args(ReportConfig, args)
    summary = build_report(config.out, config.html, experiment=config.experiment, regress=config.regress, title=config.title,
                           judge=config.judge)
    failed = f", {summary.thumbnail_failures} images unreadable" if summary.thumbnail_failures else ""
    print(f"{summary.samples} test images x {summary.columns} evaluated models, {summary.train_images} training images, "
          f"{summary.thumbnails} thumbnails{failed}; written in {summary.seconds:.1f} s")
    print(summary.index.resolve())
    return 0
