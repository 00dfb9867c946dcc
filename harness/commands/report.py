"""`selfsynth report`: a static HTML report of a run folder that opens from disk (no server, no
network) (``selfsynth.api.html_report``; flags from ``ReportConfig``, declared in ``selfsynth.cli``)."""
from __future__ import annotations


def show(summary, config) -> str:
    failed = f", {summary.thumbnail_failures} images unreadable" if summary.thumbnail_failures else ""
    return (f"{summary.samples} test images x {summary.columns} evaluated models, {summary.train_images} training images, "
            f"{summary.thumbnails} thumbnails{failed}; written in {summary.seconds:.1f} s\n{summary.index.resolve()}")
