"""The error every checkpoint reader raises, and how untrusted values are shown in its one-line messages.

Its own module so that the readers of each format (`checkpoint` for .pt files, `modelfolder` for Hub-style
folders, `hub` for hf:// names) share it without importing one another in a circle.
"""
from __future__ import annotations

import reprlib


class CheckpointError(ValueError):
    """A checkpoint file is missing, damaged, unsafe, or of the wrong kind."""


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 80, 80


def short(value, limit: int = 200) -> str:
    """`value` (an exception's message, a value's repr) on one line of at most `limit` characters.

    Values come from untrusted files: their repr is depth-limited, so deep nesting cannot recurse without end.
    """
    try:
        text = str(value) if isinstance(value, BaseException) else _REPR.repr(value)
    except (RecursionError, ValueError, TypeError):
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
