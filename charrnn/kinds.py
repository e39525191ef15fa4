"""The kinds of checkpoint charrnn knows, in one place.

Every checkpoint records its `kind`. For each kind the registry holds how to check a loaded checkpoint (its
weights against the model its config describes, on the meta device: nothing allocated), how to build it for
inference, how to describe it in a listing (its score line), and the file the app offers first. Listings,
uploads, the app and the CLI look kinds up here. A kind registers itself: its module calls `register(KIND)` when
it is imported (`charrnn.lm.charlm`, `charrnn.sentiment.kind`); this module imports none of them, and importing
`charrnn` imports both.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from .checkpoint import CheckpointError

CHAR_LM = "char-lm"
SENTIMENT = "sentiment"

Metrics = Mapping[str, Any]


@dataclass(frozen=True)
class Kind:
    """What charrnn does with checkpoints of one kind."""

    name: str
    default_file: str  # the checkpoint of this kind the app selects when it is present
    check: Callable[[dict, str], None]  # (loaded checkpoint, file name): CheckpointError unless its model fits
    load: Callable[..., Any]  # (path, device="auto"): the model ready for inference; CheckpointError if refused
    score: Callable[[Metrics], str]  # (the checkpoint's metrics): one line for listings, "" when it has none
    # (loaded checkpoint, file name): the model ready for inference on the CPU, from a checkpoint already read (an
    # upload is read once); None: only `load` from the file
    build: Callable[[dict, str], Any] | None = None


_registry: dict[str, Kind] = {}


def _kinds() -> dict[str, Kind]:
    return _registry


def register(kind: Kind) -> Kind:
    """Add (or replace) a kind; listings, uploads and the app then accept its checkpoints."""
    _kinds()[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Forget a kind added with `register` (tests)."""
    _kinds().pop(name, None)


def names() -> tuple[str, ...]:
    """The names of the known kinds, in registration order."""
    return tuple(_kinds())


def find(name: object) -> Kind | None:
    """The kind called `name`, or None when charrnn does not know it."""
    return _kinds().get(name) if isinstance(name, str) else None


def get(name: str) -> Kind:
    """The kind called `name`; CheckpointError naming the known ones otherwise."""
    kind = find(name)
    if kind is None:
        raise CheckpointError(f"unknown checkpoint kind {name!r}; known kinds: {', '.join(names())}")
    return kind


def load(path: str | os.PathLike, kind: str, device: str = "auto") -> Any:
    """The model of checkpoint `path`, which must be of `kind`, ready for inference on `device`."""
    return get(kind).load(path, device=device)


def score(kind: str, metrics: Metrics) -> str:
    """A kind's score line for `metrics`; "" for kinds charrnn does not know."""
    known = find(kind)
    return known.score(metrics) if known else ""


def metric(metrics: Metrics, key: str, cast: Callable = float):
    """metrics[key] converted by `cast` when it is a plain number or string, else None (files are untrusted)."""
    value = metrics.get(key)
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return None
    try:
        return cast(value)
    except (TypeError, ValueError, OverflowError):
        return None


# ---------------------------------------------------------------- fitting weights to a model, shared by the kinds

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


def build_model(factory: Callable[[], torch.nn.Module], state_dict: dict) -> torch.nn.Module:
    """Build a model and load weights, checking shapes on the meta device first.

    A config that asks for a huge model is refused before any memory is allocated, unless the file
    really holds tensors of those shapes.
    """
    check_shapes(factory, state_dict)
    model = factory()
    model.load_state_dict(state_dict)
    return model


def fit_model(factory: Callable[[], torch.nn.Module], state_dict: dict, layers: int, meta: bool = False
              ) -> torch.nn.Module:
    """`build_model`, or with meta=True only `check_shapes`; a config with more layers than the file has
    tensors is refused first, before even a meta-device probe of it is built."""
    if isinstance(state_dict, dict) and layers > len(state_dict):
        raise ValueError(f"weights do not fit the model described by the config ({layers} layers)")
    return (check_shapes if meta else build_model)(factory, state_dict)
