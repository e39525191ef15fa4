"""IMDb Large Movie Review Dataset: download with checksum, read from the .tar.gz or an extracted folder,
and the chapter's fixed-seed 20,000/5,000 train/validation split."""
from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import re
import tarfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..files import NotRegularFileError, atomic_write, default_cache_dir, regular_file

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
URL_ENV = "CHARRNN_IMDB_URL"
VAL_SIZE = 5000
SPLIT_SEED = 1

_MEMBER = re.compile(r"(?:^|/)(train|test)/(pos|neg|unsup)/([^/]+)\.txt$")


class ImdbError(ValueError):
    """The IMDb data could not be downloaded, found or read."""


@dataclass(frozen=True)
class Review:
    text: str
    label: int  # 1 positive, 0 negative, -1 unlabeled
    name: str  # "<split>/<pos|neg|unsup>/<id>_<rating>"


@dataclass
class Imdb:
    """The labeled train and test reviews (sorted by name, so every layout gives the same order) and, if read, unsup."""

    train: list[Review]
    test: list[Review]
    unsup: list[Review] = field(default_factory=list)
    source: str = ""


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_imdb(
    cache_dir: str | os.PathLike | None = None,
    url: str | None = None,
    sha256: str | None = IMDB_SHA256,
    timeout: float = 60.0,
) -> Path:
    """Fetch the IMDb archive into `cache_dir` (default corpora/ or $CHARRNN_CORPORA) and return its path.

    The URL comes from the argument, else $CHARRNN_IMDB_URL, else Stanford's. The download is checked
    against `sha256` (None skips the check) before it is moved into place, so a bad or partial file is never
    cached; an already cached file with the right checksum is returned without any request.
    """
    url = url or os.environ.get(URL_ENV) or IMDB_URL
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache / "aclImdb_v1.tar.gz"
    if path.is_file() and (sha256 is None or sha256_file(path) == sha256):
        return path
    h = hashlib.sha256()
    with atomic_write(path) as f:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                for block in iter(lambda: r.read(1 << 20), b""):
                    f.write(block)
                    h.update(block)
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
            raise ImdbError(f"could not download the IMDb archive from {url}: {e}") from None
        if sha256 is not None and h.hexdigest() != sha256:
            raise ImdbError(
                f"downloaded IMDb archive from {url} has sha256 {h.hexdigest()}, expected {sha256}; not cached"
            )
    return path


def _add(found: dict[str, list[Review]], split: str, label: str, stem: str, raw: bytes) -> None:
    key = "unsup" if label == "unsup" else split
    lab = {"pos": 1, "neg": 0, "unsup": -1}[label]
    found[key].append(Review(raw.decode("utf-8", errors="replace"), lab, f"{split}/{label}/{stem}"))


def _read_tar(path: Path, unsup: bool) -> dict[str, list[Review]]:
    found: dict[str, list[Review]] = {"train": [], "test": [], "unsup": []}
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                m = _MEMBER.search(member.name)
                if not m or not member.isfile() or (m[2] == "unsup" and not unsup):
                    continue
                f = tar.extractfile(member)
                if f is not None:
                    _add(found, m[1], m[2], m[3], f.read())
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, OSError) as e:
        raise ImdbError(f"{path} is not a readable .tar.gz archive (truncated or corrupt?): {e}") from None
    return found


def _read_folder(path: Path, unsup: bool) -> dict[str, list[Review]]:
    root = path / "aclImdb" if (path / "aclImdb").is_dir() and not (path / "train").is_dir() else path
    found: dict[str, list[Review]] = {"train": [], "test": [], "unsup": []}
    labels = ("pos", "neg", "unsup") if unsup else ("pos", "neg")
    for split in ("train", "test"):
        for label in labels:
            folder = root / split / label
            if folder.is_dir():
                for file in folder.glob("*.txt"):
                    _add(found, split, label, file.stem, file.read_bytes())
    return found


def load_imdb(path: str | os.PathLike, unsup: bool = False) -> Imdb:
    """Read the IMDb reviews from the .tar.gz (streamed in one pass, nothing unpacked) or an extracted
    `aclImdb/` folder (or the folder holding it). Labels come from the pos/neg folder names."""
    path = Path(path)
    if not path.exists():
        raise ImdbError(f"IMDb data not found: {path} (give the aclImdb_v1.tar.gz archive or the aclImdb folder)")
    if not path.is_dir():
        try:
            regular_file(path, "IMDb archive")
        except NotRegularFileError as e:
            raise ImdbError(str(e)) from None
    found = _read_folder(path, unsup) if path.is_dir() else _read_tar(path, unsup)
    for key in ("train", "test"):
        if not found[key]:
            raise ImdbError(
                f"no {key} reviews found in {path}: expected aclImdb/{key}/pos/*.txt and aclImdb/{key}/neg/*.txt"
            )
        found[key].sort(key=lambda r: r.name)
    found["unsup"].sort(key=lambda r: r.name)
    return Imdb(found["train"], found["test"], found["unsup"], source=str(path))


def split_train_val(
    reviews: list[Review], val_size: int = VAL_SIZE, seed: int = SPLIT_SEED
) -> tuple[list[Review], list[Review]]:
    """The chapter's split: torch random_split of the training reviews into (n - val_size, val_size) with a
    seeded generator, so the same reviews land in validation every time. Small sets keep a fifth for validation."""
    n = len(reviews)
    if n < 2:
        raise ImdbError(f"need at least 2 training reviews to split off a validation set, got {n}")
    if val_size >= n:
        val_size = max(1, n // 5)
    gen = torch.Generator().manual_seed(seed)
    a, b = torch.utils.data.random_split(range(n), [n - val_size, val_size], generator=gen)
    return [reviews[i] for i in a.indices], [reviews[i] for i in b.indices]
