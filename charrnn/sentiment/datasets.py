"""Labelled-text datasets for the classifier: IMDb (two classes, or four bins of its star ratings), SST-2 (GLUE TSV),
the sarcasm headlines, Sentiment140, and generic CSV/TSV/JSON lines/JSON files; 2 to MAX_CLASSES classes mapped to
labels 0, 1, ..., and a seeded, repeatable held-out split.

The files' formats, rows and columns are sentiment.formats' (DatasetError and Preferred come from there too); here
the label values become classes 0, 1, ..., datasets combine, and the held-out split is made and repeated.

Class order: two classes keep their meaning (class 1 is the larger number, true, or the positive-sounding name);
more than two are in numeric order when every label is a number, else in alphabetical order (case-insensitive).
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ..files import NotRegularFileError, regular_file
from .data import Imdb, ImdbError, Review, load_imdb
from .formats import FORMATS, DatasetError, Preferred, Table, detect_format, read_table
from .model import MAX_CLASSES

DEFAULT_VAL_FRACTION = 0.1
POSITIVE_WORDS = {"pos", "positive", "sarcastic", "yes", "y", "true", "1", "good", "spam", "toxic", "ironic"}
NEGATIVE_WORDS = {"neg", "negative", "not", "not sarcastic", "no", "n", "false", "0", "bad", "ham", "normal"}
SENTIMENT_CLASSES = ("negative", "positive")
SARCASM_CLASSES = ("not sarcastic", "sarcastic")
STAR_BINS = {"1-2": (1, 2), "3-4": (3, 4), "7-8": (7, 8), "9-10": (9, 10)}  # imdb-stars: class -> ratings
STAR_CLASSES = tuple(STAR_BINS)


@dataclass
class LabelledData:
    """Texts labelled 0 .. len(classes) - 1 (classes[label]); test_* is the dataset's own test split, or None."""

    train_texts: list[str]
    train_labels: list[int]
    test_texts: list[str] | None
    test_labels: list[int] | None
    classes: tuple[str, ...]
    source: str
    format: str
    text_column: str | None = None
    label_column: str | None = None
    test_source: str | None = None

    @property
    def has_test(self) -> bool:
        return self.test_texts is not None


def from_imdb(imdb: Imdb) -> LabelledData:
    """IMDb's labelled train and test reviews (in name order) as LabelledData."""
    return LabelledData([r.text for r in imdb.train], [r.label for r in imdb.train],
                        [r.text for r in imdb.test], [r.label for r in imdb.test], SENTIMENT_CLASSES,
                        imdb.source, "imdb")


def star_class(review: Review) -> int:
    """The imdb-stars class of a review named `<split>/<pos|neg>/<id>_<rating>`: its STAR_BINS index."""
    rating = review.name.rsplit("_", 1)[-1]
    for i, (low, high) in enumerate(STAR_BINS.values()):
        if rating.isdigit() and low <= int(rating) <= high:
            return i
    raise DatasetError(f"IMDb review {review.name}: no star rating 1-4 or 7-10 after its '_'")


def from_imdb_stars(imdb: Imdb) -> LabelledData:
    """IMDb's labelled reviews with their star ratings (in the file names) as four classes: 1-2, 3-4, 7-8, 9-10."""
    return LabelledData([r.text for r in imdb.train], [star_class(r) for r in imdb.train],
                        [r.text for r in imdb.test], [star_class(r) for r in imdb.test], STAR_CLASSES,
                        imdb.source, "imdb-stars")


def _imdb(path: Path, fmt: str) -> LabelledData:
    """The IMDb archive or folder at `path` as two classes ("imdb") or four star bins ("imdb-stars")."""
    try:
        imdb = load_imdb(path)
    except ImdbError as e:
        raise DatasetError(str(e)) from None
    return from_imdb_stars(imdb) if fmt == "imdb-stars" else from_imdb(imdb)


def load_labelled(path: str | os.PathLike, format: str = "auto", text_column: str | None = None,
                  label_column: str | None = None, test: str | os.PathLike | None = None,
                  classes: tuple[str, ...] | None = None) -> LabelledData:
    """Read a labelled dataset. `format` "auto" goes by the extension and the first line; columns are found by
    header name unless given. `test` is a second file of the same kind, read as the test split. With `classes`
    (a model's), the labels are mapped onto those classes and one class alone is accepted; an IMDb archive found
    by "auto" for a model of the star classes is read as imdb-stars."""
    path = Path(path)
    if format not in FORMATS:
        raise DatasetError(f"unknown dataset format {format!r}; choose from {', '.join(FORMATS)}")
    _readable(path, "data file")
    fmt = detect_format(path) if format == "auto" else format
    if fmt == "imdb" and format == "auto" and classes is not None and tuple(classes) == STAR_CLASSES:
        fmt = "imdb-stars"
    if fmt in ("imdb", "imdb-stars"):
        data = _imdb(path, fmt)
        if classes is not None and tuple(classes) != data.classes:
            raise DatasetError(f"{path}: the classes of --format {fmt} are {'/'.join(data.classes)}, not "
                               f"{'/'.join(classes)}" + (" (give --format imdb-stars)" if fmt == "imdb" else ""))
    else:
        table = read_table(path, fmt, text_column, label_column)
        texts, labels, found = _labels(path, table, classes)
        if not any(text.strip() for text in texts):
            raise DatasetError(f"{path}: every text in column {table.text_column!r} is empty: nothing to learn from")
        data = LabelledData(texts, labels, None, None, found, str(path), table.format, table.text_column,
                            table.label_column)
    return data if test is None else with_test(data, test)


def _readable(path: Path, what: str) -> None:
    """DatasetError unless `path` is a folder (IMDb) or a regular file: a FIFO or a device would block or never end."""
    if path.is_dir():
        return
    try:
        regular_file(path, what)
    except FileNotFoundError:
        raise DatasetError(f"{what} not found: {path}") from None
    except NotRegularFileError as e:
        raise DatasetError(str(e)) from None


def combine(first: LabelledData, *others: LabelledData) -> LabelledData:
    """One training set of several datasets with the same classes (IMDb reviews plus SST-2 phrases): their training
    rows in order, and the first one's test split."""
    for other in others:
        if tuple(other.classes) != tuple(first.classes):
            raise DatasetError(f"{other.source}: classes {'/'.join(other.classes)} differ from "
                               f"{'/'.join(first.classes)} of {first.source}")
    if not others:
        return first
    parts = (first, *others)
    return replace(first, train_texts=[t for d in parts for t in d.train_texts],
                   train_labels=[y for d in parts for y in d.train_labels], format="+".join(d.format for d in parts),
                   source=" + ".join(os.path.basename(d.source) for d in parts))


def with_test(data: LabelledData, path: str | os.PathLike) -> LabelledData:
    """`data` with the test split read from `path`: the same format and columns, labels mapped onto data.classes."""
    path = Path(path)
    _readable(path, "test file")
    fmt = detect_format(path) if data.format == "imdb" else data.format
    if fmt in ("imdb", "imdb-stars"):
        test = _imdb(path, data.format if data.format == "imdb-stars" else fmt)
        texts, labels = test.test_texts, test.test_labels
    else:
        table = read_table(path, fmt, *(Preferred(c) if c else None for c in (data.text_column, data.label_column)))
        texts, labels, _ = _labels(path, table, data.classes)
    return replace(data, test_texts=texts, test_labels=labels, test_source=str(path))


# ---------------------------------------------------------------- labels


def _number(value: str) -> float | None:
    try:
        x = float(value)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _normal(value: str) -> str:
    """One spelling per label value: 1, 1.0 and "1" alike; true/True/TRUE alike."""
    x = _number(value)
    if x is not None:
        return str(int(x)) if x == int(x) else repr(x)
    return value.lower() if value.lower() in ("true", "false") else value


def _meaning(column: str, fmt: str) -> tuple[str, str] | None:
    """Class names for numeric or true/false labels, from the column or format when they say what 1 means."""
    col = column.strip().lower()
    if fmt == "sarcasm" or col in ("is_sarcastic", "sarcastic", "sarcasm"):
        return SARCASM_CLASSES
    if fmt in ("glue", "sentiment140", "imdb") or col in ("sentiment", "polarity"):
        return SENTIMENT_CLASSES
    if col.startswith("is_") and len(col) > 3:
        name = col[3:].replace("_", " ")
        return f"not {name}", name
    return None


def _order(values: list[str]) -> list[str]:
    """The two label values as (class 0, class 1): the larger number, true, a positive word, else sorted order."""
    a, b = values
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        return [a, b] if na < nb else [b, a]
    if {a.lower(), b.lower()} == {"true", "false"}:
        return [a, b] if a.lower() == "false" else [b, a]
    pos = [v for v in values if v.strip().lower() in POSITIVE_WORDS]
    neg = [v for v in values if v.strip().lower() in NEGATIVE_WORDS]
    if len(pos) == 1:
        return [b, a] if pos[0] == a else [a, b]
    if len(neg) == 1:
        return [a, b] if neg[0] == a else [b, a]
    return sorted(values)


def class_order(values: list[str]) -> list[str]:
    """Three or more label values in class order: numeric order when all are numbers, else alphabetical
    (case-insensitive, ties by the exact spelling)."""
    if all(_number(v) is not None for v in values):
        return sorted(values, key=lambda v: _number(v))
    return sorted(values, key=lambda v: (v.casefold(), v))


def _labels(path: Path, table: Table, classes: tuple[str, ...] | None
            ) -> tuple[list[str], list[int], tuple[str, ...]]:
    """The texts, their labels 0 .. C-1 and the class names; DatasetError for one class (unless `classes` are
    given), more than MAX_CLASSES, or a value that is not one of `classes`."""
    first: dict[str, int] = {}  # each label value (one spelling: _normal) and the line it first appears on
    normal = []
    for line, _, label in table.rows:
        value = _normal(label)
        normal.append(value)
        first.setdefault(value, line)
    values = list(first)
    if len(values) > MAX_CLASSES:
        raise DatasetError(f"{path}: {len(values):,} label values in column {table.label_column!r}; a classifier "
                           f"takes 2 to {MAX_CLASSES} classes (is that the label column?)")
    if classes is not None and len(classes) == 2 and len(values) > 2:
        shown = ", ".join(repr(v) for v in values[:2])
        raise DatasetError(f"{path} line {first[values[2]]}: a third label value {values[2]!r} (after {shown}); "
                           f"the model has two classes")
    if (classes is None and len(values) > 2) or (classes is not None and len(classes) > 2):
        mapping, names = _multi_mapping(path, values, first, classes)
    else:
        mapping, names = _mapping(path, table, values, classes)
    return [t for _, t, _ in table.rows], [mapping[v] for v in normal], names


def _multi_mapping(path: Path, values: list[str], first: dict[str, int], classes: tuple[str, ...] | None
                   ) -> tuple[dict[str, int], tuple[str, ...]]:
    """Label values onto 3 or more classes: their own (`class_order`), or a model's, matched by name."""
    if classes is None:
        ordered = class_order(values)
        return {v: i for i, v in enumerate(ordered)}, tuple(ordered)
    index = {_normal(str(c)).casefold(): i for i, c in enumerate(classes)}
    for v in values:
        if v.casefold() not in index:
            shown = ", ".join(repr(c) for c in classes[:10]) + (", ..." if len(classes) > 10 else "")
            raise DatasetError(f"{path} line {first[v]}: label {v!r} is not one of the model's {len(classes)} "
                               f"classes ({shown})")
    return {v: index[v.casefold()] for v in values}, tuple(str(c) for c in classes)


def _mapping(path: Path, table: Table, values: list[str], classes: tuple[str, ...] | None
             ) -> tuple[dict[str, int], tuple[str, str]]:
    """Label values (one or two) onto two classes: their own (`_order`), or a model's."""
    numeric = all(_number(v) is not None or v in ("true", "false") for v in values)
    meaning = _meaning(table.label_column, table.format) if numeric else None
    if classes is None:
        if len(values) < 2:
            raise DatasetError(f"{path}: every row is labelled {values[0]!r} ({table.label_column!r}): 1 class; "
                               f"a classifier needs 2 to {MAX_CLASSES}")
        ordered = _order(values)
        names = meaning or (SENTIMENT_CLASSES if numeric else tuple(ordered))
        return {v: i for i, v in enumerate(ordered)}, (names[0], names[1])
    classes = (str(classes[0]), str(classes[1]))
    if not numeric:
        lowered = [c.lower() for c in classes]
        unknown = [v for v in values if v.lower() not in lowered]
        if unknown:
            raise DatasetError(f"{path}: label {unknown[0]!r} is not one of the model's classes "
                               f"{classes[0]!r}, {classes[1]!r}")
        return {v: lowered.index(v.lower()) for v in values}, classes
    if meaning is not None and meaning != classes:
        raise DatasetError(f"{path}: its labels mean {'/'.join(meaning)} but the model's classes are "
                           f"{'/'.join(classes)}")
    if len(values) == 2:
        ordered = _order(values)
        return {v: i for i, v in enumerate(ordered)}, classes
    v = values[0]
    return {v: int(v == "true" or (_number(v) or 0) > 0)}, classes


# ---------------------------------------------------------------- the held-out split


@dataclass(frozen=True)
class Split:
    """Row indices of the training and held-out parts of data.train_*, and the record that repeats them."""

    train: list[int]
    val: list[int]
    record: dict


def rows_sha256(texts: list[str], labels: list[int]) -> str:
    """A digest of the rows (label and text, in order): evaluate checks it to hold out the same rows."""
    h = hashlib.sha256()
    for text, label in zip(texts, labels):
        h.update(f"{label}\t{len(text)}\t{text}\n".encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def split_indices(n: int, n_val: int, seed: int) -> tuple[list[int], list[int]]:
    """torch random_split of range(n) into (n - n_val, n_val) with a seeded generator (as split_train_val)."""
    gen = torch.Generator().manual_seed(seed)
    a, b = torch.utils.data.random_split(range(n), [n - n_val, n_val], generator=gen)
    return list(a.indices), list(b.indices)


def make_split(data: LabelledData, val_fraction: float | None = None, val_size: int | None = None,
               seed: int = 1) -> Split:
    """Hold out `val_size` rows, else a `val_fraction` of them (at least one, leaving one), seeded."""
    n = len(data.train_texts)
    if n < 2:
        raise DatasetError(f"{data.source}: need at least 2 training rows to hold some out, got {n}")
    if val_fraction is not None:
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
        n_val = min(n - 1, max(1, round(n * val_fraction)))
    else:
        n_val = val_size if val_size and val_size < n else max(1, n // 5)
    train, val = split_indices(n, n_val, seed)
    record = {"val_fraction": val_fraction, "val_size": n_val, "seed": seed, "n_rows": n,
              "rows_sha256": rows_sha256(data.train_texts, data.train_labels)}
    return Split(train, val, record)


def same_rows(data: LabelledData, record: dict) -> bool:
    """Whether `data` holds the rows a checkpoint's split `record` was made of (count and digest)."""
    try:
        return (int(record["n_rows"]) == len(data.train_texts)
                and rows_sha256(data.train_texts, data.train_labels) == str(record["rows_sha256"]))
    except (KeyError, TypeError, ValueError):
        return False


def repeat_split(data: LabelledData, record: dict) -> Split:
    """The split a checkpoint recorded, on the same rows; DatasetError when `data` is not the file it was made of."""
    try:
        n, n_val, seed = int(record["n_rows"]), int(record["val_size"]), int(record["seed"])
        digest = str(record["rows_sha256"])
    except (KeyError, TypeError, ValueError):
        why = record.get("note") if isinstance(record, dict) else None  # an ensemble's (ensemble.py)
        raise DatasetError(f"the checkpoint records no usable held-out split{f' ({why})' if why else ''}: "
                           f"give --test FILE") from None
    found = len(data.train_texts)
    if found != n:
        raise DatasetError(f"{data.source} has {found:,} rows but the checkpoint was trained on {n:,}: "
                           f"not the same file, so its held-out rows cannot be repeated (give --test FILE)")
    if rows_sha256(data.train_texts, data.train_labels) != digest:
        raise DatasetError(f"{data.source} differs from the file the checkpoint was trained on (same number of "
                           f"rows, other texts or labels): its held-out rows cannot be repeated (give --test FILE)")
    if not 0 < n_val < n:
        raise DatasetError(f"the checkpoint's held-out split ({n_val} of {n} rows) is not usable")
    train, val = split_indices(n, n_val, seed)
    return Split(train, val, dict(record))
