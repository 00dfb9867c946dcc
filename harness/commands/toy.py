"""`selfsynth toy`: build (once) the offline toy world and print where its dataset and model are."""
from __future__ import annotations

import argparse
import json


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=None, metavar="DIR", help="cache folder for toy worlds (default: <checkout>/.cache/toy when running from a source checkout, else ~/.cache/selfsynth/toy)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the dataset and the model (default: 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object {dataset_root, model_path, general_path}")


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from selfsynth.toy.dataset import ToyDataConfig
    from selfsynth.toy.world import ToyConfig, ensure_toy_world

    from pathlib import Path

    from selfsynth.io import claim_output_dir
    from selfsynth.toy.world import default_cache

    config = ToyConfig(data=dataclasses.replace(ToyDataConfig(), seed=args.seed))
    claim_output_dir(Path(args.out).expanduser() if args.out else default_cache(), "toy", adopt=("*.lock",))  # a cache made before the marker
    world = ensure_toy_world(args.out, config)
    if args.json:
        print(json.dumps({"dataset_root": world.dataset_root, "model_path": world.model_path, "general_path": world.general_path}))
    else:
        print(f"dataset_root  {world.dataset_root}")
        print(f"model_path    {world.model_path}")
        print(f"general_path  {world.general_path}")
    return 0
