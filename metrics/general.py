"""General ability (the paper's Table 11) through lmms-eval's own task definitions and scoring.

For each benchmark we write a task YAML that ``include``s lmms-eval's installed task YAML and
overrides only where the data comes from (a local parquet copy) and the task's name
(``selfsynth_local_<benchmark>``, never a built-in name); prompts, generation settings,
answer parsing and aggregation are lmms-eval's. Scores are as lmms-eval reports them:

    benchmark         lmms-eval task (included)   split       headline metric          range
    mmstar            mmstar                      val         average                  0-1
    seedbench_2_plus  seedbench_2_plus            test        seedbench_2_plus_all     0-1
    mmmu_val          mmmu_val                    validation  mmmu_acc                 0-1
    mme               mme                         test        mme_cognition_score      0-800
    mmbench_en_dev    mmbench_en_dev_static       dev         gpt_eval_score           0-100

MME's cognition score is lmms-eval's ``mme_cognition_score``: the sum over its four cognition
subtasks of acc + acc+ (each 0-200). MMBench runs lmms-eval's ``mmbench_en_dev_static`` variant:
the same dev split and circular evaluation as ``mmbench_en_dev``, with the option letter read by
regex/substring matching instead of asking a GPT judge (the metric keeps lmms-eval's name
``gpt_eval_score``; no judge is called).

How lmms-eval runs: its Python API (``simple_evaluate``), one call per benchmark, all in ONE
child process per ``evaluate_general`` call. A child process because lmms-eval changes
process-wide state on import and while it runs (it replaces loguru's handlers, registers YAML
constructors, a task's utils mutate module globals, aggregators print and write files into the
working directory); in a child all of that, and all its output, goes to ``<out>/lmms_eval.log``
and the child's working directory, never into the caller (a notebook, ``selfsynth run``). The
Python API rather than lmms-eval's CLI because lmms-eval is imported once for all benchmarks and
each benchmark's results are written as soon as it finishes, so an interrupted call resumes at
the first unfinished benchmark (one CLI call per benchmark would import lmms-eval each time; one
CLI call for all writes nothing until the last one ends). lmms-eval builds the model for each
benchmark itself, as its CLI does: its ``evaluate`` frees the model's modules when it ends.
Offline: the child runs with ``HF_HUB_OFFLINE=1`` and ``HF_DATASETS_OFFLINE=1``; data are local
copies (``--data``, layout in docs/general_ability.md).

Output folder::

    general.json                 summary (schema_version; headline per benchmark; baseline change)
    lmms_eval.log                lmms-eval's own output, appended per call
    tasks/selfsynth_local_*.yaml the generated task YAMLs (lmms-eval ``--include_path``)
    <benchmark>/results.json     lmms-eval's results dict (results, configs, versions, n-samples)
    <benchmark>/samples.jsonl    lmms-eval's logged samples (doc, response, per-sample scores)
    <benchmark>/_done.json       written last: what produced the results (resume key)
    <benchmark>/submissions/     files lmms-eval's aggregators write (MMBench)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from selfsynth import config as cfg
from selfsynth import schema
from selfsynth.errors import UserError
from selfsynth.io import read_json, write_json, write_jsonl, write_text
from selfsynth.results import BENCHMARK_RESULTS

TASK_PREFIX = "selfsynth_local_"
LOG_NAME = "lmms_eval.log"
DONE = "_done.json"


@dataclass(frozen=True)
class Benchmark:
    name: str
    task_yaml: str  # lmms-eval's installed task YAML, relative to lmms_eval/tasks/
    split: str  # the split that task reads (its test_split)
    headline: str  # lmms-eval metric reported as the benchmark's number
    maximum: float  # the headline's range is 0..maximum
    hub_dataset: str  # the dataset lmms-eval's task downloads (dataset_path)
    hub_config: str | None  # its dataset_name, if any
    columns: tuple[str, ...]  # the columns the task reads; a local copy must have them
    variant: str = ""  # said in the output when lmms-eval's task differs from the plain name


BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (
    Benchmark("mmstar", "mmstar/mmstar.yaml", "val", "average", 1.0, "Lin-Chen/MMStar", None,
              ("index", "question", "image", "answer", "category", "l2_category")),
    Benchmark("seedbench_2_plus", "seedbench_2_plus/seedbench_2_plus.yaml", "test", "seedbench_2_plus_all", 1.0,
              "doolayer/SEED-Bench-2-Plus", None,
              ("question", "choice_A", "choice_B", "choice_C", "choice_D", "answer", "question_image_type", "question_id", "image")),
    Benchmark("mmmu_val", "mmmu/mmmu_val.yaml", "validation", "mmmu_acc", 1.0, "lmms-lab-encoder/MMMU", None,
              ("id", "question", "options", "answer", "question_type", "image_1")),
    Benchmark("mme", "mme/mme.yaml", "test", "mme_cognition_score", 800.0, "lmms-lab-encoder/MME", None,
              ("question_id", "image", "question", "answer", "category")),
    Benchmark("mmbench_en_dev", "mmbench/mmbench_en_dev_static.yaml", "dev", "gpt_eval_score", 100.0,
              "lmms-lab-encoder/MMBench", "en",
              ("index", "question", "hint", "A", "B", "C", "D", "answer", "category", "image", "source", "L2-category", "split"),
              variant="mmbench_en_dev_static: option letter read by regex/substring matching, no judge model"),
)}
# The paper's "overall improvement": sum of the relative changes on these four (in %)
OVERALL_BENCHMARKS = ("mmstar", "seedbench_2_plus", "mmbench_en_dev", "mme")
MME_COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")


@dataclass
class GeneralConfig:
    model: str | None = cfg.field(None, help="model folder or hub id already in the local cache; default: the toy base model")
    adapter: str | None = cfg.field(None, help="LoRA adapter folder applied on top of --model (selfsynth_llava only)")
    benchmarks: list[str] = cfg.field(default_factory=lambda: list(BENCHMARKS), help=f"comma-separated benchmarks, of: {','.join(BENCHMARKS)}")
    limit: int | None = cfg.field(None, help="first N documents of each benchmark (lmms-eval's --limit; recorded; not comparable to the paper)", ge=1)
    out: str = cfg.field("general", help="output folder (results, samples, log, general.json)")
    data: str | None = cfg.field(None, help="folder of local benchmark copies, DIR/<benchmark>/<split>.parquet; default with the toy model: the toy miniatures")
    baseline: str | None = cfg.field(None, help="output folder (or general.json) of a base model: adds the change per benchmark and the overall improvement")
    lmms_model: Literal["selfsynth_llava", "llava_hf"] = cfg.field("selfsynth_llava", help="lmms-eval model class: ours (selfsynth_llava) or lmms-eval's llava_hf")
    model_args: str | None = cfg.field(None, help="extra lmms-eval model args, e.g. dtype=bf16,device=cuda:0")
    batch_size: int = cfg.field(1, help="generation batch size passed to the lmms-eval model", ge=1)
    seed: int = cfg.field(0, help="lmms-eval's random seed (MMMU picks a random option when it cannot parse one)")
    toy_cache: str | None = cfg.field(None, help="cache folder of the toy world (default ~/.cache/selfsynth/toy)")

    def __post_init__(self) -> None:
        cfg.check_fields(self)
        unknown = [b for b in self.benchmarks if b not in BENCHMARKS]
        if unknown:
            raise ValueError(f"benchmarks: unknown {', '.join(unknown)}; expected some of {', '.join(BENCHMARKS)}")
        if not self.benchmarks:
            raise ValueError("benchmarks: none given")


# -- data ---------------------------------------------------------------------------------------------
def data_files(data_dir: str | Path, name: str) -> list[Path]:
    """The local copy of ``name``: DIR/<name>/<split>.parquet, or the shards in DIR/<name>/<split>/."""
    bench = BENCHMARKS[name]
    folder = Path(data_dir).expanduser().resolve() / name
    single = folder / f"{bench.split}.parquet"
    if single.is_file():
        return [single]
    shards = sorted((folder / bench.split).glob("*.parquet")) if (folder / bench.split).is_dir() else []
    if shards:
        return shards
    raise UserError(f"benchmark {name}: no local copy at {single} (or parquet shards in {folder / bench.split}/); "
                    "see docs/general_ability.md")


def check_columns(name: str, files: list[Path]) -> None:
    """A copy without a column the task reads fails here, not inside lmms-eval."""
    import pyarrow.parquet as pq

    try:
        present = set(pq.read_schema(files[0]).names)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise UserError(f"benchmark {name}: {files[0]} is not a readable parquet file ({exc})") from None
    missing = [c for c in BENCHMARKS[name].columns if c not in present]
    if missing:
        raise UserError(f"benchmark {name}: {files[0]} lacks column(s) {', '.join(missing)} that lmms-eval's task reads")


def _data_key(files: list[Path]) -> list[list[Any]]:
    return [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files]


# -- task YAMLs ---------------------------------------------------------------------------------------
def lmms_tasks_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("lmms_eval")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("lmms-eval is not installed; install the extra: pip install 'selfsynth-harness[lmms]'")
    return Path(list(spec.submodule_search_locations)[0]) / "tasks"


def task_yaml(name: str, files: list[Path]) -> str:
    """lmms-eval's own task for ``name``, reading ``files``: include + data source + own name."""
    import yaml

    bench = BENCHMARKS[name]
    builtin = lmms_tasks_dir() / bench.task_yaml
    if not builtin.is_file():
        raise UserError(f"lmms-eval's task file {builtin} is missing; install lmms-eval==0.7.3")
    config = {
        "include": str(builtin),
        "task": TASK_PREFIX + name,
        "tag": [],  # do not join the built-in task's tag groups
        "dataset_path": "parquet",
        "dataset_name": None,  # the hub config name (MMBench: "en") means nothing to the parquet loader
        "dataset_kwargs": {"data_files": {bench.split: [str(f) for f in files]}},
    }
    header = (f"# Generated by `selfsynth general`: lmms-eval's {builtin.stem} task reading a local copy.\n"
              "# Only the data source and the task name differ from the included file.\n")
    return header + yaml.safe_dump(config, sort_keys=False)


# -- headline numbers -------------------------------------------------------------------------------
def headline(name: str, results: dict[str, Any]) -> float | None:
    task = results["results"].get(TASK_PREFIX + name, {})
    value = task.get(f"{BENCHMARKS[name].headline},none")
    return float(value) if isinstance(value, (int, float)) else None


def mme_scores(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """MME's published score from per-question correctness: per category acc (% of questions
    right) + acc+ (% of images with both questions right), 0-200; perception sums its ten
    categories, cognition its four (0-800)."""
    by_category: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for sample in samples:
        item = sample.get("mme_cognition_score") or sample.get("mme_perception_score")
        by_category[item["category"]][item["question_id"]].append(float(item["score"]))
    categories = {}
    for category, images in by_category.items():
        questions = [s for scores in images.values() for s in scores]
        acc = 100.0 * sum(questions) / len(questions)
        acc_plus = 100.0 * sum(all(s == 1.0 for s in scores) for scores in images.values()) / len(images)
        categories[category] = acc + acc_plus
    cognition = [c for c in categories if c in MME_COGNITION]
    return {
        "categories": categories,
        "cognition": sum(categories[c] for c in cognition) if cognition else None,
        "perception": sum(v for c, v in categories.items() if c not in MME_COGNITION) if len(cognition) < len(categories) else None,
        "cognition_categories": sorted(cognition),
    }


def benchmark_summary(name: str, folder: Path) -> dict[str, Any]:
    """The headline and context of one finished benchmark, from lmms-eval's files in ``folder``."""
    from selfsynth.io import read_jsonl

    bench = BENCHMARKS[name]
    results = read_json(folder / BENCHMARK_RESULTS)
    done = read_json(folder / DONE)
    metrics = {k.split(",")[0]: v for k, v in results["results"].get(TASK_PREFIX + name, {}).items()
               if "," in k and isinstance(v, (int, float))}
    summary: dict[str, Any] = {
        "metric": bench.headline,
        "value": headline(name, results),
        "max": bench.maximum,
        "lmms_eval_task": Path(bench.task_yaml).stem,
        "n": results.get("n-samples", {}).get(TASK_PREFIX + name, {}).get("effective"),
        "metrics": metrics,
        "seconds": done.get("seconds"),
        "results": f"{name}/results.json",
        "samples": f"{name}/samples.jsonl",
    }
    if bench.variant:
        summary["variant"] = bench.variant
    if name == "mme":
        scores = mme_scores(read_jsonl(folder / "samples.jsonl"))
        summary["subtasks"] = scores["categories"]
        if scores["cognition"] is not None and len(scores["cognition_categories"]) < len(MME_COGNITION):
            summary["note"] = f"cognition from {len(scores['cognition_categories'])} of 4 subtasks (--limit)"
    return summary


# -- comparison with a base model ---------------------------------------------------------------------
def compare(ours: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Change per benchmark vs ``base`` (both general.json dicts) and the paper's overall
    improvement: the sum over MMStar, SEED-2-Plus, MMBench and MME cognition of the relative
    change in %. That sum reproduces the paper's CUB row of Table 11, not every row."""
    per: dict[str, Any] = {}
    for name, entry in ours["benchmarks"].items():
        other = base.get("benchmarks", {}).get(name)
        if other is None or entry.get("value") is None or other.get("value") is None:
            continue
        delta = entry["value"] - other["value"]
        relative = 100.0 * delta / other["value"] if other["value"] else None
        per[name] = {"base": other["value"], "value": entry["value"], "delta": delta, "relative_pct": relative}
    parts = [per[name]["relative_pct"] for name in OVERALL_BENCHMARKS if name in per]
    complete = len(parts) == len(OVERALL_BENCHMARKS) and all(p is not None for p in parts)
    return {
        "benchmarks": per,
        "overall_improvement_pct": sum(parts) if complete else None,
        "overall_benchmarks": list(OVERALL_BENCHMARKS),
        "overall_note": ("sum of relative changes (%) over mmstar, seedbench_2_plus, mmbench_en_dev and mme "
                         "(cognition); reproduces the paper's CUB row of Table 11, not every row"
                         + ("" if complete else "; not computed: needs all four, each with a non-zero base")),
    }


def read_general(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    file = path / "general.json" if path.is_dir() else path
    if not file.is_file():
        raise UserError(f"--baseline {path}: expected a folder with general.json (the output of `selfsynth general`)")
    data = read_json(file)
    schema.require(data, schema.GENERAL, f"{file} (a general.json)")
    if "benchmarks" not in data:
        raise UserError(f"{file}: not a general.json (no 'benchmarks')")
    return data


# -- running ------------------------------------------------------------------------------------------
def _resolve_inputs(config: GeneralConfig) -> tuple[str, str | None, Path, str]:
    """(model, adapter, data folder, kind of data)."""
    from selfsynth.toy.benchmarks import ensure_toy_benchmarks, is_toy_benchmarks

    if config.model is None:
        from selfsynth.toy import ensure_toy_world

        world = ensure_toy_world(config.toy_cache)
        model, data = str(world.model_path), Path(config.data) if config.data else ensure_toy_benchmarks(world)
    elif config.data is None:
        raise UserError("--data is required with --model: the folder of local benchmark copies (see docs/general_ability.md)")
    else:
        model, data = config.model, Path(config.data)
    adapter = _absolute(config.adapter) if config.adapter else None
    # absolute: lmms-eval runs in the output folder
    return _absolute(model), adapter, data.expanduser().resolve(), "toy miniatures" if is_toy_benchmarks(data) else "local copies"


def _absolute(path_or_id: str) -> str:
    """A local folder as an absolute path; a hub id as it is."""
    local = Path(path_or_id).expanduser()
    return str(local.resolve()) if local.exists() else path_or_id


def _model_args(config: GeneralConfig, model: str, adapter: str | None) -> str:
    args = [f"pretrained={model}"]
    if adapter:
        if config.lmms_model != "selfsynth_llava":
            raise UserError(f"--adapter needs --lmms-model selfsynth_llava ({config.lmms_model} loads no LoRA adapter)")
        args.append(f"peft={adapter}")
    if config.model_args:
        args.append(config.model_args)
    return ",".join(args)


def evaluate_general(config: GeneralConfig, progress: Any = print) -> dict[str, Any]:
    """Run the pending benchmarks of ``config`` (finished ones are reused) and write general.json;
    returns its content. ``progress`` gets one line per benchmark."""
    from selfsynth.models import model_fingerprint

    model, adapter, data_dir, data_kind = _resolve_inputs(config)
    out = Path(config.out).expanduser().resolve()
    if "mme" in config.benchmarks and config.limit is not None and config.limit % 2:
        raise UserError(f"--limit {config.limit}: with mme the limit must be even (MME scores the two questions of an image together)")
    base = read_general(config.baseline) if config.baseline else None  # fail before any work
    files = {name: data_files(data_dir, name) for name in config.benchmarks}  # every copy, before the first runs
    for name, found in files.items():
        check_columns(name, found)
    model_args = _model_args(config, model, adapter)
    fingerprint = model_fingerprint(model, adapter)
    tasks_dir = out / "tasks"
    pending = []
    for name in config.benchmarks:
        key = {"model": fingerprint, "lmms_model": config.lmms_model, "model_args": config.model_args,
               "limit": config.limit, "seed": config.seed, "data": _data_key(files[name]), "lmms_eval": _lmms_version()}
        folder = out / name
        if (folder / DONE).is_file():
            if read_json(folder / DONE).get("key") != key:
                raise UserError(f"{folder} holds results of another model, data or settings; use another --out")
            progress(f"{name}: finished earlier, reused")
            continue
        write_text(tasks_dir / f"{TASK_PREFIX}{name}.yaml", task_yaml(name, files[name]))
        pending.append({"name": name, "task": TASK_PREFIX + name, "dir": str(folder), "key": key})
    if pending:
        _run_child(out, tasks_dir, pending, config, model_args, progress)
    summary = {
        "schema_version": schema.GENERAL,
        "model": model,
        "adapter": adapter,
        "model_fingerprint": fingerprint,
        "lmms_model": config.lmms_model,
        "model_args": model_args,
        "lmms_eval_version": _lmms_version(),
        "data": str(data_dir),
        "data_kind": data_kind,
        "limit": config.limit,
        "seed": config.seed,
        "benchmarks": {name: benchmark_summary(name, out / name) for name in config.benchmarks},
        "out": str(out),
        "log": LOG_NAME,
    }
    if base is not None:
        summary["baseline"] = {"path": str(config.baseline), "model": base.get("model"), **compare(summary, base)}
    write_json(out / "general.json", summary)
    return summary


def _lmms_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("lmms_eval")
    except metadata.PackageNotFoundError:
        return None


def _run_child(out: Path, tasks_dir: Path, pending: list[dict[str, Any]], config: GeneralConfig, model_args: str, progress: Any) -> None:
    job = {"model": config.lmms_model, "model_args": model_args, "include_path": str(tasks_dir), "limit": config.limit,
           "batch_size": config.batch_size, "seed": config.seed, "benchmarks": pending}
    job_file = out / "job.json"
    write_json(job_file, job)
    log_path = out / LOG_NAME
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    started = time.time()
    progress(f"lmms-eval: {len(pending)} benchmark(s) on {config.lmms_model}; its output goes to {log_path}")
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n===== selfsynth general {time.strftime('%Y-%m-%d %H:%M:%S')}: {', '.join(p['name'] for p in pending)}\n")
        log.flush()
        proc = subprocess.Popen([sys.executable, "-m", "selfsynth.metrics.general", str(job_file)], cwd=out, env=env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        reported: set[str] = set()
        try:
            while True:
                code = proc.poll()
                for index, item in enumerate(pending, 1):
                    folder = Path(item["dir"])
                    if item["name"] not in reported and (folder / DONE).is_file():
                        reported.add(item["name"])
                        entry = benchmark_summary(item["name"], folder)
                        value = "n/a" if entry["value"] is None else f"{entry['value']:.4g}"
                        progress(f"[{index}/{len(pending)}] {item['name']}: {entry['metric']} = {value} "
                                 f"(n={entry['n']}, {entry['seconds']:.0f} s)")
                if code is not None:
                    break
                time.sleep(0.5)
        except BaseException:
            proc.terminate()
            proc.wait()
            raise
    if code != 0:
        unfinished = next(p["name"] for p in pending if p["name"] not in reported)
        raise UserError(f"lmms-eval stopped during {unfinished} (exit code {code}) after {time.time() - started:.0f} s; "
                        f"see {log_path} ({_last_line(log_path)})")


def _last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "empty"


# -- inside `selfsynth run --general` -------------------------------------------------------------------
def resolve_run_data(benchmarks: list[str], data: str | None, task_name: str, toy_cache: str | None) -> Path:
    """The local copies a run's --general reads (on the toy task by default the toy miniatures),
    every one checked now, so a missing copy stops the run before any training."""
    unknown = [b for b in benchmarks if b not in BENCHMARKS]
    if unknown:
        raise UserError(f"--general: unknown benchmark(s) {', '.join(unknown)}; expected some of {', '.join(BENCHMARKS)}")
    if data is None:
        from selfsynth.tasks.base import task_class

        default = task_class(task_name).default_general_data(toy_cache)
        if default is None:
            raise UserError("--general needs --general-root DIR, the folder of local benchmark copies (see docs/general_ability.md)")
        folder = Path(default)
    else:
        folder = Path(data)
    for name in benchmarks:
        check_columns(name, data_files(folder, name))
    return folder


def run_general(model: str, benchmarks: list[str], data: Path, out: Path, limit: int | None, batch_size: int, seed: int) -> dict[str, Any]:
    """One run step: ``evaluate_general`` into the step folder; returns the step's summary."""
    config = GeneralConfig(model=model, benchmarks=list(benchmarks), data=str(data), out=str(out), limit=limit,
                           batch_size=batch_size, seed=seed)
    summary = evaluate_general(config, progress=lambda line: print(f"  general: {line}", file=sys.stderr, flush=True))
    return {"n_benchmarks": len(summary["benchmarks"]),
            "values": {name: entry["value"] for name, entry in summary["benchmarks"].items()}}


def run_summary(base_dir: Path, final_dir: Path | None, root: Path) -> dict[str, Any]:
    """The ``general`` section of a run's results.json: both models' numbers and the change."""
    base = read_general(base_dir)
    section: dict[str, Any] = {"base": {"general": str((base_dir / "general.json").relative_to(root)),
                                        "values": {n: e["value"] for n, e in base["benchmarks"].items()}}}
    if final_dir is not None:
        final = read_general(final_dir)
        section["final"] = {"general": str((final_dir / "general.json").relative_to(root)),
                            "values": {n: e["value"] for n, e in final["benchmarks"].items()}}
        section["change"] = compare(final, base)
    return section


# -- the child process ----------------------------------------------------------------------------------
def _child(job_file: str) -> int:
    """Runs inside the child: lmms-eval's simple_evaluate per benchmark, files written as each ends."""
    from lmms_eval.evaluator import simple_evaluate
    from lmms_eval.tasks import TaskManager
    from lmms_eval.utils import handle_non_serializable

    from loguru import logger

    logger.remove()  # lmms-eval set WARNING on import; the log file wants its INFO lines too
    logger.add(sys.stderr, level="INFO")
    job = read_json(job_file)
    defaults = _lmms_cli_defaults()
    manager = TaskManager("INFO", include_path=job["include_path"], include_defaults=False)
    for item in job["benchmarks"]:
        folder = Path(item["dir"])
        folder.mkdir(parents=True, exist_ok=True)
        started = time.time()
        print(f"===== {item['name']} ({item['task']})", flush=True)
        results = simple_evaluate(
            model=job["model"], model_args=job["model_args"], tasks=[item["task"]], task_manager=manager, limit=job["limit"], batch_size=job["batch_size"],
            log_samples=True, random_seed=job["seed"], numpy_random_seed=job["seed"], torch_random_seed=job["seed"],
            fewshot_random_seed=job["seed"], cli_args=argparse.Namespace(**{**vars(defaults), "output_path": str(folder)}),
        )
        samples = results.pop("samples", {}).get(item["task"], [])
        write_jsonl(folder / "samples.jsonl", (json.loads(json.dumps(s, default=handle_non_serializable)) for s in samples))
        write_json(folder / BENCHMARK_RESULTS, json.loads(json.dumps(results, default=handle_non_serializable)))
        write_json(folder / DONE, {"key": item["key"], "seconds": round(time.time() - started, 2), "finished": time.time()})
    return 0


def _lmms_cli_defaults() -> argparse.Namespace:
    """lmms-eval's CLI arguments at their defaults: its evaluator reads some of them (the CLI
    path passes them as ``cli_args``); aggregators write their files under ``output_path``."""
    from lmms_eval.__main__ import parse_eval_args

    saved = sys.argv
    sys.argv = ["lmms_eval"]  # its parser reads sys.argv; this process is ours alone
    try:
        return parse_eval_args()[1]
    finally:
        sys.argv = saved


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
