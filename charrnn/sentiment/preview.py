"""A look at a labelled data file before training on it: its format, its columns, the first rows, and the classes
with their counts, found the way `load_labelled` will read it (and refused for the same reasons)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from .datasets import LabelledData, load_labelled
from .formats import DELIMITED, DatasetError, delimited_records, detect_format, json_items

UPLOAD_FORMATS = ("auto", "csv", "tsv", "glue", "jsonl", "json", "sarcasm", "sentiment140")  # files, not IMDb folders
PREVIEW_ROWS = 5
CELL_CHARS = 160


@dataclass(frozen=True)
class Preview:
    """What a data file holds, as `load_labelled` reads it with these settings."""

    format: str  # the format used ("auto" resolved)
    columns: list[str]  # every column (field) name, in file order
    text_column: str
    label_column: str
    rows: list[list[str]]  # the first rows, one cell per column, long cells shortened
    classes: tuple[str, ...]  # the names of labels 0, 1, ...
    counts: tuple[int, ...]  # rows of each class
    data: LabelledData

    @property
    def summary(self) -> str:
        """One line: rows, format, columns and classes."""
        each = " / ".join(f"{c} ({n:,} rows)" for c, n in zip(self.classes, self.counts))
        return (f"{sum(self.counts):,} rows, format {self.format}; text column {self.text_column!r}, label column "
                f"{self.label_column!r}; {len(self.classes)} classes: {each}")


def _short(value) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def _first_records(path: Path, fmt: str, n: int) -> tuple[list[str], list[list[str]]]:
    """The column names and first `n` rows of a file (already known to be readable in format `fmt`)."""
    if fmt in DELIMITED:
        records = delimited_records(path, fmt)
        try:
            first = [fields for _, fields in islice(records, n + 1)]
        finally:
            records.close()
        if fmt == "sentiment140":
            return [str(i) for i in range(6)], [[_short(c) for c in r] for r in first[:n]]
        return [c.strip() for c in first[0]], [[_short(c) for c in r] for r in first[1:]]
    objects = json_items(path, fmt)
    try:
        items = [obj for _, obj in islice(objects, n)]
    finally:
        objects.close()
    columns: list[str] = []
    for obj in items:
        columns += [str(k) for k in obj if str(k) not in columns]
    return columns, [[_short(obj.get(c)) for c in columns] for obj in items]


def preview_dataset(path: str | os.PathLike, format: str = "auto", text_column: str | None = None,
                    label_column: str | None = None, rows: int = PREVIEW_ROWS) -> Preview:
    """Read the whole file as training will (DatasetError for what training would refuse: one class, more than
    MAX_CLASSES, a damaged or non-text file) and describe it. Columns not given are found by their names, as in
    training."""
    path = Path(path)
    if format not in UPLOAD_FORMATS:
        raise DatasetError(f"unknown dataset format {format!r}; choose from {', '.join(UPLOAD_FORMATS)}")
    if not path.is_file():
        raise DatasetError(f"data file not found: {path.name}")
    fmt = detect_format(path) if format == "auto" else format
    if fmt not in UPLOAD_FORMATS:
        raise DatasetError(f"{path.name} looks like an IMDb archive or folder; upload a CSV, TSV, JSON or JSONL file")
    data = load_labelled(path, fmt, text_column or None, label_column or None)
    columns, first = _first_records(path, data.format, rows)
    counts = [0] * len(data.classes)
    for y in data.train_labels:
        counts[y] += 1
    return Preview(data.format, columns, str(data.text_column), str(data.label_column), first, data.classes,
                   tuple(counts), data)
