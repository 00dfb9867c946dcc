"""Alias tables, kept as reviewed data: ``tasks/aliases/<task>.yaml``.

Every file maps ``classes`` (a class name exactly as the task lists it) to other names an answer may
use for it: dataset typos corrected, common and lay names, abbreviations, old and new names.
``selfsynth.tasks.labels`` matches them with the same rule as the class name itself (whole words,
digits kept, plural and possessive "s" tolerated), so an alias needs no spelling variants of that
kind. PLD's file also has ``crops`` and ``diseases``: other names of the two parts of its class
names, combined by the reader in either order (see ``selfsynth.tasks.labels``).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import yaml

from selfsynth.errors import UserError

ALIAS_DIR = Path(__file__).resolve().parent
SECTIONS = ("classes", "crops", "diseases")


def alias_path(task: str) -> Path:
    return ALIAS_DIR / f"{task}.yaml"


@lru_cache(maxsize=None)
def load_alias_file(task: str) -> Mapping[str, Mapping[str, tuple[str, ...]]]:
    """All sections of ``<task>.yaml`` (missing sections are empty); no file means no aliases."""
    path = alias_path(task)
    if not path.is_file():
        return MappingProxyType({s: MappingProxyType({}) for s in SECTIONS})
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"alias table {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or set(data) - set(SECTIONS):
        raise UserError(f"alias table {path}: expected a mapping with keys among {', '.join(SECTIONS)}")
    out = {}
    for section in SECTIONS:
        table = data.get(section) or {}
        if not isinstance(table, dict):
            raise UserError(f"alias table {path}: {section!r} must map names to lists of names")
        checked: dict[str, tuple[str, ...]] = {}
        for name, aliases in table.items():
            if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
                raise UserError(f"alias table {path}: {section}.{name}: expected a list of non-empty names")
            checked[str(name)] = tuple(a.strip() for a in aliases)
        out[section] = MappingProxyType(checked)
    return MappingProxyType(out)


def load_aliases(task: str) -> Mapping[str, tuple[str, ...]]:
    """{class name: aliases} of ``task``."""
    return load_alias_file(task)["classes"]
