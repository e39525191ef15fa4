"""Hub-style model folders: `config.json` (every plain value of a checkpoint, as JSON), `model.safetensors` (its
tensors, as stored) and `README.md` (a model card).

`read` gives the same dict a .pt checkpoint gives (the tensors under "state_dict", int8 row scales under "scales",
everything else from config.json), so every later check (format version, kind, shapes on the meta device, NaN) is
the one the .pt goes through. Before anything is allocated the files are checked here: their sizes, the
safetensors header against the file (dtypes, shapes and offsets that tile the data exactly), and config.json as a
JSON object without weights of its own. `write` publishes a whole folder with one rename, or nothing.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

from .errors import CheckpointError, short

CONFIG, WEIGHTS, CARD = "config.json", "model.safetensors", "README.md"
FILES = (CONFIG, WEIGHTS, CARD)
SCALES = "scales/"  # prefix of the int8 row scales among the tensors (never in a module's state_dict key)
TRAINING_STATE = ("optimizer", "trainer")  # resumable runs' state: not part of a shared model, left out
MAX_CONFIG_BYTES = 64 << 20  # the largest vocabulary shipped is ~0.5 MB of JSON
MAX_HEADER_BYTES = 100_000_000  # the safetensors library's own limit
MAX_DEPTH = 64  # nesting allowed in config.json (a checkpoint's plain values are a few levels deep)
DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "BOOL": torch.bool}


def is_model_folder(path: str | os.PathLike) -> bool:
    """A folder holding config.json and model.safetensors (links allowed: the Hugging Face cache uses them)."""
    path = Path(path)
    return path.is_dir() and (path / CONFIG).is_file() and (path / WEIGHTS).is_file()


def stamp(path: str | os.PathLike) -> tuple[int, int]:
    """(size, newest mtime in ns) of a checkpoint file, or of a model folder's files: a cache key that changes
    whenever one of them is rewritten."""
    path = Path(path)
    if not path.is_dir():
        st = path.stat()
        return st.st_size, st.st_mtime_ns
    stats = [(path / f).stat() for f in FILES if (path / f).is_file()]
    return sum(s.st_size for s in stats), max((s.st_mtime_ns for s in stats), default=path.stat().st_mtime_ns)


# ------------------------------------------------------------------------------------------------------ reading

def read(path: str | os.PathLike, name: str) -> dict[str, Any]:
    """The checkpoint dict of the model folder `path` (`name` in messages); CheckpointError when refused."""
    path = Path(path)
    for f in (CONFIG, WEIGHTS):
        if not (path / f).is_file():
            raise CheckpointError(f"{name} is not a charrnn model folder: it has no {f}")
    config = read_config(path / CONFIG, name)
    tensors = read_weights(path / WEIGHTS, name)
    obj = {**config, "state_dict": {k: v for k, v in tensors.items() if not k.startswith(SCALES)}}
    scales = {k[len(SCALES):]: v for k, v in tensors.items() if k.startswith(SCALES)}
    if scales:
        obj["scales"] = scales
    return obj


def read_config(path: Path, name: str) -> dict[str, Any]:
    """config.json as a dict: at most MAX_CONFIG_BYTES of UTF-8 JSON, an object, not nested without end, and
    without weights of its own (those are model.safetensors')."""
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{name}/{CONFIG} is {size:,} bytes; at most {MAX_CONFIG_BYTES:,} are read")
    try:
        config = json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CheckpointError(f"{name}/{CONFIG} is not JSON: {short(e, 120)}") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{name}/{CONFIG} is not a JSON object but {type(config).__name__}")
    if _depth(config) > MAX_DEPTH:
        raise CheckpointError(f"{name}/{CONFIG} is nested more than {MAX_DEPTH} levels deep")
    for key in ("state_dict", "scales"):
        if key in config:
            raise CheckpointError(f"{name}/{CONFIG} holds {key!r}: a model folder's weights are in {WEIGHTS}")
    return config


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in a JSON value (iteratively: a hostile file cannot exhaust the stack)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                todo.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def read_header(path: Path, name: str) -> tuple[dict[str, dict], int]:
    """The safetensors header's tensor entries and the offset their data starts at, checked against the file's
    size before anything else is read: a truncated or padded file, or a header lying about sizes, is refused."""
    size = path.stat().st_size
    label = f"{name}/{WEIGHTS}"
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise CheckpointError(f"{label} is not a safetensors file ({size} bytes: truncated?)")
        n = int.from_bytes(prefix, "little")
        if n > MAX_HEADER_BYTES or 8 + n > size:
            raise CheckpointError(f"{label} is not a readable safetensors file: its header claims {n:,} bytes "
                                  f"and the file has {size:,} (truncated or corrupt?)")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"{label} has an unreadable header: {short(e, 120)}") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{label} has a header that is not a JSON object")
    header.pop("__metadata__", None)
    check_entries(header, size - 8 - n, label)
    return header, 8 + n


def check_entries(header: dict, data_bytes: int, label: str) -> None:
    """Each entry names a known dtype, a shape and offsets that fit it; together they tile the `data_bytes` after
    the header exactly (no gap, overlap, or byte beyond the file)."""
    spans = []
    for key, entry in header.items():
        ok = isinstance(entry, dict) and entry.get("dtype") in DTYPES and _ints(entry.get("shape")) \
            and _ints(entry.get("data_offsets")) and len(entry["data_offsets"]) == 2
        if not ok:
            raise CheckpointError(f"{label}: tensor {short(key, 60)} has a malformed entry {short(entry, 80)}")
        begin, end = entry["data_offsets"]
        need = math.prod(entry["shape"]) * DTYPES[entry["dtype"]].itemsize
        if end - begin != need:
            raise CheckpointError(f"{label}: tensor {short(key, 60)} of shape {short(entry['shape'], 60)} needs "
                                  f"{need:,} bytes, its offsets give {end - begin:,}")
        spans.append((begin, end))
    at = 0
    for begin, end in sorted(spans):
        if begin != at:
            raise CheckpointError(f"{label}: its tensors' offsets leave a gap or overlap at byte {at:,}")
        at = end
    if at != data_bytes:
        raise CheckpointError(f"{label}: its header describes {at:,} bytes of tensors and the file holds "
                              f"{data_bytes:,} (truncated or corrupt?)")


def _ints(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)


def read_weights(path: Path, name: str) -> dict[str, torch.Tensor]:
    """The tensors of model.safetensors (header checked first), read into memory: no mapping of a file that
    could change underneath."""
    header, start = read_header(path, name)
    try:
        tensors = safetensors.torch.load(path.read_bytes())
    except Exception as e:  # the library's SafetensorError and friends, for anything the checks above let by
        raise CheckpointError(f"{name}/{WEIGHTS} is not a readable safetensors file: {short(e, 120)}") from None
    if set(tensors) != set(header):
        raise CheckpointError(f"{name}/{WEIGHTS} changed while it was read")
    return tensors


# ------------------------------------------------------------------------------------------------------ writing

def split(obj: dict[str, Any], name: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """A checkpoint dict as (config.json's plain values, model.safetensors' tensors); training state is left
    out, and CheckpointError names an entry holding tensors elsewhere or values JSON cannot hold."""
    weights, scales = obj.get("state_dict"), obj.get("scales") or {}
    for label, group in (("state_dict", weights), ("scales", scales)):
        if not isinstance(group, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in group.items()):
            raise CheckpointError(f"{name}: its {label} is not a dict of named tensors")
    clash = [k for k in weights if k.startswith(SCALES)]
    if clash:
        raise CheckpointError(f"{name}: weight {short(clash[0], 60)} starts with {SCALES!r}, kept for the scales")
    tensors = {**weights, **{SCALES + k: v for k, v in scales.items()}}
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}  # own, unshared storage
    config = {}
    for key, value in obj.items():
        if key in ("state_dict", "scales") or key in TRAINING_STATE:
            continue
        config[key] = _plain(value, f"{name}: {key}")
    return config, tensors


def _plain(value: Any, where: str) -> Any:
    """`value` as JSON can hold it (tuples as lists; NaN and infinities as the strings "NaN", "Infinity",
    "-Infinity", which strict JSON lacks and charrnn's metric readers turn back into floats)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else ("NaN" if math.isnan(value) else
                                                   "Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _plain(v, f"{where}.{k}") for k, v in value.items()}
    what = "tensors outside state_dict and scales" if torch.is_tensor(value) else type(value).__name__
    raise CheckpointError(f"{where} holds {what}, which a model folder cannot hold")


def write(obj: dict[str, Any], out: str | os.PathLike, card: str, name: str, force: bool = False) -> Path:
    """Write checkpoint `obj` as the model folder `out` (config.json, model.safetensors, README.md `card`).

    Built in a hidden temporary folder beside `out` and published with one rename: `out` is the whole new folder
    or, on any error, what it was before. An existing `out` is replaced only with `force` and only when it is a
    model folder (nothing else in it); an empty folder is taken.
    """
    config, tensors = split(obj, name)
    text = json.dumps(config, indent=1, ensure_ascii=False, allow_nan=False)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        (tmp / CONFIG).write_text(text + "\n", encoding="utf-8")
        meta = {"format": "pt", "charrnn_kind": str(obj.get("kind")),
                "charrnn_format_version": str(obj.get("format_version"))}
        safetensors.torch.save_file(tensors, tmp / WEIGHTS, metadata=meta)
        (tmp / CARD).write_text(card, encoding="utf-8")
        mask = os.umask(0)
        os.umask(mask)
        for f in FILES:  # safetensors and mkdtemp create them private; a published folder reads like any other
            os.chmod(tmp / f, 0o666 & ~mask)
            with open(tmp / f, "rb") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o777 & ~mask)
        _publish(tmp, out, force)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _publish(tmp: Path, out: Path, force: bool) -> None:
    """Rename the finished folder `tmp` onto `out` (see `write`)."""
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    elif out.exists() or out.is_symlink():
        replaceable = out.is_dir() and not out.is_symlink() and is_model_folder(out) \
            and all(p.name in FILES for p in out.iterdir())
        if not force or not replaceable:
            why = "pass --force to replace it" if replaceable else "it is not a model folder charrnn wrote"
            raise CheckpointError(f"{out} already exists: {why}")
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".old"))
        os.replace(out, old / out.name)
        try:
            os.rename(tmp, out)
        except BaseException:
            os.replace(old / out.name, out)
            raise
        finally:
            shutil.rmtree(old, ignore_errors=True)
        return
    os.rename(tmp, out)
