"""`selfsynth data`: read a dataset's layout, check every image, report counts per split
(``selfsynth.api.check_dataset``; flags from ``DataConfig``, declared in ``selfsynth.cli``).

Exit code 2 (UserError) when a folder or metadata file is missing or malformed; corrupt images
are listed, not fatal.
"""
from __future__ import annotations

from typing import Any


def show(report: dict[str, Any], config) -> str:
    lines = [f"task      {report['task']}", f"root      {report['root']}"]
    lines += [f"{split:<9} {count} images" for split, count in report["splits"].items()]
    lines += [f"classes   {report['num_classes']}", f"skipped   {len(report['skipped'])} unreadable image(s)"]
    return "\n".join(lines + [f"  {path}" for path in report["skipped"]])
