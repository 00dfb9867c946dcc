"""`selfsynth general-data`: convert LLaVA-Instruct conversations (e.g. complex_reasoning_77k.json)
into the general rows mixed 1:1 into training (``--train.general_data``)."""
from __future__ import annotations

import argparse
import json

from selfsynth import config as cfg
from selfsynth.configs.commands import GeneralDataConfig

CONFIGS = (GeneralDataConfig,)


def add_parser(parser: argparse.ArgumentParser) -> None:
    cfg.add_arguments(parser, GeneralDataConfig)
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from selfsynth.general_data import convert_llava_instruct

    config = cfg.from_args(GeneralDataConfig, args)
    report = convert_llava_instruct(config.llava_instruct, config.images, config.out)
    if args.json:
        print(json.dumps(asdict(report), sort_keys=True))
        return 0
    print(f"wrote {report.rows} rows from {report.conversations} conversations to {report.out}")
    if report.missing_images:
        print(f"left out {report.missing_images} conversations whose image is missing, e.g. {report.missing_examples[0]}")
    return 0
