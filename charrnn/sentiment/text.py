"""The chapter's review tokenizer and a word vocabulary built from training reviews only."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1

_HTML = re.compile(r"<[^>]*>")
_EMOTICON = re.compile(r"(?::|;|=)(?:-)?(?:\)|\(|D|P)")
_NON_WORD = re.compile(r"[\W]+")


def strip_html(text: str) -> str:
    """Remove `<...>` tags in linear time: a `<` after the last `>` opens no tag, so that tail is left to itself
    (scanning it from each `<` would take time quadratic in its length)."""
    end = text.rfind(">") + 1
    return _HTML.sub("", text[:end]) + text[end:]


def tokenize(text: str) -> list[str]:
    """The chapter's tokenizer: drop HTML tags, lowercase, split on non-word characters, and append the
    emoticons (`:)`, `;-(`, `=)`..., noses removed) found in the text, which the splitting would lose."""
    text = strip_html(text)
    emoticons = _EMOTICON.findall(text.lower())
    text = _NON_WORD.sub(" ", text.lower()) + " ".join(emoticons).replace("-", "")
    return text.split()


@dataclass
class WordVocab:
    """Words by id: 0 is `<pad>`, 1 is `<unk>` (any word not in the list)."""

    words: list[str]
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.words[:2] != [PAD, UNK]:
            raise ValueError(f"a word vocabulary must start with {PAD!r}, {UNK!r}; got {self.words[:2]!r}")
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        get = self.index.get
        return [get(t, UNK_ID) for t in tokens]

    @classmethod
    def build(cls, token_lists: Iterable[list[str]], min_freq: int = 1, max_size: int | None = None) -> "WordVocab":
        """Words seen at least `min_freq` times, most frequent first (ties alphabetical), at most
        `max_size` entries including `<pad>` and `<unk>`."""
        if min_freq < 1:
            raise ValueError(f"min_freq must be at least 1, got {min_freq}")
        if max_size is not None and max_size < 3:
            raise ValueError(f"max_size must be at least 3 (<pad>, <unk> and one word), got {max_size}")
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        ranked = sorted((w for w, c in counts.items() if c >= min_freq and w not in (PAD, UNK)),
                        key=lambda w: (-counts[w], w))
        if max_size is not None:
            ranked = ranked[: max_size - 2]
        return cls([PAD, UNK, *ranked])
