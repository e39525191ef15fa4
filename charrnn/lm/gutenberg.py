"""Project Gutenberg books: download by ID with caching, license header/footer removal, the textbook's slicing.

Local files are read by charrnn.lm.textfile (which also decodes the downloaded bytes)."""
from __future__ import annotations

import http.client
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..files import atomic_write, default_cache_dir
from .textfile import decode

DEFAULT_BASE_URL = "https://www.gutenberg.org"
BASE_URL_ENV = "CHARRNN_GUTENBERG_URL"
URL_PATTERNS = (
    "{base}/cache/epub/{id}/pg{id}.txt",
    "{base}/files/{id}/{id}-0.txt",
    "{base}/files/{id}/{id}.txt",
)
CHAPTER_START = "THE MYSTERIOUS ISLAND"
CHAPTER_END = "End of the Project Gutenberg"

# A small catalogue for menus; any other ID works as well.
CATALOGUE: dict[int, str] = {
    1268: "The Mysterious Island (Jules Verne)",
    1661: "The Adventures of Sherlock Holmes (Arthur Conan Doyle)",
    1342: "Pride and Prejudice (Jane Austen)",
    84: "Frankenstein (Mary Shelley)",
    11: "Alice's Adventures in Wonderland (Lewis Carroll)",
    2701: "Moby Dick (Herman Melville)",
    1513: "Romeo and Juliet (William Shakespeare)",
}


class GutenbergError(ValueError):
    """A book ID is not valid, or the book could not be downloaded."""


def _looks_like_html(data: bytes) -> bool:
    head = data[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:300]


def download(
    book_id: int,
    cache_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
    timeout: float = 30.0,
    retries: int = 2,
    backoff: float = 1.0,
) -> Path:
    """Fetch a book's plain text and cache its raw bytes; return the cached file's path.

    A cached file is returned without any request. The base URL comes from the argument, else
    the CHARRNN_GUTENBERG_URL environment variable, else gutenberg.org.
    """
    try:
        book_id = int(book_id)
    except (TypeError, ValueError):
        raise GutenbergError(f"Gutenberg book ID must be a number, got {book_id!r}") from None
    if book_id <= 0:
        raise GutenbergError(f"Gutenberg book ID must be positive, got {book_id}")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache / f"pg{book_id}.txt"
    if path.is_file() and path.stat().st_size > 0:
        return path
    base = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
    tried, reasons = [], []
    for pattern in URL_PATTERNS:
        url = pattern.format(base=base, id=book_id)
        tried.append(url)
        unreachable = False
        for attempt in range(retries + 1):
            try:
                req = urllib.request.Request(url, headers={"User-Agent": "charrnn"})
                with urllib.request.urlopen(req, timeout=timeout) as resp:
                    data = resp.read()
            except urllib.error.HTTPError as e:
                reason = f"HTTP {e.code}"
                if e.code < 500:
                    break  # 404 and friends will not change on retry
            except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError) as e:
                reason = str(getattr(e, "reason", e))
                unreachable = True
            else:
                if _looks_like_html(data):
                    reason = "got an HTML page, not plain text"
                    break
                if not data.strip():
                    reason = "empty response"
                    break
                with atomic_write(path) as f:
                    f.write(data)
                return path
            if attempt < retries:
                time.sleep(backoff * (2**attempt))
        reasons.append(f"{url}: {reason}")
        if unreachable:
            break  # the host itself is out of reach (offline?): the other URLs would fail the same way
    raise GutenbergError(f"could not download Gutenberg book {book_id}: " + "; ".join(reasons))


_START = re.compile(
    r"^[ \t]*\*{3}[ \t]*START[ \t]+OF[ \t]+(?:THE|THIS)[ \t]+PROJECT[ \t]+GUTENBERG[ \t]+E-?(?:BOOK|TEXT)"
    r"[^*]{0,400}?\*{3}[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_SMALL_PRINT_END = re.compile(r"^.*\*END\*[ \t]*THE SMALL PRINT!.*$", re.IGNORECASE | re.MULTILINE)
_END = re.compile(
    r"^[ \t]*(?:\*{3}[ \t]*END[ \t]+OF[ \t]+(?:THE|THIS)[ \t]+PROJECT[ \t]+GUTENBERG"
    r"|End[ \t]+of[ \t]+(?:(?:the|this)[ \t]+)?Project[ \t]+Gutenberg\b)",
    re.IGNORECASE | re.MULTILINE,
)
_CREDITS = re.compile(
    r"\A\s*(?:Produced[ \t]+by|E-?text[ \t]+prepared[ \t]+by|Transcribed[ \t]+(?:from|by)"
    r"|This[ \t]+e-?text[ \t]+was[ \t]+(?:produced|prepared))"
    r".*?(?:\n[ \t]*\n|\Z)",
    re.IGNORECASE | re.DOTALL,
)


def strip_gutenberg(text: str) -> str:
    """Remove a Project Gutenberg license header and footer; text without markers comes back unchanged."""
    start = _START.search(text)
    if start is None:
        start = _SMALL_PRINT_END.search(text)
    body_start = start.end() if start else 0
    end = _END.search(text, body_start)
    body_end = end.start() if end else len(text)
    if start is None and end is None:
        return text
    body = text[body_start:body_end]
    if start is not None:
        body = _CREDITS.sub("", body, count=1)
    return body.strip("\n") + "\n"


def chapter_slice(text: str, start: str = CHAPTER_START, end: str | None = CHAPTER_END) -> str:
    """The textbook's slicing: from the first occurrence of `start` up to (not including) `end`."""
    i = text.find(start)
    if i < 0:
        raise ValueError(f"start string {start!r} not found in the text")
    if end is None:
        return text[i:]
    j = text.find(end, i)
    if j < 0:
        raise ValueError(f"end string {end!r} not found after {start!r}")
    return text[i:j]


def prepare(text: str, clean: str = "strip", start: str | None = None, end: str | None = None) -> str:
    """Apply a named preprocessing: 'strip' (license removal), 'slice' (chapter-style), or 'none'."""
    if clean == "strip":
        return strip_gutenberg(text)
    if clean == "slice":
        return chapter_slice(text, start or CHAPTER_START, end if end is not None else CHAPTER_END)
    if clean == "none":
        return text
    raise ValueError(f"unknown preprocessing {clean!r}; use 'strip', 'slice' or 'none'")


def load_book(book_id: int, cache_dir: str | os.PathLike | None = None, **kwargs) -> str:
    """Download (or read from the cache) and decode a book, license text still included."""
    return decode(download(book_id, cache_dir=cache_dir, **kwargs).read_bytes())
