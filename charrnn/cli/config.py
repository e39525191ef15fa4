"""`--config FILE.toml` for the training commands, and the TOML that reproduces a run.

A config file sets any of a command's options by its name (`hidden = 512`, `batch_size = 64` or `batch-size = 64`,
`text = ["a.txt", "b.txt"]`, `chapter = true`); the command line overrides the file, and an option given there
also drops the file's value of any option it excludes (`--steps` drops the file's `minutes`). The values are
checked as the command line's are (types, choices); an unknown key is an error naming the file.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser as a package (declared for it in pyproject.toml)
    import tomli as tomllib

NOT_SETTINGS = {"help", "config", "func", "command", "sentiment_command"}  # dests no file sets, no run records
NOT_RECORDED = NOT_SETTINGS | {"resume"}  # a recipe starts a run; it never resumes one


def read_toml(path: str | Path) -> dict:
    """The TOML file's table; ValueError naming the file when it cannot be read or parsed."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise ValueError(f"--config {path}: cannot read it ({e.strerror or e})") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"--config {path}: not valid TOML: {e}") from None


def settable(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The options of `parser` a config file may set, by dest."""
    return {a.dest: a for a in parser._actions if a.option_strings and a.dest not in NOT_SETTINGS}


def check_value(action: argparse.Action, value: Any, where: str) -> Any:
    """`value` as the command line would have stored it for `action`; ValueError naming `where` otherwise."""
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse.BooleanOptionalAction)):
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(action, argparse._AppendAction) or action.nargs in ("+", "*"):
        items = value if isinstance(value, list) else [value]
        return [_scalar(action, v, where) for v in items]
    if action.nargs == "?" and value is True:
        return action.const  # `test = true`: the option given without its value
    return _scalar(action, value, where)


def _scalar(action: argparse.Action, value: Any, where: str) -> Any:
    kind = action.type or str
    if isinstance(value, (dict, list)) or value is None:
        raise ValueError(f"{where}: expected one value, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{where}: expected {getattr(kind, '__name__', 'a value')}, got {value!r}")
    if kind is float and isinstance(value, int):
        value = float(value)
    elif kind is str and not isinstance(value, str):
        raise ValueError(f"{where}: expected a string, got {value!r}")
    elif isinstance(value, str) and kind is not str:
        try:
            value = kind(value)
        except (TypeError, ValueError, argparse.ArgumentTypeError) as e:
            raise ValueError(f"{where}: {e}") from None
    elif kind in (int, float) and not isinstance(value, kind):
        raise ValueError(f"{where}: expected {kind.__name__}, got {value!r}")
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"{where}: {value!r} is not one of {', '.join(map(str, action.choices))}")
    return value


def file_options(parser: argparse.ArgumentParser, path: str | Path) -> dict[str, Any]:
    """The options `path` sets for `parser`, checked, by dest (dashes in keys read as underscores)."""
    actions = settable(parser)
    table = read_toml(path)
    keys = {str(k).replace("-", "_"): k for k in table}
    unknown = [str(keys[k]) for k in keys if k not in actions]
    if unknown:
        raise ValueError(f"--config {path}: unknown option(s) for {parser.prog}: {', '.join(unknown)}")
    return {dest: check_value(actions[dest], table[key], f"--config {path}: {key}") for dest, key in keys.items()}


def given_on_command_line(top: argparse.ArgumentParser, sub: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The dests of `sub` that `argv` sets explicitly (even to their default value)."""
    saved = [(a, a.default) for a in sub._actions]
    for action, _ in saved:
        action.default = argparse.SUPPRESS
    try:
        explicit = top.parse_args(argv)
    finally:
        for action, default in saved:
            action.default = default
    return set(vars(explicit)) & set(settable(sub))


def apply_config(top: argparse.ArgumentParser, sub: argparse.ArgumentParser, argv: list[str],
                 args: argparse.Namespace) -> argparse.Namespace:
    """`argv` parsed again with the values of `args.config` as defaults of `sub`, the command line winning."""
    values = file_options(sub, args.config)
    given = given_on_command_line(top, sub, argv)
    for group in sub._mutually_exclusive_groups:
        members = {a.dest for a in group._group_actions}
        if members & given:
            for dest in members:
                values.pop(dest, None)
    for dest in given:
        values.pop(dest, None)  # an appended option (--text) starts afresh instead of adding to the file's list
    sub.set_defaults(**values)
    return top.parse_args(argv)


def recorded_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options a run was started with, resolved (file and command line), as plain values for its checkpoint;
    None values are left out (TOML has no null: an absent key is the option's default)."""
    plain = (str, int, float, bool, list)
    return {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in sorted(vars(args).items())
            if k not in NOT_RECORDED and v is not None and isinstance(v, plain + (tuple,))}


def toml_value(value: Any) -> str:
    """One TOML value: booleans, numbers, strings (escaped) and lists of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")  # JSON's escapes are TOML's
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise ValueError(f"no TOML for {value!r}")


def to_toml(values: dict[str, Any], comments: list[str] = ()) -> str:
    """A flat TOML document: `# comment` lines, then `key = value` per entry (None values left out)."""
    lines = [f"# {c}" for c in comments]
    lines += [f"{k} = {toml_value(v)}" for k, v in values.items() if v is not None]
    return "\n".join(lines) + "\n"


def add_config_option(p: argparse.ArgumentParser) -> None:
    """The --config option of a training command."""
    p.add_argument("--config", metavar="FILE.toml",
                   help="read options from a TOML file (any option as a key: hidden = 512, batch_size = 64); the "
                        "command line overrides it; `charrnn show --config` writes one from a checkpoint")


def subcommand(parser: argparse.ArgumentParser, names: list[str]) -> argparse.ArgumentParser:
    """The parser of the subcommand path `names` (["sentiment", "train"]) under `parser`."""
    for name in names:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser
