"""`charrnn show --checkpoint FILE [--config]`: what a checkpoint holds, or a TOML file that reproduces its run.

Checkpoints trained by `charrnn train` or `charrnn sentiment train` record the options they were started with
(config["train"]["options"]); older ones are described from their settings, the data named by file name only.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .. import checkpoint as ckpt
from ..kinds import CHAR_LM, SENTIMENT
from .config import NOT_RECORDED, check_value, settable, to_toml

COMMANDS = {CHAR_LM: ["train"], SENTIMENT: ["sentiment", "train"]}
LM_MODEL = ("embed", "hidden", "layers", "dropout", "weight_drop", "cell")
LM_TRAIN = ("steps", "minutes", "batch_size", "seq_len", "batching", "lr", "lr_decay", "warmup", "grad_clip",
            "val_fraction", "eval_every", "eval_chars", "max_passes", "save_every", "log_every", "seed", "device",
            "precision")
SENTIMENT_MODEL = ("embed", "hidden", "layers", "dropout", "pooling", "fc", "bidirectional")
SENTIMENT_TRAIN = ("epochs", "batch_size", "lr", "lr_decay", "max_tokens", "min_freq", "max_vocab", "patience",
                   "grad_clip", "val_fraction", "seed", "device", "glove", "freeze", "augment", "lexicon",
                   "pretrained", "pretrained_lr", "pretrained_member", "teacher", "transfer")


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def recorded(obj: dict) -> dict | None:
    """The options the run was started with, as the checkpoint recorded them (None when it did not)."""
    options = _dict(_dict(obj.get("config")).get("train")).get("options")
    if not isinstance(options, dict):
        return None
    plain = (str, int, float, bool)
    return {k: v for k, v in options.items() if isinstance(k, str) and k not in NOT_RECORDED
            and (isinstance(v, plain) or (isinstance(v, list) and all(isinstance(x, plain) for x in v)))}


def lm_settings(obj: dict) -> dict:
    """`charrnn train` options matching a character model's recorded settings (no command line recorded)."""
    config, pre = _dict(obj.get("config")), _dict(obj.get("preprocessing"))
    model, train = _dict(config.get("model")), _dict(config.get("train"))
    corpus = _dict(obj.get("metrics")).get("corpus")
    values: dict[str, Any] = {"text": [corpus]} if isinstance(corpus, str) else {}
    values.update({k: pre.get(k) for k in ("clean", "start", "end")})
    values.update({k: model.get(k) for k in LM_MODEL})
    values.update({k: train.get(k) for k in LM_TRAIN})
    if train.get("amp") is False:
        values["no_amp"] = True
    return values


def sentiment_settings(obj: dict) -> dict:
    """`charrnn sentiment train` options matching a classifier's recorded settings (no command line recorded)."""
    config, data = _dict(obj.get("config")), _dict(obj.get("data"))
    model, train = _dict(config.get("model")), _dict(config.get("train"))
    if "blend" in model:
        raise ValueError("it is a blend (charrnn sentiment blend of "
                         f"{', '.join(map(str, train.get('short') or []))} for short texts and "
                         f"{', '.join(map(str, train.get('long') or []))} for long ones): no single training run "
                         "made it")
    if "members" in model:
        raise ValueError("it is an ensemble (charrnn sentiment ensemble of "
                         f"{', '.join(map(str, train.get('members') or []))}): no single training run made it")
    source = data.get("source")
    values: dict[str, Any] = {"data": source.split(" + ")} if isinstance(source, str) and source else {}
    values.update({k: data.get(k) for k in ("format", "text_column", "label_column")})
    values.update({k: model.get(k) for k in SENTIMENT_MODEL})
    values.update({k: train.get(k) for k in SENTIMENT_TRAIN})
    return {k: v for k, v in values.items() if v is not False and v != ""}  # the defaults: no glove, no freeze


def recipe(obj: dict, parser: argparse.ArgumentParser) -> tuple[dict, bool]:
    """The options that reproduce the checkpoint's run, checked against the command's `parser`, and whether they
    were recorded (else reconstructed from its settings: values the command would refuse are left out)."""
    options = recorded(obj)
    if options is None:
        options = lm_settings(obj) if obj.get("kind") == CHAR_LM else sentiment_settings(obj)
    actions = settable(parser)
    checked = {}
    for key, value in options.items():
        if key in actions and value is not None:
            try:
                checked[key] = check_value(actions[key], value, key)
            except ValueError:
                continue
    return checked, recorded(obj) is not None


def config_text(path: Path, obj: dict, parser: argparse.ArgumentParser) -> str:
    """The TOML file that reproduces the run that wrote `path`."""
    kind = obj.get("kind")
    if kind not in COMMANDS:
        raise ValueError(f"{path.name} is a {kind} checkpoint: show --config knows charrnn train and charrnn "
                         "sentiment train runs only")
    try:
        values, exact = recipe(obj, parser)
    except ValueError as e:
        raise ValueError(f"{path.name}: {e}") from None
    command = "charrnn " + " ".join(COMMANDS[kind])
    comments = [f"{command} --config THIS.toml reproduces the run that wrote {path.name}"]
    if not exact:
        comments.append("reconstructed from its settings (it records no command line): the data is named by its "
                        "file name only; point it at your copy")
    return to_toml(values, comments)


def describe(path: Path, obj: dict) -> list[str]:
    """What the checkpoint is: kind, sizes, data, training, metrics and how it started, one line each."""
    config = _dict(obj.get("config"))
    model, train = _dict(config.get("model")), _dict(config.get("train"))
    state = _dict(obj.get("state_dict"))
    params = sum(t.numel() for k, t in state.items() if hasattr(t, "numel") and not str(k).startswith("maps."))
    lines = [f"file      {path} ({path.stat().st_size / 2**20:.1f} MiB, format {obj.get('format_version')})",
             f"kind      {obj.get('kind')}" + (f" (classes {' / '.join(map(str, obj['classes']))})"
                                               if isinstance(obj.get("classes"), list) else ""),
             f"model     {_blend(model) or _pairs(model, skip=('members',))}; {params:,} parameters"
             + (f"; {len(model['members'])} members" if isinstance(model.get("members"), list) else "")]
    if obj.get("kind") == CHAR_LM:
        lines.append(f"text      {_pairs(_dict(obj.get('preprocessing')))}")
    elif isinstance(obj.get("data"), dict):
        lines.append(f"data      {_pairs(obj['data'], skip=('split',))}")
    lines.append(f"training  {_pairs(train, skip=('options', 'members', 'short', 'long'))}")
    lines.append(f"metrics   {_pairs(_dict(obj.get('metrics')), skip=('history', 'members'))}")
    options = recorded(obj)
    if options is not None:
        lines.append(f"started   {_command(obj.get('kind'), options)}")
    elif isinstance(model.get("blend"), dict) and isinstance(train.get("short"), list):
        lines.append(f"started   charrnn sentiment blend --short {' '.join(map(str, train['short']))} --long "
                     f"{' '.join(map(str, train.get('long') or []))} --split-at {train.get('split_at')}"
                     + {"float32": " --full-precision", "float16": " --float16"}.get(train.get("precision"), ""))
    elif isinstance(train.get("members"), list):
        lines.append(f"started   charrnn sentiment ensemble {' '.join(map(str, train['members']))}")
    else:
        lines.append("started   no command line recorded (show --config reconstructs one from the settings)")
    return lines


def _blend(model: dict) -> str:
    """A blend's routing in words ("" for any other model)."""
    spec = _dict(model.get("blend"))
    parts = spec.get("parts") if isinstance(spec.get("parts"), list) else []
    if not spec:
        return ""
    count = {t: sum(1 for p in parts if isinstance(p, dict) and p.get("texts") in (t, "all"))
             for t in ("short", "long")}
    return (f"blend of {len(parts)} parts: {count['short']} for texts of at most {spec.get('split_at')} tokens, "
            f"{count['long']} for longer ones")


def _pairs(values: dict, skip: tuple[str, ...] = ()) -> str:
    """key=value for the plain entries of `values`, in order."""
    shown = [f"{k}={_short(v)}" for k, v in values.items() if k not in skip and isinstance(v, (str, int, float))
             and v is not None]
    return " ".join(shown) or "-"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return repr(text) if " " in text or not text else text


def _command(kind: Any, options: dict) -> str:
    """The command line that `options` stand for."""
    words = ["charrnn", *COMMANDS.get(kind, ["?"])]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        for item in value if isinstance(value, list) else [value]:
            if item is True:
                words.append(flag)
            elif item is not False:
                words += [flag, _short(item)]
    return " ".join(words)


def cmd_show(args: argparse.Namespace, parsers: dict[str, argparse.ArgumentParser]) -> None:
    path = Path(args.checkpoint)
    obj = ckpt.load(path)
    if args.as_config:
        sys.stdout.write(config_text(path, obj, parsers[obj.get("kind")]))
        return
    print("\n".join(describe(path, obj)))


def add_show(sub, parsers: dict[str, argparse.ArgumentParser]) -> None:
    """The show command; `parsers`: the training command's parser for each kind (for --config)."""
    p = sub.add_parser("show", help="describe a checkpoint (kind, sizes, data, metrics, how it started), or "
                                    "--config: print a TOML file that reproduces its run")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--config", dest="as_config", action="store_true",
                   help="print the TOML file for `charrnn train --config` (or sentiment train) that reproduces "
                        "the run")
    p.set_defaults(func=lambda args: cmd_show(args, parsers))
