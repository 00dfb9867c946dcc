"""Experiment trackers: training curves and per-iteration metrics where researchers look for them.

``TrainConfig.report_to`` names one tracker: ``tensorboard``, ``wandb``, ``mlflow`` or ``none``.
The Trainer logs each training's per-step loss, learning rate and gradient norm to it through
transformers' own callbacks; ``RunTracker`` logs each iteration's evaluation (accuracy, and EE,
CS, FS when a judge grades it) to the same tracker, with the iteration as the step.

Where the logs go:
- ``tensorboard``: event files under the run folder, ``<run>/tensorboard/``: one sub-folder per
  training (``train_iter1``, ...) and ``eval`` for the iteration metrics, so
  ``tensorboard --logdir <run>/tensorboard`` shows the loss curves next to the accuracy/CS curves.
- ``wandb`` / ``mlflow``: the project or tracking server their own settings name (``WANDB_PROJECT``,
  ``WANDB_MODE``, ``MLFLOW_TRACKING_URI``, ...; wandb's local files under the run folder). Each
  training is one tracker run named after it; the iteration metrics are one more run, ``<name> eval``.
  (One tracker run per training keeps every loss curve starting at step 0, as TensorBoard shows them.)

No tracker is imported until a run logs to it.
"""
from __future__ import annotations

import importlib.util
import math
import shutil
from pathlib import Path
from typing import Any, Literal

ReportTo = Literal["tensorboard", "wandb", "mlflow", "none"]
REPORT_TO_HELP = (
    "where training curves and per-iteration metrics go: tensorboard (event files under the run folder), "
    "wandb, mlflow (their own settings pick the server) or none; unset: tensorboard when installed, else "
    "none (the resolved config records the choice)"
)
TENSORBOARD_DIR = "tensorboard"  # under a run unit
EVAL_RUN = "eval"
# per-iteration numbers logged beside the loss: results.json keys → tracker names
EVAL_METRICS = {"accuracy": "eval/accuracy", "accuracy_paper": "eval/accuracy_paper"}
JUDGE_METRICS = {"ee": "judge/EE", "cs": "judge/CS", "fs_mean": "judge/FS"}


def default_report_to() -> str:
    """``tensorboard`` when the package is importable (a main dependency, but an environment may
    lack it), else ``none``. Looked up without importing it."""
    return "tensorboard" if importlib.util.find_spec("tensorboard") is not None else "none"


def train_log_dir(unit_dir: str | Path, iteration: int) -> Path:
    return Path(unit_dir) / TENSORBOARD_DIR / f"train_iter{iteration}"


def trainer_callbacks(report_to: str, log_dir: str | Path | None) -> list[Any]:
    """Callbacks the Trainer needs beyond ``TrainingArguments.report_to``: for TensorBoard with a
    ``log_dir``, transformers' own ``TensorBoardCallback`` with a writer there (transformers 5 has
    no ``logging_dir`` argument; its default folder is inside the Trainer's scratch output folder,
    which training deletes)."""
    if report_to != "tensorboard" or log_dir is None:
        return []
    from torch.utils.tensorboard import SummaryWriter
    from transformers.integrations import TensorBoardCallback

    return [TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(log_dir)))]


def trainer_report_to(report_to: str, log_dir: str | Path | None) -> str:
    """``TrainingArguments.report_to``: the tracker itself, except TensorBoard, whose callback
    ``trainer_callbacks`` adds when there is a ``log_dir`` (the Trainer's own would log every point
    a second time into its scratch folder; without a ``log_dir`` there is nowhere to keep them)."""
    return "none" if report_to == "tensorboard" else report_to


class RunTracker:
    """Per-iteration metrics of one run unit to ``report_to``; ``log_iteration`` after each
    iteration's evaluation (and grading). Re-running a run logs every iteration again from its
    stored results, so the TensorBoard ``eval`` folder is rewritten at ``open`` (it is ours: a
    sub-folder of the run unit) rather than gaining duplicate points."""

    def __init__(self, report_to: str, unit_dir: str | Path, name: str, config: dict[str, Any] | None = None):
        self.report_to = report_to
        self.unit_dir = Path(unit_dir)
        self.name = name
        self.config = config or {}
        self._writer: Any = None
        self._run_id: str | None = None  # wandb / mlflow: the eval run, resumed for each iteration

    @property
    def location(self) -> str | None:
        """Where to look, for the run's summary line."""
        if self.report_to == "tensorboard":
            return f"tensorboard --logdir {self.unit_dir / TENSORBOARD_DIR}"
        if self.report_to in ("wandb", "mlflow"):
            return f"{self.report_to} runs named {self.name!r}"
        return None

    def open(self) -> "RunTracker":
        if self.report_to == "tensorboard":
            from torch.utils.tensorboard import SummaryWriter

            folder = self.unit_dir / TENSORBOARD_DIR / EVAL_RUN
            shutil.rmtree(folder, ignore_errors=True)
            self._writer = SummaryWriter(log_dir=str(folder))
        return self

    def log_iteration(self, iteration: int, record: dict[str, Any]) -> None:
        """``record``: one entry of results.json's ``iterations`` (``metrics``, optional ``judge``)."""
        values = _numbers(record.get("metrics") or {}, EVAL_METRICS)
        values.update(_numbers(record.get("judge") or {}, JUDGE_METRICS))
        if not values or self.report_to == "none":
            return
        if self.report_to == "tensorboard":
            for key, value in values.items():
                self._writer.add_scalar(key, value, iteration)
            self._writer.flush()
        elif self.report_to == "wandb":
            import wandb

            # finished after each log: a run left open would absorb the next training's curves
            run = wandb.init(name=f"{self.name} eval", job_type="eval", dir=str(self.unit_dir), config=self.config,
                             id=self._run_id, resume="allow" if self._run_id else None, reinit="finish_previous")
            self._run_id = run.id
            run.define_metric("iteration")
            run.define_metric("*", step_metric="iteration")
            run.log({"iteration": iteration, **values})
            run.finish()
        elif self.report_to == "mlflow":
            import mlflow

            with mlflow.start_run(run_id=self._run_id, run_name=None if self._run_id else f"{self.name} eval") as run:
                self._run_id = run.info.run_id
                mlflow.log_metrics(values, step=iteration)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _numbers(source: dict[str, Any], names: dict[str, str]) -> dict[str, float]:
    out = {}
    for key, name in names.items():
        value = source.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[name] = float(value)
    return out
