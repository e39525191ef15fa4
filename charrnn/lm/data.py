"""Character vocabulary and the 41-character chunker: ids in the smallest integer type, windows gathered per batch."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset


class VocabError(ValueError):
    """Text holds characters the vocabulary does not know."""


@dataclass(frozen=True)
class Vocab:
    """Sorted distinct characters <-> integer ids."""

    chars: tuple[str, ...]

    @classmethod
    def from_text(cls, text: str) -> "Vocab":
        if not text:
            raise VocabError("cannot build a vocabulary from empty text")
        return cls(tuple(sorted(set(text))))

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {c: i for i, c in enumerate(self.chars)})

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, ch: str) -> bool:
        return ch in self._index

    def unknown(self, text: str) -> list[str]:
        """Characters of `text` outside the vocabulary, in order of first appearance."""
        return list(dict.fromkeys(c for c in text if c not in self._index))

    @property
    def dtype(self) -> np.dtype:
        """The smallest integer type that holds every id: uint8 up to 256 characters (memory for large corpora)."""
        return np.dtype(np.uint8 if len(self) <= 256 else np.int16 if len(self) <= 32768 else np.int32)

    def encode(self, text: str, replace: str | None = None, dtype=np.int64) -> np.ndarray:
        """Text to ids of `dtype` (int64 unless asked). Unknown characters raise VocabError, or become `replace`.

        Encoded in chunks straight into `dtype`: code points looked up by searchsorted over the sorted code
        points (exactly the vocabulary's order), so a large text never needs an int64 copy of itself."""
        fast = _encode_chunks(text, self.chars, np.dtype(dtype))
        if fast is not None:
            return fast
        missing = self.unknown(text)
        if missing:
            if replace is None or replace not in self._index:
                shown = ", ".join(repr(c) for c in missing[:10])
                more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
                raise VocabError(f"characters not in the model's vocabulary: {shown}{more}")
            text = "".join(c if c in self._index else replace for c in text)
        index = self._index
        return np.fromiter((index[c] for c in text), dtype=dtype, count=len(text))

    def encode_known(self, text: str, dtype=np.int64) -> tuple[np.ndarray, np.ndarray | None]:
        """Text to ids with characters outside the vocabulary read as `stand_in` (never raises), and a bool mask
        of the positions holding a known character (None when all do): scoring leaves the others out."""
        fast = _encode_chunks(text, self.chars, np.dtype(dtype))
        if fast is not None:
            return fast, None
        index, stand_id = self._index, self._index.get(self.stand_in, 0)
        known = np.fromiter((c in index for c in text), dtype=bool, count=len(text))
        ids = np.fromiter((index.get(c, stand_id) for c in text), dtype=dtype, count=len(text))
        return ids, (None if known.all() else known)

    @property
    def stand_in(self) -> str:
        """What an unknown character is read as by `encode_known`: a space when the vocabulary has one."""
        return " " if " " in self._index else self.chars[0]

    def decode(self, ids) -> str:
        chars = self.chars
        return "".join(chars[int(i)] for i in ids)


ENCODE_CHUNK = 1 << 22  # characters per chunk: 16 MB of UTF-32 at a time


def _encode_chunks(text: str, chars: tuple[str, ...], dtype: np.dtype) -> np.ndarray | None:
    """`text` as ids of `dtype`, or None when it holds a character outside `chars` (the caller reports it)."""
    points = np.array([ord(c) for c in chars], dtype=np.uint32)  # sorted, as the vocabulary is
    if not len(points) or np.any(np.diff(points.astype(np.int64)) <= 0):
        return None  # not a sorted vocabulary of single characters: the slow path handles it
    out = np.empty(len(text), dtype=dtype)
    for a in range(0, len(text), ENCODE_CHUNK):
        code = np.frombuffer(text[a : a + ENCODE_CHUNK].encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        pos = np.searchsorted(points, code)
        np.minimum(pos, len(points) - 1, out=pos)
        if not np.array_equal(points[pos], code):
            return None
        out[a : a + len(code)] = pos
    return out


def split_ids(ids: np.ndarray, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous train/validation split: the last `val_fraction` of the text is validation."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    cut = len(ids) - int(round(len(ids) * val_fraction))
    return ids[:cut], ids[cut:]


def first_chars(parts: list[np.ndarray], n: int) -> list[np.ndarray]:
    """The first `n` ids of the parts, in order (a validation split cut to eval_chars, or a probe of it)."""
    kept = []
    for p in parts:
        if n <= 0:
            break
        kept.append(p[:n])
        n -= len(kept[-1])
    return kept


class CharWindows(Dataset):
    """Every stride-1 window of `seq_len + 1` ids: item i is (ids[i:i+seq_len], ids[i+1:i+seq_len+1]).

    The ids stay in their own (small) integer type, one copy of the text; a batch gathers its windows and only
    they become int64 (the textbook materialises len(text) x 41 int64 values). Given several texts (`parts`),
    the windows are those of each part, in order: none spans two parts.
    """

    def __init__(self, ids: np.ndarray | torch.Tensor | list, seq_len: int = 40):
        if seq_len < 1:
            raise ValueError(f"seq_len must be at least 1, got {seq_len}")
        parts = ids if isinstance(ids, list) else [ids]
        parts = [torch.as_tensor(_torch_friendly(p)) for p in parts]
        self.seq_len = seq_len
        counts = [max(0, len(p) - seq_len) for p in parts]
        if sum(counts) < 1:
            total = sum(len(p) for p in parts)
            raise ValueError(
                f"text of {total} characters is too short for windows of {seq_len + 1} characters"
            )
        self.ids = parts[0] if len(parts) == 1 else torch.cat(parts)
        offsets = np.cumsum([0] + [len(p) for p in parts[:-1]])
        self._first = torch.as_tensor(np.cumsum([0] + counts[:-1]), dtype=torch.long)  # window index of each part
        self._offset = torch.as_tensor(offsets, dtype=torch.long)
        self._count = sum(counts)
        self._span = torch.arange(seq_len + 1)

    def __len__(self) -> int:
        return self._count

    def start(self, i: torch.Tensor) -> torch.Tensor:
        """Positions in `ids` of window indices `i`."""
        if len(self._first) == 1:
            return i
        part = torch.searchsorted(self._first, i, right=True) - 1
        return i - self._first[part] + self._offset[part]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        s = int(self.start(torch.tensor([i % len(self)], device=self.ids.device))[0])
        w = self.ids[s : s + self.seq_len + 1].long()
        return w[:-1], w[1:]

    def to(self, device: torch.device | str) -> CharWindows:
        """Keep the text on `device` (it is small: one byte per character for most vocabularies), so each batch is
        gathered there and only the window indices cross from the host."""
        self.ids, self._first, self._offset, self._span = (
            t.to(device) for t in (self.ids, self._first, self._offset, self._span))
        return self

    def batch(self, starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gather a (batch, seq_len) input/target pair for the given window indices in one indexing op, on the
        device that holds the text."""
        starts = starts.to(self.ids.device, non_blocking=True)
        w = self.ids[self.start(starts)[:, None] + self._span].long()
        return w[:, :-1], w[:, 1:]


def _torch_friendly(ids):
    """uint8/int16/int32/int64 arrays pass as they are; other integer types become int64."""
    if isinstance(ids, np.ndarray) and ids.dtype not in (np.uint8, np.int16, np.int32, np.int64):
        return ids.astype(np.int64)
    return ids


SEGMENT_CHARS = 4000  # how far a stream reads on, carrying its state, before it starts somewhere new


class StreamBatches:
    """Batches for truncated backpropagation through time: `batch` streams, each reading `seq_len` characters a
    step from where it stopped, the model carrying its recurrent state from step to step, so nearly every
    prediction has long context (as in evaluation) rather than at most seq_len characters.

    A stream reads a segment of up to `segment` characters of one part, then starts a new one at a random place
    (its row of the state is reset: `next` says which rows start afresh). Segment starts are drawn uniformly from
    [-segment + 1, n) and clipped to the part (parts drawn by n + segment - 1), so every position of every part
    is read about equally often; no segment spans two parts. The positions are all the state there is
    (`state_dict`); the draws come from the caller's generator, so a resumed run continues exactly.
    """

    def __init__(self, ids: np.ndarray | torch.Tensor | list, seq_len: int, batch: int,
                 segment: int = SEGMENT_CHARS):
        if seq_len < 1 or batch < 1:
            raise ValueError(f"seq_len and batch must be at least 1, got {seq_len} and {batch}")
        parts = [torch.as_tensor(_torch_friendly(p)) for p in (ids if isinstance(ids, list) else [ids])]
        lengths = torch.tensor([len(p) for p in parts], dtype=torch.long)
        if int(lengths.max()) < seq_len + 1:
            raise ValueError(f"text of {int(lengths.sum())} characters is too short for windows of "
                             f"{seq_len + 1} characters")
        self.seq_len, self.batch, self.segment = seq_len, batch, max(segment, seq_len + 1)
        self.ids = parts[0] if len(parts) == 1 else torch.cat(parts)
        self._offset = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)[:-1]])
        self._length = lengths
        # a draw covers a given position of a part of n characters with chance segment / (n + segment - 1), so
        # parts drawn in proportion to n + segment - 1 get every position read alike; parts too short never
        self._weight = torch.where(lengths >= seq_len + 1, lengths + self.segment - 1, 0).double()
        self._span = torch.arange(seq_len + 1)
        self.pos = torch.zeros(batch, dtype=torch.long)  # next chunk's first id, in self.ids
        self.end = torch.zeros(batch, dtype=torch.long)  # the stream's segment ends before this id

    def next(self, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The next (batch, seq_len) inputs and targets, and a (batch,) bool: rows that start a new segment."""
        fresh = self.end - self.pos < self.seq_len + 1
        k = int(fresh.sum())
        if k:
            part = torch.multinomial(self._weight, k, replacement=True, generator=gen)
            n = self._length[part]
            s = (torch.rand(k, generator=gen, dtype=torch.float64) * (n + self.segment - 1)).long() - self.segment + 1
            a = s.clamp(min=0).minimum(n - self.seq_len - 1)
            b = (s + self.segment).minimum(n).maximum(a + self.seq_len + 1)
            self.pos[fresh], self.end[fresh] = self._offset[part] + a, self._offset[part] + b
        w = self.ids[self.pos.to(self.ids.device)[:, None] + self._span].long()
        self.pos += self.seq_len
        return w[:, :-1], w[:, 1:], fresh

    def to(self, device: torch.device | str) -> StreamBatches:
        """Keep the text on `device`, so each chunk is gathered there; the positions (the resumable state, drawn
        from the caller's host generator) stay on the host and only they cross, one number per stream a step."""
        self.ids, self._span = self.ids.to(device), self._span.to(device)
        return self

    def state_dict(self) -> dict:
        return {"pos": self.pos.clone(), "end": self.end.clone()}

    def load_state_dict(self, state: dict) -> None:
        pos, end = torch.as_tensor(state["pos"]).long(), torch.as_tensor(state["end"]).long()
        if pos.shape != (self.batch,) or end.shape != (self.batch,) or bool((end > len(self.ids)).any()):
            raise ValueError(f"stream positions do not fit {self.batch} streams over {len(self.ids)} characters")
        self.pos, self.end = pos.clone(), end.clone()
