"""One-file checkpoints: plain values and tensors only, written atomically, read with weights_only=True."""
from __future__ import annotations

import io
import os
import pickle
import pickletools
import re
import reprlib
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable

import torch
from torch.overrides import TorchFunctionMode

from .data import Vocab
from .files import atomic_write
from .model import CharRNN, ModelConfig

FORMAT_VERSION = 1
KINDS = ("char-lm", "sentiment")


class CheckpointError(ValueError):
    """A checkpoint file is missing, damaged, unsafe, or of the wrong kind."""


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 80, 80


def short(value, limit: int = 200) -> str:
    """`value` (an exception's message, a value's repr) on one line of at most `limit` characters.

    Values come from untrusted files: their repr is depth-limited, so deep nesting cannot recurse without end.
    """
    try:
        text = str(value) if isinstance(value, BaseException) else _REPR.repr(value)
    except (RecursionError, ValueError, TypeError):
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def save(obj: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write `obj` to `path` through a temporary file and os.replace, so readers never see half a file."""
    path = Path(path)
    with atomic_write(path) as f:
        torch.save(obj, f)
    return path


def load(path: str | os.PathLike, kind: str | None = None, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint safely (weights_only=True) and check its format and, if given, its kind."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location=map_location, weights_only=True)
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
    if not isinstance(obj, dict) or "format_version" not in obj or not isinstance(obj.get("kind"), str):
        raise CheckpointError(f"{path.name} is not a charrnn checkpoint (no format_version/kind)")
    version = obj["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path.name} has format_version {short(version, 40)}; this charrnn reads up to {FORMAT_VERSION}: "
            f"upgrade charrnn"
        )
    if kind is not None and obj["kind"] != kind:
        raise CheckpointError(f"{path.name} is a {obj['kind']!r} checkpoint, expected {kind!r}")
    if "state_dict" not in obj or "config" not in obj:
        raise CheckpointError(f"{path.name} lacks a state_dict or config")
    return obj


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


_INIT_FUNCTIONS = {"normal_", "uniform_", "zero_", "fill_", "constant_", "zeros_", "ones_", "kaiming_uniform_",
                   "kaiming_normal_", "xavier_uniform_", "xavier_normal_", "orthogonal_", "trunc_normal_"}


class _SkipInit(TorchFunctionMode):
    """Skips parameter initialisation while a shape probe is built on the meta device.

    A probe needs shapes only, and initialising meta tensors imports torch._dynamo (about 2 s, once per process).
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", None) in _INIT_FUNCTIONS:
            return args[0] if args else (kwargs or {}).get("tensor")
        return func(*args, **(kwargs or {}))


def check_shapes(factory: Callable[[], torch.nn.Module], state_dict: dict) -> torch.nn.Module:
    """The model `factory` builds, on the meta device (no memory), after checking `state_dict` fits it exactly.

    ValueError naming the first tensors that do not fit, or holding NaN or infinite values (a diverged run: such
    weights cannot produce text or scores).
    """
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ValueError("state_dict is not a dict of tensors")
    bad = [k for k, v in state_dict.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ValueError(f"weights hold NaN or infinite values ({', '.join(map(str, bad[:3]))}): "
                         f"the training run diverged")
    with torch.device("meta"), _SkipInit():
        probe = factory()
    expected = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state_dict.items() if isinstance(v, torch.Tensor)}
    if expected != got:
        wrong = sorted(k for k in expected.keys() | got.keys() if expected.get(k) != got.get(k))
        detail = ", ".join(f"{k}: expected {expected.get(k)}, found {got.get(k)}" for k in wrong[:3])
        raise ValueError(f"weights do not fit the model described by the config ({detail})")
    return probe


def fit_model(factory: Callable[[], torch.nn.Module], state_dict: dict, layers: int, meta: bool = False
              ) -> torch.nn.Module:
    """`build_model`, or with meta=True only `check_shapes`; a config with more layers than the file has
    tensors is refused first, before even a meta-device probe of it is built."""
    if isinstance(state_dict, dict) and layers > len(state_dict):
        raise ValueError(f"weights do not fit the model described by the config ({layers} layers)")
    return (check_shapes if meta else build_model)(factory, state_dict)


def build_model(factory: Callable[[], torch.nn.Module], state_dict: dict) -> torch.nn.Module:
    """Build a model and load weights, checking shapes on the meta device first.

    A config that asks for a huge model is refused before any memory is allocated, unless the file
    really holds tensors of those shapes.
    """
    check_shapes(factory, state_dict)
    model = factory()
    model.load_state_dict(state_dict)
    return model


def char_lm_parts(obj: dict, name: str, meta: bool = False) -> tuple[Vocab, CharRNN]:
    """The vocabulary and model of a loaded char-lm checkpoint; CheckpointError when they do not fit together.

    With meta=True the model is only checked: it is built on the meta device, allocating nothing.
    """
    try:
        vocab = Vocab(tuple(obj["vocab"]))
        if not all(isinstance(c, str) and len(c) == 1 for c in vocab.chars) or len(set(vocab.chars)) != len(vocab):
            raise ValueError("the vocabulary must be a list of distinct single characters")
        cfg = ModelConfig(**obj["config"]["model"])
        if cfg.vocab_size != len(vocab):
            raise ValueError(f"vocabulary has {len(vocab)} characters but the model expects {cfg.vocab_size}")
        model = fit_model(lambda: CharRNN(cfg), obj["state_dict"], cfg.layers, meta)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as e:
        raise CheckpointError(f"{name} does not match a char-lm model: {short(e, 300)}") from None
    return vocab, model
