"""Batched sampling for many users: one thread steps every active stream of a model together.

A request is primed in its own thread (its prompt run through the model, exactly as `sample.stream` does), then
joins the engine's batch at the next step and leaves when its length is reached, when it is closed (a client that
went away) or when its own sampling fails. Each request keeps its own temperature, top-k, top-p, generator and
length, so a seeded request gives the text `sample.stream` gives for the same options: both draw from the same
logits with the same generator calls, and the stepper pads every batch to a multiple of 4 rows (see
`model.make_stepper`), so a row's arithmetic does not depend on how many other requests share the step.
"""
from __future__ import annotations

import queue
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Iterator

import torch

from .charlm import CharLM
from .model import row_stable
from .sample import draw, prime

DELIVER_EVERY = 16  # steps whose characters go to a consumer at once: fewer thread wake-ups, less GIL hand-over

_END = object()


@dataclass(eq=False)
class _Request:
    """One request's sampling state inside the engine; `out` carries its characters to the consumer."""

    lm: CharLM
    logits: torch.Tensor  # (rows, vocab): the next character's logits
    state: object  # the recurrent state, batch dimension 1
    gen: torch.Generator
    temperature: float
    top_k: int | None
    top_p: float | None
    remaining: int
    out: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)  # lists of steps, an exception, or _END
    pending: list = field(default_factory=list)  # steps drawn but not yet delivered
    closed: threading.Event = field(default_factory=threading.Event)

    @property
    def rows(self) -> int:
        return self.logits.shape[0]


class EngineStream:
    """Iterator over one request's steps: a list of `num_samples` characters per step. `close()` leaves the batch."""

    def __init__(self, request: _Request):
        self._request = request

    def __iter__(self) -> Iterator[list[str]]:
        try:
            while True:
                item = self._request.out.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield from item
        finally:
            self.close()

    def close(self) -> None:
        self._request.closed.set()


class Engine:
    """Steps the active requests of one character model together on a background thread.

    `max_rows` bounds the rows (samples) stepped at once; requests beyond it wait their turn in arrival order.
    """

    def __init__(self, lm: CharLM, max_rows: int = 64):
        self.lm = lm
        self.max_rows = max_rows
        self._joining: deque[_Request] = deque()
        self._active: list[_Request] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self.steps = 0  # batched steps taken, for tests and figures
        self._step_fn = row_stable(lm.stepper)  # a row's arithmetic is the same in every batch

    def submit(self, prompt: str = "", length: int = 300, temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None, seed: int | None = None, num_samples: int = 1) -> EngineStream:
        """Prime a request in the caller's thread and queue it to join the batch; bad options raise here."""
        logits, state, gen = prime(self.lm, prompt, length, temperature, top_k, top_p, seed, num_samples)
        request = _Request(self.lm, logits, state, gen, temperature, top_k, top_p, length)
        if length == 0:
            request.out.put(_END)
            return EngineStream(request)
        with self._wake:
            self._joining.append(request)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="charrnn-engine", daemon=True)
                self._thread.start()
            self._wake.notify()
        return EngineStream(request)

    def _admit(self) -> bool:
        """Move waiting requests into the batch while rows allow; False when there is nothing to do."""
        with self._wake:
            while not self._active and not self._joining:
                if not self._wake.wait(timeout=30):
                    self._thread = None  # idle: let the thread end; the next submit starts another
                    return False
            rows = sum(r.rows for r in self._active)
            while self._joining and (not self._active or rows + self._joining[0].rows <= self.max_rows):
                request = self._joining.popleft()
                self._active.append(request)
                rows += request.rows
        return True

    def _run(self) -> None:
        with torch.no_grad():
            while self._admit():
                self._step()

    def _step(self) -> None:
        """Draw one character for every active request, drop the finished ones, and advance the rest together."""
        going, ids = [], []
        for request in self._active:
            if request.closed.is_set():
                continue
            try:
                nxt = draw(request.logits, request.temperature, request.top_k, request.top_p, request.gen)
                chars = self.lm.vocab.chars
                request.pending.append([chars[i] for i in nxt.tolist()])
            except Exception as e:  # this request alone fails (after what it drew so far); the others go on
                _deliver(request)
                request.out.put(e)
                continue
            request.remaining -= 1
            if request.remaining == 0 or len(request.pending) >= DELIVER_EVERY:
                _deliver(request)
            if request.remaining == 0:
                request.out.put(_END)
                continue
            going.append(request)
            ids.append(nxt)
        self._active = going
        if not going:
            return
        try:
            logits, state = self._step_fn(torch.cat(ids).to(self.lm.device), _cat([r.state for r in going]))
        except Exception as e:  # the shared step failed: every request in it is told
            for request in going:
                request.out.put(e)
            self._active = []
            return
        self.steps += 1
        start = 0
        for request in going:
            stop = start + request.rows
            request.logits, request.state = logits[start:stop], _slice(state, start, stop)
            start = stop


def _deliver(request: _Request) -> None:
    """Hand the steps drawn so far to the request's consumer."""
    if request.pending:
        request.out.put(request.pending)
        request.pending = []


def _cat(states: list):
    """Recurrent states side by side along the batch dimension (1); LSTM states are (h, c) pairs."""
    if isinstance(states[0], tuple):
        return tuple(torch.cat(parts, dim=1) for parts in zip(*states))
    return torch.cat(states, dim=1)


def _slice(state, start: int, stop: int):
    if isinstance(state, tuple):
        return tuple(s[:, start:stop] for s in state)
    return state[:, start:stop]
