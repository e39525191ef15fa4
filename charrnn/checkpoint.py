"""One-file checkpoints: plain values and tensors only, written atomically, read with weights_only=True."""
from __future__ import annotations

import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from .files import atomic_write

FORMAT_VERSION = 1
KINDS = ("char-lm", "sentiment")


class CheckpointError(ValueError):
    """A checkpoint file is missing, damaged, unsafe, or of the wrong kind."""


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
        unsafe = re.search(r"(?:GLOBAL|global) (\S+) was not an allowed global|Unsupported global: (\S+)", str(e))
        if unsafe:
            name = unsafe.group(1) or unsafe.group(2)
            raise CheckpointError(
                f"{path.name} was refused: it references {name}, which is not a tensor or plain value; "
                f"loading it could run code, so it is not loaded"
            ) from None
        raise CheckpointError(f"{path.name} is not a readable checkpoint (truncated or corrupt?)") from None
    except Exception as e:  # torch.load fails on arbitrary bytes with many types (IndexError, KeyError, ...)
        raise CheckpointError(f"{path.name} is not a readable checkpoint (truncated or corrupt?): {str(e)[:200]}") from None
    if not isinstance(obj, dict) or "format_version" not in obj or "kind" not in obj:
        raise CheckpointError(f"{path.name} is not a charrnn checkpoint (no format_version/kind)")
    version = obj["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path.name} has format_version {version!r}; this charrnn reads up to {FORMAT_VERSION}: upgrade charrnn"
        )
    if kind is not None and obj["kind"] != kind:
        raise CheckpointError(f"{path.name} is a {obj['kind']!r} checkpoint, expected {kind!r}")
    if "state_dict" not in obj or "config" not in obj:
        raise CheckpointError(f"{path.name} lacks a state_dict or config")
    return obj


def build_model(factory: Callable[[], torch.nn.Module], state_dict: dict) -> torch.nn.Module:
    """Build a model and load weights, checking shapes on the meta device first.

    A config that asks for a huge model is refused before any memory is allocated, unless the file
    really holds tensors of those shapes.
    """
    with torch.device("meta"):
        probe = factory()
    expected = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state_dict.items() if isinstance(v, torch.Tensor)}
    if expected != got:
        wrong = sorted(k for k in expected.keys() | got.keys() if expected.get(k) != got.get(k))
        detail = ", ".join(f"{k}: expected {expected.get(k)}, found {got.get(k)}" for k in wrong[:3])
        raise ValueError(f"weights do not fit the model described by the config ({detail})")
    model = factory()
    model.load_state_dict(state_dict)
    return model
