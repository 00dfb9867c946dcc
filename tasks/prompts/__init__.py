"""Domain prompts kept as data: ``tasks/prompts/<domain>.yaml``, overridable by a user's YAML.

Every file has exactly these keys: ``describe`` (step 1 description prompts), ``simple``,
``explain`` and ``cot`` (question pools for steps 3+; ``explain[0]`` is the evaluation question)
and ``label_sentence`` (one sentence stating the label, with a ``{label}`` placeholder). Optional:
``yes_no``, a yes/no evaluation question for a task that asks one (chest_xray's ``question=yesno``).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from selfsynth.errors import UserError
from selfsynth.tasks.base import Prompts

PROMPT_DIR = Path(__file__).resolve().parent
DOMAINS = tuple(sorted(p.stem for p in PROMPT_DIR.glob("*.yaml")))  # one YAML file per domain
_LIST_KEYS = ("describe", "simple", "explain", "cot")
_KEYS = (*_LIST_KEYS, "label_sentence")
_OPTIONAL_KEYS = ("yes_no",)


def prompt_path(domain: str) -> Path:
    return PROMPT_DIR / f"{domain}.yaml"


def load_prompts(domain: str, override_path: str | Path | None = None) -> Prompts:
    """The prompts of ``domain``; ``override_path`` replaces the built-in file entirely."""
    if override_path is not None:
        path = Path(override_path)
        if not path.is_file():
            raise UserError(f"prompt file {path} does not exist (expected a YAML file with keys {', '.join(_KEYS)})")
    else:
        path = prompt_path(domain)
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in PROMPT_DIR.glob("*.yaml")))
            raise UserError(f"no prompts for domain {domain!r} (expected {path}; known domains: {known})")
    from selfsynth.io import read_user_text

    try:
        data = yaml.safe_load(read_user_text(path, f"a YAML prompt file with keys {', '.join(_KEYS)}"))
    except yaml.YAMLError as exc:
        raise UserError(f"prompt file {path} is not valid YAML: {exc}") from exc
    return _validate(domain, data, path)


def _validate(domain: str, data: object, path: Path) -> Prompts:
    if not isinstance(data, dict):
        raise UserError(f"prompt file {path}: expected a mapping with keys {', '.join(_KEYS)}")
    missing = [k for k in _KEYS if k not in data]
    unknown = sorted(set(data) - set(_KEYS) - set(_OPTIONAL_KEYS))
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing keys {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown keys {', '.join(unknown)}")
        raise UserError(f"prompt file {path}: {'; '.join(parts)} (expected exactly {', '.join(_KEYS)}; optional: {', '.join(_OPTIONAL_KEYS)})")
    for key in _LIST_KEYS:
        value = data[key]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            raise UserError(f"prompt file {path}: {key!r} must be a non-empty list of non-empty strings")
    sentence = data["label_sentence"]
    if not isinstance(sentence, str) or "{label}" not in sentence:
        raise UserError(f"prompt file {path}: 'label_sentence' must be a string containing the placeholder {{label}}")
    yes_no = data.get("yes_no")
    if yes_no is not None and (not isinstance(yes_no, str) or not yes_no.strip()):
        raise UserError(f"prompt file {path}: 'yes_no' must be a non-empty question")
    return Prompts(
        domain=domain,
        describe=[v.strip() for v in data["describe"]],
        simple=[v.strip() for v in data["simple"]],
        explain=[v.strip() for v in data["explain"]],
        cot=[v.strip() for v in data["cot"]],
        label_sentence=sentence.strip(),
        yes_no=yes_no.strip() if yes_no else None,
    )


def prompts_hash(prompts: Prompts) -> str:
    """Short content hash, recorded with results so a prompt change is visible."""
    payload = json.dumps(
        {k: getattr(prompts, k) for k in _KEYS} | {k: getattr(prompts, k) for k in _OPTIONAL_KEYS if getattr(prompts, k, None)},
        sort_keys=True, ensure_ascii=False
    ).encode("utf-8")
    return hashlib.sha256(payload).hexdigest()[:12]
