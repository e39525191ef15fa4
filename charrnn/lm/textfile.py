"""Local text files: read and decode any file a user names (a corpus, an evaluation text), with a clear error."""
from __future__ import annotations

import os
import warnings
from pathlib import Path


class TextFileError(ValueError):
    """A local text file could not be read (missing, a folder, unreadable)."""


def decode(raw: bytes) -> str:
    """Bytes to text: UTF-8 (BOM optional), else cp1252, else latin-1 with a warning; newlines become \\n."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("cp1252")
            encoding = "cp1252"
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
            encoding = "latin-1"
        warnings.warn(f"text is not valid UTF-8; decoded as {encoding}", UnicodeWarning, stacklevel=2)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_text(path: str | os.PathLike) -> str:
    """Read and decode a local text file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise TextFileError(f"text file not found: {p}") from None
    except IsADirectoryError:
        raise TextFileError(f"expected a text file, got a directory: {p}") from None
    except OSError as e:
        raise TextFileError(f"cannot read {p}: {e.strerror}") from None
    return decode(raw)
