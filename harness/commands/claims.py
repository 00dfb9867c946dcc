"""`selfsynth claims`: the paper's claims checked over stored runs — a paired 95% interval (seeds,
then images) and a verdict per claim: holds, not shown or contradicted.

The claims are data (``selfsynth.reports.claims``: the paper's list, or ``--claims FILE``).
Exit code 0 whatever the verdicts (they are findings, not failures; CI reads ``--format json``);
2 for a user error (no stored results, a bad claims file).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Literal

from selfsynth import config as cfg


@dataclass
class ClaimsConfig:
    out: list[str] = cfg.field(default_factory=lambda: ["runs"], repeat_flag="out", flags=("output_path",), metavar="DIR",
                               help="run folder to read, repeatable")
    claims: str | None = cfg.field(None, metavar="FILE", help="a YAML list of claims (default: the paper's, reports/claims/paper.yaml)")
    experiment: str | None = cfg.field(None, help="only this experiment (default: every experiment found)")
    format: Literal["text", "md", "json"] = cfg.field("text", help="output format (json for CI, md for a README)")

    def __post_init__(self) -> None:
        cfg.check_fields(self)


CONFIGS = (ClaimsConfig,)


def add_parser(parser: argparse.ArgumentParser) -> None:
    cfg.add_arguments(parser, ClaimsConfig)


def run(args: argparse.Namespace) -> int:
    from selfsynth.reports.claims import check_claims, render_claims

    config = cfg.from_args(ClaimsConfig, args)
    print(render_claims(check_claims(config.out, config.claims, config.experiment), config.format))
    return 0
