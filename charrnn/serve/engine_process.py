"""The batched sampling engine in a process of its own, for the web app.

In one process, the engine's thread needs Python's interpreter lock around each of the few dozen tensor operations
of a step, and the web server's threads hold that lock for most of their work: under load each waits for the
other, and a step took two to three times as long as on an idle process. Here the engine (`charrnn.serve.engine.Engine`)
runs in a child process with its own interpreter and a copy of the model, so the server's Python and the model's
steps run side by side on separate cores.

A request is still primed in the caller's thread (bad options raise at `submit`, as with `Engine`); its logits,
recurrent state and generator state go to the child, which steps it with the others and sends its characters back
every few steps. The child runs the same `Engine` on the same weights, so a seeded request gives the same text as
in-process sampling. The child is started on first use (or by `start`), ends when the parent closes its pipe or
exits, and is started again after a crash; requests open when it dies get a RuntimeError, never a silent hang.
"""
from __future__ import annotations

import itertools
import os
import pickle
import queue
import signal
import socket
import subprocess
import sys
import threading
import weakref
from dataclasses import asdict
from multiprocessing.connection import Connection
from pathlib import Path

import torch

from ..lm.charlm import CharLM
from ..lm.data import Vocab
from .engine import END, Engine, EngineStream, Request
from ..lm.model import CharRNN, ModelConfig
from ..lm.sample import Dice, prime

STOPPED = "the sampling engine's process stopped unexpectedly; try again"


class EngineStopped(RuntimeError):
    """The sampling engine's child process died or did not start: the request failed, and may be tried again."""

READY = "ready"  # the child's first message, once the model is rebuilt
READY_SECONDS = 120  # how long a child may take to start (import torch, rebuild the model)


class ProcessEngine:
    """`Engine`'s interface (`submit`), stepping in a child process. `max_rows` as for `Engine`."""

    def __init__(self, lm: CharLM, max_rows: int = 64):
        self.lm = lm
        self.max_rows = max_rows
        self._lock = threading.Lock()  # guards which child runs, and each child's open streams when it dies
        self._ids = itertools.count()
        self._child: _Child | None = None
        self._fallback: Engine | None = None  # when no child process could start

    def start(self) -> None:
        """Start the child now (it takes a few seconds) rather than on the first request."""
        with self._lock:
            self._started()

    def submit(self, prompt: str = "", length: int = 300, temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None, seed: int | None = None, num_samples: int = 1) -> EngineStream:
        """Prime a request here and send it to the child's batch; bad options raise here."""
        logits, state, gen = prime(self.lm, prompt, length, temperature, top_k, top_p, seed, num_samples)
        out: queue.SimpleQueue = queue.SimpleQueue()
        if length == 0:
            out.put(END)
            return EngineStream(out, lambda: None)
        arrays = (_numpy(logits), _numpy(state), gen.get_state().numpy())
        with self._lock:
            child = self._started()
            if child is None:  # no child could start: a thread of this process steps the requests
                return self._fallback.join(logits, state, gen, (temperature, top_k, top_p), length)
            rid = next(self._ids)
            child.streams[rid] = out  # before the child can answer; if it has died, the reader fails it
        child.post(("submit", rid, *arrays, (temperature, top_k, top_p), num_samples, length))
        return EngineStream(out, lambda: _close(child, rid))

    def _started(self) -> _Child | None:
        """The running child, started if there is none; None if one could not start (called with the lock held).

        A child that cannot start (no child processes allowed, a broken environment) is not tried again: the
        requests are stepped by an `Engine` thread in this process instead, and a warning says why."""
        if self._fallback is not None:
            return None
        if self._child is None or self._child.dead.is_set():
            try:
                self._child = _Child(_payload(self.lm), self.max_rows, self._lock)
            except (OSError, RuntimeError) as e:
                print(f"warning: {e}; sampling in this process instead", file=sys.stderr, flush=True)
                self._child, self._fallback = None, Engine(self.lm, self.max_rows)
                return None
        return self._child


def _close(child: _Child, rid: int) -> None:
    """A stream's consumer is done with it: the child drops the request. Takes no lock and never blocks (it may run
    in a garbage collection, inside any code)."""
    if child.streams.pop(rid, None) is not None:
        child.post(("close", rid))


class _Child:
    """A child process running an Engine, the connection to it, a thread that sends to it and one that hands its
    output to the streams. A separate interpreter started with `python -m charrnn.serve.engine_process`: it imports only
    torch and this package (not the web app that started it), and talks over a socket pair as a `multiprocessing`
    Connection."""

    def __init__(self, payload: dict, max_rows: int, lock: threading.Lock):
        self.streams: dict[int, queue.SimpleQueue] = {}
        self.dead = threading.Event()  # set (with the lock held) once the child's output has ended
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()  # messages to the child, sent by one thread in order
        ours, theirs = socket.socketpair()
        root = str(Path(__file__).resolve().parents[2])  # the folder holding charrnn/: importable from anywhere
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen([sys.executable, "-m", "charrnn.serve.engine_process", str(theirs.fileno())],
                                        pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL)
        theirs.close()
        conn = Connection(os.dup(ours.fileno()))
        stop = weakref.finalize(self, _stop, ours, self.process, self._outbox)
        threading.Thread(target=_send, args=(conn, self._outbox), name="charrnn-engine-sender", daemon=True).start()
        self.post((payload, max_rows))
        try:  # the child says it is ready once it has the model; a child that hangs or dies first is stopped
            if not conn.poll(READY_SECONDS) or conn.recv() != READY:
                raise EOFError
        except (EOFError, OSError):
            stop()
            conn.close()
            raise EngineStopped(f"the sampling engine's process did not start (exit status {self.process.poll()})")
        threading.Thread(target=_read, args=(conn, self.streams, lock, self.dead), name="charrnn-engine-reader",
                         daemon=True).start()

    def post(self, message) -> None:
        """Queue a message for the child (never blocks)."""
        self._outbox.put(message)


def _send(conn: Connection, outbox: queue.SimpleQueue) -> None:
    """In the parent: send queued messages to the child until told to stop (None) or the child is gone."""
    while (message := outbox.get()) is not None:
        try:
            conn.send(message)
        except OSError:  # the child has died: the reader thread sees the end and fails the open streams
            return


def _stop(sock: socket.socket, process: subprocess.Popen, outbox: queue.SimpleQueue) -> None:
    """End the connection (the child exits when it reads the end, and the reader thread stops) and reap the child.

    A shutdown, not only a close: the reader thread is blocked reading the socket, which a close would not end."""
    outbox.put(None)
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # the child is gone already
        pass
    sock.close()  # the reader thread closes the connection when it reads the end
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _read(conn: Connection, streams: dict[int, queue.SimpleQueue], lock: threading.Lock,
          dead: threading.Event) -> None:
    """In the parent: hand each (request id, item) from the child to its stream; fail them all when the child's
    output ends, for whatever reason (marking the child dead first, so no new stream joins the failed ones)."""
    try:
        while True:
            rid, item = conn.recv()
            out = streams.get(rid)
            if isinstance(item, BaseException) or item == END:
                streams.pop(rid, None)
            if out is not None:
                out.put(item)
    except BaseException:  # noqa: BLE001 - the end of the pipe, or anything else: the streams must not hang
        with lock:
            dead.set()
            failed = list(streams.values())
            streams.clear()
        for out in failed:
            out.put(EngineStopped(STOPPED))
    finally:
        conn.close()


class _Forward:
    """A request's `out` in the child: each item goes to the parent, tagged with the request's id."""

    def __init__(self, conn: Connection, send_lock: threading.Lock, rid: int, live: dict):
        self.conn, self.send_lock, self.rid, self.live = conn, send_lock, rid, live

    def put(self, item) -> None:
        if isinstance(item, BaseException) or item == END:
            self.live.pop(self.rid, None)
            item = _portable(item)
        with self.send_lock:  # the engine's thread and the child's main thread both send
            self.conn.send((self.rid, item))


def child_main(fd: int) -> None:
    """The child: rebuild the model, then queue each submitted request and close the ones the parent closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the app; the child ends when its pipe does
    torch.set_num_threads(max(1, min(torch.get_num_threads(), (os.cpu_count() or 2) // 2)))  # half the cores:
    # the web server needs the rest (on 2 cores, 2 threads here made the load test a quarter slower)
    conn = Connection(fd)
    payload, max_rows = conn.recv()
    lm = _rebuild(payload)
    engine = Engine(lm, max_rows)
    conn.send(READY)
    live: dict[int, Request] = {}
    send_lock = threading.Lock()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent closed the connection or went away
            return
        if message[0] == "close":
            request = live.pop(message[1], None)
            if request is not None:
                request.closed.set()
            continue
        rid = message[1]
        try:
            live[rid] = request = _request(message, lm, _Forward(conn, send_lock, rid, live))
            engine.enqueue(request)
        except Exception as e:  # noqa: BLE001 - this request alone fails (out of memory on a huge one, say)
            _Forward(conn, send_lock, rid, live).put(e)


def _request(message: tuple, lm: CharLM, out: _Forward) -> Request:
    """A submitted request as the child's engine takes it."""
    _, _, logits, state, gen_state, options, rows, length = message
    gen = torch.Generator()
    gen.set_state(torch.from_numpy(gen_state))
    return Request(_tensor(logits, lm), _tensor(state, lm), Dice(gen, rows), options, rows, length, out=out)


def _payload(lm: CharLM) -> dict:
    """What the child needs to rebuild the model: plain values and arrays (no shared tensors)."""
    return {"config": asdict(lm.model.config), "chars": lm.vocab.chars, "device": str(lm.device),
            "state_dict": {k: v.detach().cpu().numpy() for k, v in lm.model.state_dict().items()}}


def _rebuild(payload: dict) -> CharLM:
    model = CharRNN(ModelConfig(**payload["config"]))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in payload["state_dict"].items()})
    return CharLM(model.to(payload["device"]).eval(), Vocab(tuple(payload["chars"])), {})


def _numpy(x):
    """A tensor or an (h, c) pair as NumPy arrays, to cross the pipe by value."""
    return tuple(_numpy(t) for t in x) if isinstance(x, tuple) else x.detach().cpu().numpy()


def _tensor(x, lm: CharLM):
    return tuple(_tensor(t, lm) for t in x) if isinstance(x, tuple) else torch.from_numpy(x).to(lm.device)


def _portable(item):
    """An exception that can be pickled to the parent (its own type where possible)."""
    if not isinstance(item, BaseException):
        return item
    try:
        pickle.loads(pickle.dumps(item))
        return item
    except Exception:  # noqa: BLE001 - any exception that does not survive pickling is sent as its message
        return RuntimeError(f"{type(item).__name__}: {item}")


if __name__ == "__main__":
    child_main(int(sys.argv[1]))
