"""`selfsynth general-data`: convert LLaVA-Instruct conversations (e.g. complex_reasoning_77k.json)
into the general rows mixed 1:1 into training (``--train.general_data``)
(``selfsynth.api.general_data``; flags from ``GeneralDataConfig``, declared in ``selfsynth.cli``)."""
from __future__ import annotations

from typing import Any


def show(report: dict[str, Any], config) -> str:
    line = f"wrote {report['rows']} rows from {report['conversations']} conversations to {report['out']}"
    if report["missing_images"]:
        line += (f"\nleft out {report['missing_images']} conversations whose image is missing, "
                 f"e.g. {report['missing_examples'][0]}")
    return line
