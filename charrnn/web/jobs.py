"""One background training job at a time, for the web app: start, watch, stop, publish the checkpoint.

A run trains inside `<folder>/.train/<name>/` (full resumable state, best weights, log). When it
finishes or is stopped, its best-validation weights (slim: no optimizer state) are moved into the
folder as `<name>.pt`, with the log beside them as `<name>.log.jsonl`, so the folder lists one
checkpoint per run. The resumable `<name>.pt` with optimizer state stays in the hidden run folder.
"""
from __future__ import annotations

import contextvars
import math
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from .. import checkpoint as ckpt
from .. import shelf
from ..lm.corpus import Corpus, load_corpus
from ..lm.gutenberg import CATALOGUE, GutenbergError
from ..lm.model import CELLS
from ..lm.sizing import embed_for
from ..lm.train import BUDGET_LR, BUDGET_SEQ_LEN, TrainConfig, best_path, log_path, train

RUNS_DIR = ".train"
MAX_TEXT_BYTES = 64 << 20
LIMITS = {
    "hidden": (8, 4096),
    "embed": (4, 2048),
    "layers": (1, 6),
    "steps": (1, 1_000_000),
    "batch_size": (1, 4096),
    "seq_len": (2, 2000),
}


class JobBusy(RuntimeError):
    """Another training job is running."""


@dataclass
class TrainRequest:
    """What to train: Gutenberg books or text files (several make one corpus), the model and the trainer
    settings."""

    name: str
    model: dict
    config: TrainConfig
    books: tuple[int, ...] = ()
    text_files: tuple[Path, ...] = ()

    @property
    def source(self) -> str:
        if self.text_files:
            return ", ".join(Path(f).name for f in self.text_files)
        return ("Gutenberg book " if len(self.books) == 1 else "Gutenberg books ") + ", ".join(map(str, self.books))

    def corpus(self, cache_dir: str | os.PathLike | None = None) -> Corpus:
        if self.text_files:
            return load_corpus(text_file=list(self.text_files))
        return load_corpus(book=list(self.books), cache_dir=cache_dir)


@dataclass(frozen=True)
class FormDefaults:
    """The training form's values when left alone: The Mysterious Island, three minutes, sizes sized for the
    machine. The sizes below are a step-count run's, used when Steps is given and a size left at 0.

    Written only here: the app's controls and `make_request` both start from these.
    """

    book: int = 1268
    cell: str = "lstm"
    hidden: int = 256
    layers: int = 1
    steps: int = 1000
    batch_size: int = 64
    seq_len: int = 100
    lr: float = 0.003
    minutes: float = 3.0  # the form says how long in minutes; a step count, when given, is used instead


FORM = FormDefaults()


def book_choices() -> list[tuple[str, int]]:
    """(label, ID) pairs of the small Gutenberg catalogue, for a menu."""
    return [(f"{i} · {title}", i) for i, title in CATALOGUE.items()]


def parse_book(value) -> int:
    """A Gutenberg ID from `1268`, `"1268"`, `"1268 · The Mysterious Island"` or part of a catalogue title."""
    if isinstance(value, bool):
        raise ValueError(f"not a Gutenberg book: {value!r}")
    if isinstance(value, (int, float)) and float(value).is_integer() and value > 0:
        return int(value)
    text = str(value or "").strip()
    if not text:
        raise ValueError("choose a book or upload a text")
    head = (text.split("·")[0].split() or [""])[0]
    if head.isdigit() and int(head) > 0:
        return int(head)
    hits = [i for i, title in CATALOGUE.items() if text.lower() in title.lower()]
    if len(hits) > 1:
        raise ValueError(f"{text!r} matches several books: " + "; ".join(CATALOGUE[i] for i in hits))
    if not hits:
        raise ValueError(f"not a Gutenberg book ID or catalogue title: {text!r}")
    return hits[0]


def _bounded(name: str, value) -> int:
    lo, hi = LIMITS[name]
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None
    if not as_float.is_integer() or not lo <= as_float <= hi:
        raise ValueError(f"{name} must be a whole number from {lo} to {hi}, got {value!r}")
    return int(as_float)


def make_request(
    book=None,
    text_file: str | os.PathLike | list | None = None,
    name: str | None = None,
    cell: str = FORM.cell,
    hidden: int | None = None,
    layers: int = FORM.layers,
    steps: int = FORM.steps,
    batch_size: int | None = None,
    seq_len: int | None = None,
    lr: float | None = None,
    embed: int | None = None,
    device: str = "auto",
    seed: int = 1,
    minutes: float | None = None,
) -> TrainRequest:
    """Check settings as they come from a form and build a request; ValueError names the bad one.

    `book` is one Gutenberg book or a list, `text_file` one uploaded text or a list: several make one corpus
    (each file cleaned on its own, each file's end held out). Uploaded texts win over the books. Validation runs
    every tenth of the run. With `minutes` and no `steps` (None or 0) the run trains to that time budget instead
    (see charrnn.train). Sizes and the learning rate left None or 0 are automatic: FORM's for a step count, sized
    for the machine (hidden, batch) or the budget recipe's (seq_len, lr) for a time budget.
    """
    text_files = _uploads(text_file)
    books = () if text_files else _books(book)
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
    layers = _bounded("layers", layers)
    if not steps and minutes:
        return _budget_request(books, text_files, name, cell, hidden, layers, embed, minutes, batch_size,
                               seq_len, lr, device, seed)
    hidden = _bounded("hidden", FORM.hidden if _blank(hidden) else hidden)
    embed = _bounded("embed", embed) if embed else embed_for(hidden)
    steps = _bounded("steps", steps)
    batch_size = _bounded("batch_size", FORM.batch_size if _blank(batch_size) else batch_size)
    seq_len = _bounded("seq_len", FORM.seq_len if _blank(seq_len) else seq_len)
    lr = _learning_rate(FORM.lr if _blank(lr) else lr)
    every = max(1, steps // 10)
    config = TrainConfig(steps=steps, batch_size=batch_size, seq_len=seq_len, lr=lr, warmup=min(100, steps // 10),
                         eval_every=every, save_every=every, seed=int(seed), device=device)
    return _request(books, text_files, name, dict(embed=embed, hidden=hidden, layers=layers, cell=cell), config)


def _as_items(value) -> list:
    """A form value that may be one item or several (a multi-select, several uploads) as a list; empty: []."""
    if value is None or value == "":
        return []
    return [v for v in value if v not in (None, "")] if isinstance(value, (list, tuple)) else [value]


def _uploads(value) -> tuple[Path, ...]:
    """The uploaded text files, checked to exist and to stay under MAX_TEXT_BYTES together."""
    files = tuple(Path(v) for v in _as_items(value))
    for f in files:
        if not f.is_file():
            raise ValueError(f"uploaded text not found: {f.name}")
    size = sum(f.stat().st_size for f in files)
    if size > MAX_TEXT_BYTES:
        what = files[0].name if len(files) == 1 else f"the {len(files)} uploads"
        raise ValueError(f"{what} {'is' if len(files) == 1 else 'are'} {size / 2**20:.0f} MiB; "
                         f"the limit is {MAX_TEXT_BYTES >> 20} MiB")
    return files


def _books(value) -> tuple[int, ...]:
    """The chosen Gutenberg books, each parsed (parse_book), duplicates dropped, in the order given."""
    books = tuple(dict.fromkeys(parse_book(v) for v in _as_items(value)))
    if not books:
        raise ValueError("choose a book or upload a text")
    return books


def _request(books, text_files, name, model: dict, config: TrainConfig) -> TrainRequest:
    """The request, named after the user's name or else the source(s) and the hidden size."""
    if text_files:
        default = text_files[0].stem + (f"-and-{len(text_files) - 1}-more" if len(text_files) > 1 else "")
    else:
        default = "gutenberg-" + "-".join(map(str, books))
    size = f"h{model['hidden']}" if model["hidden"] else f"{config.minutes:g}min"
    stem = shelf.safe_stem((name or "").strip() or f"{default}-{size}")
    return TrainRequest(stem, model, config, books, text_files)


def _budget_request(books, text_files, name, cell, hidden, layers, embed, minutes, batch_size, seq_len, lr, device,
                    seed) -> TrainRequest:
    """make_request's time-budget case: the run's length is `minutes` of wall time; the hidden size and batch,
    when blank, are sized for the device (charrnn.sizing), the batches are streams (the budget recipe)."""
    try:
        minutes = float(minutes)
    except (TypeError, ValueError):
        raise ValueError(f"minutes must be a number, got {minutes!r}") from None
    if not (math.isfinite(minutes) and 0.05 <= minutes <= 24 * 60):
        raise ValueError(f"minutes must be from 0.05 to {24 * 60}, got {minutes:g}")
    hidden = None if _blank(hidden) else _bounded("hidden", hidden)
    embed = _bounded("embed", embed) if embed else (embed_for(hidden) if hidden else None)
    batch_size = None if _blank(batch_size) else _bounded("batch_size", batch_size)
    seq_len = BUDGET_SEQ_LEN if _blank(seq_len) else _bounded("seq_len", seq_len)
    lr = BUDGET_LR if _blank(lr) else _learning_rate(lr)
    config = TrainConfig(minutes=minutes, batch_size=batch_size, seq_len=seq_len, lr=lr, batching="streams",
                         seed=int(seed), device=device)
    return _request(books, text_files, name, dict(embed=embed, hidden=hidden, layers=layers, cell=cell), config)


def _blank(value) -> bool:
    """A form field left empty or 0 (a browser sends an empty number field as 0): the automatic value."""
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0)


def _learning_rate(lr) -> float:
    try:
        lr = float(lr)
    except (TypeError, ValueError):
        raise ValueError(f"learning rate must be a number, got {lr!r}") from None
    if not (math.isfinite(lr) and 0 < lr <= 1):
        raise ValueError(f"learning rate must be in (0, 1], got {lr}")
    return lr


@dataclass
class Job:
    """A training run and what is known about it so far. `state`: loading, training, finished, stopped, failed."""

    request: TrainRequest
    stop_event: threading.Event = field(default_factory=threading.Event)
    records: list[dict] = field(default_factory=list)
    state: str = "loading"
    error: str | None = None
    published: Path | None = None
    started: float = field(default_factory=time.time)
    thread: threading.Thread | None = None

    @property
    def done(self) -> bool:
        return self.state in ("finished", "stopped", "failed")

    @property
    def step(self) -> int:
        return max((r["step"] for r in self.records), default=0)

    def where(self) -> str:
        return f"{self.request.name}, step {self.step}/{self.total}"

    @property
    def total(self) -> int | str:
        """The run's length: its steps, or its time budget."""
        return self.request.config.steps or f"~ ({self.request.config.minutes:g} min)"

    def curve(self) -> list[tuple[int, float, str]]:
        """(step, loss in nats, 'train' or 'validation') points logged so far."""
        points = []
        for r in list(self.records):
            if "train_loss" in r:
                points.append((r["step"], float(r["train_loss"]), "train"))
            if "val_loss" in r:
                points.append((r["step"], float(r["val_loss"]), "validation"))
        return points

    def summary(self) -> str:
        """A one-line account of where the job stands."""
        req, total = self.request, self.total
        if self.state == "loading":
            return f"Loading {req.source}…"
        if self.state == "failed":
            return f"Training on {req.source} failed: {self.error}"
        last_val = next((r["val_loss"] for r in reversed(self.records) if "val_loss" in r), None)
        last_train = next((r["train_loss"] for r in reversed(self.records) if "train_loss" in r), None)
        losses = "".join([
            f", train loss {last_train:.3f}" if last_train is not None else "",
            f", validation loss {last_val:.3f} nats" if last_val is not None else "",
        ])
        sized = next((r["sizing"] for r in self.records if "sizing" in r), None)
        if sized:
            losses += f", sized: hidden {sized['hidden']}, batch {sized['batch_size']}"
        elapsed = f"{time.time() - self.started:.0f} s"
        if self.state == "training":
            return f"Training {req.name} on {req.source}: step {self.step}/{total}{losses} ({elapsed})"
        saved = f" Saved as {self.published.name}." if self.published else " Nothing was saved (no step was trained)."
        return f"{self.state.capitalize()} {req.name} on {req.source} at step {self.step}/{total}{losses}.{saved}"


J = TypeVar("J")


class JobManager:
    """Runs at most one training job at a time in a background thread, publishing into `folder`."""

    def __init__(self, folder: str | os.PathLike, cache_dir: str | os.PathLike | None = None):
        self.folder = Path(folder)
        self.cache_dir = cache_dir
        self._lock = threading.Lock()
        self.current: Job | None = None

    def busy(self) -> bool:
        return self.current is not None and not self.current.done

    def check_free(self) -> None:
        """JobBusy, describing the running job, while one runs."""
        job = self.current
        if job is not None and not job.done:
            raise JobBusy(f"a training job is already running ({job.where()}); stop it or wait for it to end")

    def start(self, request: TrainRequest) -> Job:
        """Start `request` in the background (inheriting the caller's context, e.g. a progress tracker)."""
        return self.launch(lambda stem: Job(replace(request, name=stem)), request.name, self._run)

    def launch(self, make_job: Callable[[str], J], name: str, run: Callable[[J], None]) -> J:
        """Make a job named after `name` (a free checkpoint name in the folder) and `run` it in a background thread
        inheriting the caller's context; JobBusy while another job of any sort runs. The job needs `done`,
        `where()`, `stop_event` and `thread`."""
        with self._lock:
            self.check_free()
            stem = Path(shelf.free_name(self.folder, name)).stem
            job = make_job(stem)
            ctx = contextvars.copy_context()
            job.thread = threading.Thread(target=ctx.run, args=(run, job), name=f"train-{stem}", daemon=True)
            self.current = job
            job.thread.start()
            return job

    def stop(self) -> bool:
        """Ask the running job to save and stop; False when none runs."""
        job = self.current
        if job is None or job.done:
            return False
        job.stop_event.set()
        return True

    def run_dir(self, name: str) -> Path:
        return self.folder / RUNS_DIR / name

    def _run(self, job: Job) -> None:
        req = job.request
        try:
            corpus = req.corpus(self.cache_dir)
            if job.stop_event.is_set():
                job.state = "stopped"
                return
            out = self.run_dir(req.name) / f"{req.name}.pt"
            out.parent.mkdir(parents=True, exist_ok=True)
            job.state = "training"
            result = train(corpus, req.model, req.config, out=out, stop_event=job.stop_event,
                           on_log=job.records.append, progress=True)
            if result.steps > 0:
                job.published = self.publish(out)
            job.state = result.status
        except GutenbergError as e:
            first, _, rest = str(e).partition("; ")
            job.error = first[:300] + (f" (and {rest.count('; ') + 1} more failed attempts)" if rest else "")
            job.state = "failed"
        except (ckpt.CheckpointError, ValueError, OSError) as e:
            job.error = str(e)[:500]
            job.state = "failed"
        except Exception as e:  # a bug must not leave the job "running" forever
            job.error = f"{type(e).__name__}: {str(e)[:500]}"
            job.state = "failed"

    def publish(self, out: Path) -> Path:
        """Move a run's best weights into the folder under a free name and copy its log beside them."""
        dest = shelf.place(best_path(out), self.folder, out.stem, move=True)
        if log_path(out).exists():
            shutil.copyfile(log_path(out), log_path(dest))
        return dest
