"""Character language model: embedding -> recurrent layers -> linear over the vocabulary."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


@dataclass
class ModelConfig:
    vocab_size: int
    embed: int = 256
    hidden: int = 512
    layers: int = 1
    dropout: float = 0.0
    cell: str = "lstm"

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"unknown cell {self.cell!r}; use one of {', '.join(CELLS)}")
        for name in ("vocab_size", "embed", "hidden", "layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict:
        return asdict(self)


class CharRNN(nn.Module):
    """Runs whole (batch, time) sequences in one call and takes/returns the recurrent state."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed)
        self.rnn = CELLS[config.cell](
            config.embed,
            config.hidden,
            num_layers=config.layers,
            dropout=config.dropout if config.layers > 1 else 0.0,
            batch_first=True,
        )
        self.drop = nn.Dropout(config.dropout)
        self.fc = nn.Linear(config.hidden, config.vocab_size)

    def forward(self, x: torch.Tensor, state=None):
        """x: (batch, time) ids -> logits (batch, time, vocab), new state."""
        out, state = self.rnn(self.embedding(x), state)
        return self.fc(self.drop(out)), state

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def detach_state(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()
