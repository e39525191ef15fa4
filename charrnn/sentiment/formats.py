"""The labelled-file formats the classifier reads (GLUE TSV, the sarcasm headlines, Sentiment140, generic CSV/TSV,
JSON lines and JSON lists; IMDb archives and folders, read as imdb or imdb-stars, are sentiment.data's): which
format a file is, its raw rows, and its text and label columns, found by name.

Files are read row by row with a per-row size limit, so a damaged file (a 50 MB line) is refused early; every
problem is one DatasetError line naming the file and, where it applies, the line. What the label values mean, and
the held-out split, are sentiment.datasets'.
"""
from __future__ import annotations

import csv
from contextlib import contextmanager
import json
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

_SPACE = re.compile(r"[ \t\r\n]*")
FORMATS = ("auto", "imdb", "imdb-stars", "glue", "sarcasm", "sentiment140", "csv", "tsv", "jsonl", "json")
DELIMITED = ("csv", "tsv", "glue", "sentiment140")  # the formats read as delimited records (the rest: JSON)
MAX_ROW_BYTES = 1 << 20  # a row (line, or JSON list item) longer than this is refused: no review is a megabyte
TEXT_NAMES = ("text", "sentence", "content", "review", "headline")
LABEL_NAMES = ("label", "sentiment", "is_sarcastic", "polarity")


class DatasetError(ValueError):
    """A labelled dataset could not be found, read or understood."""


@dataclass(frozen=True)
class Table:
    """Raw rows of one file: (line, text, label as written) with the columns they came from."""

    rows: list[tuple[int, str, str]]
    text_column: str
    label_column: str
    format: str


# ---------------------------------------------------------------- formats


def detect_format(path: Path) -> str:
    """The format of `path` from its extension and, where that is not enough, its first bytes."""
    name = path.name.lower()
    if path.is_dir() or name.endswith((".tar.gz", ".tgz", ".tar")):
        return "imdb"
    first = first_line(path)
    stripped = first.lstrip()
    if name.endswith((".json", ".jsonl", ".ndjson")) or stripped.startswith(("{", "[")):
        if stripped.startswith("["):
            return "json"
        return "jsonl" if stripped.startswith("{") or not name.endswith(".json") else "json"
    if name.endswith(".tsv") or ("\t" in first and not name.endswith(".csv")):
        header = [c.strip().lower() for c in first.rstrip("\r\n").split("\t")]
        return "glue" if "label" in header and ("sentence" in header or "content" in header) else "tsv"
    with field_limit():
        fields = next(csv.reader([first]), [])
    if len(fields) == 6 and fields[0].strip() in ("0", "2", "4") and fields[1].strip().isdigit():
        return "sentiment140"
    return "csv"


def first_line(path: Path) -> str:
    """The file's first non-blank line (BOM dropped, read as latin-1: any bytes), for sniffing its format."""
    with open(path, "rb") as f:
        raw = f.readline(MAX_ROW_BYTES + 1)
        while raw and not raw.strip():
            raw = f.readline(MAX_ROW_BYTES + 1)
    if not raw:
        raise DatasetError(f"{path} is empty")
    return raw.removeprefix(b"\xef\xbb\xbf").decode("latin-1")


def read_table(path: Path, fmt: str, text_column: str | None = None, label_column: str | None = None) -> Table:
    """The raw (line, text, label) rows of a non-IMDb file in format `fmt`."""
    if fmt == "sentiment140":
        return _delimited_table(path, fmt, delimited_records(path, fmt), "5", "0", header=False)
    if fmt in DELIMITED:
        return _delimited_table(path, fmt, delimited_records(path, fmt), text_column, label_column)
    if fmt in ("json", "jsonl", "sarcasm"):
        if fmt == "sarcasm":
            text_column, label_column = text_column or "headline", label_column or "is_sarcastic"
        return _object_table(path, fmt, json_items(path, fmt), text_column, label_column)
    raise DatasetError(f"unknown dataset format {fmt!r}; choose from {', '.join(FORMATS)}")


def delimited_records(path: Path, fmt: str) -> Generator[tuple[int, list[str]], None, None]:
    """(line number, fields) of each record of a file in one of the DELIMITED formats: tab-separated and unquoted
    (tsv, glue), else comma-separated CSV; UTF-8, but Sentiment140's latin-1."""
    delimiter, quoting = ("\t", csv.QUOTE_NONE) if fmt in ("tsv", "glue") else (",", csv.QUOTE_MINIMAL)
    return delimited(path, delimiter, quoting, "latin-1" if fmt == "sentiment140" else "utf-8")


def json_items(path: Path, fmt: str) -> Generator[tuple[int, object], None, None]:
    """(line number, item) of each item of a json, jsonl or sarcasm file (the sarcasm headlines come either way:
    a JSON list, or one object per line)."""
    shape = fmt if fmt != "sarcasm" else ("json" if first_line(path).lstrip().startswith("[") else "jsonl")
    return json_list(path) if shape == "json" else json_lines(path)


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


def delimited(path: Path, delimiter: str, quoting: int, encoding: str) -> Generator[tuple[int, list[str]], None, None]:
    """(line number, fields) of each non-blank CSV/TSV record; a quoted field may span lines."""
    lines = _lines(path, encoding)
    state = {"line": 0}

    def feed() -> Iterator[str]:
        for number, line in lines:
            state["line"] = number
            yield line

    with field_limit():
        yield from _records(path, delimiter, quoting, feed, state)


def _records(path: Path, delimiter: str, quoting: int, feed, state: dict) -> Iterator[tuple[int, list[str]]]:
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


@contextmanager
def field_limit() -> Iterator[None]:
    """csv's field limit set to MAX_ROW_BYTES while a file is read, whatever the process set before (csv's limit is
    process-wide: reading must not depend on what ran earlier), and put back after."""
    old = csv.field_size_limit(MAX_ROW_BYTES)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def json_lines(path: Path) -> Generator[tuple[int, object], None, None]:
    """The objects of a JSON-lines file (one per non-blank line), with their line numbers."""
    for number, line in _lines(path, "utf-8"):
        if line.strip():
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as e:
                raise DatasetError(f"{path} line {number}: not valid JSON ({e.msg})") from None


def json_list(path: Path) -> Generator[tuple[int, object], None, None]:
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


def _delimited_table(path: Path, fmt: str, records: Iterator[tuple[int, list[str]]], text_column: str | None,
                     label_column: str | None, header: bool = True) -> Table:
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
    return Table(rows, names[ti], names[li], fmt)


def _chain(first, rest):
    yield first
    yield from rest


def _object_table(path: Path, fmt: str, objects: Iterator[tuple[int, object]], text_column: str | None,
                  label_column: str | None) -> Table:
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
    return Table(rows, text_key, label_key, fmt)
