"""Labelled-text datasets for the classifier: IMDb, SST-2 (GLUE TSV), the sarcasm headlines, Sentiment140, and
generic CSV/TSV/JSON lines/JSON files; two classes mapped to labels 0 and 1, and a seeded, repeatable held-out split.

Files are read row by row with a per-row size limit, so a damaged file (a 50 MB line) is refused early; every
problem is one DatasetError line naming the file and, where it applies, the line.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .data import Imdb, ImdbError, load_imdb

_SPACE = re.compile(r"[ \t\r\n]*")
FORMATS = ("auto", "imdb", "glue", "sarcasm", "sentiment140", "csv", "tsv", "jsonl", "json")
MAX_ROW_BYTES = 1 << 20  # a row (line, or JSON list item) longer than this is refused: no review is a megabyte
DEFAULT_VAL_FRACTION = 0.1
TEXT_NAMES = ("text", "sentence", "content", "review", "headline")
LABEL_NAMES = ("label", "sentiment", "is_sarcastic", "polarity")
POSITIVE_WORDS = {"pos", "positive", "sarcastic", "yes", "y", "true", "1", "good", "spam", "toxic", "ironic"}
NEGATIVE_WORDS = {"neg", "negative", "not", "not sarcastic", "no", "n", "false", "0", "bad", "ham", "normal"}
SENTIMENT_CLASSES = ("negative", "positive")
SARCASM_CLASSES = ("not sarcastic", "sarcastic")


class DatasetError(ValueError):
    """A labelled dataset could not be found, read or understood."""


@dataclass
class LabelledData:
    """Texts labelled 0 or 1 (classes[0] or classes[1]); test_* is the dataset's own test split, or None."""

    train_texts: list[str]
    train_labels: list[int]
    test_texts: list[str] | None
    test_labels: list[int] | None
    classes: tuple[str, str]
    source: str
    format: str
    text_column: str | None = None
    label_column: str | None = None
    test_source: str | None = None

    @property
    def has_test(self) -> bool:
        return self.test_texts is not None


@dataclass(frozen=True)
class _Table:
    """Raw rows of one file: (line, text, label as written) with the columns they came from."""

    rows: list[tuple[int, str, str]]
    text_column: str
    label_column: str
    format: str


def from_imdb(imdb: Imdb) -> LabelledData:
    """IMDb's labelled train and test reviews (in name order) as LabelledData."""
    return LabelledData([r.text for r in imdb.train], [r.label for r in imdb.train],
                        [r.text for r in imdb.test], [r.label for r in imdb.test], SENTIMENT_CLASSES,
                        imdb.source, "imdb")


def load_labelled(path: str | os.PathLike, format: str = "auto", text_column: str | None = None,
                  label_column: str | None = None, test: str | os.PathLike | None = None,
                  classes: tuple[str, str] | None = None) -> LabelledData:
    """Read a labelled dataset. `format` "auto" goes by the extension and the first line; columns are found by
    header name unless given. `test` is a second file of the same kind, read as the test split. With `classes`
    (a model's), the labels are mapped onto those classes and one class alone is accepted."""
    path = Path(path)
    if format not in FORMATS:
        raise DatasetError(f"unknown dataset format {format!r}; choose from {', '.join(FORMATS)}")
    if not path.exists():
        raise DatasetError(f"data file not found: {path}")
    fmt = detect_format(path) if format == "auto" else format
    if fmt == "imdb":
        try:
            data = from_imdb(load_imdb(path))
        except ImdbError as e:
            raise DatasetError(str(e)) from None
        if classes is not None and tuple(classes) != SENTIMENT_CLASSES:
            raise DatasetError(f"{path}: IMDb's classes are negative/positive, not {'/'.join(classes)}")
    else:
        table = read_table(path, fmt, text_column, label_column)
        texts, labels, found = _labels(path, table, classes)
        data = LabelledData(texts, labels, None, None, found, str(path), table.format, table.text_column,
                            table.label_column)
    return data if test is None else with_test(data, test)


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
    if not path.exists():
        raise DatasetError(f"test file not found: {path}")
    fmt = detect_format(path) if data.format == "imdb" else data.format
    if fmt == "imdb":
        try:
            test = from_imdb(load_imdb(path))
        except ImdbError as e:
            raise DatasetError(str(e)) from None
        texts, labels = test.test_texts, test.test_labels
    else:
        table = read_table(path, fmt, *(Preferred(c) if c else None for c in (data.text_column, data.label_column)))
        texts, labels, _ = _labels(path, table, data.classes)
    return replace(data, test_texts=texts, test_labels=labels, test_source=str(path))


# ---------------------------------------------------------------- formats


def detect_format(path: Path) -> str:
    """The format of `path` from its extension and, where that is not enough, its first bytes."""
    name = path.name.lower()
    if path.is_dir() or name.endswith((".tar.gz", ".tgz", ".tar")):
        return "imdb"
    first = _first_line(path)
    stripped = first.lstrip()
    if name.endswith((".json", ".jsonl", ".ndjson")) or stripped.startswith(("{", "[")):
        if stripped.startswith("["):
            return "json"
        return "jsonl" if stripped.startswith("{") or not name.endswith(".json") else "json"
    if name.endswith(".tsv") or ("\t" in first and not name.endswith(".csv")):
        header = [c.strip().lower() for c in first.rstrip("\r\n").split("\t")]
        return "glue" if "label" in header and ("sentence" in header or "content" in header) else "tsv"
    fields = next(csv.reader([first]), [])
    if len(fields) == 6 and fields[0].strip() in ("0", "2", "4") and fields[1].strip().isdigit():
        return "sentiment140"
    return "csv"


def _first_line(path: Path) -> str:
    with open(path, "rb") as f:
        raw = f.readline(MAX_ROW_BYTES + 1)
        while raw and not raw.strip():
            raw = f.readline(MAX_ROW_BYTES + 1)
    if not raw:
        raise DatasetError(f"{path} is empty")
    return raw.removeprefix(b"\xef\xbb\xbf").decode("latin-1")


def read_table(path: Path, fmt: str, text_column: str | None = None, label_column: str | None = None) -> _Table:
    """The raw (line, text, label) rows of a non-IMDb file in format `fmt`."""
    if fmt == "sentiment140":
        return _table(path, "sentiment140", _delimited(path, ",", csv.QUOTE_MINIMAL, "latin-1"), "5", "0", header=False)
    if fmt in ("csv", "tsv", "glue"):
        delimiter, quoting = ("\t", csv.QUOTE_NONE) if fmt in ("tsv", "glue") else (",", csv.QUOTE_MINIMAL)
        rows = _delimited(path, delimiter, quoting, "utf-8")
        return _table(path, fmt, rows, text_column, label_column)
    if fmt in ("json", "jsonl", "sarcasm"):
        shape = fmt if fmt != "sarcasm" else ("json" if _first_line(path).lstrip().startswith("[") else "jsonl")
        objects = _json_list(path) if shape == "json" else _json_lines(path)
        if fmt == "sarcasm":
            text_column, label_column = text_column or "headline", label_column or "is_sarcastic"
        return _objects(path, fmt, objects, text_column, label_column)
    raise DatasetError(f"unknown dataset format {fmt!r}; choose from {', '.join(FORMATS)}")


# ---------------------------------------------------------------- reading rows


def _lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """(line number, decoded line) of a file, each line at most MAX_ROW_BYTES (read no further than that)."""
    with open(path, "rb") as f:
        for number in range(1, 1 << 62):
            raw = f.readline(MAX_ROW_BYTES + 1)
            if not raw:
                return
            if len(raw) > MAX_ROW_BYTES:
                raise DatasetError(f"{path} line {number} is longer than {MAX_ROW_BYTES:,} bytes: "
                                   f"not a text dataset, or damaged")
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            try:
                yield number, raw.decode(encoding)
            except UnicodeDecodeError as e:
                raise DatasetError(f"{path} line {number}: bytes that are not UTF-8 at column {e.start + 1} "
                                   f"(convert the file to UTF-8)") from None


def _delimited(path: Path, delimiter: str, quoting: int, encoding: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank CSV/TSV record; a quoted field may span lines."""
    lines = _lines(path, encoding)
    state = {"line": 0}

    def feed() -> Iterator[str]:
        for number, line in lines:
            state["line"] = number
            yield line

    old = csv.field_size_limit()
    csv.field_size_limit(MAX_ROW_BYTES)
    try:
        reader = csv.reader(feed(), delimiter=delimiter, quoting=quoting, strict=quoting != csv.QUOTE_NONE)
        start = 1
        for fields in reader:
            if fields and any(f.strip() for f in fields):
                yield start, fields
            start = state["line"] + 1
    except csv.Error as e:
        raise DatasetError(f"{path} line {state['line']}: not valid {'TSV' if delimiter == chr(9) else 'CSV'} "
                           f"({e})") from None
    finally:
        csv.field_size_limit(old)


def _json_lines(path: Path) -> Iterator[tuple[int, object]]:
    for number, line in _lines(path, "utf-8"):
        if line.strip():
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as e:
                raise DatasetError(f"{path} line {number}: not valid JSON ({e.msg})") from None


def _json_list(path: Path) -> Iterator[tuple[int, object]]:
    """The items of a file holding one JSON list, decoded one at a time, with the line each starts on."""
    raw = path.read_bytes()
    try:
        text = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DatasetError(f"{path} line {line}: bytes that are not UTF-8 (convert the file to UTF-8)") from None
    decoder, pos, end = json.JSONDecoder(), _skip(text, 0), len(text)
    if text[pos:pos + 1] != "[":
        raise DatasetError(f"{path} does not hold a JSON list (give --format jsonl for one object per line)")
    pos = _skip(text, pos + 1)
    line, counted = 1, 0
    while pos < end and text[pos] != "]":
        line, counted = line + text.count("\n", counted, pos), pos
        try:
            item, stop = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{path} line {e.lineno}: not valid JSON ({e.msg})") from None
        if stop - pos > MAX_ROW_BYTES:
            raise DatasetError(f"{path} line {line}: an item longer than {MAX_ROW_BYTES:,} characters")
        yield line, item
        pos = _skip(text, stop)
        if pos >= end:
            break
        if text[pos:pos + 1] == ",":
            pos = _skip(text, pos + 1)
        elif text[pos:pos + 1] != "]":
            line += text.count("\n", counted, pos)
            raise DatasetError(f"{path} line {line}: not valid JSON (expected , or ])")
    if pos >= end:
        raise DatasetError(f"{path}: the JSON list is not closed (truncated?)")


def _skip(text: str, pos: int) -> int:
    """The position of the first character from `pos` on that is not JSON whitespace."""
    return _SPACE.match(text, pos).end()


# ---------------------------------------------------------------- columns


class Preferred(str):
    """A column name to use where the file has it, else found as usual: the training file's columns, reused for a
    test file that may name its own (SST-2's train.tsv has `sentence`, its dev.tsv `content`)."""


def _column(path: Path, names: list[str], given: str | None, candidates: tuple[str, ...], what: str) -> int:
    """The index of the text or label column: `given` (by name), else the first of `candidates` present."""
    lowered = [n.strip().lower() for n in names]
    if given is not None:
        if given in names:
            return names.index(given)
        if given.strip().lower() in lowered:
            return lowered.index(given.strip().lower())
        if isinstance(given, Preferred):
            return _column(path, names, None, candidates, what)
        raise DatasetError(f"{path}: no {what} column {given!r}; columns found: {_listing(names)}")
    for name in candidates:
        if name in lowered:
            return lowered.index(name)
    flags = [i for i, n in enumerate(lowered) if n.startswith("is_")] if what == "label" else []
    if len(flags) == 1:
        return flags[0]  # is_spam, is_toxic, ...: the one yes/no column
    raise DatasetError(f"{path}: no {what} column (looked for {', '.join(candidates)}); columns found: "
                       f"{_listing(names)}; give --{what}-column")


def _listing(names: list[str]) -> str:
    shown = ", ".join(repr(n)[:40] for n in names[:12])
    return shown + (f" and {len(names) - 12} more" if len(names) > 12 else "") if names else "none"


def _table(path: Path, fmt: str, records: Iterator[tuple[int, list[str]]], text_column: str | None,
           label_column: str | None, header: bool = True) -> _Table:
    """Rows of a CSV/TSV file: columns by header name (or, without a header, by index); ragged rows refused."""
    first = next(records, None)
    if first is None:
        raise DatasetError(f"{path} is empty")
    if header:
        names = [n.strip() for n in first[1]]
        ti = _column(path, names, text_column, TEXT_NAMES, "text")
        li = _column(path, names, label_column, LABEL_NAMES, "label")
        if ti == li:
            raise DatasetError(f"{path}: the text and label columns are the same column, {names[ti]!r}")
        records_left: Iterator[tuple[int, list[str]]] = records
    else:
        names = [str(i) for i in range(6)]
        ti, li = int(text_column or 5), int(label_column or 0)
        records_left = _chain(first, records)
    rows = []
    for line, fields in records_left:
        if len(fields) != len(names):
            expected = "as in the header" if header else "as in a Sentiment140 file"
            raise DatasetError(f"{path} line {line}: {len(fields)} fields, expected {len(names)} ({expected})")
        label = fields[li].strip()
        if not label:
            raise DatasetError(f"{path} line {line}: the label ({names[li]!r}) is empty")
        if fmt == "sentiment140" and label == "2":
            continue  # neutral tweets (only in the test file) are not a class here
        rows.append((line, fields[ti], label))
    if not rows:
        raise DatasetError(f"{path} has no labelled rows" + (" (only a header)" if header else ""))
    return _Table(rows, names[ti], names[li], fmt)


def _chain(first, rest):
    yield first
    yield from rest


def _objects(path: Path, fmt: str, objects: Iterator[tuple[int, object]], text_column: str | None,
             label_column: str | None) -> _Table:
    """Rows of JSON objects; the columns are found among the first object's fields."""
    rows: list[tuple[int, str, str]] = []
    text_key = label_key = ""
    for line, obj in objects:
        if not isinstance(obj, dict):
            raise DatasetError(f"{path} line {line}: expected a JSON object, found {type(obj).__name__}")
        if not rows and not text_key:
            names = [str(k) for k in obj]
            text_key = names[_column(path, names, text_column, TEXT_NAMES, "text")]
            label_key = names[_column(path, names, label_column, LABEL_NAMES, "label")]
        if text_key not in obj or label_key not in obj:
            missing = text_key if text_key not in obj else label_key
            raise DatasetError(f"{path} line {line}: no {missing!r} field; fields found: {_listing(list(obj))}")
        text, label = obj[text_key], obj[label_key]
        if isinstance(label, (dict, list)) or label is None or (isinstance(label, str) and not label.strip()):
            raise DatasetError(f"{path} line {line}: the label ({label_key!r}) is {json.dumps(label)[:40]}")
        if isinstance(text, (dict, list)):
            raise DatasetError(f"{path} line {line}: the text ({text_key!r}) is not a string")
        label = json.dumps(label) if isinstance(label, bool) else str(label).strip()
        rows.append((line, "" if text is None else str(text), label))
    if not rows:
        raise DatasetError(f"{path} is empty" if not text_key else f"{path} has no rows")
    return _Table(rows, text_key, label_key, fmt)


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


def _labels(path: Path, table: _Table, classes: tuple[str, str] | None
            ) -> tuple[list[str], list[int], tuple[str, str]]:
    """The texts, their 0/1 labels and the class names; DatasetError for one class (unless `classes` are given)
    or more than two."""
    first: dict[str, int] = {}
    normal = []
    for line, _, label in table.rows:
        value = _normal(label)
        normal.append(value)
        if value not in first:
            if len(first) == 2:
                shown = ", ".join(repr(v) for v in first)
                raise DatasetError(f"{path} line {line}: a third label value {value!r} (after {shown}); "
                                   f"the classifier needs exactly two classes")
            first[value] = line
    values = list(first)
    mapping, names = _mapping(path, table, values, classes)
    return [t for _, t, _ in table.rows], [mapping[v] for v in normal], names


def _mapping(path: Path, table: _Table, values: list[str], classes: tuple[str, str] | None
             ) -> tuple[dict[str, int], tuple[str, str]]:
    numeric = all(_number(v) is not None or v in ("true", "false") for v in values)
    meaning = _meaning(table.label_column, table.format) if numeric else None
    if classes is None:
        if len(values) < 2:
            raise DatasetError(f"{path}: every row is labelled {values[0]!r} ({table.label_column!r}): "
                               f"a classifier needs two classes")
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
