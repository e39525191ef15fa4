"""`charrnn export`: a checkpoint (.pt, model folder or hf:// name) as a Hub-style model folder with a model card.

The folder's format is `charrnn.modelfolder`'s; this module checks that the model is usable before it is shared
(its weights fit the model its config describes) and writes the card: what the model was trained on, its
figures, and how to load it with charrnn and with plain `safetensors` + `torch`.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import checkpoint as ckpt
from . import kinds, modelfolder


def export(checkpoint: str | os.PathLike, out: str | os.PathLike, force: bool = False) -> Path:
    """Write the model of `checkpoint` as the folder `out` (config.json, model.safetensors, README.md), atomically.

    CheckpointError when the checkpoint cannot be read, is of a kind charrnn does not know, or its weights do
    not fit its model (nothing is written then); `force` replaces an earlier export at `out`.
    """
    obj = ckpt.load(checkpoint)
    name = ckpt.display_name(checkpoint)
    kinds.get(obj["kind"]).check(obj, name)
    return modelfolder.write(obj, out, model_card(obj, name, Path(out).name), name, force=force)


def _plain_items(metrics: Any) -> list[tuple[str, Any]]:
    """The metrics a card can show: numbers and short strings (nested records stay in config.json)."""
    if not isinstance(metrics, Mapping):
        return []
    return [(k, v) for k, v in metrics.items() if isinstance(k, str) and isinstance(v, (int, float, str))
            and not isinstance(v, bool) and len(str(v)) <= 120]


def _trained_on(obj: dict) -> str:
    """One sentence on the training data, from what the checkpoint recorded."""
    metrics = obj.get("metrics") if isinstance(obj.get("metrics"), Mapping) else {}
    data = obj.get("data") if isinstance(obj.get("data"), Mapping) else {}
    source = kinds.metric(metrics, "corpus", str) or kinds.metric(data, "source", str)
    fmt = kinds.metric(data, "format", str)
    source = f"{source} ({fmt} format)" if source and fmt else source
    prep = obj.get("preprocessing") if isinstance(obj.get("preprocessing"), Mapping) else {}
    how = ""
    if prep.get("clean") == "slice":
        how = f", sliced from {prep.get('start')!r} to {prep.get('end')!r}"
    elif prep.get("clean") == "strip":
        how = ", Project Gutenberg license text removed"
    held = prep.get("val_fraction")
    held = f"; the last {held:.0%} held out for validation" if isinstance(held, float) else ""
    return f"Trained on {source}{how}{held}." if source else "The checkpoint records no training data."


def _usage(kind: str, folder: str) -> str:
    """How to use the folder with charrnn's command line and Python API, by kind."""
    if kind == kinds.CHAR_LM:
        return (f"```bash\ncharrnn sample --checkpoint {folder} --prompt \"The island\" --length 300\n"
                f"charrnn evaluate --checkpoint {folder} --text some-book.txt --clean none --all\n"
                f"charrnn sample --checkpoint hf://USER/{folder}   # once pushed with `charrnn push`\n```\n\n"
                f"```python\nfrom charrnn import load_char_lm, generate\n\nlm = load_char_lm(\"{folder}\")\n"
                f"print(generate(lm, \"The island\", 200, temperature=0.7, seed=1)[0])\n```\n")
    if kind == kinds.SENTIMENT:
        return (f"```bash\ncharrnn sentiment predict --checkpoint {folder} \"A gripping, beautiful film.\"\n```\n\n"
                f"```python\nfrom charrnn.sentiment import load_sentiment, predict\n\n"
                f"sm = load_sentiment(\"{folder}\")\n"
                f"print(predict(sm, [\"A gripping, beautiful film.\"]))  # P(second class) per text\n```\n")
    return f"```python\nfrom charrnn import checkpoint\n\nobj = checkpoint.load(\"{folder}\")\n```\n"


_PLAIN = """```python
import json, torch
from safetensors.torch import load_file

config = json.load(open("{folder}/config.json"))   # kind, model config, vocabulary, preprocessing, metrics
tensors = load_file("{folder}/model.safetensors")
state_dict = {{k: v for k, v in tensors.items() if not k.startswith("scales/")}}
{dequantize}```
"""
_DEQUANTIZE = """# int8 matrices come with one float32 scale per row under "scales/<name>": weight = int8 * scale
for k, s in tensors.items():
    if k.startswith("scales/"):
        name = k[len("scales/"):]
        state_dict[name] = state_dict[name].float() * s[:, None]
"""


def model_card(obj: dict, source: str, folder: str) -> str:
    """README.md of an exported model: front matter for the Hub, what it is, its figures, how to load it."""
    kind = str(obj.get("kind"))
    metrics = obj.get("metrics") if isinstance(obj.get("metrics"), Mapping) else {}
    score = kinds.score(kind, metrics)
    classes = obj.get("classes")
    lines = ["---", "library_name: charrnn", "tags:", "- charrnn", f"- {kind}", "---", "",
             f"# {folder}", "", f"A charrnn `{kind}` model, exported from `{source}` "
             f"(checkpoint format {obj.get('format_version')}).", "", _trained_on(obj)]
    if score:
        lines += ["", f"**{score[0].upper()}{score[1:]}.**"]
    model = obj["config"].get("model") if isinstance(obj.get("config"), Mapping) else None
    if isinstance(model, Mapping):
        members = model.get("members")
        blend = model.get("blend") if isinstance(model.get("blend"), Mapping) else None
        shown = (f"a blend (texts up to {blend.get('split_at')} tokens and longer ones go to their own parts) of "
                 f"{len(members)} members, the first " if blend and isinstance(members, list) else
                 f"an ensemble of {len(members)} members, the first " if isinstance(members, list) else "")
        text = json.dumps(members[0] if shown else model)
        lines += ["", f"Model: {shown}`{text if len(text) <= 300 else text[:297] + '...'}`."]
    if isinstance(classes, (list, tuple)) and len(classes) == 2:
        lines += ["", f"Classes: 0 = `{classes[0]}`, 1 = `{classes[1]}`; predictions are P(`{classes[1]}`)."]
    elif isinstance(classes, (list, tuple)) and len(classes) > 2:
        named = ", ".join(f"{i} = `{c}`" for i, c in enumerate(classes[:100]))
        lines += ["", f"Classes ({len(classes)}): {named}; predictions are each class's probability (softmax)."]
    figures = _plain_items(metrics)
    if figures:
        lines += ["", "## Figures", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in figures]
    int8 = bool(obj.get("scales"))
    lines += ["", "## Files", "", "- `config.json`: everything in the checkpoint that is not a tensor (kind, format "
              "version, model config, vocabulary or tokenizer, preprocessing, class names, metrics).",
              "- `model.safetensors`: the weights as stored" + (" (int8 matrices, their float32 row scales under "
                                                               "`scales/<name>`)" if int8 else "") + ".",
              "", "## Use it with charrnn", "", _usage(kind, folder),
              "## Load it without charrnn", "", _PLAIN.format(folder=folder, dequantize=_DEQUANTIZE if int8 else "")]
    return "\n".join(lines)
