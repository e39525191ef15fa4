"""One classifier from several: `charrnn sentiment ensemble` combines sentiment checkpoints that share a
vocabulary, tokenizer and class names (say, seeds of one recipe fine-tuned from one pre-trained LM) into a single
`sentiment` checkpoint whose model averages their probabilities (`model.SentimentEnsemble`; each class's, for more
than two). Every tool that takes a classifier (predict, evaluate, explain, the app) takes it as it is. Weights are
stored at half precision (float16: on SST-2 dev no probability moved by more than 2e-4) so that three members of
30,000 words stay under 25 MB, or as int8 (`precision="int8"`: each row of each matrix rounded to 255 levels of its
own scale, a quarter of float32) for five or more."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import checkpoint as ckpt
from ..kinds import SENTIMENT
from ..training import checkpoint_dict
from .kind import check, multiclass_format, sentiment_classes, stored_weights
from .text import TOKENIZER

MAX_MEMBERS = 16
PRECISIONS = ("float32", "float16", "int8")


@dataclass
class EnsembleConfig:
    members: list[str] = field(default_factory=list)  # the combined checkpoints' file names, in order
    max_tokens: int = 0  # tokens read per text (the tokenizer's setting)
    precision: str = "float16"  # weights stored as float32, float16, or int8 rows with a float32 scale each


def _member(path: str | os.PathLike, state: dict | None = None) -> tuple[dict, list[dict], dict[str, torch.Tensor]]:
    """A checked sentiment checkpoint (read from `path` unless its `state` is given, checked already), its member
    configs and its weights keyed from member 0."""
    if state is None:
        state = ckpt.load(path, kind=SENTIMENT)
        check(state, ckpt.display_name(path))
    model_cfg = state["config"]["model"]
    if "blend" in model_cfg:
        raise ckpt.CheckpointError(f"{ckpt.display_name(path)} is a blend (charrnn sentiment blend) already: it "
                                   f"joins no ensemble or blend; give the classifiers it was made of")
    weights = stored_weights(state)
    if "members" in model_cfg:  # an ensemble: its members join one by one
        return state, list(model_cfg["members"]), weights
    return state, [dict(model_cfg)], {f"members.0.{k}": v for k, v in weights.items()}


def quantize_rows(weights: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Every floating matrix as int8 rows, each row scaled by its largest magnitude / 127 (kept as float32:
    `kind.stored_weights` multiplies them back); other tensors as float16. Returns (weights, scales)."""
    out, scales = {}, {}
    for k, v in weights.items():
        if v.is_floating_point() and v.dim() == 2:
            v = v.float()
            scale = v.abs().amax(1) / 127
            out[k] = (v / torch.where(scale > 0, scale, 1)[:, None]).round_().to(torch.int8)
            scales[k] = scale
        else:
            out[k] = v.half() if v.is_floating_point() else v
    return out, scales


def add_members(cfgs: list[dict], weights: dict[str, torch.Tensor], member_cfgs: list[dict],
                sd: dict[str, torch.Tensor]) -> None:
    """Append one checkpoint's members (their configs, and their weights keyed from member 0) to `cfgs` and
    `weights`, numbered after those already there."""
    for j, cfg in enumerate(member_cfgs):
        prefix = f"members.{len(cfgs)}."
        weights.update({prefix + k.split(".", 2)[2]: v for k, v in sd.items() if k.startswith(f"members.{j}.")})
        cfgs.append(cfg)


def at_precision(weights: dict[str, torch.Tensor], precision: str) -> tuple[dict[str, torch.Tensor], dict]:
    """The weights as stored at `precision` (float32 as they are; float16; int8 rows), and their int8 scales."""
    if precision == "int8":
        return quantize_rows(weights)
    if precision == "float16":
        return {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}, {}
    return weights, {}


COMBINE_ADVICE = ("only classifiers that share vocabulary, tokenizer and class names can be combined (fine-tune "
                  "them from one pre-trained LM, or train them on one file with one seed's split; `charrnn "
                  "sentiment blend` joins classifiers of other vocabularies)")


def save_checked(state: dict, out: str | os.PathLike) -> Path:
    """Write a combined classifier (format raised for more than two classes) once it is checked to load."""
    multiclass_format(state, len(state["classes"]))
    check(state, os.path.basename(out))
    return ckpt.save(state, out)


def _same(states: list[dict], names: list[str], what: str, get, advice: str = COMBINE_ADVICE) -> None:
    """CheckpointError (ending in `advice`) naming the first checkpoint whose `get` differs from the first one's."""
    first = get(states[0])
    for state, name in zip(states[1:], names[1:]):
        if get(state) != first:
            raise ckpt.CheckpointError(f"{name} has another {what} than {names[0]}: {advice}")


def _split_record(states: list[dict]) -> dict:
    """The data record of the first member; its held-out split only when every member held out the same rows (a
    row another member trained on is no held-out row for the ensemble)."""
    record = dict(states[0].get("data") or {})
    splits = [s.get("data", {}).get("split") if isinstance(s.get("data"), dict) else None for s in states]
    if any(sp != splits[0] for sp in splits[1:]) and isinstance(splits[0], dict):
        record["split"] = {k: splits[0][k] for k in ("n_rows", "rows_sha256") if k in splits[0]}
        record["split"]["note"] = "its members held out different rows"
    return record


def combine_classifiers(paths: list[str | os.PathLike], out: str | os.PathLike, max_tokens: int | None = None,
                        precision: str = "float16") -> dict:
    """Write one `sentiment` checkpoint averaging the classifiers in `paths` (CheckpointError when they do not
    share vocabulary, tokenizer and class names), its weights stored at `precision` (one of PRECISIONS); return
    its metrics: each member's, and the sizes."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if len(paths) < 2:
        raise ValueError(f"give at least 2 classifiers to combine, got {len(paths)}")
    names = [ckpt.display_name(p) for p in paths]
    loaded = [_member(p) for p in paths]
    states = [s for s, _, _ in loaded]
    _same(states, names, "vocabulary", lambda s: list(s["vocab"]))
    _same(states, names, "tokenizer", lambda s: (s.get("tokenizer") or {}).get("name", TOKENIZER))
    _same(states, names, "class names", lambda s: sentiment_classes(s, ""))
    cfgs, weights, members = [], {}, []
    for (state, member_cfgs, sd), name in zip(loaded, names):
        add_members(cfgs, weights, member_cfgs, sd)
        metrics = state.get("metrics") or {}
        members.append({"file": name, **{k: metrics[k] for k in ("val_accuracy", "test_accuracy", "n_test")
                                         if k in metrics}})
    if len(cfgs) > MAX_MEMBERS:
        raise ValueError(f"at most {MAX_MEMBERS} members, got {len(cfgs)}")
    tok = states[0].get("tokenizer") or {}
    read = max_tokens or max(int((s.get("tokenizer") or {}).get("max_tokens") or 0) for s in states) or None
    if read is not None and read < 1:
        raise ValueError(f"max_tokens must be at least 1, got {read}")
    config = EnsembleConfig(names, read or 0, precision)
    weights, scales = at_precision(weights, precision)
    classes = list(sentiment_classes(states[0], names[0]))
    state = checkpoint_dict(SENTIMENT, {"members": cfgs}, config, list(states[0]["vocab"]), weights,
                            {"members": members, "n_members": len(cfgs)}, **({"scales": scales} if scales else {}),
                            tokenizer={**tok, **({"max_tokens": read} if read else {})},
                            classes=classes, data=_split_record(states))
    path = save_checked(state, out)
    return {"out": str(path), "members": len(cfgs), "bytes": path.stat().st_size, "max_tokens": read}
