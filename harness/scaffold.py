"""A new method as its own installable package (``selfsynth new-method NAME``).

Renders the template in ``selfsynth/templates/method``: ``pyproject.toml`` with the
``selfsynth.methods`` entry point, ``selfsynth_NAME/runner.py`` with a working ``Runner``
subclass, ``tests/test_method.py`` (one iteration on the toy world) and a README.
``pip install -e DIR`` then makes ``selfsynth run --method NAME`` work.
"""
from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from string import Template

from selfsynth.errors import UserError

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


def scaffold_method(name: str, out: str | Path | None = None, description: str | None = None) -> list[Path]:
    """Write the package for method ``name`` into ``out`` (default ``./selfsynth-NAME``, which must
    not exist or be empty); returns the files written, sorted."""
    from selfsynth.io import write_text
    from selfsynth.registry import METHODS

    if not NAME_PATTERN.match(name):
        raise UserError(f"method name {name!r}: expected lowercase letters, digits and _ , starting with a letter (e.g. label_concepts)")
    if name in METHODS:
        raise UserError(f"method {name!r} is already registered (see `selfsynth ls methods`); choose another name")
    dist = "selfsynth-" + name.replace("_", "-")
    folder = Path(out) if out else Path(dist)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UserError(f"--out {folder}: exists and is not an empty folder")
    module = "selfsynth_" + name
    values = {
        "name": name,
        "dist": dist,
        "module": module,
        "class_name": "".join(part.capitalize() for part in name.split("_") if part) + "Runner",
        "description": description or f"{name}: label sentence plus class concepts (edit build_data)",
    }
    template = resources.files("selfsynth") / "templates" / "method"
    written = []
    for source in _template_files(template):
        rel = source.relative_to(template)
        target = folder / Path(*[module if part == "package" else part for part in rel.parts]).with_suffix("")
        write_text(target, Template(source.read_text(encoding="utf-8")).substitute(values))
        written.append(target)
    return sorted(written)


def _template_files(folder) -> list[Path]:
    root = Path(str(folder))
    if not root.is_dir():
        raise UserError(f"{root}: the method template is missing from this installation (reinstall selfsynth-harness)")
    return sorted(p for p in root.rglob("*.tmpl") if p.is_file())
