"""Training a two-class text classifier in the background for the web app, as `charrnn.jobs` does for character
models (and sharing its one-job-at-a-time manager): check an uploaded data file and the form, train, publish.

A run trains inside `<folder>/.train/<name>/`; `train_sentiment` writes the best epoch's weights there as it
goes, so a stopped run keeps them. When the run ends, that file is moved into the folder under a free name.
"""
from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import shelf
from .jobs import MAX_TEXT_BYTES, JobManager
from ..sentiment.datasets import DatasetError, LabelledData
from ..sentiment.preview import Preview, preview_dataset
from ..sentiment.train import PRESETS, SentimentTrainConfig, preset, train_sentiment

LIMITS = {"epochs": (1, 100), "hidden": (8, 1024), "embed": (4, 1024), "batch_size": (1, 4096)}
CURVE_COLUMNS = ["epoch", "value", "series"]


@dataclass(frozen=True)
class FormDefaults:
    """The classifier form's values when left alone: the best preset, a few epochs; 0 = the preset's value."""

    preset: str = "best"
    epochs: int = 4
    hidden: int = 0
    embed: int = 0
    batch_size: int = 0
    lr: float = 0.0
    lexicon: str = "preset's"


FORM = FormDefaults()
LEXICON_SHARES = ["preset's", "0", "0.25", "0.5", "1"]  # the form's choices; any share in [0, 3] is accepted


def check_upload(file: str | os.PathLike | None) -> Path:
    """The uploaded data file; ValueError when there is none or it is over the app's upload limit for texts."""
    if not file:
        raise ValueError("upload a CSV, TSV, JSON or JSONL file of labelled texts first")
    path = Path(file)
    if not path.is_file():
        raise ValueError(f"uploaded file not found: {path.name}")
    size = path.stat().st_size
    if size > MAX_TEXT_BYTES:
        raise ValueError(f"{path.name} is {size / 2**20:.0f} MiB; the limit is {MAX_TEXT_BYTES >> 20} MiB")
    with open(path, "rb") as f:
        if b"\0" in f.read(8192):
            raise ValueError(f"{path.name} is not a text file (it holds binary data): upload a CSV, TSV, JSON or "
                             f"JSONL file")
    return path


def preview_upload(file, format: str | None = "auto", text_column: str | None = None,
                   label_column: str | None = None) -> Preview:
    """`preview_dataset` of an uploaded file (DatasetError, a ValueError, for a file training would refuse; its
    message names the file, not the server's path to it)."""
    path = check_upload(file)
    try:
        return preview_dataset(path, format or "auto", text_column or None, label_column or None)
    except DatasetError as e:
        raise DatasetError(str(e).replace(str(path), path.name)) from None


def _float(value) -> float:
    """A form value as a number; NaN (refused by every range check) when it is not one."""
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan


def _size(name: str, value, blank: int) -> int:
    """A whole number within LIMITS[name]; blank (or 0 for a model size: the preset's) gives `blank`."""
    lo, hi = LIMITS[name]
    zero = name != "epochs"
    if value is None or value == "" or (zero and value == 0):
        return blank
    f = _float(value)
    if not math.isfinite(f) or not f.is_integer() or not lo <= f <= hi:
        note = " (0: the preset's)" if zero else ""
        raise ValueError(f"{name} must be a whole number from {lo} to {hi}{note}, got {value!r:.40}")
    return int(f)


@dataclass
class ClassifierRequest:
    """What to train: the labelled rows (already read and checked), the model and the trainer settings."""

    name: str
    data: LabelledData
    model: dict
    config: SentimentTrainConfig
    preset: str

    @property
    def source(self) -> str:
        return Path(self.data.source).name


def _rate(value) -> float | None:
    """A learning rate in (0, 1]; blank or 0 gives None (the preset's)."""
    if value is None or value == "" or value == 0:
        return None
    lr = _float(value)
    if not (math.isfinite(lr) and 0 < lr <= 1):
        raise ValueError(f"learning rate must be in (0, 1] (0: the preset's), got {value!r:.40}")
    return lr


def _lexicon_share(value) -> float | None:
    """The lexicon sentences as a share of the training rows, in [0, 3]; blank or "preset's" gives None."""
    if value is None or value == "" or value == LEXICON_SHARES[0]:
        return None
    share = _float(value)
    if not (math.isfinite(share) and 0 <= share <= 3):
        raise ValueError(f"lexicon sentences must be a share of the training rows from 0 to 3 (or the preset's), "
                         f"got {value!r:.40}")
    return share


def make_classifier_request(file, format="auto", text_column=None, label_column=None, name: str | None = "",
                            preset_name: str = FORM.preset, epochs=FORM.epochs, hidden=FORM.hidden,
                            embed=FORM.embed, batch_size=FORM.batch_size, lr=FORM.lr, lexicon=FORM.lexicon,
                            device: str = "auto") -> ClassifierRequest:
    """Check the form and read the data file; ValueError (DatasetError for the file) naming the problem.
    Model sizes, batch size and learning rate left at 0, and the lexicon share left at "preset's", are the
    preset's."""
    if preset_name not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {preset_name!r:.40}")
    epochs = _size("epochs", epochs, FORM.epochs)
    hidden, embed = _size("hidden", hidden, 0), _size("embed", embed, 0)
    batch_size, lr, lexicon = _size("batch_size", batch_size, 0), _rate(lr), _lexicon_share(lexicon)
    data = preview_upload(file, format, text_column, label_column).data
    model, config = preset(preset_name, {"hidden": hidden or None, "embed": embed or None},
                           {"epochs": epochs, "batch_size": batch_size or None, "lr": lr, "lexicon": lexicon,
                            "device": device})
    stem = shelf.safe_stem((name or "").strip() or f"{Path(data.source).stem}-{preset_name}")
    return ClassifierRequest(stem, data, model, config, preset_name)


@dataclass
class ClassifierJob:
    """A classifier's training run. `state`: training, finished, stopped, failed; `records`: one per epoch."""

    request: ClassifierRequest
    stop_event: threading.Event = field(default_factory=threading.Event)
    records: list[dict] = field(default_factory=list)
    state: str = "training"
    error: str | None = None
    published: Path | None = None
    started: float = field(default_factory=time.time)
    thread: threading.Thread | None = None

    @property
    def done(self) -> bool:
        return self.state in ("finished", "stopped", "failed")

    @property
    def epoch(self) -> int:
        return max((r["epoch"] for r in self.records), default=0)

    def where(self) -> str:
        return f"classifier {self.request.name}, epoch {self.epoch}/{self.request.config.epochs}"

    def curve(self) -> list[tuple[int, float, str]]:
        """(epoch, value, series) points so far: the training loss and the validation accuracy."""
        return [point for r in list(self.records)
                for point in ((r["epoch"], float(r["train_loss"]), "train loss"),
                              (r["epoch"], float(r["val_accuracy"]), "validation accuracy"))]

    def summary(self) -> str:
        """A one-line account of where the job stands."""
        req = self.request
        what = f"classifier {req.name} on {req.source} ({' / '.join(req.data.classes)})"
        if self.state == "failed":
            return f"Training {what} failed: {self.error}"
        last = self.records[-1] if self.records else None
        best = max(self.records, key=lambda r: r["val_accuracy"], default=None)
        scores = (f", train loss {last['train_loss']:.3f}, validation accuracy {last['val_accuracy']:.1%}"
                  if last else "")
        at = f"epoch {self.epoch}/{req.config.epochs}"
        if self.state == "training":
            return f"Training {what}: {at}{scores} ({time.time() - self.started:.0f} s)"
        if self.published:
            saved = (f" Saved as {self.published.name} (best validation accuracy {best['val_accuracy']:.1%}, "
                     f"epoch {best['epoch']}).")
        else:
            saved = " Nothing was saved (no epoch was completed)."
        early = ""
        if self.state == "finished" and self.epoch < req.config.epochs and best:
            early = f" (stopped early: no better validation accuracy for {self.epoch - best['epoch']} epochs)"
        return f"{self.state.capitalize()} {what} at {at}{early}{scores}.{saved}"


def start_classifier(manager: JobManager, request: ClassifierRequest) -> ClassifierJob:
    """Start training `request` through `manager` (JobBusy when any job runs), publishing into its folder."""
    return manager.launch(lambda stem: ClassifierJob(_renamed(request, stem)), request.name,
                          lambda job: _run(manager, job))


def _renamed(request: ClassifierRequest, name: str) -> ClassifierRequest:
    return ClassifierRequest(name, request.data, request.model, request.config, request.preset)


def _run(manager: JobManager, job: ClassifierJob) -> None:
    req = job.request
    try:
        out = manager.run_dir(req.name) / f"{req.name}.pt"
        out.parent.mkdir(parents=True, exist_ok=True)
        result = train_sentiment(req.data, req.model, req.config, out=out, progress=True,
                                 on_epoch=job.records.append, stop_event=job.stop_event)
        if result["out"]:
            job.published = shelf.place(out, manager.folder, req.name, move=True)
        job.state = "stopped" if result["stopped"] else "finished"
    except (DatasetError, ValueError, OSError) as e:
        job.error = str(e)[:500]
        job.state = "failed"
    except Exception as e:  # a bug must not leave the job "running" forever
        job.error = f"{type(e).__name__}: {str(e)[:500]}"
        job.state = "failed"
