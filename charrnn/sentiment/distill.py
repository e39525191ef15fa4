"""Distillation: a classifier (often an ensemble or a blend) labels unlabelled texts with its probabilities, and a
new classifier learns from them beside the labelled rows (Hinton et al., 2015; Tang et al., 2019 for an LSTM
learning from a larger model on extra sentences). What it buys: one model that reads like many, in a fraction of
their size and time."""
from __future__ import annotations

import os
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import CheckpointError
from .kind import SentimentModel, load_sentiment
from .predict import predict

MAX_TRANSFER = 2_000_000  # transfer texts read at most (a file with more is refused, not cut)
MAX_TRANSFER_BYTES = 1 << 30
CHUNK = 4096  # texts per teacher call: the progress bar's step


def check_transfer(path: str | os.PathLike) -> Path:
    """The transfer file's path, if it is a file of at most MAX_TRANSFER_BYTES; ValueError otherwise."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"transfer file {p} not found")
    if p.stat().st_size > MAX_TRANSFER_BYTES:
        raise ValueError(f"transfer file {p} is over {MAX_TRANSFER_BYTES >> 20} MiB")
    return p


def read_transfer(path: str | os.PathLike) -> list[str]:
    """The non-empty lines of a UTF-8 text file, one text each (lines end at \\n, \\r\\n or \\r only), refused as
    soon as there are more than MAX_TRANSFER; ValueError naming what is wrong."""
    p = check_transfer(path)
    texts: list[str] = []
    try:
        with open(p, encoding="utf-8-sig") as f:
            for line in f:
                if line.strip():
                    texts.append(line.strip())
                    if len(texts) > MAX_TRANSFER:
                        raise ValueError(f"transfer file {p} has more than {MAX_TRANSFER:,} texts")
    except UnicodeDecodeError as e:
        raise ValueError(f"transfer file {p} is not UTF-8 text (byte {e.start} of a block)") from None
    if not texts:
        raise ValueError(f"transfer file {p} has no texts (one per line)")
    return texts


def load_teacher(path: str | os.PathLike, classes: tuple[str, ...] | None = None,
                 device: str = "cpu") -> SentimentModel:
    """The teacher classifier: two classes, the data's `classes` when given; ValueError naming the teacher."""
    if classes is not None and len(classes) != 2:
        raise ValueError(f"a teacher labels two classes; the data has {len(classes)}")
    try:
        sm = load_sentiment(path, device=device)
    except (CheckpointError, OSError) as e:
        raise ValueError(f"teacher {path}: {e}") from None
    if len(sm.classes) != 2:
        raise ValueError(f"teacher {path} has {len(sm.classes)} classes; a teacher labels two")
    if classes is not None and tuple(sm.classes) != tuple(classes):
        raise ValueError(f"the teacher's classes ({' / '.join(sm.classes)}) are not the data's "
                         f"({' / '.join(classes)})")
    return sm


def teacher_labels(teacher: SentimentModel, texts: list[str], progress: bool = False) -> list[float]:
    """P(second class) for each text from the teacher, CHUNK texts at a time (a progress bar when asked)."""
    probs: list[float] = []
    with tqdm(total=len(texts), disable=not progress, desc="teacher", unit="text", leave=False) as bar:
        for i in range(0, len(texts), CHUNK):
            probs += predict(teacher, texts[i: i + CHUNK], batch_size=256)
            bar.update(min(CHUNK, len(texts) - i))
    return probs
