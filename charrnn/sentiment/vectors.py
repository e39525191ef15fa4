"""Pretrained word vectors for the classifier's embedding: reading GloVe text, word2vec text and word2vec binary
files (auto-detected), and learning vectors from unlabeled text by PPMI + truncated SVD, saved as word2vec text."""
from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..files import atomic_write, regular_file
from .text import PAD_ID, WordVocab

GLOVE, W2V_TEXT, W2V_BINARY = "glove", "word2vec-text", "word2vec-binary"
_HEADER = re.compile(rb"\s*(\d+)[ \t]+(\d+)\s*")
MAX_DIM = 100_000  # a header promising longer vectors is not believed
_MAX_WORD = 4096  # bytes: a longer "word" means the file is not word2vec binary


def detect_format(path: str | os.PathLike) -> str:
    """GLOVE (`word v1 v2 ...` lines), W2V_TEXT (a `count dim` line, then GloVe-like lines) or W2V_BINARY (a
    `count dim` line, then per word `word ` and dim little-endian float32s)."""
    try:
        regular_file(path, "word vectors")  # a FIFO or /dev/zero would block or never end
    except FileNotFoundError:
        raise ValueError(f"cannot read word vectors {path}: no such file") from None
    try:
        with open(path, "rb") as f:
            header = _HEADER.fullmatch(f.readline(4096))
            if not header:
                return GLOVE
            dim = int(header[2])
            line = f.read(4096 + 32 * min(dim, MAX_DIM)).split(b"\n", 1)[0]
    except OSError as e:
        raise ValueError(f"cannot read word vectors {path}: {e}") from None
    try:  # a line of numbers is text, even with the wrong count (the reader then says so); raw floats are not
        parts = line.decode("utf-8").rstrip().split(" ")
        [float(v) for v in parts[1:]]
        return W2V_TEXT if len(parts) >= 2 else W2V_BINARY
    except (UnicodeDecodeError, ValueError):
        return W2V_BINARY


@dataclass
class GloveResult:
    vectors: torch.Tensor  # (len(vocab), dim); words not in the file keep a small random vector, <pad> is zero
    found: int
    coverage: float  # fraction of the vocabulary (without <pad>/<unk>) found in the file


def load_vectors(path: str | os.PathLike, vocab: WordVocab, dim: int | None = None, seed: int = 1) -> GloveResult:
    """Vectors for the words of `vocab` from a GloVe, word2vec text or word2vec binary file (auto-detected).
    Words not in the file keep a small seeded random vector, `<pad>` is zero; coverage is the fraction of the
    vocabulary (without `<pad>`/`<unk>`) found. ValueError for a truncated, inconsistent or non-vector file."""
    fmt = detect_format(path)
    try:
        with open(path, "rb") as f:
            count = None
            if fmt != GLOVE:
                count, file_dim = (int(v) for v in _HEADER.fullmatch(f.readline(4096)).groups())
                if count < 1 or not 1 <= file_dim <= MAX_DIM:
                    raise ValueError(f"{path}: header promises {count} vectors of {file_dim} values")
                if dim and file_dim != dim:
                    raise ValueError(f"{path}: vectors have {file_dim} values, expected {dim}")
                dim = file_dim
            rows = _binary_rows(f, path, count, dim) if fmt == W2V_BINARY else _text_rows(f, path, dim, count)
            return _collect(rows, vocab, dim, seed, path)
    except OSError as e:
        raise ValueError(f"cannot read word vectors {path}: {e}") from None


def _collect(rows, vocab: WordVocab, dim: int | None, seed: int, path) -> GloveResult:
    """Fill a (len(vocab), dim) tensor from (word, values-or-thunk) rows; values are parsed only for vocab words."""
    gen = torch.Generator().manual_seed(seed)
    vectors = None
    found = 0
    for word, file_dim, values in rows:
        if vectors is None:
            vectors = torch.randn(len(vocab), file_dim, generator=gen) * 0.1
        i = vocab.index.get(word)
        if i is not None and i > 1:
            vectors[i] = torch.as_tensor(values())
            found += 1
    if vectors is None:
        raise ValueError(f"{path} holds no word vectors (expected lines `word v1 v2 ...`)")
    vectors[PAD_ID] = 0
    return GloveResult(vectors, found, found / max(1, len(vocab) - 2))


def _numbers(values: list[str], path, n: int):
    try:
        return [float(v) for v in values]
    except ValueError:
        raise ValueError(f"{path} line {n}: values are not numbers (is it a word-vector file?)") from None


def _text_rows(f, path, dim: int | None, count: int | None):
    """(word, dim, values thunk) per `word v1 v2 ...` line; the first vector's numbers are always checked."""
    n_vectors = 0
    first = 2 if count is not None else 1
    for n, raw in enumerate(f, first):
        parts = raw.decode("utf-8", errors="replace").rstrip().split(" ")
        if len(parts) < 2:
            continue
        if dim is None:
            dim = len(parts) - 1
        if len(parts) - 1 != dim:
            if n_vectors == 0:
                raise ValueError(f"{path}: vectors have {len(parts) - 1} values, expected {dim}")
            raise ValueError(f"{path} line {n}: {len(parts) - 1} values, expected {dim}")
        if n_vectors == 0:
            _numbers(parts[1:], path, n)
        n_vectors += 1
        yield parts[0], dim, (lambda p=parts, n=n: _numbers(p[1:], path, n))
    if count is not None and n_vectors != count:
        raise ValueError(f"{path} is truncated or inconsistent: its header promises {count} vectors, "
                         f"it holds {n_vectors}")


def _binary_rows(f, path, count: int, dim: int, block: int = 1 << 20):
    """(word, dim, values thunk) per word of a word2vec binary file: `word ` then dim float32s (a newline may
    separate entries)."""
    size = 4 * dim
    buf, pos = b"", 0
    for n in range(count):
        while True:
            space = buf.find(b" ", pos)
            if space >= 0 and len(buf) - space - 1 >= size:
                break
            if space < 0 and len(buf) - pos > _MAX_WORD:
                raise ValueError(f"{path} is not a word2vec binary file: vector {n + 1} has no word")
            more = f.read(max(block, size + _MAX_WORD))
            if not more:
                raise ValueError(f"{path} is truncated: its header promises {count} vectors of {dim} values, "
                                 f"the file ends in vector {n + 1}")
            buf, pos = buf[pos:] + more, 0
        word = buf[pos:space].lstrip(b"\r\n").decode("utf-8", errors="replace")
        start = space + 1
        yield word, dim, (lambda b=buf, s=start: np.frombuffer(b, dtype="<f4", count=dim, offset=s).astype(np.float32))
        pos = start + size


@dataclass
class WordVectors:
    """Learned vectors: `vectors[i]` (unit length) is the vector of `words[i]`, seen `counts[i]` times."""

    words: list[str]
    vectors: torch.Tensor  # (len(words), dim) float32
    counts: list[int]
    n_tokens: int  # tokens read, rare words included


def learn_vectors(token_lists: Iterable[list[str]], dim: int = 100, window: int = 5, min_count: int = 5,
                  max_words: int = 50000, seed: int = 1, progress: bool = False) -> WordVectors:
    """Word vectors from unlabeled text: the `max_words` most frequent words seen at least `min_count` times,
    a co-occurrence matrix over +-`window` words (weighted 1/distance, never across documents, rare words
    dropped first), PPMI with context smoothing (alpha 0.75) and a truncated SVD (U * sqrt(S), rows normalised).

    One pass over `token_lists` (an iterator is fine). The counts are built sparsely in chunks: memory is about
    8 bytes per corpus token plus a few tens of bytes per distinct co-occurring pair at the peak (the PPMI and
    SVD step). Measured on one CPU thread with a synthetic Zipf corpus of 8M tokens (50k words, 12M distinct
    pairs): 79 s and under 1 GB beyond the corpus; IMDb's ~25M tokens should take some minutes and 2-3 GB.
    """
    if min(dim, window, min_count, max_words) < 1:
        raise ValueError("dim, window, min_count and max_words must be at least 1")
    flat, words, counts = _index_corpus(token_lists, window, progress)
    order = sorted((i for i in range(1, len(words)) if counts[i] >= min_count), key=lambda i: (-counts[i], words[i]))
    order = order[:max_words]
    if len(order) <= dim:
        raise ValueError(f"only {len(order)} distinct words occur at least {min_count} times; "
                         f"need more than dim={dim} (give more text, or lower min_count or dim)")
    remap = np.full(len(words), -2, dtype=np.int32)
    remap[0] = -1  # document separator
    remap[np.array(order)] = np.arange(len(order), dtype=np.int32)
    n_tokens = int(counts.sum())
    ids = remap[flat]
    del flat
    ids = ids[ids != -2]
    keys, vals = _cooccurrence(ids, len(order), window, progress)
    del ids
    vectors = _ppmi_svd(keys, vals, len(order), dim, seed)
    return WordVectors([words[i] for i in order], vectors, counts[order].tolist(), n_tokens)


def _index_corpus(token_lists: Iterable[list[str]], window: int, progress: bool,
                  chunk: int = 1 << 20) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Every token as an int32 id (0 separates documents, `window` times), the words by id, and their counts."""
    index = {"": 0}
    parts, buf = [], []
    total = len(token_lists) if hasattr(token_lists, "__len__") else None
    for tokens in tqdm(token_lists, total=total, disable=not progress, desc="reading", unit="doc"):
        buf += [index.setdefault(t, len(index)) for t in tokens]
        buf += [0] * window
        if len(buf) >= chunk:
            parts.append(np.array(buf, dtype=np.int32))
            buf = []
    parts.append(np.array(buf, dtype=np.int32))
    flat = np.concatenate(parts)
    counts = np.bincount(flat, minlength=len(index))
    counts[0] = 0
    return flat, list(index), counts


def _reduce(keys: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keys and the sum of their values."""
    if not len(keys):
        return keys, vals
    order = np.argsort(keys, kind="stable")
    keys, vals = keys[order], vals[order]
    del order
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    return keys[starts], np.add.reduceat(vals, starts)


def _cooccurrence(ids: np.ndarray, n: int, window: int, progress: bool, chunk: int = 1 << 20,
                  parts: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric windowed co-occurrence counts as sorted keys row * n + col and float32 sums.

    Each chunk of positions is reduced on its own and split into `parts` row ranges; a range is merged again
    only when its pending pieces outgrow it, so no step ever sorts more than a fraction of the pairs."""
    dtype = np.uint32 if n * n < 2**32 else np.uint64
    bounds = (np.linspace(0, n, parts + 1).astype(np.uint64) * np.uint64(n)).astype(dtype)
    merged = [(np.empty(0, dtype), np.empty(0, np.float32)) for _ in range(parts)]
    pending: list[list] = [[] for _ in range(parts)]
    for start in tqdm(range(0, len(ids), chunk), disable=not progress, desc="co-occurrence", unit="chunk"):
        keys, vals = [], []
        center = ids[start:start + chunk]
        for d in range(1, window + 1):
            context = ids[start + d:start + chunk + d]
            a = center[:len(context)]
            ok = (a >= 0) & (context >= 0)
            a, b = a[ok].astype(dtype), context[ok].astype(dtype)
            keys += [a * dtype(n) + b, b * dtype(n) + a]
            vals.append(np.full(2 * len(a), 1 / d, dtype=np.float32))
        k, v = _reduce(np.concatenate(keys), np.concatenate(vals))
        cuts = np.searchsorted(k, bounds)
        for p in range(parts):
            lo, hi = cuts[p], cuts[p + 1]
            if hi > lo:
                pending[p].append((k[lo:hi], v[lo:hi]))
                if sum(len(x) for x, _ in pending[p]) > max(len(merged[p][0]), chunk):
                    merged[p] = _merge(merged[p], pending[p])
    for p in range(parts):
        merged[p] = _merge(merged[p], pending[p])
    return np.concatenate([k for k, _ in merged]), np.concatenate([v for _, v in merged])


def _merge(done: tuple[np.ndarray, np.ndarray], pieces: list) -> tuple[np.ndarray, np.ndarray]:
    out = _reduce(np.concatenate([done[0], *(k for k, _ in pieces)]),
                  np.concatenate([done[1], *(v for _, v in pieces)]))
    pieces.clear()
    return out


def _ppmi_svd(keys: np.ndarray, vals: np.ndarray, n: int, dim: int, seed: int) -> torch.Tensor:
    """Unit-length rows of U * sqrt(S) from a truncated SVD of the PPMI matrix of the co-occurrence counts."""
    rows = (keys // keys.dtype.type(n)).astype(np.int32)
    cols = (keys % keys.dtype.type(n)).astype(np.int32)
    del keys
    row_sum = np.bincount(rows, weights=vals, minlength=n)
    context = row_sum ** 0.75  # the matrix is symmetric: column sums are the row sums
    log_context = np.log(np.maximum(context / context.sum(), 1e-30)).astype(np.float32)
    log_rows = np.log(np.maximum(row_sum, 1e-30)).astype(np.float32)
    pmi = np.log(vals) - log_rows[rows] - log_context[cols]
    keep = pmi > 0
    rows, cols, pmi = rows[keep], cols[keep], pmi[keep].astype(np.float32)
    index_dtype = np.int32 if len(pmi) < 2**31 else np.int64
    crow = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=n)))).astype(index_dtype)
    del rows
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        matrix = torch.sparse_csr_tensor(torch.from_numpy(crow), torch.from_numpy(cols.astype(index_dtype)),
                                         torch.from_numpy(pmi), (n, n))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            u, s, _ = torch.svd_lowrank(matrix, q=min(n, dim + 10), niter=6)
    vectors = u[:, :dim] * s[:dim].sqrt()
    return vectors / vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)


def save_word2vec_text(wv: WordVectors, path: str | os.PathLike) -> None:
    """Write `count dim`, then `word v1 v2 ...` per word, atomically (readers see the old file or the whole new one)."""
    n, dim = wv.vectors.shape
    with atomic_write(path) as f:
        f.write(f"{n} {dim}\n".encode())
        for word, row in zip(wv.words, wv.vectors.tolist()):
            f.write((word + " " + " ".join(f"{v:.6g}" for v in row) + "\n").encode("utf-8"))


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine similarity of two vectors."""
    return float(a @ b / max(1e-12, math.sqrt(float(a @ a) * float(b @ b))))


def load_glove(path: str | os.PathLike, vocab: WordVocab, dim: int | None = None, seed: int = 1) -> GloveResult:
    """Pretrained vectors for the words of `vocab`: GloVe, word2vec text or word2vec binary (see `vectors`)."""
    return load_vectors(path, vocab, dim, seed)
