"""Stop strings: end each sample at the first stop string in its generated text (kept), for `--stop`/`--until`."""
from __future__ import annotations

from typing import Iterable, Iterator

UNTIL = {"sentence": (".", "!", "?"), "paragraph": ("\n\n",)}
MAX_STOPS, MAX_STOP_LENGTH = 16, 100


def stop_strings(stop: Iterable[str] | None = None, until: str | None = None) -> tuple[str, ...]:
    """The stop strings asked for: each `stop`, plus the shorthand `until` ('sentence' or 'paragraph').

    ValueError for an empty string, too many or too long ones, or an unknown `until`.
    """
    stops = [] if stop is None else ([stop] if isinstance(stop, str) else list(stop))
    if until:
        if until not in UNTIL:
            raise ValueError(f"until must be one of {', '.join(UNTIL)}, got {until!r}")
        stops += UNTIL[until]
    for s in stops:
        if not isinstance(s, str) or not s:
            raise ValueError(f"a stop string must be a non-empty string, got {s!r:.40}")
        if len(s) > MAX_STOP_LENGTH:
            raise ValueError(f"a stop string has at most {MAX_STOP_LENGTH} characters, got {len(s):,}")
    if len(stops) > MAX_STOPS:
        raise ValueError(f"at most {MAX_STOPS} stop strings, got {len(stops)}")
    return tuple(dict.fromkeys(stops))


def unescape(text: str) -> str:
    """A stop string as typed in a form or shell: the two characters \\n stand for a newline, \\t for a tab."""
    return text.replace("\\n", "\n").replace("\\t", "\t")


class StopWatch:
    """Watches one sample's generated characters for the first stop string; the prompt is never searched.

    A stop string may arrive split over several steps ("\\n" then "\\n"): the last characters are kept to match it.
    """

    def __init__(self, stops: tuple[str, ...]):
        self.stops = stops
        self.keep = max((len(s) for s in stops), default=0)
        self.tail = ""
        self.done = False

    def feed(self, char: str) -> bool:
        """Add one generated character; True once a stop string has ended (this character included)."""
        if self.done:
            return True
        if not self.stops:
            return False
        self.tail = (self.tail + char)[-self.keep:]
        self.done = any(self.tail.endswith(s) for s in self.stops)
        return self.done


def until_stopped(steps: Iterable[list[str]], stops: tuple[str, ...], num_samples: int) -> Iterator[list[str]]:
    """Pass sampling steps through, with '' for samples that already ended, until every sample has ended.

    With no stop strings it is the steps unchanged. Closing this iterator closes `steps` (a stream leaves the batch).
    """
    if not stops:
        yield from steps
        return
    watches = [StopWatch(stops) for _ in range(num_samples)]
    it = iter(steps)
    try:
        for chars in it:
            out = ["" if w.done else c for w, c in zip(watches, chars, strict=True)]
            for w, c in zip(watches, out):
                if c:
                    w.feed(c)
            yield out
            if all(w.done for w in watches):
                return
    finally:
        close = getattr(it, "close", None)
        if close:
            close()
