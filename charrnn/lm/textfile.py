"""Local text files: read and decode any file a user names (a corpus, an evaluation text), with a clear error."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from ..files import NotRegularFileError, read_bytes


class TextFileError(ValueError):
    """A local text file could not be read (missing, a folder, a FIFO or device, unreadable, too long)."""


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


def read_text(path: str | os.PathLike, max_chars: int | None = None) -> str:
    """Read and decode a local text file (a regular file: a FIFO or a device would block or never end).

    With `max_chars`, at most enough bytes for max_chars + 1 characters are read, and a longer file is refused.
    """
    p = Path(path)
    cap = None if max_chars is None else 4 * (max_chars + 1)  # a character is at most 4 bytes of UTF-8
    try:
        raw = read_bytes(p, cap, what="text file")
    except FileNotFoundError:
        raise TextFileError(f"text file not found: {p}") from None
    except NotRegularFileError as e:
        if p.is_dir():
            raise TextFileError(f"expected a text file, got a directory: {p}") from None
        raise TextFileError(f"expected a text file: {e}") from None
    except OSError as e:
        raise TextFileError(f"cannot read {p}: {e.strerror}") from None
    if cap is not None and len(raw) >= cap:
        raise TextFileError(f"{p.name} has more than {max_chars:,} characters; at most {max_chars:,} are allowed")
    text = decode(raw)
    if max_chars is not None and len(text) > max_chars:
        raise TextFileError(f"{p.name} has {len(text):,} characters; at most {max_chars:,} are allowed")
    return text
