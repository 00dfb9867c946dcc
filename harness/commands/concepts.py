"""`selfsynth concepts`: step 0 on its own — the class concepts file a run's ``--concepts`` reads.

Either asks an OpenAI-compatible endpoint once per class (``selfsynth.synth.concepts``: cached,
retried, token use and cost reported), or imports a public descriptor file ``{class: [concept]}``
(``--from-json``), matching its keys to the task's class names and aliases. Writes ``--out``
(``{class name: [concept, ...]}`` in the task's class order) and ``<out>.stats.json`` beside it.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, help="task name (see `selfsynth ls tasks`)")
    parser.add_argument("--root", default=None, metavar="DIR", help="dataset folder (for its class names); default: the task's (toy: the generated toy dataset)")
    parser.add_argument("--option", dest="task_options", action="append", default=[], metavar="KEY=VALUE", help="task option, repeatable")
    parser.add_argument("--out", required=True, metavar="FILE", help="concepts JSON to write (then pass it to `selfsynth run --concepts`)")
    parser.add_argument("--from-json", "--from_json", dest="from_json", default=None, metavar="FILE",
                        help="import a descriptor file {class name: [concept, ...]} instead of asking an LLM")
    parser.add_argument("--allow-missing", "--allow_missing", dest="allow_missing", action="store_true",
                        help="write the file even if some classes got no concept (a run then needs --concepts_allow_missing)")
    llm = parser.add_argument_group("concept LLM (OpenAI-compatible endpoint; ignored with --from-json)")
    llm.add_argument("--model", default="gpt-4o", help="model asked once per class (paper: GPT-4o)")
    llm.add_argument("--base-url", "--base_url", dest="base_url", default=None, metavar="URL",
                     help="endpoint base URL (OpenAI, Azure, vLLM, SGLang, llama.cpp, Ollama...); default: the openai client's")
    llm.add_argument("--api-key-env", "--api_key_env", dest="api_key_env", default="OPENAI_API_KEY", metavar="VAR",
                     help="environment variable holding the API key")
    llm.add_argument("--temperature", type=float, default=0.0, help="sampling temperature")
    llm.add_argument("--max-tokens", "--max_tokens", dest="max_tokens", type=int, default=512, help="max tokens of one answer")
    llm.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    llm.add_argument("--cache", default=None, metavar="SQLITE",
                     help="response cache (default concepts_cache.sqlite beside --out): a re-run asks nothing")
    llm.add_argument("--price-input-per-mtok", "--price_input_per_mtok", dest="price_in", type=float, default=None,
                     help="USD per million prompt tokens; with the output price, the cost is reported")
    llm.add_argument("--price-output-per-mtok", "--price_output_per_mtok", dest="price_out", type=float, default=None,
                     help="USD per million completion tokens")
    parser.add_argument("--json", action="store_true", help="print the statistics as JSON")


def run(args: argparse.Namespace) -> int:
    from selfsynth.api import build_task, parse_option_pairs
    from selfsynth.io import write_json
    from selfsynth.synth.concepts import ask_llm_concepts, load_concepts_json
    from selfsynth.synth.config import SynthConfig

    task = build_task(args.task, args.root, parse_option_pairs(args.task_options))
    names = task.class_names()
    out = Path(args.out)
    if args.from_json:
        result = load_concepts_json(args.from_json, names, task.aliases, args.allow_missing)
    else:
        from selfsynth.cache import ResponseCache

        synth = SynthConfig(
            concept_model=args.model, concept_base_url=args.base_url, concept_api_key_env=args.api_key_env,
            concept_temperature=args.temperature, concept_max_tokens=args.max_tokens, concept_concurrency=args.concurrency,
        )
        cache = ResponseCache(args.cache or out.parent / "concepts_cache.sqlite")
        result = ask_llm_concepts(names, task.domain, synth, cache, allow_missing=args.allow_missing)
    stats = {**result.stats(), "task": task.name, "cost_usd": result.cost_usd(args.price_in, args.price_out)}
    write_json(out, result.concepts)
    write_json(out.with_name(out.name + ".stats.json"), stats)
    if args.json:
        print(json.dumps(stats, sort_keys=True))
        return 0
    print(f"{out}: {stats['classes']} classes, {stats['concepts_total']} concepts "
          f"({stats['concepts_per_class_mean']:.1f} per class) from {stats['source']}")
    if result.missing:
        print(f"  no concepts for {len(result.missing)} classes, e.g. {result.missing[0]!r}")
    if result.unmatched_keys:
        print(f"  {len(result.unmatched_keys)} keys named no class, e.g. {result.unmatched_keys[0]!r}")
    if not args.from_json:
        cost = f", ${stats['cost_usd']:.4f}" if stats["cost_usd"] is not None else ""
        print(f"  requests sent: {result.calls} ({len(names) - result.calls} cached), tokens {result.prompt_tokens}+{result.completion_tokens}{cost}")
    return 0
