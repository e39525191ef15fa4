"""Atomic file writes: readers see the old file or the whole new one, never half of it."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Yield a temporary file beside `path`; when the block succeeds it is synced and moved onto `path`
    with os.replace, when it raises the temporary file is removed and `path` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


CACHE_ENV = "CHARRNN_CORPORA"


def default_cache_dir() -> Path:
    """Where downloads (Gutenberg books, the IMDb archive) are cached: $CHARRNN_CORPORA, else corpora/."""
    return Path(os.environ.get(CACHE_ENV, "corpora"))
