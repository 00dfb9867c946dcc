"""`selfsynth new-method NAME`: scaffold a method as its own installable package.

Writes ``--out`` (default ``./selfsynth-NAME``) from the template in ``selfsynth/templates/method``:
``pyproject.toml`` with the ``selfsynth.methods`` entry point, ``selfsynth_NAME/runner.py`` with a
working ``Runner`` subclass, ``tests/test_method.py`` (one iteration on the toy world) and a
README. ``pip install -e DIR`` then makes ``selfsynth run --method NAME`` work.
"""
from __future__ import annotations

import argparse
import re
from importlib import resources
from pathlib import Path
from string import Template

from selfsynth.errors import UserError

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="method name, as `selfsynth run --method NAME` will take it (lowercase letters, digits, _)")
    parser.add_argument("--out", default=None, metavar="DIR", help="folder to create (default ./selfsynth-NAME); must not exist or be empty")
    parser.add_argument("--description", default=None, help="one line shown by `selfsynth ls methods`")


def run(args: argparse.Namespace) -> int:
    from selfsynth.io import write_text
    from selfsynth.registry import METHODS

    name = args.name
    if not NAME_PATTERN.match(name):
        raise UserError(f"method name {name!r}: expected lowercase letters, digits and _ , starting with a letter (e.g. label_concepts)")
    if name in METHODS:
        raise UserError(f"method {name!r} is already registered (see `selfsynth ls methods`); choose another name")
    dist = "selfsynth-" + name.replace("_", "-")
    out = Path(args.out) if args.out else Path(dist)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out}: exists and is not an empty folder")
    module = "selfsynth_" + name
    values = {
        "name": name,
        "dist": dist,
        "module": module,
        "class_name": "".join(part.capitalize() for part in name.split("_") if part) + "Runner",
        "description": args.description or f"{name}: label sentence plus class concepts (edit build_data)",
    }
    template = resources.files("selfsynth") / "templates" / "method"
    written = []
    for source in _template_files(template):
        rel = source.relative_to(template)
        target = out / Path(*[module if part == "package" else part for part in rel.parts]).with_suffix("")
        write_text(target, Template(source.read_text(encoding="utf-8")).substitute(values))
        written.append(target)
    for path in sorted(written):
        print(path)
    print(f"next: pip install -e {out} && selfsynth ls methods && selfsynth run --task toy --method {name} --iterations 1 --limit 12")
    return 0


def _template_files(folder) -> list[Path]:
    root = Path(str(folder))
    if not root.is_dir():
        raise UserError(f"{root}: the method template is missing from this installation (reinstall selfsynth-harness)")
    return sorted(p for p in root.rglob("*.tmpl") if p.is_file())
