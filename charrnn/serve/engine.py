"""Batched sampling for many users: one thread steps every active stream of a model together.

A request is primed in its own thread (its prompt run through the model, exactly as `sample.stream` does), then
joins the engine's batch at the next step and leaves when its length is reached, when it is closed (a client that
went away) or when its own sampling fails. Each request keeps its own temperature, top-k, top-p, generator and
length, so a seeded request gives the text `sample.stream` gives for the same options: both draw by inverse CDF
with the request's own uniform numbers (`sample.Dice`), and the batch is padded to a multiple of 4 rows (see
`model.ROW_MULTIPLE`), so a row's arithmetic does not depend on how many other requests share the step.

The batch's logits and recurrent state stay side by side in one tensor each between steps; they are rebuilt only
when a request joins or leaves. Requests with the same options are drawn together (one `sample.draw` per set of
options), so a step costs a few tensor operations however many requests share it.
"""
from __future__ import annotations

import queue
import threading
from collections import deque
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Callable, Iterator

import torch

from ..lm.charlm import CharLM
from ..lm.model import ROW_MULTIPLE, map_state, pad_rows
from ..lm.sample import Dice, draw, prime

DELIVER_EVERY = 16  # steps whose characters go to a consumer at once: fewer thread wake-ups, less GIL hand-over

END = "end of stream"  # the last item a request's `out` gets (a string, so it survives a trip between processes)


@dataclass(eq=False)
class Request:
    """One request's sampling state inside the engine; `out` carries its characters to the consumer."""

    logits: torch.Tensor | None  # (rows, vocab) after priming; None once in the batch (the batch holds them)
    state: object  # the recurrent state after priming, batch dimension 1; None once in the batch
    dice: Dice
    options: tuple  # (temperature, top_k, top_p): requests with the same options are drawn together
    rows: int
    remaining: int
    out: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)  # lists of steps, an exception, or END
    pending: list = field(default_factory=list)  # steps drawn but not yet delivered
    closed: threading.Event = field(default_factory=threading.Event)


class EngineStream:
    """Iterator over one request's steps: a list of `num_samples` characters per step. `close()` leaves the batch."""

    def __init__(self, out: queue.SimpleQueue, close: Callable[[], None]):
        self._out, self._close = out, close

    def __iter__(self) -> Iterator[list[str]]:
        try:
            while True:
                item = self._out.get()
                if isinstance(item, str) and item == END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield from item
        finally:
            self.close()

    def close(self) -> None:
        self._close()


class Engine:
    """Steps the active requests of one character model together on a background thread.

    `max_rows` bounds the rows (samples) stepped at once; requests beyond it wait their turn in arrival order.
    """

    def __init__(self, lm: CharLM, max_rows: int = 64):
        self.lm = lm
        self.max_rows = max_rows
        self._joining: deque[Request] = deque()
        self._active: list[Request] = []  # in the batch's row order
        self._logits: torch.Tensor | None = None  # (active rows, vocab): the next character's logits
        self._state = None  # the active rows' recurrent state, padded to a multiple of ROW_MULTIPLE rows
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self.steps = 0  # batched steps taken, for tests and figures
        self._device = lm.device

    def submit(self, prompt: str = "", length: int = 300, temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None, seed: int | None = None, num_samples: int = 1) -> EngineStream:
        """Prime a request in the caller's thread and queue it to join the batch; bad options raise here."""
        logits, state, gen = prime(self.lm, prompt, length, temperature, top_k, top_p, seed, num_samples)
        return self.join(logits, state, gen, (temperature, top_k, top_p), length)

    def join(self, logits: torch.Tensor, state, gen: torch.Generator, options: tuple, length: int) -> EngineStream:
        """Queue a request primed by `sample.prime` (its logits, state and generator) with its options
        (temperature, top_k, top_p) and length."""
        request = Request(logits, state, Dice(gen, logits.shape[0]), options, logits.shape[0], length)
        self.enqueue(request)
        return EngineStream(request.out, request.closed.set)

    def enqueue(self, request: Request) -> None:
        """Queue a primed request to join the batch at the next step."""
        if request.remaining == 0:
            request.out.put(END)
            return
        with self._wake:
            self._joining.append(request)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="charrnn-engine", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _admit(self) -> bool:
        """Move waiting requests into the batch while rows allow; False when there is nothing to do."""
        joiners: list[Request] = []
        with self._wake:
            while not self._active and not self._joining:
                if not self._wake.wait(timeout=30) and not self._joining:
                    self._thread = None  # idle: let the thread end; the next submit starts another
                    return False
            rows = sum(r.rows for r in self._active)
            while self._joining and (rows == 0 or rows + self._joining[0].rows <= self.max_rows):
                joiners.append(self._joining.popleft())
                rows += joiners[-1].rows
        if joiners:
            try:
                self._regroup(self._active, joiners)
            except Exception as e:  # the joiners could not be added (out of memory, say): they are told
                for request in joiners:
                    request.out.put(e)
                raise
        return True

    def _run(self) -> None:
        with torch.no_grad():
            while True:
                try:
                    if not self._admit():
                        return
                    self._step()
                except Exception as e:  # noqa: BLE001 - a failure of the batch: its requests are told, none hangs
                    self._fail_active(e)

    def _fail_active(self, error: Exception) -> None:
        for request in self._active:
            _deliver(request)
            request.out.put(error)
        self._active, self._logits, self._state = [], None, None

    def _step(self) -> None:
        """Draw one character for every active request, drop the finished ones, and advance the rest together."""
        if any(r.closed.is_set() for r in self._active):
            self._regroup([r for r in self._active if not r.closed.is_set()], [])
        chars = self.lm.vocab.chars
        going, ids = [], []
        for request, drawn in zip(self._active, self._draw(), strict=True):
            if isinstance(drawn, BaseException):  # this request alone fails (after what it drew so far)
                _deliver(request)
                request.out.put(drawn)
                continue
            request.pending.append([chars[i] for i in drawn])
            request.remaining -= 1
            if request.remaining == 0 or len(request.pending) >= DELIVER_EVERY:
                _deliver(request)
            if request.remaining == 0:
                request.out.put(END)
                continue
            going.append(request)
            ids.extend(drawn)
        if len(going) < len(self._active):
            self._regroup(going, [])
        if not going:
            return
        padded = torch.tensor(ids + [0] * (-len(ids) % ROW_MULTIPLE), device=self._device)
        logits, self._state = self.lm.stepper(padded, self._state)  # if it fails, `_run` tells every request
        self._logits = logits[:len(ids)]
        self.steps += 1

    def _draw(self) -> list:
        """Each active request's drawn ids (a list per request, one per row), or the exception its draw raised.

        Requests with the same options are drawn in one call; if that call fails, each of them is drawn alone, so
        only the request at fault gets the error.
        """
        uniforms = [r.dice.next() for r in self._active]
        groups: dict[tuple, list[int]] = {}
        for i, request in enumerate(self._active):
            groups.setdefault(request.options, []).append(i)
        out: list = [None] * len(self._active)
        for options, members in groups.items():
            logits = self._logits if len(groups) == 1 else self._logits[self._rows(members)]
            try:
                got = draw(logits, *options, [u for i in members for u in uniforms[i]])
            except Exception:
                for i in members:
                    out[i] = _draw_alone(self._logits[self._rows([i])], options, uniforms[i])
                continue
            at = 0
            for i in members:
                out[i] = got[at:at + self._active[i].rows]
                at += self._active[i].rows
        return out

    def _regroup(self, keep: list[Request], joiners: list[Request]) -> None:
        """Rebuild the batch from `keep` (active requests, in order) and then `joiners`: their logits and state
        side by side, the state padded with zero rows to a multiple of ROW_MULTIPLE."""
        logits, states = [], []
        if len(keep) == len(self._active) > 0:
            rows = self._logits.shape[0]
            logits.append(self._logits)
            states.append(map_state(self._state, lambda s: s[:, :rows]))  # without the padding
        elif keep:
            kept = set(map(id, keep))
            at = self._rows([i for i, r in enumerate(self._active) if id(r) in kept])
            logits.append(self._logits.index_select(0, at))
            states.append(map_state(self._state, lambda s: s.index_select(1, at)))
        for request in joiners:
            logits.append(request.logits)
            states.append(request.state)
            request.logits = request.state = None
        self._active = list(keep) + joiners
        if not self._active:
            self._logits = self._state = None
            return
        self._logits = torch.cat(logits) if len(logits) > 1 else logits[0]
        self._state = pad_rows(_cat(states), -self._logits.shape[0] % ROW_MULTIPLE)


    def _rows(self, members: list[int]) -> torch.Tensor:
        """The batch rows of the active requests at positions `members` (a request has one row per sample)."""
        starts = list(accumulate((r.rows for r in self._active), initial=0))
        index = [j for i in members for j in range(starts[i], starts[i + 1])]
        return torch.tensor(index, device=self._logits.device)


def _draw_alone(logits: torch.Tensor, options: tuple, uniforms: list[float]) -> list[int] | BaseException:
    try:
        return draw(logits, *options, uniforms)
    except Exception as e:  # noqa: BLE001 - handed to this request's consumer
        return e


def _deliver(request: Request) -> None:
    """Hand the steps drawn so far to the request's consumer."""
    if request.pending:
        request.out.put(request.pending)
        request.pending = []


def _cat(states: list):
    """Recurrent states side by side along the batch dimension (1); LSTM states are (h, c) pairs."""
    if len(states) == 1:
        return states[0]
    if isinstance(states[0], tuple):
        return tuple(torch.cat(parts, dim=1) for parts in zip(*states))
    return torch.cat(states, dim=1)
