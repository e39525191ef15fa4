"""Distillation: a classifier (often an ensemble or a blend) labels unlabelled texts with its probabilities, and a
new classifier learns from them beside the labelled rows (Hinton et al., 2015; Tang et al., 2019 for an LSTM
learning from a larger model on extra sentences). What it buys: one model that reads like many, in a fraction of
their size and time."""
from __future__ import annotations

import os
from pathlib import Path

from tqdm.auto import tqdm

from .kind import load_sentiment
from .predict import predict

MAX_TRANSFER = 2_000_000  # transfer texts read at most (a file with more is refused, not cut)
MAX_TRANSFER_BYTES = 1 << 30
CHUNK = 4096  # texts per teacher call: the progress bar's step


def read_transfer(path: str | os.PathLike) -> list[str]:
    """The non-empty lines of a UTF-8 text file, one text each; ValueError naming what is wrong."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"transfer file {p} not found")
    if p.stat().st_size > MAX_TRANSFER_BYTES:
        raise ValueError(f"transfer file {p} is over {MAX_TRANSFER_BYTES >> 20} MiB")
    try:
        lines = p.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as e:
        raise ValueError(f"transfer file {p} is not UTF-8 text (byte {e.start})") from None
    texts = [line.strip() for line in lines if line.strip()]
    if not texts:
        raise ValueError(f"transfer file {p} has no texts (one per line)")
    if len(texts) > MAX_TRANSFER:
        raise ValueError(f"transfer file {p} has {len(texts):,} texts; at most {MAX_TRANSFER:,}")
    return texts


def teacher_labels(teacher: str | os.PathLike, texts: list[str], classes: tuple[str, ...],
                   progress: bool = False) -> list[float]:
    """P(second class) for each text from the `teacher` classifier, which must have the data's two classes."""
    if len(classes) != 2:
        raise ValueError(f"a teacher labels two classes; the data has {len(classes)}")
    sm = load_sentiment(teacher, device="cpu")
    if tuple(sm.classes) != tuple(classes):
        raise ValueError(f"the teacher's classes ({' / '.join(sm.classes)}) are not the data's "
                         f"({' / '.join(classes)})")
    probs: list[float] = []
    bar = tqdm(total=len(texts), disable=not progress, desc="teacher", unit="text", leave=False)
    for i in range(0, len(texts), CHUNK):
        probs += predict(sm, texts[i: i + CHUNK], batch_size=256)
        bar.update(min(CHUNK, len(texts) - i))
    bar.close()
    return probs
