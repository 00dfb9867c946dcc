"""The Python API that every command wraps (as lm-eval's ``simple_evaluate``): a notebook calls
the same functions the CLI does. Commands only parse flags, call one of these and print.

No task is known here by name: a task's defaults (root, model, concepts, a config preset) come
from its ``run_preset``/``defaults`` hooks (``selfsynth.tasks.base.Task``).
"""
from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

from selfsynth import config as cfg
from selfsynth.configs.run import EvalConfig, RunConfig
from selfsynth.errors import UserError
from selfsynth.io import claim_output_dir, remove_stale_temps
from selfsynth.results import METRICS, RECORDS
from selfsynth.tasks.base import build_task, parse_option_pairs, task_class

# what an evaluation folder written before output folders carried a marker holds (adopted as ours)
EVAL_FILES = (METRICS, RECORDS)
RUN_STORE_FILES = ("cache.sqlite",)

log = logging.getLogger(__name__)


def resolve_run_config(config_file: str | None = None, overrides: dict[str, Any] | None = None):
    """defaults < the task's preset < YAML < flags. Every check that needs no data runs here (the
    config's fields, the task's options), so a mistake fails before a model or dataset loads."""
    overrides = overrides or {}
    first = cfg.resolve(RunConfig, config_file, overrides)
    task_cls = task_class(first.task)
    config = cfg.resolve(RunConfig, config_file, overrides, base=task_cls.run_preset())
    task_cls.parse_options(parse_option_pairs(config.task_options))
    from selfsynth.registry import JUDGES, METHODS

    METHODS.get(config.method)
    if config.judge:
        JUDGES.get(config.judge)
    if config.general:
        from selfsynth.metrics.general import BENCHMARKS

        unknown = [b for b in config.general if b not in BENCHMARKS]
        if unknown:
            raise UserError(f"--general: unknown benchmark(s) {', '.join(unknown)}; expected some of {', '.join(BENCHMARKS)}")
    return config


def fill_defaults(config):
    """``config`` with root, model, concepts and general data the user left out filled from the
    task's defaults (which may build them, as the toy world is built on first use)."""
    if config.root is not None and config.model is not None:
        return config
    defaults = task_class(config.task).defaults(config.toy_cache)
    config = dataclasses.replace(
        config,
        root=config.root or defaults.root,
        model=config.model or defaults.model,
        concepts=config.concepts or defaults.concepts,
        train=dataclasses.replace(config.train, general_data=config.train.general_data or defaults.general_data),
    )
    if config.root is None:
        raise UserError(f"task {config.task!r} needs --root (the dataset folder)")
    if config.model is None:
        raise UserError(f"task {config.task!r} needs --model (a local folder or hub id)")
    return config


def prepare_run(config):
    """Fill defaults, build the task, open store and cache. Returns (config, task, store, cache)."""
    from selfsynth.cache import ResponseCache
    from selfsynth.store import RunStore

    config = fill_defaults(config)
    task = build_task(config.task, config.root, parse_option_pairs(config.task_options))
    # a run store is ours or new: a --out holding the user's own files is refused, not written into
    claim_output_dir(config.out, "run", adopt=RUN_STORE_FILES)
    store = RunStore(Path(config.out), experiment=config.experiment, seed=config.seed)
    cache = ResponseCache(Path(config.out) / "cache.sqlite")
    return config, task, store, cache


def check_inputs(config, task, runner_cls) -> None:
    """Every input a run needs, checked before any model loads (a mistake costs seconds, not an
    iteration): one ``UserError`` line naming each problem ``input_problems`` finds."""
    problems = run_input_problems(config, task, runner_cls)
    if len(problems) == 1:
        raise UserError(problems[0])
    if problems:
        raise UserError(f"{len(problems)} inputs of this run are missing or unusable: " + "; ".join(problems))


def input_problems(config, fetch: bool = True) -> list[str]:
    """Every problem with the inputs of the run ``config`` (a ``RunConfig`` as given, defaults not
    yet filled), one line each; [] when it can start. ``selfsynth run`` refuses on the first
    check, ``selfsynth reproduce --dry-run`` lists them for every cell. Nothing here loads a model;
    with ``fetch`` False nothing is downloaded either (a hub id not cached is a problem offline only)."""
    from selfsynth.registry import METHODS

    try:
        runner_cls = METHODS.get(config.method)
        config = fill_defaults(config)
    except UserError as exc:
        return [str(exc)]
    if not Path(config.root).is_dir():
        return [f"dataset folder {config.root} not found"]
    try:
        task = build_task(config.task, config.root, parse_option_pairs(config.task_options))
    except UserError as exc:
        return [str(exc)]
    return run_input_problems(config, task, runner_cls, fetch)


def run_input_problems(config, task, runner_cls, fetch: bool = True) -> list[str]:
    """``input_problems`` for a config with its defaults filled and its task built: the model (a
    folder with config.json or a hub id in the cache, fetched now when online), the prompts file;
    for a method that trains, the general instruction data, the class concepts (a JSON file
    covering every class, or a key for the concept LLM of step 0) and the text encoder of concept
    selection; with a judge, its endpoint key and the fluency reference LM; with --general, the
    local benchmark copies."""
    import os

    from selfsynth.models import resolve_model
    from selfsynth.synth.concepts import load_concepts_json
    from selfsynth.tasks.prompts import load_prompts

    problems: list[str] = []

    def check(fn, *args) -> Any:
        try:
            return fn(*args)
        except UserError as exc:
            problems.append(str(exc))
            return None

    local = Path(str(config.model)).expanduser().exists()
    resolved = check(resolve_model, config.model) if fetch or local else check(_check_hub, str(config.model), "model", "--model", False)
    if isinstance(resolved, tuple):
        base, adapter = resolved
        if adapter is not None:
            problems.append(f"--model {config.model} is a LoRA adapter on {base}; a run fine-tunes a full model: pass "
                            f"--model {base} (the adapter's base) or a merged checkpoint")
        elif not (base / "config.json").is_file():
            problems.append(f"--model {config.model}: {base} has no config.json (expected a model folder saved with "
                            "save_pretrained, a LoRA adapter folder or a hub id)")
    check(load_prompts, task.domain, config.prompts)
    if runner_cls.trains:
        general = config.train.general_data
        if general is not None and not Path(general).is_file():
            problems.append(f"--train.general_data {general}: file not found (expected JSONL of image/question/answer rows)")
        make_concepts = f"`selfsynth concepts --task {config.task} --root {config.root} --out FILE`"
        if config.concepts is not None:
            if not Path(config.concepts).is_file():
                problems.append(f"--concepts {config.concepts}: file not found (make it with {make_concepts})")
            else:
                check(load_concepts_json, config.concepts, task.class_names(), task.aliases, config.concepts_allow_missing)
        elif runner_cls.uses_concepts and not os.environ.get(config.synth.concept_api_key_env):
            problems.append(f"method {config.method!r} needs class concepts: pass --concepts FILE (made by {make_concepts}) or set "
                            f"${config.synth.concept_api_key_env} for the concept LLM {config.synth.concept_model!r}")
        if runner_cls.uses_concepts:
            check(_check_encoder, config.synth.encoder, fetch)
    if config.judge is not None:
        if config.judge == "openai":
            endpoint = config.judging.openai
            if endpoint.api_key_env and not os.environ.get(endpoint.api_key_env):
                problems.append(f"--judge openai: environment variable {endpoint.api_key_env} (named by --judging.openai.api_key_env) "
                                f"is not set; the judge {endpoint.model!r} at {endpoint.base_url or 'the openai default endpoint'} needs it")
        if config.judging.fluency:
            check(_check_fluency_model, config.fluency_model, fetch)
    if config.general:
        from selfsynth.metrics.general import resolve_run_data

        check(resolve_run_data, config.general, config.general_root, task.name, config.toy_cache)
    return problems


def _check_encoder(name: str, fetch: bool = True) -> None:
    """A text encoder shipped with the package, a folder, or a hub id in the local cache (fetched
    now when online): never found missing after hours of evaluation."""
    from selfsynth.embed import KNOWN_ENCODERS

    location = KNOWN_ENCODERS[name]() if name in KNOWN_ENCODERS else name
    if not Path(location).is_dir():
        _check_hub(location, "text encoder", "--synth.encoder", fetch)


def _check_fluency_model(name: str, fetch: bool = True) -> None:
    from selfsynth.metrics.fluency import DEFAULT_REFERENCE, smollm2_gguf_path

    if name == DEFAULT_REFERENCE:
        smollm2_gguf_path()
        return
    path = Path(name).expanduser()
    if path.suffix == ".gguf" or path.exists():
        if not (path.is_file() if path.suffix == ".gguf" else (path / "config.json").is_file()):
            raise UserError(f"--fluency_model {name}: expected a GGUF file or a model folder with config.json")
        return
    _check_hub(name, "fluency reference", "--fluency_model", fetch)


def _check_hub(repo_id: str, what: str, flag: str, fetch: bool = True) -> None:
    """A hub repository in the local cache (looked up on disk, no network), else fetched now when
    online; offline, or when the hub cannot be reached, a one-line error saying how to fetch it."""
    from huggingface_hub import constants, try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        if any(isinstance(try_to_load_from_cache(repo_id, name), str) for name in ("config.json", "modules.json")):
            return
    except HFValidationError:
        raise UserError(f"{flag} {repo_id}: no such folder, and not a Hugging Face Hub id (namespace/name)") from None
    if constants.HF_HUB_OFFLINE:
        raise UserError(f"{flag}: {what} {repo_id!r} is not in the local Hugging Face cache (HF_HUB_OFFLINE=1); "
                        f"fetch it once with `hf download {repo_id}`")
    if fetch:
        from selfsynth.models import hub_snapshot

        try:
            hub_snapshot(repo_id, f"{flag}: {what}")  # the errors it knows are one line already
        except _network_errors() as exc:  # the hub client's own HTTP stack (httpx or httpx2) failing
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UserError(f"{flag}: {what} {repo_id!r} is not in the local Hugging Face cache and the Hub could not be reached "
                            f"({first_line}); fetch it once with `hf download {repo_id}` where there is a network") from None


def _network_errors() -> tuple[type[BaseException], ...]:
    import importlib

    found: list[type[BaseException]] = [OSError]
    for module, name in (("httpx", "HTTPError"), ("httpx2", "HTTPError"), ("huggingface_hub.errors", "HfHubHTTPError")):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def plugins_in_use(config, task, runner_cls) -> list[dict[str, Any]]:
    """Provenance of the third-party method and task classes this run uses (none for built-ins)."""
    from selfsynth.registry import METHODS, TASKS
    from selfsynth.store import plugin_provenance

    found = [
        plugin_provenance(METHODS.entry_point_group, config.method, runner_cls),
        plugin_provenance(TASKS.entry_point_group, config.task, type(task)),
    ]
    return [p for p in found if p is not None]


def run(config) -> dict[str, Any]:
    """Run or resume one method on one task (a resolved ``RunConfig``); returns the results dict."""
    import filelock

    from selfsynth.registry import METHODS

    runner_cls = METHODS.get(config.method)  # a mistyped method fails before any default is built
    requested = config  # as asked for: what the run's fingerprint covers (selfsynth.results)
    config, task, store, cache = prepare_run(config)
    check_inputs(config, task, runner_cls)
    unit = store.unit_dir(task.name, runner_cls.name or config.method)
    unit.mkdir(parents=True, exist_ok=True)
    # one writer per run folder: a second `selfsynth run` of the same unit is refused at once (the
    # OS drops the lock of a killed process, so a re-run after a kill is never locked out)
    lock = filelock.FileLock(str(unit / ".run.lock"), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise UserError(f"{unit}: another selfsynth run is writing this run folder now; wait for it to finish, "
                        f"or pick another --out, --experiment or --seed") from None
    # files a killed run left half-written (its temp files; the outputs themselves are never partial)
    remove_stale_temps(unit.parent.parent)
    try:
        return _run_unit(config, task, store, cache, runner_cls, unit, requested)
    finally:
        lock.release()


def _run_unit(config, task, store, cache, runner_cls, unit: Path, requested=None) -> dict[str, Any]:
    from selfsynth.models import model_fingerprint
    from selfsynth.results import comparable_config, config_fingerprint

    requested = requested if requested is not None else config

    store.write_manifest(
        unit,
        cfg.to_dict(config),
        seeds={"seed": config.seed},
        fingerprints={"base_model": model_fingerprint(config.model)},
        extra={"limit": config.limit, "plugins": plugins_in_use(config, task, runner_cls),
               "requested": comparable_config(requested), "fingerprint": config_fingerprint(requested),
               "expected_iterations": config.iterations + 1 if runner_cls.trains else 1},
        # grading can be added to (or changed in) a finished run: it never alters its accuracy
        extendable=("iterations", "judge", "fluency_model", "judging"),
    )
    if config.limit is not None:
        print(f"selfsynth run: --limit {config.limit}: results are for a subset and not comparable to the paper", file=sys.stderr)
    runner = runner_cls(config, task, store, cache, config.model)
    return runner.run()


def evaluate_selection(config, encoders: Sequence[str]) -> tuple[dict[str, Any], Path]:
    """Run steps 0-2 of ``config`` (a ``RunConfig``; its method is ignored) once per encoder and
    score the selections. Returns (the select_eval.json content, its path)."""
    from selfsynth import schema
    from selfsynth.io import write_json
    from selfsynth.metrics.select_eval import RESULT_FILE, ground_truth
    from selfsynth.registry import METHODS
    from selfsynth.synth.select import random_precision

    names = [e.strip() for e in encoders if e.strip()]
    if not names:
        raise UserError("--encoders: name at least one text encoder (e.g. all-MiniLM-L6-v2)")
    requested = config
    config, task, store, cache = prepare_run(config)
    truth_name, precision_of = ground_truth(task)  # fails before any model loads
    runner_cls = METHODS.get("ours")
    from selfsynth.results import config_fingerprint

    fingerprint = config_fingerprint(requested)  # what reproduce compares before reusing the file
    results: dict[str, Any] = {}
    n_images = 0
    for encoder in dict.fromkeys(names):
        run_config = dataclasses.replace(config, synth=dataclasses.replace(config.synth, encoder=encoder))
        runner = runner_cls(run_config, task, store, cache, run_config.model)
        selected = runner.selected_concepts()
        concepts = getattr(runner.class_concepts(), "concepts", {})
        samples = [s for s in runner.train_samples if s.id in selected]
        n_images = len(samples)
        per_image = [precision_of(s, selected[s.id]) for s in samples]
        baseline = [precision_of(s, concepts.get(s.label, [])) if not getattr(task, "has_image_concepts", False)
                    else random_precision(concepts.get(s.label, []), task.image_concepts(s)) for s in samples]
        results[encoder] = {
            "precision": sum(per_image) / len(per_image) if per_image else None,
            "random_precision": sum(baseline) / len(baseline) if baseline else None,
            "concepts_per_image": sum(len(selected[s.id]) for s in samples) / len(samples) if samples else None,
            "n_images": len(samples),
            "select_file": str(runner.shared_dir() / "select.jsonl"),
        }
    out = {
        "schema_version": schema.SELECTION_EVAL,
        "task": task.name,
        "experiment": config.experiment,
        "seed": config.seed,
        "limit": config.limit,
        "n_images": n_images,
        "ground_truth": truth_name,
        "encoders": results,
        "fingerprint": fingerprint,
    }
    path = store.unit_dir(task.name, "select_eval") / RESULT_FILE
    write_json(path, out)
    return out, path


def evaluate(config: EvalConfig, record: dict[str, Any] | None = None) -> tuple[dict[str, Any], Path]:
    """Accuracy of a model (+ adapter) on a task split; returns (metrics, output folder). With a
    limit, the samples are the seeded class-balanced subset a run with that seed evaluates.
    ``record``: more keys for metrics.json (reproduce's transfer records its fingerprint)."""
    from selfsynth.cache import ResponseCache
    from selfsynth.evaluate import evaluate as evaluate_samples
    from selfsynth.models import load_model, resolve_model
    from selfsynth.store import run_provenance
    from selfsynth.tasks.base import split_seed, subset
    from selfsynth.tasks.prompts import load_prompts

    task_cls = task_class(config.task)
    task_cls.parse_options(parse_option_pairs(config.task_options))  # before any default is built
    model, root = config.model, config.root
    if model is None or root is None:
        defaults = task_cls.defaults(config.toy_cache)
        model, root = model or defaults.model, root or defaults.root
    if model is None:
        raise UserError(f"task {config.task!r} needs --model (a model folder or a hub id in the local cache)")
    if root is None:
        raise UserError(f"task {config.task!r} needs --root (the dataset folder)")
    resolve_model(model, config.adapter)  # a missing model (or adapter base) fails before any other work
    task = build_task(config.task, root, parse_option_pairs(config.task_options))
    prompts = load_prompts(task.domain, config.prompts)  # a bad file fails before the model loads
    every = task.load(config.split)
    samples = subset(every, config.limit, split_seed(config.seed, config.split))
    if len(samples) < len(every):
        log.warning("--limit %d: evaluating %d of %d %s samples; not a full-split number", config.limit, len(samples), len(every), config.split)
    if config.out:  # a folder selfsynth did not make is refused before the model loads
        claim_output_dir(config.out, "eval", adopt=EVAL_FILES)
    lm = load_model(model, adapter=config.adapter)
    out = Path(config.out) if config.out else Path("runs") / "eval" / task.name / f"{config.split}-{lm.fingerprint[:12]}"
    claim_output_dir(out, "eval", adopt=EVAL_FILES)
    cache = ResponseCache(config.cache or out / "cache.sqlite")
    metrics = evaluate_samples(
        task, samples, lm, out, cache=cache, max_new_tokens=config.max_new_tokens, batch_size=config.batch_size,
        extra={"split": config.split, "limit": config.limit, "seed": config.seed,
               "root": str(task.root), "task_options": list(config.task_options), "prompts": config.prompts,
               # a run's model evaluated here (e.g. on another task: transfer) records which run it is
               "train_run": run_provenance(model), **(record or {})},
        prompts=prompts,
    )
    return metrics, out


def evaluate_like(baseline: str | Path, model: str, adapter: str | None = None, out: str | None = None,
                  batch_size: int = 16, cache: str | None = None) -> tuple[dict[str, Any], Path]:
    """Evaluate ``model`` (a model folder, hub id or LoRA adapter folder) the way the evaluation
    folder ``baseline`` was made: its task, dataset folder, task options, split, subset, prompts
    and answer length. ``selfsynth regress`` uses it to take a checkpoint as the candidate."""
    from selfsynth.results import read_eval

    stored = read_eval(baseline, need_records=False)
    recorded, metrics_path = stored.metrics, stored.path / METRICS
    missing = [key for key in ("task", "root", "split") if not recorded.get(key)]
    if missing:
        raise UserError(
            f"{metrics_path} does not record {', '.join(missing)}; evaluate the candidate with `selfsynth eval` "
            "on the baseline's task, dataset and split, and pass that folder as the candidate"
        )
    generation = recorded.get("generation") or {}
    config = EvalConfig(
        task=recorded["task"], model=model, adapter=adapter, root=recorded["root"], split=recorded["split"],
        limit=recorded.get("limit"), seed=recorded.get("seed") or 0, out=out, batch_size=batch_size,
        max_new_tokens=generation.get("max_new_tokens", recorded.get("max_new_tokens", 256)), cache=cache,
        task_options=list(recorded.get("task_options") or []), prompts=recorded.get("prompts"),
    )
    return evaluate(config)


def read_answers(task_name: str, answers: list[str], root: str | None = None, options: dict[str, Any] | None = None,
                 label: str | None = None, toy_cache: str | None = None) -> list[dict[str, Any]]:
    """Per answer, what each accuracy rule reads from it (``selfsynth match``): ours, the verdict,
    why, and every class mention with the cue that negates it; the published rule, every class it
    credits. With ``label``, both rules' verdicts on it."""
    task = build_task(task_name, root, options, cache_dir=toy_cache)
    reader = task.answer_reader()
    if label is not None and label not in reader.classes:
        raise UserError(f"--label {label!r} is not a class of task {task_name!r} (classes: {', '.join(reader.classes)})")
    rows = []
    for answer in answers:
        reading = reader.read(answer)
        ours, paper = reading.as_dict(), {"classes": reader.paper_classes(answer)}
        if label is not None:
            ours["match"] = reading.verdict == label
            paper["match"] = bool(reader.paper_match(answer, label))
        rows.append({"answer": answer, "label": label, "rule": reader.rule, "ours": ours, "paper": paper})
    return rows


def check_dataset(config) -> dict[str, Any]:
    """``selfsynth data``: read a task's dataset (a ``DataConfig``); images per split, classes and
    the unreadable files skipped."""
    task = build_task(config.task, config.root, parse_option_pairs(config.task_options), cache_dir=config.toy_cache)
    splits = {split: len(task.load(split)) for split in ("train", "test")}
    return {"task": task.name, "root": str(task.root), "splits": splits, "num_classes": len(task.class_names()),
            "skipped": list(task.skipped)}


def make_concepts(config) -> dict[str, Any]:
    """``selfsynth concepts``: step 0 on its own (a ``ConceptsConfig``). Asks the endpoint once per
    class (cached beside the output) or imports ``from_json``; writes ``out`` ({class: [concept]}
    in the task's class order) and ``<out>.stats.json``. Returns the statistics written."""
    from selfsynth.io import write_json
    from selfsynth.synth.concepts import ask_llm_concepts, load_concepts_json

    cfg.require(config, "out")
    task = build_task(config.task, config.root, parse_option_pairs(config.task_options), cache_dir=config.toy_cache)
    names = task.class_names()
    out = Path(config.out)
    if config.from_json:
        result = load_concepts_json(config.from_json, names, task.aliases, config.allow_missing)
    else:
        from selfsynth.cache import ResponseCache

        cache = ResponseCache(config.cache or out.parent / "concepts_cache.sqlite")
        result = ask_llm_concepts(names, task.domain, config, cache, allow_missing=config.allow_missing)
    stats = {**result.stats(), "task": task.name, "cost_usd": config.cost(result.prompt_tokens, result.completion_tokens)}
    write_json(out, result.concepts)
    write_json(out.with_name(out.name + ".stats.json"), stats)
    return stats


def export_lmms(config) -> dict[str, Any]:
    """``selfsynth export-lmms``: write a task's splits as a local lmms-eval task (an
    ``ExportLmmsConfig``); returns {include_path, tasks: {lmms task name: rows}, skipped}."""
    from selfsynth.io import claim_output_dir
    from selfsynth.tasks.lmms_bridge.export import export_lmms as write

    cfg.require(config, "out")
    task = build_task(config.task, config.root, parse_option_pairs(config.task_options), cache_dir=config.toy_cache)
    claim_output_dir(config.out, "lmms-export", adopt=("selfsynth_*/utils.py",))
    return write(task, config.out, splits=config.split, max_new_tokens=config.max_new_tokens)


def general_data(config) -> dict[str, Any]:
    """``selfsynth general-data``: LLaVA-Instruct conversations to the general rows of the 1:1
    training mix (a ``GeneralDataConfig``); returns the conversion report."""
    from selfsynth.general_data import convert_llava_instruct

    cfg.require(config, "llava_instruct", "images", "out")
    return dataclasses.asdict(convert_llava_instruct(config.llava_instruct, config.images, config.out))


def html_report(config):
    """``selfsynth report``: the static HTML report of a run folder (a ``ReportConfig``); returns
    what was written (``ReportSummary``)."""
    from selfsynth.reports.html import build_report

    cfg.require(config, "out")
    return build_report(config.out, config.html, experiment=config.experiment, regress=config.regress, title=config.title,
                        judge=config.judge)


def judge(config) -> tuple[dict[str, Any], Path]:
    """``selfsynth judge``: EE, CS and FS of one evaluation folder's answers (a
    ``JudgeCommandConfig``); returns (judge_metrics.json's content, the folder written)."""
    from selfsynth.metrics.grading import grade_folder

    cfg.require(config, "eval_dir")
    return grade_folder(config.eval_dir, config.grading(), task=config.task, concepts=config.concepts, root=config.root,
                        options=parse_option_pairs(config.task_options), out_dir=config.out, cache=config.cache)


def regress(baseline: str | Path, candidate: str | Path, metric: str = "accuracy", max_drop: float | str = 0.0,
            alpha: float | None = None, candidate_out: str | None = None, batch_size: int = 16) -> dict[str, Any]:
    """``selfsynth regress``: compare a candidate with a baseline evaluation folder, sample by
    sample. A candidate that is not an evaluation folder is a checkpoint, first evaluated the way
    the baseline was (``evaluate_like``). Returns the report; ``report["regressed"]`` is the gate."""
    from selfsynth.reports.regress import compare, is_evaluation_folder, load_evaluation

    base = load_evaluation(baseline)
    candidate_dir = candidate
    if not is_evaluation_folder(candidate):
        _, candidate_dir = evaluate_like(base.folder, str(candidate), out=candidate_out, batch_size=batch_size)
    return compare(base, load_evaluation(candidate_dir), metric, max_drop, alpha)


def scaffold_method(config) -> list[Path]:
    """``selfsynth new-method``: write a method plugin package (a ``NewMethodConfig``); returns the
    files written."""
    from selfsynth.scaffold import scaffold_method as write

    cfg.require(config, "name")
    return write(config.name, config.out, config.description)


def paper_table(config) -> tuple[str, Path | None, list[Path]]:
    """``selfsynth table``: one of the paper's tables from stored results (a ``TableConfig``),
    rendered; with ``plots``, the figures too. Returns (the table text, the plots folder or None,
    the plot files written). No model is loaded."""
    from selfsynth.io import claim_output_dir
    from selfsynth.reports.tables import build_table, load_store, render

    cfg.require(config, "out")
    store = load_store(config.out, config.experiment)
    text = render(build_table(config.number, config.out, metric=config.metric, ci=config.ci, store=store), config.format)
    if not config.plots:
        return text, None, []
    from selfsynth.reports.plots import write_plots

    plots_dir = claim_output_dir(config.plots_dir or Path(config.out[0]) / "plots", "plots", flag="--plots-dir")
    return text, Path(plots_dir), write_plots(store, plots_dir, metric=config.metric)
