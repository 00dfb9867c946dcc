"""``python -m selfsynth.experiment.lane CELL.yaml ...``: one lane's cells, in order, in this one
process (the body of a ``reproduce --jobs N`` lane on a machine where a lane has at most one GPU).

One process per lane, not per cell: a cell started as its own process pays the imports of torch,
transformers and peft again (seconds of CPU each, which lanes sharing a CPU feel). After each
cell it writes one line, ``OUTCOME_PREFIX`` + the cell's outcome as JSON, to stdout, so the
parent can report the cell and split the lane's output into per-cell logs."""
from __future__ import annotations

import json
import sys
from typing import Any, Sequence

OUTCOME_PREFIX = "selfsynth-lane-outcome "


def outcome_line(outcome: dict[str, Any]) -> str:
    return OUTCOME_PREFIX + json.dumps(outcome)


def parse_outcome(line: str) -> dict[str, Any] | None:
    """The outcome a line carries, or None for any other output line."""
    if not line.startswith(OUTCOME_PREFIX):
        return None
    try:
        value = json.loads(line[len(OUTCOME_PREFIX):])
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def main(argv: Sequence[str] | None = None) -> int:
    from selfsynth.experiment.launch import run_lane

    files = list(sys.argv[1:] if argv is None else argv)
    for path in files:
        for outcome in run_lane([path]):
            print(outcome_line(outcome), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
