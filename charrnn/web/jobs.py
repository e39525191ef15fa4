"""One background training job at a time, for the web app: start, watch, stop, publish the checkpoint.

A job is a character model's run (`TrainRequest`, here) or a classifier's (`ClassifierRequest`, in
`charrnn.web.sentiment_jobs`): one `Job` type whose request knows how to train, how far it has got, its curve and
how to sum it up; the manager runs either the same way.

A character model's run trains inside `<folder>/.train/<name>/` (full resumable state, best weights, log). When it
finishes or is stopped, its best-validation weights (slim: no optimizer state) are moved into the
folder as `<name>.pt`, with the log beside them as `<name>.log.jsonl`, so the folder lists one
checkpoint per run. The resumable `<name>.pt` with optimizer state stays in the hidden run folder.
"""
from __future__ import annotations

import contextvars
import os
import shutil
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from .. import checkpoint as ckpt
from .. import shelf
from ..kinds import CHAR_LM
from ..lm.corpus import Corpus, load_corpus
from ..lm.budget import BUDGET_RECIPE, FINETUNE_RECIPE
from ..lm.gutenberg import GutenbergError
from ..lm.sizing import embed_for
from ..lm.train import TrainConfig, best_path, log_path, train
from .forms import TrainForm

RUNS_DIR = ".train"
MAX_TEXT_BYTES = 64 << 20


class JobBusy(RuntimeError):
    """Another training job is running."""


@dataclass(frozen=True)
class StepRun:
    """The sizes of a step-count run where the form leaves them at 0 (automatic)."""

    hidden: int = 256
    batch_size: int = 64
    seq_len: int = 100
    lr: float = 0.003


STEP_RUN = StepRun()


class Request(Protocol):
    """What a job runs: a named request of some kind that trains itself and describes its job."""

    name: str
    kind: str
    unit: str  # what `Job.progress` counts: "step", "epoch"

    def renamed(self, name: str) -> Request: ...
    def run(self, job: Job, manager: JobManager) -> None: ...
    def where(self, job: Job) -> str: ...
    def points(self, records: list[dict]) -> list[tuple[int, float, str]]: ...
    def summary(self, job: Job) -> str: ...


@dataclass
class Job:
    """A training run of either kind and what is known about it so far. `state`: loading, training, finished,
    stopped, failed; `records`: what the run has logged (one per step logged, or per epoch)."""

    request: Request
    stop_event: threading.Event = field(default_factory=threading.Event)
    records: list[dict] = field(default_factory=list)
    state: str = "loading"
    error: str | None = None
    published: Path | None = None
    started: float = field(default_factory=time.time)
    thread: threading.Thread | None = None

    @property
    def kind(self) -> str:
        """The kind of checkpoint the run makes (`charrnn.kinds`)."""
        return self.request.kind

    @property
    def done(self) -> bool:
        return self.state in ("finished", "stopped", "failed")

    @property
    def progress(self) -> int:
        """The last step (character models) or epoch (classifiers) logged; 0 before the first."""
        unit = self.request.unit
        return max((r[unit] for r in self.records if unit in r), default=0)

    step = epoch = progress

    @property
    def elapsed(self) -> str:
        return f"{time.time() - self.started:.0f} s"

    def where(self) -> str:
        """The run's name and progress, for a busy message."""
        return self.request.where(self)

    def curve(self) -> list[tuple[int, float, str]]:
        """(step or epoch, value, series) points logged so far."""
        return self.request.points(list(self.records))

    def summary(self) -> str:
        """A one-line account of where the job stands."""
        return self.request.summary(self)


@dataclass
class TrainRequest:
    """What to train: Gutenberg books or text files (several make one corpus), the model and the trainer
    settings."""

    name: str
    model: dict
    config: TrainConfig
    books: tuple[int, ...] = ()
    text_files: tuple[Path, ...] = ()
    kind = CHAR_LM
    unit = "step"

    @property
    def source(self) -> str:
        if self.text_files:
            return ", ".join(Path(f).name for f in self.text_files)
        return ("Gutenberg book " if len(self.books) == 1 else "Gutenberg books ") + ", ".join(map(str, self.books))

    def corpus(self, cache_dir: str | os.PathLike | None = None) -> Corpus:
        if self.text_files:
            return load_corpus(text_file=list(self.text_files))
        return load_corpus(book=list(self.books), cache_dir=cache_dir)

    def renamed(self, name: str) -> TrainRequest:
        return replace(self, name=name)

    @property
    def total(self) -> int | str:
        """The run's length: its steps, or its time budget."""
        return self.config.steps or f"~ ({self.config.minutes:g} min)"

    def run(self, job: Job, manager: JobManager) -> None:
        """Load the corpus, train, and publish the best weights with the log."""
        corpus = self.corpus(manager.cache_dir)
        if job.stop_event.is_set():
            job.state = "stopped"
            return
        out = manager.run_dir(self.name) / f"{self.name}.pt"
        out.parent.mkdir(parents=True, exist_ok=True)
        job.state = "training"
        result = train(corpus, self.model, self.config, out=out, stop_event=job.stop_event,
                       on_log=job.records.append, progress=True)
        if result.steps > 0:
            job.published = manager.publish(out)
        job.state = result.status

    def where(self, job: Job) -> str:
        return f"{self.name}, step {job.progress}/{self.total}"

    def points(self, records: list[dict]) -> list[tuple[int, float, str]]:
        """(step, loss in nats, 'train' or 'validation') points."""
        points = []
        for r in records:
            if "train_loss" in r:
                points.append((r["step"], float(r["train_loss"]), "train"))
            if "val_loss" in r:
                points.append((r["step"], float(r["val_loss"]), "validation"))
        return points

    def summary(self, job: Job) -> str:
        total = self.total
        if job.state == "loading":
            return f"Loading {self.source}…"
        if job.state == "failed":
            return f"Training on {self.source} failed: {job.error}"
        last_val = next((r["val_loss"] for r in reversed(job.records) if "val_loss" in r), None)
        last_train = next((r["train_loss"] for r in reversed(job.records) if "train_loss" in r), None)
        losses = "".join([
            f", train loss {last_train:.3f}" if last_train is not None else "",
            f", validation loss {last_val:.3f} nats" if last_val is not None else "",
        ])
        sized = next((r["sizing"] for r in job.records if "sizing" in r), None)
        if sized:
            losses += f", sized: hidden {sized['hidden']}, batch {sized['batch_size']}"
        ended = next((r for r in job.records if r.get("ended_by") == "max_passes"), None)
        if ended:
            losses += f", ended after {ended['passes']:g} passes over the text (more over-fits)"
        at = f"step {job.progress}/{total}"
        if job.state == "training":
            return f"Training {self.name} on {self.source}: {at}{losses} ({job.elapsed})"
        saved = f" Saved as {job.published.name}." if job.published else " Nothing was saved (no step was trained)."
        return f"{job.state.capitalize()} {self.name} on {self.source} at {at}{losses}.{saved}"


def make_request(form: TrainForm, device: str = "auto", seed: int = 1, start: Path | None = None) -> TrainRequest:
    """The request of a parsed training form; ValueError for uploads that are missing or too large.

    Several books or uploaded texts make one corpus (each cleaned on its own, each one's end held out); uploaded
    texts win over the books. A step count runs that many steps, validating every tenth; with none, the run trains
    to the form's minutes of wall time (see charrnn.lm.train). Sizes and the learning rate left at 0 are automatic:
    STEP_RUN's for a step count; for a time budget, sized for the machine (hidden, batch) or the budget recipe's
    (seq_len, lr). With `start` (the checkpoint form.start_from names) the run fine-tunes it (`fine_tune_config`).
    """
    text_files = _uploads(form.text_file)
    books = () if text_files else form.book
    if start is not None:
        return _request(books, text_files, form.name, {}, fine_tune_config(form, start, device, seed))
    if form.steps:
        hidden = form.hidden or STEP_RUN.hidden
        steps, every = form.steps, max(1, form.steps // 10)
        config = TrainConfig(steps=steps, batch_size=form.batch_size or STEP_RUN.batch_size,
                             seq_len=form.seq_len or STEP_RUN.seq_len, lr=form.lr or STEP_RUN.lr,
                             warmup=min(100, steps // 10), eval_every=every, save_every=every, seed=int(seed),
                             device=device)
    else:  # a time budget: blank hidden and batch are sized for the device (charrnn.lm.sizing), batches are streams
        hidden = form.hidden or None
        config = BUDGET_RECIPE.train_config(form.minutes, batch_size=form.batch_size or None,
                                            seq_len=form.seq_len or None, lr=form.lr or None, seed=int(seed),
                                            device=device)
    embed = form.embed or (embed_for(hidden) if hidden else None)
    model = dict(embed=embed, hidden=hidden, layers=form.layers, cell=form.cell)
    return _request(books, text_files, form.name, model, config)


def fine_tune_config(form: TrainForm, start: Path, device: str, seed: int) -> TrainConfig:
    """A run fine-tuning `start`: the fine-tuning recipe (`FINETUNE_RECIPE`, as `charrnn train --init-from`) where
    the form leaves a setting at 0; the form's sizes are not used (the model's are)."""
    steps = form.steps or None
    every = {} if steps is None else dict(warmup=min(100, steps // 10), eval_every=max(1, steps // 10),
                                          save_every=max(1, steps // 10))
    return FINETUNE_RECIPE.train_config(None if steps else form.minutes, steps=steps,
                                        batch_size=form.batch_size or None, seq_len=form.seq_len or None,
                                        lr=form.lr or None, seed=int(seed), device=device, init_from=str(start),
                                        **every)


def _uploads(value: tuple[str, ...]) -> tuple[Path, ...]:
    """The uploaded text files, checked to exist and to stay under MAX_TEXT_BYTES together."""
    files = tuple(Path(v) for v in value)
    for f in files:
        if not f.is_file():
            raise ValueError(f"uploaded text not found: {f.name}")
    size = sum(f.stat().st_size for f in files)
    if size > MAX_TEXT_BYTES:
        what = files[0].name if len(files) == 1 else f"the {len(files)} uploads"
        raise ValueError(f"{what} {'is' if len(files) == 1 else 'are'} {size / 2**20:.0f} MiB; "
                         f"the limit is {MAX_TEXT_BYTES >> 20} MiB")
    return files


def _request(books, text_files, name, model: dict, config: TrainConfig) -> TrainRequest:
    """The request, named after the user's name or else the source(s) and the hidden size."""
    if text_files:
        default = text_files[0].stem + (f"-and-{len(text_files) - 1}-more" if len(text_files) > 1 else "")
    else:
        default = "gutenberg-" + "-".join(map(str, books))
    if config.init_from:
        size = f"ft-{Path(config.init_from).stem}"
    else:
        size = f"h{model['hidden']}" if model["hidden"] else f"{config.minutes:g}min"
    stem = shelf.safe_stem((name or "").strip() or f"{default}-{size}")
    return TrainRequest(stem, model, config, books, text_files)


def failure(e: Exception) -> str:
    """Why a run failed, in a line for the user: a download's first failure, a file's or setting's problem, or
    (a bug) the exception's type and message."""
    if isinstance(e, GutenbergError):
        first, _, rest = str(e).partition("; ")
        return first[:300] + (f" (and {rest.count('; ') + 1} more failed attempts)" if rest else "")
    if isinstance(e, (ckpt.CheckpointError, ValueError, OSError)):
        return str(e)[:500]
    return f"{type(e).__name__}: {str(e)[:500]}"


class JobManager:
    """Runs at most one training job (of any kind) at a time in a background thread, publishing into `folder`."""

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

    def start(self, request: Request) -> Job:
        """Start `request`, renamed to a free checkpoint name in the folder, in a background thread inheriting the
        caller's context (e.g. a progress tracker); JobBusy while another job runs."""
        with self._lock:
            self.check_free()
            job = Job(request.renamed(Path(shelf.free_name(self.folder, request.name)).stem))
            ctx = contextvars.copy_context()
            job.thread = threading.Thread(target=ctx.run, args=(self._run, job), name=f"train-{job.request.name}",
                                          daemon=True)
            self.current = job
            job.thread.start()
            return job

    def stop(self, kind: str | None = None) -> bool:
        """Ask the running job (of `kind`, when given) to stop, keeping its best weights; False when none runs."""
        job = self.current
        if job is None or job.done or (kind is not None and job.kind != kind):
            return False
        job.stop_event.set()
        return True

    def run_dir(self, name: str) -> Path:
        return self.folder / RUNS_DIR / name

    def _run(self, job: Job) -> None:
        try:
            job.request.run(job, self)
        except Exception as e:  # a bug must not leave the job "running" forever either
            job.error = failure(e)
            job.state = "failed"

    def publish(self, out: Path) -> Path:
        """Move a run's best weights into the folder under a free name and copy its log beside them."""
        dest = shelf.place(best_path(out), self.folder, out.stem, move=True)
        if log_path(out).exists():
            shutil.copyfile(log_path(out), log_path(dest))
        return dest
