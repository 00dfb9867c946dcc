"""`selfsynth general-data`: convert LLaVA-Instruct conversations (e.g. complex_reasoning_77k.json)
into the general rows mixed 1:1 into training (``--train.general_data``)."""
from __future__ import annotations

import argparse
import json


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--llava-instruct", dest="llava_instruct", required=True, metavar="JSON",
                        help="LLaVA-Instruct file: a JSON list of {id, image, conversations} (paper: complex_reasoning_77k.json)")
    parser.add_argument("--images", required=True, metavar="DIR", help="folder holding the conversations' images (COCO train2017)")
    parser.add_argument("--out", required=True, metavar="JSONL", help="training rows {id, image, question, answer} to write")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from selfsynth.general_data import convert_llava_instruct

    report = convert_llava_instruct(args.llava_instruct, args.images, args.out)
    if args.json:
        print(json.dumps(asdict(report), sort_keys=True))
        return 0
    print(f"wrote {report.rows} rows from {report.conversations} conversations to {report.out}")
    if report.missing_images:
        print(f"left out {report.missing_images} conversations whose image is missing, e.g. {report.missing_examples[0]}")
    return 0
