"""The chapter's review tokenizer, a word vocabulary built from training reviews only, and turning reviews into
padded batches of token ids (shared by training and prediction)."""
from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch

TOKENIZER = "chapter"  # the chapter's tokenizer: the name recorded in checkpoints that name none
WORDS = "words"  # the negation-aware tokenizer of new checkpoints
PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1

_HTML = re.compile(r"<[^>]*>")
_EMOTICON = re.compile(r"(?::|;|=)(?:-)?(?:\)|\(|D|P)")
_NON_WORD = re.compile(r"[\W]+")


def strip_html(text: str, repl: str | Callable[[re.Match], str] = "") -> str:
    """Remove `<...>` tags in linear time: a `<` after the last `>` opens no tag, so that tail is left to itself
    (scanning it from each `<` would take time quadratic in its length)."""
    end = text.rfind(">") + 1
    return _HTML.sub(repl, text[:end]) + text[end:]


def tokenize(text: str) -> list[str]:
    """The chapter's tokenizer: drop HTML tags, lowercase, split on non-word characters, and append the
    emoticons (`:)`, `;-(`, `=)`..., noses removed) found in the text, which the splitting would lose."""
    text = strip_html(text)
    emoticons = _EMOTICON.findall(text.lower())
    text = _NON_WORD.sub(" ", text.lower()) + " ".join(emoticons).replace("-", "")
    return text.split()


_NT = "n['\u2019`]t"  # the "n't" of a contraction, however its apostrophe is written
_CONTRACTION = re.compile(rf"(\w){_NT}\b|\b{_NT}\b")
_SPECIAL_NOT = {"can": "can", "ca": "can", "wo": "will", "sha": "shall", "ai": "is"}
_WORD = re.compile(r"[^\W_]+|[!?]")


def _not(m: re.Match) -> str:
    return f"{m[1]} not" if m[1] else "not"


def tokenize_words(text: str) -> list[str]:
    """The negation-aware tokenizer: drop HTML tags, lowercase, split "n't" off as "not" (wasn't -> was not,
    can't -> can not, SST's "does n't" -> does not), keep "!" and "?" as tokens and the chapter's emoticons.

    Raw text and pre-tokenized text (SST-2) give the same tokens, so a model trained on one reads the other.
    """
    text = strip_html(text, " ").lower()  # "<br />" separates sentences: it must not join two words
    emoticons = [e.replace("-", "") for e in _EMOTICON.findall(text)]
    text = _CONTRACTION.sub(_not, text)
    tokens = _WORD.findall(text)  # apostrophes split words: "it's" and SST's "it 's" both give it, s
    tokens = [_SPECIAL_NOT.get(t, t) if i + 1 < len(tokens) and tokens[i + 1] == "not" else t
              for i, t in enumerate(tokens)]
    return tokens + emoticons


TOKENIZERS = {TOKENIZER: tokenize, WORDS: tokenize_words}

_SHORT = {read: written for written, read in _SPECIAL_NOT.items() if written != read}  # "can": "ca" of "can't"
WINDOW = 1000  # characters after the previous token within which the next must start (keeps the search linear)


@functools.lru_cache(maxsize=4096)
def _written(token: str, name: str) -> re.Pattern:
    """Where `token` of tokenizer `name` can stand in the lowercased text: a whole word (not a piece of a longer
    one), or for the negation-aware tokenizer the "n't" of "not" and the "ca" of "can"."""
    letter = r"\w" if name == TOKENIZER else r"[^\W_]"
    if not re.fullmatch(f"{letter}+", token):  # "!", "?", an emoticon: as it is
        return re.compile(re.escape(token))
    start, end = f"(?<!{letter})", f"(?!{letter})"
    if name == TOKENIZER:
        return re.compile(f"{start}{re.escape(token)}{end}")
    end_or_nt = f"(?:{end}|(?={_NT}))"  # "was" of "wasn't"
    if token == "not":
        return re.compile(f"{start}not{end}|{_NT}")
    if token in _SHORT:  # "ca n't" (SST) and "can't" both give "can", "not"
        return re.compile(f"{start}(?:{_SHORT[token]}(?={_NT}|{end})|{token}{end_or_nt})")
    return re.compile(f"{start}{re.escape(token)}{end_or_nt}")


def surface_forms(text: str, tokens: list[str], name: str = WORDS) -> list[str]:
    """Each token of tokenizer `name` as `text` writes it ("Great" for great, "n't" for the not of "wasn't"), for
    showing tokens to a person; a token not found in its place (an emoticon, which tokenizers append at the end;
    words the chapter's tokenizer joins across a tag) is shown as it is.

    Tokens are found left to right in the lowercased text (HTML tags blanked), each as a whole word starting
    within WINDOW characters of the previous one's end."""
    shown = list(tokens)
    lowered, where = text.lower(), None
    if len(lowered) != len(text):  # "\u0130".lower() has two characters: map positions back to the text's
        parts = [c.lower() for c in text]
        lowered, where = "".join(parts), [i for i, part in enumerate(parts) for _ in part]
    masked = strip_html(lowered, lambda m: " " * len(m.group()))
    pos = 0
    for i, token in enumerate(tokens):
        m = _written(token, name).search(masked, pos, pos + WINDOW + len(token) + 3)
        if m is None:
            continue
        a, b = (m.start(), m.end()) if where is None else (where[m.start()], where[m.end() - 1] + 1)
        shown[i], pos = text[a:b], m.end()
    return shown


def tokenizer(name: str):
    """The tokenizer function recorded under `name` in a checkpoint; ValueError for an unknown one."""
    try:
        return TOKENIZERS[name]
    except KeyError:
        raise ValueError(f"unknown tokenizer {name!r}; this charrnn knows {', '.join(map(repr, TOKENIZERS))}") from None


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
    def build(cls, token_lists: Iterable[list[str]], min_freq: int = 1, max_size: int | None = None) -> WordVocab:
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


def encode(vocab: WordVocab, texts: list[str], max_tokens: int, tokenizer_name: str = TOKENIZER) -> list[list[int]]:
    """Token ids per text, cut to `max_tokens`; a text without tokens becomes one `<unk>` so it still gets a score."""
    split = tokenizer(tokenizer_name)
    return [vocab.encode(split(t)[:max_tokens]) or [UNK_ID] for t in texts]


def pad_batch(seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """A (batch, longest) tensor of ids padded with PAD_ID, and the sequences' lengths."""
    lengths = torch.tensor([len(s) for s in seqs])
    ids = torch.full((len(seqs), int(lengths.max())), PAD_ID, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
    return ids, lengths


def bucket_batches(lengths: list[int], batch_size: int, pool_batches: int, gen: torch.Generator) -> list[list[int]]:
    """Shuffled batches of indices whose lengths are similar: a random permutation is cut into pools of
    `pool_batches` batches, each pool sorted by length and cut into batches, and the batch order shuffled,
    so batches stay random but hold little padding."""
    order = torch.randperm(len(lengths), generator=gen).tolist()
    pool = batch_size * pool_batches
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start:start + pool], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]
