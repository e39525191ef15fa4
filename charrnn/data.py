"""Character vocabulary and the 41-character chunker: stride-1 windows as views, never copies."""
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

    def encode(self, text: str, replace: str | None = None) -> np.ndarray:
        """Text to int64 ids. Unknown characters raise VocabError, or become `replace` if given."""
        missing = self.unknown(text)
        if missing:
            if replace is None or replace not in self._index:
                shown = ", ".join(repr(c) for c in missing[:10])
                more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
                raise VocabError(f"characters not in the model's vocabulary: {shown}{more}")
            text = "".join(c if c in self._index else replace for c in text)
        index = self._index
        return np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids) -> str:
        chars = self.chars
        return "".join(chars[int(i)] for i in ids)


def split_ids(ids: np.ndarray, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous train/validation split: the last `val_fraction` of the text is validation."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    cut = len(ids) - int(round(len(ids) * val_fraction))
    return ids[:cut], ids[cut:]


class CharWindows(Dataset):
    """Every stride-1 window of `seq_len + 1` ids: item i is (ids[i:i+seq_len], ids[i+1:i+seq_len+1]).

    Windows are views into one shared tensor, so memory stays at one copy of the text whatever
    the number of windows (the textbook materialises len(text) x 41 int64 values).
    """

    def __init__(self, ids: np.ndarray | torch.Tensor, seq_len: int = 40):
        if seq_len < 1:
            raise ValueError(f"seq_len must be at least 1, got {seq_len}")
        self.ids = torch.as_tensor(ids, dtype=torch.long)
        self.seq_len = seq_len
        if len(self.ids) < seq_len + 1:
            raise ValueError(
                f"text of {len(self.ids)} characters is too short for windows of {seq_len + 1} characters"
            )
        self.windows = self.ids.unfold(0, seq_len + 1, 1)

    def __len__(self) -> int:
        return self.windows.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        w = self.windows[i]
        return w[:-1], w[1:]

    def batch(self, starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gather a (batch, seq_len) input/target pair for the given window starts in one indexing op."""
        w = self.windows[starts]
        return w[:, :-1], w[:, 1:]
