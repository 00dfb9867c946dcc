"""`selfsynth ls {tasks,methods,judges}`: one name per line, then a short description."""
from __future__ import annotations

import argparse

from selfsynth import config as cfg
from selfsynth.configs.commands import LsConfig
from selfsynth.errors import UserError
from selfsynth.registry import REGISTRIES

CONFIGS = (LsConfig,)


def add_parser(parser: argparse.ArgumentParser) -> None:
    cfg.add_arguments(parser, LsConfig)


def run(args: argparse.Namespace) -> int:
    registry = REGISTRIES[cfg.from_args(LsConfig, args).kind]
    entries = list(registry.entries())
    width = max((len(e.name) for e in entries), default=0)
    for entry in entries:
        description = entry.description
        if not description:
            # Plugins carry no description in their metadata; their docstring is the description.
            try:
                description = registry.describe(entry.name)
            except UserError as exc:
                description = f"(cannot load: {exc})"
        print(f"{entry.name:<{width}}  {description}".rstrip())
    return 0
