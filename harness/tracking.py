"""Experiment trackers: training curves and per-iteration metrics where researchers look for them.

``TrainConfig.report_to`` names one tracker: ``tensorboard``, ``wandb``, ``mlflow`` or ``none``.
The Trainer logs each training's per-step loss, learning rate and gradient norm to it through
transformers' callbacks (for wandb through ``wandb_run_callback``, into the run that
``RunTracker.training`` opens); ``RunTracker`` logs each iteration's evaluation (accuracy, and EE,
CS, FS when a judge grades it) to the same tracker, with the iteration as the step.

Where the logs go:
- ``tensorboard``: event files under the run folder, ``<run>/tensorboard/``: one sub-folder per
  training (``train_iter1``, ...) and ``eval`` for the iteration metrics, so
  ``tensorboard --logdir <run>/tensorboard`` shows the loss curves next to the accuracy/CS curves.
- ``wandb`` / ``mlflow``: the project or tracking server their own settings name (``WANDB_PROJECT``,
  ``WANDB_MODE``, ``MLFLOW_TRACKING_URI``, ``MLFLOW_EXPERIMENT_NAME``, ...; wandb's local files go
  under the run folder unless ``WANDB_DIR`` says otherwise). Each training is one tracker run,
  ``<name> train_iter<r>``; the iteration metrics are one more, ``<name> eval`` (``<name>``: the run
  folder under ``--out``, e.g. ``default/toy/ours/seed_0``; wandb also groups the runs under it).
  One tracker run per training keeps every loss curve starting at step 0, as TensorBoard shows them.

Only the main process of a multi-process run logs. No tracker is imported until a run logs to it.
"""
from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Iterator, Literal

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
# what the Trainer logs once at the end of training: run summaries, not curves (as transformers'
# own WandbCallback treats them)
TRAIN_SUMMARY = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss", "total_flos")


def default_report_to() -> str:
    """``tensorboard`` when the package is importable (a main dependency, but an environment may
    lack it), else ``none``. Looked up without importing it."""
    return "tensorboard" if importlib.util.find_spec("tensorboard") is not None else "none"


def quiet_offline_notice() -> None:
    """Under ``WANDB_MODE=offline`` transformers prints a line to stdout when its tracker
    integrations are first imported (by the Trainer, sentence-transformers, ...); imported here
    first, with stdout sent to stderr, so that stdout carries a command's ``--json`` alone."""
    if os.environ.get("WANDB_MODE") != "offline":
        return
    with contextlib.redirect_stdout(sys.stderr):
        import transformers.integrations.integration_utils  # noqa: F401


def train_log_dir(unit_dir: str | Path, iteration: int) -> Path:
    return Path(unit_dir) / TENSORBOARD_DIR / f"train_iter{iteration}"


def train_run_name(name: str, iteration: int | str) -> str:
    """A training's wandb / mlflow run: named like its TensorBoard folder, after the run unit."""
    return f"{name} train_iter{iteration}"


def trainer_callbacks(report_to: str, log_dir: str | Path | None, run: Any = None) -> list[Any]:
    """Callbacks the Trainer needs beyond ``TrainingArguments.report_to``: for TensorBoard with a
    ``log_dir``, transformers' own ``TensorBoardCallback`` with a writer there (transformers 5 has
    no ``logging_dir`` argument; its default folder is inside the Trainer's scratch output folder,
    which training deletes); for wandb with a ``run`` (``RunTracker.training``'s), one that logs
    into that run."""
    if report_to == "wandb" and run is not None:
        return [wandb_run_callback(run)]
    if report_to != "tensorboard" or log_dir is None:
        return []
    from torch.utils.tensorboard import SummaryWriter
    from transformers.integrations import TensorBoardCallback

    return [TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(log_dir)))]


def trainer_report_to(report_to: str, log_dir: str | Path | None, run: Any = None) -> str:
    """``TrainingArguments.report_to``: the tracker itself, except where ``trainer_callbacks``
    supplies the callback: TensorBoard (the Trainer's own would log every point a second time into
    its scratch folder; without a ``log_dir`` there is nowhere to keep them) and wandb given a
    ``run``."""
    if report_to == "tensorboard" or (report_to == "wandb" and run is not None):
        return "none"
    return report_to


def wandb_run_callback(run: Any) -> Any:
    """A Trainer callback that logs the per-step logs into ``run``, under the names transformers'
    ``WandbCallback`` gives them (``train/loss`` against ``train/global_step``). That callback logs
    to the process-wide ``wandb.run``, of which wandb keeps one; the iteration metrics' run stays
    open beside each training's run, so the run is passed in instead."""
    from transformers import TrainerCallback
    from transformers.integrations.integration_utils import rewrite_logs

    class WandbRunCallback(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.is_world_process_zero:
                run.config.update({"trainer": args.to_dict()}, allow_val_change=True)
                run.define_metric("train/global_step")
                run.define_metric("train/*", step_metric="train/global_step", step_sync=True)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
            if not logs or not state.is_world_process_zero:
                return
            for key in TRAIN_SUMMARY:
                if key in logs:
                    run.summary[key] = logs[key]
            curves = {key: value for key, value in logs.items() if key not in TRAIN_SUMMARY}
            if curves:
                run.log({**rewrite_logs(curves), "train/global_step": state.global_step})

    return WandbRunCallback()


class RunTracker:
    """One run unit's tracker runs: ``training(iteration)`` around each training, and
    ``log_iteration`` after each iteration's evaluation (and grading), between ``open`` and
    ``close``. Re-running a run logs every iteration again from its stored results, so the
    TensorBoard ``eval`` folder is rewritten at ``open`` (it is ours: a sub-folder of the run unit)
    rather than gaining duplicate points; wandb and mlflow get a new eval run."""

    def __init__(self, report_to: str, unit_dir: str | Path, name: str, config: dict[str, Any] | None = None):
        self.report_to = report_to
        self.unit_dir = Path(unit_dir)
        self.name = name
        self.config = config or {}
        self._main = False  # whether this process logs: set by open
        self._writer: Any = None
        self._eval_run: Any = None  # wandb: the eval run, open from its first point until close
        self._run_id: str | None = None  # mlflow: the eval run, resumed for each iteration

    @property
    def location(self) -> str | None:
        """Where to look, for the run's summary line."""
        if self.report_to == "tensorboard":
            return f"tensorboard --logdir {self.unit_dir / TENSORBOARD_DIR}"
        if self.report_to in ("wandb", "mlflow"):
            return f"{self.report_to} runs '{train_run_name(self.name, '<r>')}' and '{self.name} {EVAL_RUN}'"
        return None

    def open(self) -> "RunTracker":
        if self.report_to == "none":
            return self
        from selfsynth.models import distributed_state

        # every rank of `accelerate launch` runs the loop; one set of runs and files is wanted
        self._main = distributed_state().is_main_process
        if self._main and self.report_to == "tensorboard":
            from torch.utils.tensorboard import SummaryWriter

            folder = self.unit_dir / TENSORBOARD_DIR / EVAL_RUN
            shutil.rmtree(folder, ignore_errors=True)
            self._writer = SummaryWriter(log_dir=str(folder))
        return self

    @contextlib.contextmanager
    def training(self, iteration: int) -> Iterator[Any]:
        """The tracker run of one training, around ``train()``. Yields the wandb run for
        ``train(tracker_run=)``, else None; an mlflow run is the active one, which the Trainer's
        ``MLflowCallback`` logs into (it starts none of its own while one is active)."""
        if not self._main or self.report_to not in ("wandb", "mlflow"):
            yield None
            return
        name = train_run_name(self.name, iteration)
        if self.report_to == "wandb":
            run = self._wandb_init(name=name, job_type="train", config={**self.config, "iteration": iteration})
            try:
                yield run
            except BaseException:
                run.finish(exit_code=1)  # shown as failed, not finished
                raise
            run.finish()
        else:
            import mlflow

            _mlflow_experiment()
            with mlflow.start_run(run_name=name, tags={"selfsynth.run": self.name, "selfsynth.iteration": str(iteration)}):
                yield None  # an exception ends the run as FAILED

    def log_iteration(self, iteration: int, record: dict[str, Any]) -> None:
        """``record``: one entry of results.json's ``iterations`` (``metrics``, optional ``judge``)."""
        values = _numbers(record.get("metrics") or {}, EVAL_METRICS)
        values.update(_numbers(record.get("judge") or {}, JUDGE_METRICS))
        if not values or not self._main:
            return
        if self.report_to == "tensorboard":
            for key, value in values.items():
                self._writer.add_scalar(key, value, iteration)
            self._writer.flush()
        elif self.report_to == "wandb":
            # kept open until close: wandb ignores `resume` offline, so reopening it per iteration
            # would leave one offline run per iteration under the same id
            if self._eval_run is None:
                self._eval_run = self._wandb_init(name=f"{self.name} {EVAL_RUN}", job_type=EVAL_RUN, config=self.config)
                self._eval_run.define_metric("iteration")
                self._eval_run.define_metric("*", step_metric="iteration")
            self._eval_run.log({"iteration": iteration, **values})
        elif self.report_to == "mlflow":
            import mlflow

            # resumed per point and ended again: an active run would take in the next training's curves
            _mlflow_experiment()
            tags = None if self._run_id else {"selfsynth.run": self.name}
            with mlflow.start_run(run_id=self._run_id, run_name=None if self._run_id else f"{self.name} {EVAL_RUN}", tags=tags) as run:
                self._run_id = run.info.run_id
                mlflow.log_metrics(values, step=iteration)

    def close(self, failed: bool = False) -> None:
        """End the eval run; ``failed``: the run stopped on an error, and its eval run says so
        (wandb: exit code 1; mlflow: status FAILED) instead of looking finished."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._eval_run is not None:
            self._eval_run.finish(exit_code=1 if failed else 0)
            self._eval_run = None
        if failed and self.report_to == "mlflow" and self._run_id is not None:
            from mlflow.tracking import MlflowClient

            MlflowClient().set_terminated(self._run_id, status="FAILED")

    def _wandb_init(self, **kwargs: Any) -> Any:
        """A wandb run of this unit beside any other open one (``reinit="create_new"``), grouped
        under the unit, its local files in the run folder unless ``WANDB_DIR`` names one."""
        import wandb

        folder = None if os.environ.get("WANDB_DIR") else str(self.unit_dir)
        return wandb.init(group=self.name, dir=folder, reinit="create_new", **kwargs)


def _mlflow_experiment() -> None:
    """``MLFLOW_EXPERIMENT_NAME``'s experiment, created when missing (as the Trainer's
    ``MLflowCallback`` does); without it mlflow's default experiment is used."""
    import mlflow

    name = os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if name:
        mlflow.set_experiment(name)


def _numbers(source: dict[str, Any], names: dict[str, str]) -> dict[str, float]:
    out = {}
    for key, name in names.items():
        value = source.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[name] = float(value)
    return out
