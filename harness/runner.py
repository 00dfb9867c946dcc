"""The iteration loop every method shares: build data → train → merge → evaluate, per iteration.

A method is a ``Runner`` subclass that says how its training data is built for iteration r
(``build_data``); everything else — the run store, resume, seeds, training, merging, evaluation
and the results file — lives here. Runners compose pieces of ``harness`` and never import each
other.
"""
from __future__ import annotations

import abc
import contextlib
import dataclasses
import logging
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any, ClassVar

from selfsynth import config as cfg
from selfsynth.cache import ResponseCache
from selfsynth.configs.run import RunConfig  # re-exported: `from selfsynth.runner import RunConfig` keeps working
from selfsynth.errors import UserError
from selfsynth.io import read_jsonl, write_json, write_jsonl
from selfsynth.results import run_results_path
from selfsynth import schema
from selfsynth.store import RunStore
from selfsynth.tasks.base import Sample, Task, split_seed, subset

SHARED = "_shared"  # method-independent steps (descriptions, selection) of one task
LOG_FILE = "run.log"  # per run unit: the Trainer's per-step log dictionaries and our step lines
WARNINGS_LOGGER = "py.warnings"  # where Python warnings are logged (the name logging.captureWarnings uses)


class LazyModel:
    """A generation model that loads on first use. Its fingerprint and engine come from the files
    and the config, so a stage whose output is already on disk (e.g. the base model's
    descriptions, checked every iteration) costs no model load."""

    def __init__(self, path: str, generate_config: Any):
        from selfsynth.models import model_fingerprint

        self.path = path
        self.fingerprint = model_fingerprint(path)
        self.engine = generate_config.engine
        self._config = generate_config
        self._loaded: Any = None

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def __getattr__(self, name: str) -> Any:  # only for attributes not set above: load, delegate
        if name.startswith("__") or name in ("_loaded", "_config"):
            raise AttributeError(name)
        if self._loaded is None:
            from selfsynth.generate import load_generator

            self._loaded = load_generator(self.path, self._config)
        return getattr(self._loaded, name)

    def close(self) -> None:
        if self._loaded is not None:
            self._loaded.close()
            self._loaded = None


def _log_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` while a run lasts: the warning as Python would print it, logged
    at WARNING to ``WARNINGS_LOGGER`` (run.log's handler is on it)."""
    text = warnings.formatwarning(message, category, filename, lineno, line)
    logging.getLogger(WARNINGS_LOGGER).warning("%s", text.rstrip())


class Runner(abc.ABC):
    """Base of every method. Subclasses set ``name`` and implement ``build_data``.

    The API a method may use (stable; docs/add_a_method.md shows it in use):

    - ``self.config`` (``RunConfig``), ``self.task`` (``selfsynth.tasks.base.Task``),
      ``self.train_samples`` / ``self.test_samples`` (``Sample``: ``id``, ``image_path``,
      ``label``; the ``--limit`` subsets, training images as the model sees them);
    - ``prompts()``: the domain's question pools and label sentence;
    - ``class_concepts()``: step 0, a ``ConceptSet`` (``.concepts`` {class: [concept]},
      ``.for_class(label)``);
    - ``selected_concepts()``: steps 1–2 with the base model, {image id: [concept]} (a plain dict);
    - ``synthesized_data(iteration, model_path, out_dir, image_concepts, mode)``: the paper's step 3
      at iteration 1 and rejection sampling after it, returning training rows;
    - ``iteration_seed(iteration)``: a seed for the method's own random choices;
    - ``load_lm(model_path)``: a generation model for ``selfsynth.generate.generate``.
    Everything else (store, resume, training, merging, evaluation) is the shared loop's.
    """

    name: ClassVar[str] = ""  # must equal the key it is registered under (checked by the registry)
    display_name: ClassVar[str] = ""  # what tables and the report call it (default: name)
    trains: ClassVar[bool] = True  # False for zero-shot methods: only iteration 0 is evaluated
    # False when build_data never calls class_concepts(): a run then needs no --concepts and no
    # concept-LLM key (checked before any model loads, selfsynth.api.check_inputs)
    uses_concepts: ClassVar[bool] = True
    # what build_data generates, for cost estimates (`selfsynth reproduce --dry-run`): step-1
    # descriptions of every training image, and model answers (rewriting, rejection sampling)
    describes_images: ClassVar[bool] = False
    generates_data: ClassVar[bool] = True

    def __init__(self, config: RunConfig, task: Task, store: RunStore, cache: ResponseCache, base_model: str):
        self.config = config
        self.test_limit = config.test_limit if config.test_limit is not None else config.limit
        self.task = task
        self.store = store
        self.cache = cache
        self.base_model = base_model
        if self.trains:  # a batch that cannot match the global batch fails now, not after synthesis
            from selfsynth.models import distributed_state
            from selfsynth.train import check_global_batch

            check_global_batch(config.train, distributed_state().num_processes)
        # the test subset is the one `selfsynth eval --limit --seed` picks, so records join
        self.train_samples = subset(task.load("train"), config.limit, split_seed(config.seed, "train"))
        self.test_samples = subset(task.load("test"), self.test_limit, split_seed(config.seed, "test"))
        if not self.train_samples and self.trains:
            raise UserError(f"{task.root}: task {task.name!r} has no training images")
        if not self.test_samples:
            raise UserError(f"{task.root}: task {task.name!r} has no test images")
        if self.trains:
            self.train_samples = self.model_view(self.train_samples)
        self._lm_cache: dict[str, Any] = {}

    # -- what a method defines --------------------------------------------------------------
    @abc.abstractmethod
    def build_data(self, iteration: int, model_path: str, out_dir: Path) -> list[dict[str, Any]]:
        """Training rows for ``iteration`` (1-based), built with ``model_path`` (the base model at
        iteration 1, then the previous iteration's merged model). Files written under ``out_dir``
        are kept in the run store.

        A training row is a dict: ``id`` (the sample id), ``image`` (the path to train on: the
        sample's ``image_path``), ``question`` (the user turn, without the image token) and
        ``answer`` (the assistant turn the loss is computed on). Other JSON-able keys (e.g.
        ``question_type``) are kept in ``train.jsonl`` for analysis and ignored by training."""

    def model_view(self, samples: list[Sample]) -> list[Sample]:
        """``samples`` with each image as the task shows it to the model (``open_image``, e.g.
        FGVC's banner crop) written once as a lossless PNG, so synthesis and training see what
        evaluation sees. Tasks that show the file as it is get their samples back unchanged.
        (Evaluation keeps the original samples: ``selfsynth.evaluate`` applies ``open_image`` itself.)"""
        import hashlib

        from tqdm.auto import tqdm

        from selfsynth.io import atomic_open
        from selfsynth.synth.stage import samples_digest
        from selfsynth.tasks.common import has_custom_image_loader

        if not has_custom_image_loader(self.task):
            return samples
        loader = f"{type(self.task).__module__}.{type(self.task).__qualname__}"
        digest = hashlib.sha256(f"{loader}:{samples_digest(samples)}".encode()).hexdigest()[:12]
        folder = self.store.unit_dir(self.task.name, SHARED) / "model_images" / digest
        folder.mkdir(parents=True, exist_ok=True)
        shown = []
        for index, sample in enumerate(tqdm(samples, desc=f"{self.task.name} model-view images", unit="img")):
            path = folder / f"{index:06d}.png"  # the digest covers the ids and their order
            if not path.is_file():  # written atomically: present means complete
                with atomic_open(path, "wb", encoding=None) as handle:
                    self.task.open_image(sample).save(handle, format="PNG")
            shown.append(dataclasses.replace(sample, image_path=str(path)))
        return shown

    # -- helpers methods compose ------------------------------------------------------------
    def prompts(self):
        """The domain's prompts (``--prompts`` overrides them): question pools ``simple``,
        ``explain``, ``cot`` (lists of str; ``explain[0]`` is the evaluation question),
        ``describe``, and ``label_sentence`` (a format string with ``{label}``)."""
        from selfsynth.tasks.prompts import load_prompts

        return load_prompts(self.task.domain, self.config.prompts)

    def load_lm(self, model_path: str):
        """One model at a time (CPU memory), reused across steps of the same iteration; its weights
        load only when a step has something to generate (``LazyModel``)."""
        if model_path not in self._lm_cache:
            self.release_lm()
            self._lm_cache[model_path] = LazyModel(model_path, self.config.generate)
        return self._lm_cache[model_path]

    def release_lm(self) -> None:
        """Drop the loaded model (a vLLM engine is stopped, so training gets its GPU memory)."""
        for lm in self._lm_cache.values():
            lm.close()
        self._lm_cache.clear()

    def shared_dir(self) -> Path:
        """Method-independent synthesis files of this task (concepts, base-model descriptions,
        selection), shared by the methods that need them. The folder is keyed by everything they
        depend on, so runs with another base model, subset or synthesis setting never mix; each
        stage inside also checks its own input fingerprint before reusing a file."""
        import hashlib

        from selfsynth.cache import canonical_json
        from selfsynth.models import model_fingerprint
        from selfsynth.synth.stage import samples_digest

        key = canonical_json({
            "model": model_fingerprint(self.base_model),
            "train": samples_digest(self.train_samples),
            "synth": cfg.to_dict(self.config.synth),
            "concepts": self.config.concepts,
            "prompts": self.config.prompts,
        })
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
        path = self.store.unit_dir(self.task.name, SHARED) / digest
        path.mkdir(parents=True, exist_ok=True)
        return path

    def class_concepts(self):
        """Step 0: a ``ConceptSet`` (``.concepts`` {class: [concept]}, ``.for_class(label)``),
        imported from ``--concepts`` or asked of the concept LLM (cached)."""
        from selfsynth.synth import class_concepts

        return class_concepts(
            self.task.class_names(), self.task.domain, self.config.synth, self.cache, self.shared_dir(),
            json_path=self.config.concepts, aliases=self.task.aliases,
            allow_missing=self.config.concepts_allow_missing,
        )

    def selected_concepts(self) -> dict[str, list[str]]:
        """Steps 1–2 with the base model: a dict {image id: [selected concept, best first]}
        (descriptions and selection are cached per task and shared by the methods using them)."""
        from selfsynth.synth import describe_images, select_image_concepts

        concepts = self.class_concepts()
        lm = self.load_lm(self.base_model)
        descriptions = describe_images(lm, self.train_samples, self.prompts(), self.config.synth, self.cache, self.shared_dir())
        return select_image_concepts(self.train_samples, descriptions, concepts, self.config.synth, self.shared_dir())

    def synthesized_data(self, iteration: int, model_path: str, out_dir: Path, image_concepts: dict[str, list[str]], mode: str) -> list[dict[str, Any]]:
        """Training rows (see ``build_data``). Iteration 1: step-3 rewriting by ``model_path`` with
        ``image_concepts`` ({image id: [concept]}) in the hidden context; iterations ≥ 2: candidates
        from ``model_path`` kept by the rejection ``mode`` ("infonce", "random" or "label", see
        ``selfsynth.synth.reject``)."""
        from selfsynth.synth import rejection_sample, rewrite_answers

        lm = self.load_lm(model_path)
        synth = self.config.synth
        if iteration == 1:
            return rewrite_answers(lm, self.task, self.train_samples, image_concepts, self.prompts(), synth, self.cache, out_dir)
        return rejection_sample(
            lm, self.task, self.train_samples, image_concepts, self.class_concepts(), self.prompts(), synth, self.cache,
            out_dir, mode=mode, iteration=iteration,
        )

    def iteration_seed(self, iteration: int) -> int:
        """A seed for ``iteration``'s own random choices, derived from ``--seed`` (training uses it too)."""
        return self.config.seed * 1000 + iteration

    # -- the loop ----------------------------------------------------------------------------
    def results_path(self) -> Path:
        return run_results_path(self.store.unit_dir(self.task.name, self.name))

    def run(self) -> dict[str, Any]:
        from selfsynth.tracking import RunTracker

        unit = self.store.unit_dir(self.task.name, self.name)
        name = unit.relative_to(self.store.root).as_posix()
        self._tracker = RunTracker(self.config.train.report_to, unit, name, cfg.to_dict(self.config))
        with self._log_file():
            self._tracker.open()
            try:
                results = self._run()
            except BaseException:
                self._tracker.close(failed=True)
                raise
            self._tracker.close()
            return results

    @contextlib.contextmanager
    def _log_file(self):
        """Our loggers write to ``<unit>/run.log`` while the run lasts (the Trainer's per-step
        dictionaries go there, not to the terminal); their warnings still reach stderr. Python
        warnings raised meanwhile (libraries' deprecation notices, e.g. one from transformers after
        every training) go to run.log only, so the terminal keeps one line per finished step."""
        unit = self.store.unit_dir(self.task.name, self.name)
        unit.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(unit / LOG_FILE, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.WARNING)
        logger = logging.getLogger("selfsynth")
        previous_level = logger.level
        logger.setLevel(logging.INFO)
        logger.addHandler(file_handler)
        warnings_logger = logging.getLogger(WARNINGS_LOGGER)
        warnings_logger.addHandler(file_handler)
        if not logging.getLogger().handlers:  # nobody else prints warnings: keep them visible
            logger.addHandler(console)
        from selfsynth.models import quiet_model_loading

        try:
            # catch_warnings restores the filters and showwarning on exit
            with quiet_model_loading(), warnings.catch_warnings():
                warnings.showwarning = _log_warning
                yield
        finally:
            warnings_logger.removeHandler(file_handler)
            logger.removeHandler(file_handler)
            logger.removeHandler(console)
            logger.setLevel(previous_level)
            file_handler.close()

    def _step(self, iteration: int, step: str, fn, items_key: str):
        """``store.run_step`` plus one progress line: method, iteration, step, items and items/s."""
        label = f"{self.task.name}/{self.name} seed {self.config.seed} · iter {iteration} · {step}"
        started = time.time()
        result = self.store.run_step(self.task.name, self.name, iteration, step, fn)
        if result.skipped:
            line = f"{label}: done earlier, reused"
        else:
            seconds = max(time.time() - started, 1e-9)
            items = result.info.get(items_key)
            rate = f", {items / seconds:.2f} items/s" if isinstance(items, (int, float)) else ""
            line = f"{label}: {items if items is not None else '?'} items in {seconds:.1f} s{rate}"
        logging.getLogger("selfsynth.runner").info(line)
        print(line, file=sys.stderr, flush=True)
        return result

    def _run(self) -> dict[str, Any]:
        started = time.time()
        iterations = self.config.iterations if self.trains else 0
        results = {
            "schema_version": schema.RUN_RESULTS,
            "task": self.task.name,
            "method": self.name,
            "base_model": self.base_model,
            "limit": self.config.limit,
            "test_limit": self.test_limit,
            "seed": self.config.seed,
            "n_train": len(self.train_samples),
            "n_test": len(self.test_samples),
            "config": cfg.to_dict(self.config),
            "iterations": [],
        }
        if self._tracker.location:  # where the curves are, said once before the first step
            results["curves"] = self._tracker.location
            print(f"{self.task.name}/{self.name} seed {self.config.seed} · curves: {self._tracker.location}", file=sys.stderr, flush=True)
        if self.config.general:  # every local copy is checked now, not after hours of training
            from selfsynth.metrics.general import resolve_run_data

            general_data = resolve_run_data(self.config.general, self.config.general_root, self.task.name, self.config.toy_cache)
        model_path = self.base_model
        for iteration in range(0, iterations + 1):
            record: dict[str, Any] = {"iteration": iteration}
            if iteration > 0:
                data_step = self._step(
                    iteration, "data", lambda path, it=iteration, mp=model_path: self._data_step(it, mp, path), "n_examples",
                )
                train_step = self._step(
                    iteration, "train",
                    lambda path, it=iteration, mp=model_path, dp=data_step.path: self._train_step(it, mp, dp, path), "n_examples",
                )
                model_path = str(train_step.path / "merged")
                record["data"] = data_step.info
                record["train"] = train_step.info
            eval_step = self._step(iteration, "eval", lambda path, mp=model_path: self._eval_step(mp, path), "n")
            record["model"] = model_path
            record["metrics"] = eval_step.info
            record["records"] = str((eval_step.path / "records.jsonl").relative_to(self.store.root))
            if self.config.judge:
                # its own step per judge: grading with another judge later never reuses this one
                judge_step = self._step(
                    iteration, f"judge_{self.config.judge}", lambda path, ep=eval_step.path: self._judge_step(ep, path), "n",
                )
                record["judge"] = judge_step.info
            self._tracker.log_iteration(iteration, record)
            results["iterations"].append(record)
            results["wall_seconds"] = round(time.time() - started, 2)
            # what this invocation computed vs. found finished (resume provenance)
            results["invocation"] = {"computed": list(self.store.computed), "reused": list(self.store.reused)}
            write_json(self.results_path(), results)  # after every iteration, not only at the end
        if self.config.general:
            results["general"] = self._general_steps(general_data, model_path, iterations)
            write_json(self.results_path(), results)
        return results

    def _general_steps(self, data: Path, final_model: str, final_iteration: int) -> dict[str, Any]:
        """General ability (lmms-eval) of the base model and the final merged model, as a
        ``general`` step beside each one's ``eval``."""
        from selfsynth.metrics.general import run_general, run_summary

        paths = {}
        for iteration, model in {0: self.base_model, final_iteration: final_model}.items():
            self.release_lm()  # lmms-eval loads the model in its own process
            step = self._step(iteration, "general", lambda path, m=model: run_general(
                m, self.config.general, data, path, self.config.general_limit, self.config.eval_batch_size, self.config.seed), "n_benchmarks")
            paths[iteration] = step.path
        return run_summary(paths[0], paths[final_iteration] if final_iteration else None, self.store.root)

    def _data_step(self, iteration: int, model_path: str, path: Path) -> dict[str, Any]:
        rows = self.build_data(iteration, model_path, path)
        if not rows:
            raise UserError(f"method {self.name!r} built no training data for iteration {iteration}")
        write_jsonl(path / "train.jsonl", rows)
        return {"n_examples": len(rows), "n_images": len({r["id"] for r in rows})}

    def _train_step(self, iteration: int, model_path: str, data_dir: Path, path: Path) -> dict[str, Any]:
        from selfsynth.models import merge_adapter
        from selfsynth.train import train

        rows = read_jsonl(data_dir / "train.jsonl")
        from selfsynth.tracking import train_log_dir

        train_cfg = dataclasses.replace(self.config.train, seed=self.iteration_seed(iteration))
        self.release_lm()
        # a killed attempt's event files would add a second curve: the folder is ours, start it afresh
        log_dir = train_log_dir(self.store.unit_dir(self.task.name, self.name), iteration)
        shutil.rmtree(log_dir, ignore_errors=True)
        with self._tracker.training(iteration) as tracker_run:  # wandb / mlflow: one tracker run per training
            result = train(model_path, rows, path / "adapter", train_cfg, desc=f"{self.name} iter {iteration} train",
                           log_dir=log_dir, tracker_run=tracker_run)
        merge_adapter(model_path, str(path / "adapter"), str(path / "merged"))
        return {"n_examples": len(rows), **_train_summary(result)}

    def _eval_step(self, model_path: str, path: Path) -> dict[str, Any]:
        from selfsynth.evaluate import evaluate

        lm = self.load_lm(model_path)
        metrics = evaluate(
            self.task, self.test_samples, lm, path, cache=self.cache,
            max_new_tokens=self.config.eval_max_new_tokens, batch_size=self.config.eval_batch_size,
            prompts=self.prompts(),
            # as `selfsynth eval` records them, so `selfsynth regress` can compare the two
            extra={"split": "test", "limit": self.test_limit, "seed": self.config.seed, "root": str(self.task.root),
                   "task_options": list(self.config.task_options), "prompts": self.config.prompts},
        )
        return metrics


    def _judge_step(self, eval_dir: Path, path: Path) -> dict[str, Any]:
        """EE, CS and FS of this iteration's evaluation answers (``selfsynth.metrics.grading``); the
        judge and the reference LM are loaded once per process, and only when a result is not cached."""
        from selfsynth.metrics.grading import judge_evaluation, run_references, shared_grader, summary

        grader = shared_grader(self.config.judge, self.config.fluency_model, self.config.judging, self.cache)
        concepts = None if self.task.has_image_concepts else dict(getattr(self.class_concepts(), "concepts", {}))
        metrics = judge_evaluation(eval_dir, grader, run_references(self.task, concepts), path, progress=True)
        return summary(metrics)


def _train_summary(result: Any) -> dict[str, Any]:
    summary = {}
    for key in ("final_loss", "first_loss", "steps", "seconds"):
        value = getattr(result, key, None)
        if value is not None:
            summary[key] = value
    return summary
