"""Loaded models for many users: which checkpoint a request means, a small cache of loaded models, and the batched
sampling engine of a loaded character model."""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable

from .. import checkpoint as ckpt
from .. import kinds, modelfolder, shelf
from ..lm.charlm import CharLM
from .engine import Engine
from .engine_process import ProcessEngine


class ModelCache:
    """Loaded models by checkpoint file, reloaded when the file changes, least recently used dropped first: at most
    `size` models and `max_weights` weights in all (the newest is always kept; each file is also within the
    checkpoint's own budget, `charrnn.checkpoint.max_params`), so the app's memory stays bounded however many
    checkpoints its users pick. A dropped character model's engine process ends with it."""

    def __init__(self, loader: Callable[[Path], object], size: int = 4, max_weights: int | None = None):
        self.loader = loader
        self.size = size
        self.max_weights = ckpt.max_params() if max_weights is None else max_weights
        self._items: OrderedDict[tuple[str, int, int], object] = OrderedDict()
        self._weights: dict[tuple[str, int, int], int] = {}
        self._lock = threading.Lock()

    def get(self, path: str | os.PathLike):
        """The model of checkpoint `path`, loaded on first use or when the file has changed."""
        path = Path(path)
        key = (str(path), *modelfolder.stamp(path))  # a model folder: its files' sizes and newest mtime
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            obj = self.loader(path)
            self._items[key], self._weights[key] = obj, weights(obj)
            while len(self._items) > 1 and (len(self._items) > self.size or self.total() > self.max_weights):
                dropped, _ = self._items.popitem(last=False)
                del self._weights[dropped]
            return obj

    def total(self) -> int:
        """The weights of the models held now."""
        return sum(self._weights.values())


def weights(obj: object) -> int:
    """The number of weights of a loaded model (its `.model`'s parameters; 0 for anything else)."""
    model = getattr(obj, "model", None)
    return sum(p.numel() for p in model.parameters()) if hasattr(model, "parameters") else 0


def model_cache(kind: str, device: str = "auto", size: int = 4) -> ModelCache:
    """A cache of loaded models of `kind` (a name from `charrnn.kinds`) on `device`."""
    load = kinds.get(kind).load
    return ModelCache(lambda path: load(path, device=device), size)


def pick(folder: str | os.PathLike, name: str | None, kind: str, preferred: str | None = None) -> Path:
    """The checkpoint `name` (checked to be inside `folder` and of `kind`); with no name, `preferred` when it is a
    usable one of `kind`, else the kind's default (`shelf.default_checkpoint`)."""
    if name:
        path = shelf.resolve(folder, name)
        info = shelf.describe(path)
        if info.kind == "unreadable" or (info.error and info.kind == kind):
            raise ckpt.CheckpointError(info.error)
        if info.kind != kind:
            raise ckpt.CheckpointError(f"{name} is a {info.kind} checkpoint, not {kind}")
        return path
    if preferred:
        for info in shelf.list_checkpoints(folder, kind):
            if info.name == preferred:
                return info.path
    return shelf.default_checkpoint(folder, kind)


_engine_lock = threading.Lock()


def engine_for(lm: CharLM) -> Engine | ProcessEngine:
    """The batched sampling engine of a loaded model, made on first use; it lives as long as the model.

    It steps in a process of its own (`charrnn.serve.engine_process`) where child processes can be given a socket
    (POSIX), else in a thread of this one.
    """
    with _engine_lock:
        engine = getattr(lm, "engine", None)
        if engine is None:
            engine = lm.engine = ProcessEngine(lm) if os.name == "posix" else Engine(lm)
        return engine
