"""One-file checkpoints: plain values and tensors only, written atomically, read with weights_only=True.

What each kind of checkpoint holds, and how its model is checked and built, is in `charrnn.kinds`.
"""
from __future__ import annotations

import io
import os
import pickle
import pickletools
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError, short  # defined there, used here and as ckpt.CheckpointError / ckpt.short
from .files import NotRegularFileError, atomic_write, regular_file
from . import hub, modelfolder

FORMAT_VERSION = 1  # what checkpoints are written as
INT8_FORMAT_VERSION = 2  # with int8 matrices and their row scales ("scales"): a charrnn without them refuses the file
MULTICLASS_FORMAT_VERSION = 3  # a classifier of more than two classes: a charrnn that reads only two refuses it
READS_UP_TO = MULTICLASS_FORMAT_VERSION
MAX_PARAMS_ENV = "CHARRNN_MAX_PARAMS"
DEFAULT_MAX_PARAMS = 100_000_000  # weights a checkpoint may hold; the largest shipped model has 19M


def save(obj: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write `obj` to `path` through a temporary file and os.replace, so readers never see half a file."""
    path = Path(path)
    with atomic_write(path) as f:
        torch.save(obj, f)
    return path


def load(path: str | os.PathLike, kind: str | None = None, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint safely and check its format and, if given, its kind.

    `path` is a .pt file (read with weights_only=True), a model folder (config.json + model.safetensors, see
    `charrnn.modelfolder`) or a Hub name, hf://user/name[@revision] (downloaded into the Hugging Face cache). All
    three give the same dict and go through the same checks.
    """
    name = display_name(path)
    path = hub.resolve(str(path)) if hub.is_hub_name(path) else Path(path)
    if path.is_dir():
        obj = modelfolder.read(path, name)
        if torch.device(map_location).type != "cpu":
            for group in ("state_dict", "scales"):
                if group in obj:
                    obj[group] = {k: v.to(map_location) for k, v in obj[group].items()}
    else:
        try:
            regular_file(path, "checkpoint")  # a FIFO or a device would block or never end
        except FileNotFoundError:
            raise CheckpointError(f"checkpoint not found: {path}") from None
        except NotRegularFileError as err:
            raise CheckpointError(str(err)) from None
        obj = _load_pt(path, map_location)
    return _checked(obj, name, kind)


def display_name(path: str | os.PathLike) -> str:
    """How messages name a checkpoint: its file or folder name, or the whole hf:// name."""
    return str(path) if hub.is_hub_name(path) else Path(path).name


def _load_pt(path: Path, map_location: str | torch.device) -> Any:
    """torch.load(weights_only=True) of a .pt file; CheckpointError naming the code it references, if any."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        unsafe = re.search(r"Unsupported global: (?:GLOBAL )?([\w.]+)|(?:GLOBAL|global) ([\w.]+) was not an allowed",
                           str(e))
        name = (unsafe.group(1) or unsafe.group(2)) if unsafe else next(iter(pickled_code(path)), None)
        if name:
            raise CheckpointError(
                f"{path.name} was refused: it references {name}, which is not a tensor or plain value; "
                f"loading it could run code, so it is not loaded"
            ) from None
        raise CheckpointError(f"{path.name} is not a readable checkpoint (truncated or corrupt?)") from None
    except Exception as e:  # torch.load fails on arbitrary bytes with many types (IndexError, KeyError, ...)
        detail = f": {short(e)}" if str(e).strip() else ""
        raise CheckpointError(f"{path.name} is not a readable checkpoint (truncated or corrupt?){detail}") from None


def _checked(obj: Any, name: str, kind: str | None) -> dict:
    """`obj` when it is a charrnn checkpoint this version reads, of `kind` when given; CheckpointError if not."""
    if not isinstance(obj, dict) or "format_version" not in obj or not isinstance(obj.get("kind"), str):
        raise CheckpointError(f"{name} is not a charrnn checkpoint (no format_version/kind)")
    version = obj["format_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version > READS_UP_TO:
        raise CheckpointError(
            f"{name} has format_version {short(version, 40)}; this charrnn reads up to {READS_UP_TO}: "
            f"upgrade charrnn"
        )
    if kind is not None and obj["kind"] != kind:
        raise CheckpointError(f"{name} is a {obj['kind']!r} checkpoint, expected {kind!r}")
    if "state_dict" not in obj or "config" not in obj:
        raise CheckpointError(f"{name} lacks a state_dict or config")
    check_tensors(obj, name)
    return obj


def max_params() -> int:
    """The most weights a checkpoint may hold: $CHARRNN_MAX_PARAMS, else DEFAULT_MAX_PARAMS."""
    value = os.environ.get(MAX_PARAMS_ENV, "").strip()
    if not value:
        return DEFAULT_MAX_PARAMS
    try:
        limit = int(value.replace("_", ""))
    except ValueError:
        raise CheckpointError(f"{MAX_PARAMS_ENV}={value!r} is not a whole number") from None
    if limit < 1:
        raise CheckpointError(f"{MAX_PARAMS_ENV} must be at least 1, got {limit}")
    return limit


def _tensors(value, depth: int = 0):
    """Every tensor inside `value` (dicts, lists and tuples of a loaded checkpoint, a few levels deep)."""
    if isinstance(value, torch.Tensor):
        yield value
    elif depth < 6 and isinstance(value, dict):
        for v in value.values():
            yield from _tensors(v, depth + 1)
    elif depth < 6 and isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors(v, depth + 1)


def check_tensors(obj: dict, name: str) -> None:
    """Refuse, before any model is built, a checkpoint whose tensors would take far more memory than the file.

    A tensor whose storage holds fewer elements than its shape needs (a zero-stride or overlapping view: a few
    bytes on disk that become gigabytes once copied into a model) is refused, and so are weights above the
    parameter budget (`max_params`).
    """
    for tensor in _tensors(obj):
        if tensor.numel() * tensor.element_size() > tensor.untyped_storage().nbytes():
            raise CheckpointError(
                f"{name} was refused: a tensor of shape {tuple(tensor.shape)} is stored in "
                f"{tensor.untyped_storage().nbytes():,} bytes (a view that repeats its values); "
                f"checkpoints hold whole tensors")
    weights = obj.get("state_dict")
    total = sum(v.numel() for v in weights.values() if isinstance(v, torch.Tensor)) if isinstance(weights, dict) else 0
    if total > max_params():
        raise CheckpointError(f"{name} was refused: its model has {total:,} weights, more than the limit of "
                              f"{max_params():,} (set {MAX_PARAMS_ENV} to allow more)")


_SAFE_MODULES = ("torch", "collections", "_codecs", "builtins.set", "builtins.bytearray", "numpy")
_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING", "SHORT_BINSTRING"}


def pickled_code(path: str | os.PathLike, limit: int = 1 << 26) -> list[str]:
    """The callables a pickle (raw, or a torch zip file's data.pkl) would import, found without unpickling it.

    Used only to explain why torch's safe loader refused a file (for pickle opcodes it does not support, it does
    not name the global). Torch's own rebuild functions and containers are left out; never raises.
    """
    found: list[str] = []
    try:
        path = Path(path)
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                member = next((i for i in z.infolist() if i.filename.endswith("data.pkl")), None)
                data = z.read(member) if member is not None and member.file_size <= limit else b""
        else:
            with open(path, "rb") as f:
                data = f.read(limit)
        stream = io.BytesIO(data)
        for _ in range(8):  # torch's legacy format is several pickles in a row
            start = stream.tell()
            strings: list = []
            memo: dict = {}
            for op, arg, _pos in pickletools.genops(stream):
                if op.name in _STRING_OPS:
                    strings.append(arg)
                elif op.name == "MEMOIZE" and strings:
                    memo[len(memo)] = strings[-1]
                elif op.name in ("BINPUT", "LONG_BINPUT", "PUT") and strings:
                    memo[arg] = strings[-1]
                elif op.name in ("BINGET", "LONG_BINGET", "GET") and isinstance(memo.get(arg), str):
                    strings.append(memo[arg])
                elif op.name in ("GLOBAL", "INST"):
                    found.append(str(arg).replace(" ", "."))
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    found.append(f"{strings[-2]}.{strings[-1]}")
            if stream.tell() in (start, len(data)):
                break
    except Exception:  # damaged or not a pickle: whatever was found so far
        pass
    return [name for name in dict.fromkeys(found) if not name.startswith(_SAFE_MODULES)]

