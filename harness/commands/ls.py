"""`selfsynth ls {tasks,methods,judges}`: one name per line, then a short description."""
from __future__ import annotations

import argparse

from selfsynth.errors import UserError
from selfsynth.registry import REGISTRIES


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=sorted(REGISTRIES), help="which registry to list")


def run(args: argparse.Namespace) -> int:
    registry = REGISTRIES[args.kind]
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
