"""Character language model: embedding -> recurrent layers -> linear over the vocabulary."""
from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
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
    weight_drop: float = 0.0  # AWD-LSTM DropConnect on the hidden-to-hidden weights, training only
    cell: str = "lstm"

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"unknown cell {self.cell!r}; use one of {', '.join(CELLS)}")
        for name in ("vocab_size", "embed", "hidden", "layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.weight_drop < 1.0:
            raise ValueError(f"weight_drop must be in [0, 1), got {self.weight_drop}")

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
        emb = self.embedding(x)
        if self.training and self.config.weight_drop > 0:
            out, state = self._weight_dropped(emb, state)
        else:
            out, state = self.rnn(emb, state)
        return self.fc(self.drop(out)), state

    def _weight_dropped(self, emb: torch.Tensor, state):
        """The recurrent layers with one DropConnect mask per call on each hidden-to-hidden matrix (Merity et al.,
        2018): the same connections are cut at every time step, which regularises the recurrence itself."""
        params = dict(self.rnn.named_parameters())
        for name in params:
            if name.startswith("weight_hh"):
                params[name] = nn.functional.dropout(params[name], self.config.weight_drop, training=True)
        return torch.func.functional_call(self.rnn, params, (emb, state))


class LSTMStepper:
    """One-character steps of an LSTM CharRNN in eval mode, without nn.LSTM's per-call overhead.

    Layer 0's input projection is precomputed per character (embedding @ W_ih + biases), and each
    further layer does a single matmul on [h_below, h]. Outputs equal the model's; the state has
    nn.LSTM's (h, c) layout, so prompt encoding can use the model's full-sequence call.
    """

    def __init__(self, model: CharRNN):
        rnn = model.rnn
        with torch.no_grad():
            self.table = (
                model.embedding.weight @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + rnn.bias_hh_l0
            ).detach()
            self.weights = [rnn.weight_hh_l0.detach().T.contiguous()]
            self.biases = [None]
            for layer in range(1, rnn.num_layers):
                w = torch.cat([getattr(rnn, f"weight_ih_l{layer}"), getattr(rnn, f"weight_hh_l{layer}")], dim=1)
                self.weights.append(w.detach().T.contiguous())
                self.biases.append((getattr(rnn, f"bias_ih_l{layer}") + getattr(rnn, f"bias_hh_l{layer}")).detach())
            self.fc_w = model.fc.weight.detach().T.contiguous()
            self.fc_b = model.fc.bias.detach()

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, state):
        """x: (batch,) ids, state: (h, c) each (layers, batch, hidden) -> logits (batch, vocab), state."""
        h_all, c_all = state
        hs, cs = [], []
        below = None
        for layer, w in enumerate(self.weights):
            h, c = h_all[layer], c_all[layer]
            if layer == 0:
                gates = torch.addmm(self.table[x], h, w)
            else:
                gates = torch.addmm(self.biases[layer], torch.cat([below, h], dim=1), w)
            i, f, g, o = gates.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            hs.append(h)
            cs.append(c)
            below = h
        return torch.addmm(self.fc_b, below, self.fc_w), (torch.stack(hs), torch.stack(cs))


# The batched engine steps its rows padded to a multiple of ROW_MULTIPLE (`pad_rows`). Matrix kernels pick their
# blocking by the number of rows, and on this project's CPUs a row's result came out bit for bit the same for every
# batch of 4, 8, 12, 16, ... rows but not for 1-3, 5-7 or 9-11 rows: padded, a seeded request gives the same text
# whatever else shares its steps. Single-stream sampling does not pad (one row is about twice as fast unpadded), so
# its text can differ from the engine's in rare characters.
ROW_MULTIPLE = 4


class GraphedStepper:
    """An LSTM stepper for one batch size whose step reads and writes fixed buffers, so that on CUDA it is captured
    once as a CUDA graph and each character costs one graph launch instead of a dozen kernel launches per layer
    (single-stream sampling on a GPU is bound by launches, not arithmetic). Calls with another batch size or a
    missing state run the wrapped stepper as it is. With capture=False (or off CUDA) the same buffers are used
    eagerly, which is how the tests check this path on a CPU. One model's stepper is shared by every thread that
    samples from it, so a lock keeps one step at a time on the buffers.
    """

    def __init__(self, step: LSTMStepper, layers: int, hidden: int, batch: int = 1, capture: bool | None = None):
        device = step.table.device
        self.step = step
        self.x = torch.zeros(batch, dtype=torch.long, device=device)
        self.h = torch.zeros(layers, batch, hidden, device=device, dtype=step.table.dtype)
        self.c = torch.zeros_like(self.h)
        self.capture = device.type == "cuda" if capture is None else capture
        self.graph = None
        self.out = None
        self.lock = threading.Lock()

    def _run(self) -> None:
        self.out = self.step(self.x, (self.h, self.c))

    def _build(self) -> None:
        """Warm up on a side stream (as torch.cuda.graphs asks), then capture; a failure leaves it eager, with a
        warning naming the reason (sampling still works, only slower)."""
        try:
            side = torch.cuda.Stream(self.x.device)
            side.wait_stream(torch.cuda.current_stream(self.x.device))
            with torch.cuda.stream(side):
                for _ in range(3):
                    self._run()
            torch.cuda.current_stream(self.x.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):  # other threads may use the GPU
                self._run()
            self.graph = graph
        except Exception as e:  # noqa: BLE001 - whatever the driver or build says, the plain step still works
            self.capture = False
            warnings.warn(f"CUDA graph capture failed ({type(e).__name__}: {e}); sampling steps run without it",
                          RuntimeWarning, stacklevel=3)

    def __call__(self, x: torch.Tensor, state):
        fits = (x.shape == self.x.shape and isinstance(state, tuple) and state[0].shape == self.h.shape
                and x.device == self.x.device)
        if not fits:
            return self.step(x, state)
        with torch.no_grad(), self.lock:
            self.x.copy_(x)
            self.h.copy_(state[0])
            self.c.copy_(state[1])
            if self.capture and self.graph is None:
                self._build()
            if self.graph is not None:
                self.graph.replay()
            else:
                self._run()
            logits, (h, c) = self.out
            return logits.clone(), (h.clone(), c.clone())  # the buffers are overwritten by the next step


def make_stepper(model: CharRNN, graphs: bool | None = None):
    """A callable (ids (batch,), state) -> (logits (batch, vocab), state) for sampling one character at a time.

    A single row runs unpadded (fastest); the batched engine pads its rows (see ROW_MULTIPLE). An LSTM on a CUDA
    device (or with graphs=True) steps single rows through a CUDA graph (GraphedStepper).
    """
    if model.config.cell == "lstm":
        step = LSTMStepper(model)
        if graphs if graphs is not None else step.table.device.type == "cuda":
            return GraphedStepper(step, model.config.layers, model.config.hidden)  # captured only on CUDA
        return step

    @torch.no_grad()
    def step(x: torch.Tensor, state):
        logits, state = model(x.unsqueeze(1), state)
        return logits[:, -1], state

    return step


def map_state(state: tuple | torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> tuple | torch.Tensor:
    """`fn` applied to a recurrent state's tensors: the LSTM's (h, c) or a GRU's/RNN's h (batch dimension 1)."""
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


def pad_rows(state: tuple | torch.Tensor, extra: int) -> tuple | torch.Tensor:
    """A recurrent state with `extra` zero rows appended along the batch dimension."""
    if not extra:
        return state
    return map_state(state, lambda s: torch.cat([s, s.new_zeros(s.shape[0], extra, *s.shape[2:])], dim=1))
