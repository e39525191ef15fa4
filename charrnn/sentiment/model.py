"""Embedding -> (Bi)LSTM that padding never reaches -> pooling -> FC -> one logit (two classes) or one per class."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .text import PAD_ID, UNK_ID

POOLINGS = ("last", "mean", "max", "meanmax")
MAX_CLASSES = 100  # label values a classifier takes at most (and 2 at least)


@dataclass
class SentimentConfig:
    vocab_size: int
    embed: int = 20
    hidden: int = 64
    layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    pooling: str = "last"  # last: final hidden state; mean/max/meanmax: over the real (unpadded) steps
    fc: int = 64
    n_classes: int = 2  # two: one logit (sigmoid); more: one logit per class (softmax). Older checkpoints: two

    def __post_init__(self) -> None:
        if isinstance(self.n_classes, bool) or not isinstance(self.n_classes, int) or \
                not 2 <= self.n_classes <= MAX_CLASSES:
            raise ValueError(f"n_classes must be a whole number from 2 to {MAX_CLASSES}, got {self.n_classes!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}; got {self.pooling!r}")
        if min(self.vocab_size, self.embed, self.hidden, self.layers, self.fc) < 1:
            raise ValueError("vocab_size, embed, hidden, layers and fc must be at least 1")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def outputs(self) -> int:
        """The logits per text: 1 for two classes (as every two-class checkpoint has it), else one per class."""
        return 1 if self.n_classes == 2 else self.n_classes

    def to_dict(self) -> dict:
        """The settings a checkpoint records; n_classes only when it is not 2, so a two-class checkpoint is what an
        older charrnn wrote and reads."""
        d = asdict(self)
        if self.n_classes == 2:
            del d["n_classes"]
        return d


def probabilities(out: torch.Tensor) -> torch.Tensor:
    """(batch, classes) probabilities from a classifier's output: one logit per text for two classes ([1 - p, p]
    with p its sigmoid, as ever), else a logit per class (softmax)."""
    if out.dim() == 1:
        p = torch.sigmoid(out.float())
        return torch.stack([1 - p, p], dim=1)
    return torch.softmax(out.float(), dim=1)


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of a right-padded (batch, time, ...) tensor within its own length; padding stays put."""
    t = torch.arange(x.shape[1], device=x.device)[None, :]
    lengths = lengths.to(x.device)[:, None]
    idx = torch.where(t < lengths, lengths - 1 - t, t)
    return x.gather(1, idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x))


class SentimentLSTM(nn.Module):
    """Reviews as right-padded id tensors plus lengths in, one logit (of the second class) per review out for two
    classes, shape (batch,); for more, one logit per class, shape (batch, classes).

    Padding never reaches a real step's state, exactly as with pack_padded_sequence: each direction is its own
    LSTM run over the padded batch, the forward one reading each review left to right (padding only follows
    its last real step) and the backward one reading each review reversed within its own length. This keeps
    PyTorch's fast padded kernels: on CPU, backpropagating through a PackedSequence with unequal lengths is
    some 40 times slower. The final hidden state is read at each review's last real step, and mean/max
    pooling mask the padding out.
    """

    def __init__(self, cfg: SentimentConfig):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed, padding_idx=PAD_ID)
        dirs = 2 if cfg.bidirectional else 1
        sizes = [cfg.embed] + [cfg.hidden * dirs] * (cfg.layers - 1)
        self.forward_lstms = nn.ModuleList(nn.LSTM(n, cfg.hidden, batch_first=True) for n in sizes)
        self.backward_lstms = (
            nn.ModuleList(nn.LSTM(n, cfg.hidden, batch_first=True) for n in sizes) if dirs == 2 else None
        )
        features = cfg.hidden * dirs * (2 if cfg.pooling == "meanmax" else 1)
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc1 = nn.Linear(features, cfg.fc)
        self.fc2 = nn.Linear(cfg.fc, cfg.outputs)

    def encode(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Top-layer LSTM outputs (batch, time, hidden * directions); only steps before each length are meaningful."""
        if int(lengths.min()) < 1:
            raise ValueError("every review needs at least one token (encode empty text as <unk>)")
        x = self.dropout(self.embedding(ids))
        for i, fwd in enumerate(self.forward_lstms):
            if i:
                x = self.dropout(x)
            out = fwd(x)[0]
            if self.backward_lstms is not None:
                back = reverse_within_length(self.backward_lstms[i](reverse_within_length(x, lengths))[0], lengths)
                out = torch.cat([out, back], dim=2)
            x = out
        return x

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out = self.encode(ids, lengths)
        lengths = lengths.to(out.device)
        if self.cfg.pooling == "last":
            h = self.cfg.hidden
            last = out[torch.arange(out.shape[0], device=out.device), lengths - 1]
            feats = torch.cat([last[:, :h], out[:, 0, h:]], dim=1) if self.cfg.bidirectional else last
        else:
            mask = (torch.arange(out.shape[1], device=out.device)[None, :] < lengths[:, None])[..., None]
            pooled = []
            if self.cfg.pooling in ("mean", "meanmax"):
                pooled.append(out.masked_fill(~mask, 0).sum(1) / mask.sum(1).to(out.dtype))
            if self.cfg.pooling in ("max", "meanmax"):
                pooled.append(out.masked_fill(~mask, float("-inf")).amax(1))
            feats = torch.cat(pooled, dim=1)
        out = self.fc2(torch.relu(self.fc1(self.dropout(feats))))
        return out.squeeze(1) if self.cfg.outputs == 1 else out


class SentimentEnsemble(nn.Module):
    """Classifiers over one vocabulary read the same ids; the logit out is that of their mean probability (more than
    two classes: the log of each class's mean probability, whose softmax is that mean).

    Averaging probabilities of models trained from different seeds (or different LMs) cancels part of each one's
    own errors; the members keep their own sizes and pooling.
    """

    def __init__(self, cfgs: list[SentimentConfig]):
        super().__init__()
        if len(cfgs) < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {len(cfgs)}")
        if len({c.vocab_size for c in cfgs}) != 1:
            raise ValueError("the members' vocabulary sizes differ")
        if len({c.n_classes for c in cfgs}) != 1:
            raise ValueError("the members' numbers of classes differ")
        self.members = nn.ModuleList(SentimentLSTM(c) for c in cfgs)
        self.cfg = cfgs[0]  # the members' shared settings (vocabulary size, classes) are read from the first

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        p = torch.stack([probabilities(m(ids, lengths)) for m in self.members]).mean(0)
        return mean_output(p, self.cfg.outputs)


def mean_output(p: torch.Tensor, outputs: int) -> torch.Tensor:
    """A classifier's output for averaged (batch, classes) probabilities: the logit of the second class's (two
    classes), else the log of each class's (whose softmax is p)."""
    if outputs > 1:
        return p.clamp_min(1e-30).log()
    return torch.logit(p[:, 1], eps=1e-7)


TEXTS = ("short", "long", "all")  # which texts a blend's part reads: up to `split_at` tokens, more, or any
MAX_READ = 100_000  # tokens: the most a blend's split or a part's reading length may be


def check_split(split_at: object) -> int:
    """A blend's split (a text of at most this many tokens is short); ValueError unless 1 to MAX_READ."""
    if isinstance(split_at, bool) or not isinstance(split_at, int) or not 1 <= split_at <= MAX_READ:
        raise ValueError(f"split_at must be a whole number of tokens from 1 to {MAX_READ:,}, got {split_at!r}")
    return split_at


def check_blend(spec: dict, n_members: int) -> tuple[int, list[dict]]:
    """A blend's (split_at, parts) from its recorded spec; ValueError naming what is wrong. Each part names its
    members (every member in exactly one part), the tokens it reads and the texts it scores; short and long texts
    each need at least one part."""
    split_at, parts = check_split(spec["split_at"]), spec["parts"]
    if not isinstance(parts, list) or not parts:
        raise ValueError("a blend needs at least one part")
    seen: list[int] = []
    for part in parts:
        members, reads, texts = part["members"], part["reads"], part["texts"]
        if not isinstance(members, list) or not members or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in members):
            raise ValueError(f"a part's members must be a list of member numbers, got {members!r}")
        if isinstance(reads, bool) or not isinstance(reads, int) or not 1 <= reads <= MAX_READ:
            raise ValueError(f"a part's reads must be a whole number of tokens from 1 to {MAX_READ:,}, got {reads!r}")
        if texts not in TEXTS:
            raise ValueError(f"a part's texts must be one of {', '.join(TEXTS)}, got {texts!r}")
        seen += members
    if sorted(seen) != list(range(n_members)):
        raise ValueError(f"the parts must name each of the {n_members} members exactly once")
    for which in ("short", "long"):
        if not any(p["texts"] in (which, "all") for p in parts):
            raise ValueError(f"no part scores {which} texts")
    return split_at, [{"members": list(p["members"]), "reads": p["reads"], "texts": p["texts"]} for p in parts]


class SentimentBlend(nn.Module):
    """Classifiers with different vocabularies, each reading the texts it is good at, as one model.

    The blend's vocabulary is the union of its parts'; ids arrive in it and each part maps them into its own
    (`maps.<part>`, a word another part knows is `<unk>` to this one), reads its own number of tokens and averages
    its members' probabilities, as an ensemble does. A text of at most `split_at` tokens gets the mean of the
    parts for short texts, a longer one the mean of the parts for long texts (parts marked "all" take both). So
    every tool that runs a classifier on ids (predict, evaluate, explain by occlusion) runs the blend exactly as
    it answers: the logit out is that of the mean probability (more than two classes: the log of each class's).
    """

    def __init__(self, cfgs: list[SentimentConfig], spec: dict, vocab_size: int):
        super().__init__()
        self.split_at, self.parts = check_blend(spec, len(cfgs))
        if len({c.n_classes for c in cfgs}) != 1:
            raise ValueError("the members' numbers of classes differ")
        for part in self.parts:
            if len({cfgs[i].vocab_size for i in part["members"]}) != 1:
                raise ValueError("the members of one part must share its vocabulary")
        self.members = nn.ModuleList(SentimentLSTM(c) for c in cfgs)
        self.maps = nn.Module()
        for i in range(len(self.parts)):
            self.maps.register_buffer(str(i), torch.zeros(vocab_size, dtype=torch.int32))
        self.cfg = SentimentConfig(**{**asdict(cfgs[0]), "vocab_size": vocab_size})

    def part_vocab_size(self, i: int) -> int:
        """The vocabulary size of part i's members (its map's values must be below it)."""
        return self.members[self.parts[i]["members"][0]].cfg.vocab_size

    def routed(self, n_tokens: int) -> list[int]:
        """The parts that answer a text of `n_tokens` tokens (at least one: empty text is read as `<unk>`)."""
        return self._answering("short" if max(n_tokens, 1) <= self.split_at else "long")

    def _answering(self, which: str) -> list[int]:
        """The parts that score `which` ("short" or "long") texts."""
        return [i for i, part in enumerate(self.parts) if part["texts"] in (which, "all")]

    def known(self, ids: list[int]) -> list[bool]:
        """For each blend id of one text, whether a part that answers this text knows the word (its map gives it
        an id other than `<unk>`): a word only another route's parts know counts for nothing."""
        index = torch.tensor(ids, dtype=torch.long, device=self.maps.get_buffer("0").device)
        routed = [getattr(self.maps, str(i))[index] != UNK_ID for i in self.routed(len(ids))]
        return torch.stack(routed).any(0).tolist()

    def _part(self, i: int, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Part i's mean class probabilities (batch, classes) for blend ids."""
        part = self.parts[i]
        lengths = lengths.clamp(max=part["reads"])
        mapped = getattr(self.maps, str(i))[ids[:, :int(lengths.max())]].long()
        return torch.stack([probabilities(self.members[j](mapped, lengths)) for j in part["members"]]).mean(0)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        lengths = lengths.to(ids.device)
        short = lengths <= self.split_at
        p = torch.zeros(ids.shape[0], self.cfg.n_classes, device=ids.device)
        for rows, which in ((short, "short"), (~short, "long")):
            rows = rows.nonzero().squeeze(1)
            if len(rows):
                p[rows] = torch.stack([self._part(i, ids[rows], lengths[rows]) for i in self._answering(which)]).mean(0)
        return mean_output(p, self.cfg.outputs)


def check_maps(blend: SentimentBlend, weights: dict[str, torch.Tensor]) -> None:
    """ValueError unless each of the blend's stored maps is whole numbers into its part's vocabulary that keep
    `<pad>` and `<unk>` (0 and 1) as they are: an id out of range would index past an embedding."""
    for i in range(len(blend.parts)):
        m = weights[f"maps.{i}"]
        size = blend.part_vocab_size(i)
        if m.dtype not in (torch.int32, torch.int64) or m.dim() != 1 or len(m) < 2:
            raise ValueError(f"maps.{i} is not a list of word ids")
        if int(m.min()) < 0 or int(m.max()) >= size or m[:2].tolist() != [PAD_ID, UNK_ID]:
            raise ValueError(f"maps.{i} holds ids outside its part's vocabulary of {size} words")
