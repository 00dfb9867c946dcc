"""`selfsynth table`: the paper's tables (1, 11, 12, 13, transfer, cs) from stored results; no model is loaded."""
from __future__ import annotations

import argparse

from selfsynth import config as cfg
from selfsynth.configs.commands import TableConfig

CONFIGS = (TableConfig,)


def add_parser(parser: argparse.ArgumentParser) -> None:
    cfg.add_arguments(parser, TableConfig)


def run(args: argparse.Namespace) -> int:
    import sys

    from selfsynth.api import paper_table

    text, plots_dir, written = paper_table(cfg.from_args(TableConfig, args))
    print(text)
    if plots_dir is not None:
        print(f"plots: {len(written)} files in {plots_dir}", file=sys.stderr)
    return 0
