"""--train.report_to wandb / mlflow, end to end and offline: a one-iteration toy run logs to
each, and what the tracker stored is read back with its own reader (wandb's offline transaction
log, mlflow's ``MlflowClient``): each training's loss per step in that training's run, each
iteration's accuracy and judge scores in the ``<name> eval`` run. Nothing reaches the network:
wandb runs in offline mode without an API key, mlflow's tracking store is a local folder (its
file store: the SQLite one needs SQLAlchemy, which mlflow-skinny leaves out)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.fixtures_toy import TOY_CACHE
from tests.test_tracking import TINY_RUN, read_losses

UNIT = "default/toy/ours/seed_0"
# iterations 0 and 1: the training runs while the eval run holds iteration 0's point, and its curve
# must stay out of that run (one iteration keeps each test within a minute on two CPU cores)
RUNS = [f"{UNIT} eval", f"{UNIT} train_iter1"]


def _toy_run(out: Path, tracker: str, env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-m", "selfsynth", *TINY_RUN, "--train.report_to", tracker,
                           "--toy_cache", str(TOY_CACHE), "--out", str(out), "--json"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)  # nothing but the JSON on stdout, whatever the tracker prints


def _offline_env(tmp: Path, **extra: str) -> dict[str, str]:
    # no tracker credentials or servers from the caller's environment, no error reports sent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "MLFLOW_"))}
    env.update(TQDM_DISABLE="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", WANDB_ERROR_REPORTING="false", **extra)
    return env


def _expected(results: dict) -> dict[str, list[tuple[int, float]]]:
    """The iteration metrics results.json holds, as (iteration, value) per tracker name."""
    rows = results["iterations"]
    return {"eval/accuracy": [(r["iteration"], r["metrics"]["accuracy"]) for r in rows],
            "judge/CS": [(r["iteration"], r["judge"]["cs"]) for r in rows],
            "judge/EE": [(r["iteration"], r["judge"]["ee"]) for r in rows]}


def _same_points(got: list[tuple[int, float]], expected: list[tuple[int, float]], name: str) -> None:
    assert [step for step, _ in got] == [step for step, _ in expected], name
    assert [value for _, value in got] == pytest.approx([value for _, value in expected], abs=1e-9), name


# -- wandb ------------------------------------------------------------------------------------

def _wandb_runs(folder: Path) -> dict[str, SimpleNamespace]:
    """Every offline run under ``folder``, by display name: its group, job type, exit code and
    history rows, read from the run's transaction log with the reader `wandb sync` uses."""
    from wandb.proto import wandb_internal_pb2
    from wandb.sdk.internal.datastore import DataStore

    runs = {}
    for path in sorted(folder.glob("offline-run-*/run-*.wandb")):
        store = DataStore()
        store.open_for_scan(str(path))
        run, history, exit_code = None, [], None
        while (data := store.scan_data()) is not None:
            record = wandb_internal_pb2.Record()
            record.ParseFromString(data)
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run = record.run
            elif kind == "history":
                history.append({item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item})
            elif kind == "exit":
                exit_code = record.exit.exit_code
        store.close()
        assert run is not None, path
        assert run.display_name not in runs, f"two offline runs named {run.display_name!r}"
        runs[run.display_name] = SimpleNamespace(id=run.run_id, group=run.run_group, job_type=run.job_type,
                                                 exit_code=exit_code, history=history)
    return runs


@pytest.fixture(scope="module")
def wandb_run(tmp_path_factory, toy_world):
    pytest.importorskip("wandb", reason="wandb is an optional tracker (lmms-eval installs it); this environment lacks it")
    tmp = tmp_path_factory.mktemp("wandb")
    env = _offline_env(tmp, WANDB_MODE="offline", WANDB_SILENT="true", WANDB_CONFIG_DIR=str(tmp / "config"),
                       WANDB_CACHE_DIR=str(tmp / "cache"), WANDB_DATA_DIR=str(tmp / "data"))
    out = tmp / "runs"
    return out, _toy_run(out, "wandb", env)


def test_wandb_gets_one_run_per_training_and_one_for_the_iterations(wandb_run):
    out, results = wandb_run
    unit = out / UNIT
    assert results["config"]["train"]["report_to"] == "wandb"
    assert results["curves"] == f"wandb runs '{UNIT} train_iter<r>' and '{UNIT} eval'"
    # the local files sit in the run folder (WANDB_DIR unset)
    runs = _wandb_runs(unit / "wandb")
    assert sorted(runs) == RUNS
    assert len({run.id for run in runs.values()}) == len(RUNS)
    assert {run.group for run in runs.values()} == {UNIT}
    assert runs[f"{UNIT} train_iter1"].job_type == "train"
    assert runs[f"{UNIT} eval"].job_type == "eval"
    assert {run.exit_code for run in runs.values()} == {0}  # each one finished

    for iteration in (1,):
        rows = [row for row in runs[f"{UNIT} train_iter{iteration}"].history if "train/loss" in row]
        losses = read_losses(unit / f"iter_{iteration}" / "train" / "adapter" / "loss_log.jsonl")
        assert [row["train/global_step"] for row in rows] == [1, 2, 3, 4], iteration
        assert [row["train/loss"] for row in rows] == pytest.approx(losses, rel=1e-9), iteration
        assert all("train/learning_rate" in row for row in rows)
        assert not any(key.startswith(("eval/", "judge/")) for row in rows for key in row)

    rows = runs[f"{UNIT} eval"].history
    assert not any("train/loss" in row for row in rows)
    for name, expected in _expected(results).items():
        _same_points([(row["iteration"], row[name]) for row in rows if name in row], expected, name)


# -- mlflow -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mlflow_run(tmp_path_factory, toy_world):
    pytest.importorskip("mlflow", reason="mlflow is an optional tracker (mlflow-skinny, in the dev extra); this environment lacks it")
    tmp = tmp_path_factory.mktemp("mlflow")
    uri = (tmp / "mlruns").as_uri()
    # mlflow 3 keeps its file store only on request (maintenance mode); the reader below needs it too
    env = _offline_env(tmp, MLFLOW_TRACKING_URI=uri, MLFLOW_EXPERIMENT_NAME="selfsynth-test", MLFLOW_ALLOW_FILE_STORE="true")
    out = tmp / "runs"
    return out, _toy_run(out, "mlflow", env), uri


def test_mlflow_gets_one_run_per_training_and_one_for_the_iterations(mlflow_run, monkeypatch):
    from mlflow.tracking import MlflowClient

    out, results, uri = mlflow_run
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # read here as the run wrote it
    unit = out / UNIT
    assert results["config"]["train"]["report_to"] == "mlflow"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("selfsynth-test")  # MLFLOW_EXPERIMENT_NAME, created by the run
    assert experiment is not None
    runs = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    assert sorted(runs) == RUNS
    assert {run.info.status for run in runs.values()} == {"FINISHED"}
    assert {run.data.tags["selfsynth.run"] for run in runs.values()} == {UNIT}

    for iteration in (1,):
        run_id = runs[f"{UNIT} train_iter{iteration}"].info.run_id
        history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "loss"))
        losses = read_losses(unit / f"iter_{iteration}" / "train" / "adapter" / "loss_log.jsonl")
        assert [step for step, _ in history] == [1, 2, 3, 4], iteration
        assert [value for _, value in history] == pytest.approx(losses, rel=1e-9), iteration
        assert client.get_metric_history(run_id, "learning_rate")
        assert not client.get_metric_history(run_id, "eval/accuracy")

    eval_id = runs[f"{UNIT} eval"].info.run_id
    assert not client.get_metric_history(eval_id, "loss")
    for name, expected in _expected(results).items():
        _same_points(sorted((m.step, m.value) for m in client.get_metric_history(eval_id, name)), expected, name)


# -- which process logs -----------------------------------------------------------------------

def test_only_the_main_process_logs(tmp_path, monkeypatch):
    """Under `accelerate launch` every rank runs the loop; the others write no tracker files."""
    import selfsynth.models
    from selfsynth.tracking import RunTracker

    monkeypatch.setattr(selfsynth.models, "distributed_state", lambda: SimpleNamespace(is_main_process=False))
    record = {"metrics": {"accuracy": 0.5}, "judge": {"cs": 0.25}}
    for tracker in ("tensorboard", "wandb", "mlflow"):
        unit = tmp_path / tracker
        unit.mkdir()
        run = RunTracker(tracker, unit, tracker).open()
        with run.training(1) as training_run:
            assert training_run is None
        run.log_iteration(0, record)  # would import the tracker (absent or not) if it logged
        run.close()
        assert list(unit.iterdir()) == [], tracker


@pytest.fixture
def offline_trackers(tmp_path, monkeypatch):
    """wandb (offline) and mlflow (a file store in ``tmp_path``) for RunTracker in this process,
    as the main process, with nothing from the caller's tracker settings."""
    pytest.importorskip("wandb", reason="wandb is an optional tracker (lmms-eval installs it); this environment lacks it")
    pytest.importorskip("mlflow", reason="mlflow is an optional tracker (mlflow-skinny, in the dev extra); this environment lacks it")
    import selfsynth.models

    for key in [k for k in os.environ if k.startswith(("WANDB_", "MLFLOW_"))]:
        monkeypatch.delenv(key)
    for key, value in _offline_env(tmp_path, WANDB_MODE="offline", WANDB_SILENT="true", WANDB_CONFIG_DIR=str(tmp_path / "config"),
                                   WANDB_CACHE_DIR=str(tmp_path / "cache"), WANDB_DATA_DIR=str(tmp_path / "data"),
                                   MLFLOW_TRACKING_URI=(tmp_path / "mlruns").as_uri(), MLFLOW_ALLOW_FILE_STORE="true").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(selfsynth.models, "distributed_state", lambda: SimpleNamespace(is_main_process=True))


def test_a_failed_training_leaves_its_run_marked_failed(tmp_path, offline_trackers):
    """A training that raises ends its tracker run as failed (not finished, not left running)."""
    from mlflow.tracking import MlflowClient

    from selfsynth.tracking import RunTracker

    for tracker in ("wandb", "mlflow"):
        unit = tmp_path / tracker
        unit.mkdir()
        run = RunTracker(tracker, unit, "u").open()
        with pytest.raises(RuntimeError, match="out of memory"):
            with run.training(1):
                raise RuntimeError("out of memory")
        run.close()

    runs = _wandb_runs(tmp_path / "wandb" / "wandb")
    assert sorted(runs) == ["u train_iter1"] and runs["u train_iter1"].exit_code == 1
    found = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri()).search_runs(["0"])
    assert [(r.info.run_name, r.info.status) for r in found] == [("u train_iter1", "FAILED")]


def test_a_run_that_fails_after_logging_marks_its_eval_run_failed(tmp_path, offline_trackers):
    """The eval run of a run that stops on an error ends as failed, not finished."""
    from mlflow.tracking import MlflowClient

    from selfsynth.tracking import RunTracker

    for tracker in ("wandb", "mlflow"):
        for outcome in ("ok", "failed"):
            unit = tmp_path / tracker / outcome
            unit.mkdir(parents=True)
            run = RunTracker(tracker, unit, outcome).open()
            run.log_iteration(0, {"metrics": {"accuracy": 0.5}})
            run.close(failed=outcome == "failed")

    for outcome, code in (("ok", 0), ("failed", 1)):
        runs = _wandb_runs(tmp_path / "wandb" / outcome / "wandb")
        assert {name: r.exit_code for name, r in runs.items()} == {f"{outcome} eval": code}
    found = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri()).search_runs(["0"])
    assert sorted((r.info.run_name, r.info.status) for r in found) == [("failed eval", "FAILED"), ("ok eval", "FINISHED")]
