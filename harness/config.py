"""Config dataclasses → YAML files and CLI flags (the TRL pattern).

Every field of a config dataclass carries a type, a default and ``metadata={"help": ...}``. A run's
config is resolved in three layers: dataclass defaults < ``--config run.yaml`` < explicit flags.
Nested dataclasses become YAML sections and dotted flags (``--train.learning_rate 2e-3``).
Unknown keys and values of the wrong type are errors that name their source.
"""
from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from selfsynth.errors import UserError


_BOUNDS = {"gt": (">", lambda v, b: v > b), "ge": (">=", lambda v, b: v >= b),
           "lt": ("<", lambda v, b: v < b), "le": ("<=", lambda v, b: v <= b)}


def field(default: Any = dataclasses.MISSING, *, help: str, default_factory: Any = dataclasses.MISSING,
          gt: float | None = None, ge: float | None = None, lt: float | None = None, le: float | None = None,
          flags: tuple[str, ...] = (), repeat_flag: str | None = None, positional: bool | str = False,
          switch: bool = False, required: bool = False, metavar: str | None = None) -> Any:
    """A documented dataclass field: ``lr: float = field(1e-5, help="peak learning rate", gt=0)``.

    ``gt``/``ge``/``lt``/``le`` are bounds that ``check_fields`` enforces when the config is built
    (``None`` values are not checked: they mean "not set"). The rest shapes the generated flag:
    ``flags`` are extra names (``("output_path",)`` adds ``--output_path``); ``repeat_flag`` adds a
    repeatable flag that appends to a list field (``--option A=1 --option B=2``; the field's own
    name makes its flag itself repeatable); ``positional`` makes it an argument (``"+"``: one or
    more, ``"?"``: optional); ``switch`` a bool flag taking no value; ``required`` a flag the
    command line must give; ``metavar`` the value's name in ``--help``. A value the command line
    must give defaults to ``None`` (the library function checks it with ``require``)."""
    bounds = {name: value for name, value in (("gt", gt), ("ge", ge), ("lt", lt), ("le", le)) if value is not None}
    cli = {"flags": tuple(flags), "repeat_flag": repeat_flag, "positional": positional, "switch": switch,
           "required": required, "metavar": metavar}
    kwargs: dict[str, Any] = {"metadata": {"help": help, "bounds": bounds, "cli": cli}}
    if default_factory is not dataclasses.MISSING:
        kwargs["default_factory"] = default_factory
    else:
        kwargs["default"] = default
    return dataclasses.field(**kwargs)


def require(obj: Any, *names: str) -> None:
    """One line naming the settings of ``obj`` that are required and not given (``None`` or empty),
    for a config built from Python rather than from the command line, which enforces them."""
    missing = [name for name in names if getattr(obj, name) in (None, "", [])]
    if missing:
        raise UserError(f"{type(obj).__name__}: {', '.join(missing)} must be given")


def check_fields(obj: Any) -> None:
    """Raise ValueError when a field of the dataclass ``obj`` is outside its ``Literal`` choices or
    its bounds. Config classes call it from ``__post_init__``, so a bad value fails when the config
    is built (before any model loads), also when built from Python rather than from a file."""
    hints = _hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is None:
            continue
        choices = _choices(hints[f.name])
        if choices is not None and value not in choices:
            raise ValueError(f"{f.name} {value!r}: expected one of {', '.join(map(str, choices))}")
        for name, bound in f.metadata.get("bounds", {}).items():
            symbol, holds = _BOUNDS[name]
            if not holds(value, bound):
                raise ValueError(f"{f.name} {value!r}: expected {symbol} {bound}")


def _choices(tp: Any) -> tuple[Any, ...] | None:
    base, _ = _unwrap_optional(tp)
    return typing.get_args(base) if typing.get_origin(base) is typing.Literal else None


def _bounds_text(f: dataclasses.Field) -> str:
    bounds = f.metadata.get("bounds", {})
    return ", ".join(f"{_BOUNDS[name][0]} {value}" for name, value in bounds.items())


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _is_config(tp: Any) -> bool:
    return dataclasses.is_dataclass(tp) and isinstance(tp, type)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    base, optional = _unwrap_optional(tp)
    if value is None:
        if optional:
            return None
        raise UserError(f"{where}: null given, expected {getattr(base, '__name__', base)}")
    origin = typing.get_origin(base)
    try:
        if base is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in {"true", "1", "yes", "on", "false", "0", "no", "off"}:
                return value.lower() in {"true", "1", "yes", "on"}
            raise ValueError(value)
        if base is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if base is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if base is str:
            if isinstance(value, (dict, list)):
                raise ValueError(value)
            return str(value)
        if origin in (list, tuple):
            (item_tp, *_) = typing.get_args(base) or (Any,)
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, (list, tuple)):
                raise ValueError(value)
            items = [_coerce(v, item_tp, where) if item_tp is not Any else v for v in value]
            return items if origin is list else tuple(items)
        if origin is dict or base is dict:
            if not isinstance(value, dict):
                raise ValueError(value)
            return dict(value)
        if origin is typing.Literal:
            choices = typing.get_args(base)
            if value in choices:
                return value
            # YAML reads `bf16: true` as a bool; the choice is the string "true"
            spelled = str(value).lower() if isinstance(value, bool) else value
            if spelled in choices:
                return spelled
            raise ValueError(value)
    except (TypeError, ValueError):
        if origin is typing.Literal:
            expected = "one of " + ", ".join(map(str, typing.get_args(base)))
        else:
            expected = "a valid " + getattr(base, "__name__", str(base))
        raise UserError(f"{where}: {value!r} is not {expected}") from None
    return value


def from_dict(cls: type, data: dict[str, Any] | None, source: str = "config") -> Any:
    """Build ``cls`` from a (nested) dict; unknown keys are errors naming ``source``."""
    data = dict(data or {})
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        import difflib

        hints_text = []
        for key in unknown:
            close = difflib.get_close_matches(key, sorted(names), n=1)
            hints_text.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        valid = ", ".join(sorted(names)) or "none"
        raise UserError(f"{source}: unknown key(s) {', '.join(hints_text)} for {cls.__name__} (valid: {valid})")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        tp = hints[f.name]
        where = f"{source}: {f.name}"
        if _is_config(tp):
            value = data[f.name]
            if not isinstance(value, dict):
                raise UserError(f"{where}: expected a mapping (section), got {type(value).__name__}")
            kwargs[f.name] = from_dict(tp, value, f"{source}: {f.name}")
        else:
            kwargs[f.name] = _coerce(data[f.name], tp, where)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{source}: {exc}") from None


def to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


def _deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    from selfsynth.io import read_mapping

    return read_mapping(path, "a config file: a mapping of config keys")


def add_arguments(parser: argparse.ArgumentParser, cls: type, prefix: str = "", skip: tuple[str, ...] = ()) -> None:
    """One flag per field (``--name`` or ``--section.name``), generated from the dataclass. The
    fields a config inherits from a shared section (a base class with a ``SECTION`` title, see
    ``selfsynth.configs.sections``) are listed under that title.

    Defaults are suppressed so that only flags the user typed override the YAML layer."""
    hints = _hints(cls)
    groups: dict[type, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        tp = hints[f.name]
        name = f"{prefix}{f.name}"
        if _is_config(tp):
            add_arguments(parser, tp, prefix=f"{name}.")
            continue
        section = _section_of(cls, f.name) if not prefix else None
        if section is not None and section not in groups:
            groups[section] = parser.add_argument_group(section.SECTION)
        _add_field(groups.get(section, parser), f, tp, name)


def _section_of(cls: type, name: str) -> type | None:
    """The shared section (a base class with a ``SECTION`` title) that declared field ``name``."""
    for base in reversed(cls.__mro__):
        if name in vars(base).get("__annotations__", {}):
            return base if "SECTION" in vars(base) else None
    return None


def _add_field(parser: argparse.ArgumentParser, f: dataclasses.Field, tp: Any, name: str) -> None:
    cli = f.metadata.get("cli", {})
    base, _ = _unwrap_optional(tp)
    choices = _choices(tp)
    if cli.get("metavar"):
        metavar = cli["metavar"]
    elif choices is not None:
        metavar = "{" + ",".join(map(str, choices)) + "}"
    else:
        metavar = "BOOL" if base is bool else getattr(base, "__name__", "VALUE").upper()
    help_text = f.metadata.get("help", "").replace("%", "%%")  # argparse formats help with %
    if cli.get("positional"):
        nargs = cli["positional"] if isinstance(cli["positional"], str) else None
        default = argparse.SUPPRESS if nargs == "?" else None
        parser.add_argument(name, metavar=metavar, nargs=nargs, help=help_text, **({"default": default} if default else {}))
        return
    if f.default is not dataclasses.MISSING:
        default = f.default
    else:  # a list's default: shown as the list
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else "(computed)"
    bounds = _bounds_text(f)
    flags = [f"--{name}"]
    for extra in (f.name.replace("_", "-"), *cli.get("flags", ())):
        flag = f"--{name[: len(name) - len(f.name)]}{extra}"
        if flag not in flags:
            flags.append(flag)
    if cli.get("required"):
        help_text += " (required)"
    elif "default" in help_text:  # the help says what the default means; add the bounds alone
        help_text += f" ({bounds})" if bounds else ""
    elif not cli.get("switch"):
        help_text += f" (default: {default}{'; ' + bounds if bounds else ''})"
    common = {"dest": name, "default": argparse.SUPPRESS, "help": help_text, "required": bool(cli.get("required"))}
    repeat = cli.get("repeat_flag")
    if cli.get("switch"):
        parser.add_argument(*flags, action="store_const", const=True, **common)
    elif repeat == f.name:  # the flag itself is repeatable: each use adds one item
        parser.add_argument(*flags, action="append", metavar=metavar, **common)
    else:
        parser.add_argument(*flags, metavar=metavar, **common)
        if repeat:
            parser.add_argument(f"--{repeat}", dest=name, action="append", default=argparse.SUPPRESS, metavar=metavar,
                                help=f"one item of --{name}, repeatable")


def overrides_from_args(args: argparse.Namespace, cls: type, prefix: str = "") -> dict[str, Any]:
    """The nested dict of flags the user actually typed, still as strings (coerced by from_dict)."""
    hints = _hints(cls)
    out: dict[str, Any] = {}
    values = vars(args)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        name = f"{prefix}{f.name}"
        if _is_config(tp):
            nested = overrides_from_args(args, tp, prefix=f"{name}.")
            if nested:
                out[f.name] = nested
        elif name in values:
            out[f.name] = values[name]
    return out


def from_args(cls: type, args: argparse.Namespace, config_path: str | Path | None = None) -> Any:
    """``cls`` from the flags of a parser built with ``add_arguments(parser, cls)`` (over
    ``config_path``'s YAML when given)."""
    return resolve(cls, config_path, overrides_from_args(args, cls))


def resolve(cls: type, config_path: str | Path | None = None, overrides: dict[str, Any] | None = None, base: dict[str, Any] | None = None) -> Any:
    """defaults < ``base`` (e.g. a method's preset) < YAML file < CLI overrides."""
    merged: dict[str, Any] = dict(base or {})
    source = "command line"
    if config_path:
        merged = _deep_merge(merged, read_yaml(config_path))
        source = str(config_path)
    from_dict(cls, merged, source)  # validate the file alone first, so its errors name it
    merged = _deep_merge(merged, overrides or {})
    return from_dict(cls, merged, f"{source} + command line" if config_path else source)


def dump_yaml(obj: Any) -> str:
    return yaml.safe_dump(to_dict(obj), sort_keys=False)
