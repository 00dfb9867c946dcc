"""The static HTML report of a run folder (``selfsynth report``): overview tables and plots, every
test sample with each model's answer and the judge's evidence, the synthesis pipeline per training
image, and regression results. See ``selfsynth.reports.html.build``."""
from selfsynth.reports.html.build import ReportSummary, build_report, default_report_dir

__all__ = ["ReportSummary", "build_report", "default_report_dir"]
