"""Training a text classifier in the background for the web app, as a kind of `charrnn.web.jobs.Job`
(sharing its one-job-at-a-time manager): check an uploaded data file and the form, train, publish.

An uploaded file is read once per upload: its preview (which reads it whole, as training will) is kept, keyed by
the file's path, size, modification time and the reading settings, and training starts from what it read.

A run trains inside `<folder>/.train/<name>/`; `train_sentiment` writes the best epoch's weights there as it
goes, so a stopped run keeps them. When the run ends, that file is moved into the folder under a free name.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

from .. import shelf
from ..kinds import SENTIMENT
from ..sentiment.datasets import DatasetError, LabelledData
from ..sentiment.preview import Preview, preview_dataset
from ..sentiment.train import SentimentTrainConfig, preset, train_sentiment
from .forms import ClassifierForm
from .jobs import MAX_TEXT_BYTES, Job, JobManager

CURVE_COLUMNS = ["epoch", "value", "series"]
PREVIEWS_KEPT = 2  # previews (each holding its file's rows) kept for the next event or the training that follows


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


_previews: OrderedDict[tuple, Preview] = OrderedDict()
_previews_lock = threading.Lock()


def _key(path: Path, format: str, text_column: str | None, label_column: str | None) -> tuple:
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime_ns, format, text_column, label_column


def _keep(key: tuple, preview: Preview) -> None:
    with _previews_lock:
        _previews[key] = preview
        _previews.move_to_end(key)
        while len(_previews) > PREVIEWS_KEPT:
            _previews.popitem(last=False)


def preview_upload(file, format: str | None = "auto", text_column: str | None = None,
                   label_column: str | None = None) -> Preview:
    """`preview_dataset` of an uploaded file (DatasetError, a ValueError, for a file training would refuse; its
    message names the file, not the server's path to it). The file is read once for given settings: the preview is
    kept under them and under the settings it resolved to (the format and columns found), which are the ones the
    form then shows and trains with."""
    path = check_upload(file)
    key = _key(path, format or "auto", text_column or None, label_column or None)
    with _previews_lock:
        if key in _previews:
            _previews.move_to_end(key)
            return _previews[key]
    try:
        preview = preview_dataset(path, format or "auto", text_column or None, label_column or None)
    except DatasetError as e:
        raise DatasetError(str(e).replace(str(path), path.name)) from None
    _keep(_key(path, preview.format, preview.text_column, preview.label_column), preview)
    _keep(key, preview)
    return preview


@dataclass
class ClassifierRequest:
    """What to train: the labelled rows (already read and checked), the model and the trainer settings."""

    name: str
    data: LabelledData
    model: dict
    config: SentimentTrainConfig
    preset: str
    kind = SENTIMENT
    unit = "epoch"

    @property
    def source(self) -> str:
        return Path(self.data.source).name

    def renamed(self, name: str) -> ClassifierRequest:
        return replace(self, name=name)

    def run(self, job: Job, manager: JobManager) -> None:
        """Train, keeping the best epoch, and move its weights into the folder."""
        job.state = "training"
        out = manager.run_dir(self.name) / f"{self.name}.pt"
        out.parent.mkdir(parents=True, exist_ok=True)
        result = train_sentiment(self.data, self.model, self.config, out=out, progress=True,
                                 on_epoch=job.records.append, stop_event=job.stop_event)
        if result["out"]:
            job.published = shelf.place(out, manager.folder, self.name, move=True)
        job.state = "stopped" if result["stopped"] else "finished"

    def where(self, job: Job) -> str:
        return f"classifier {self.name}, epoch {job.progress}/{self.config.epochs}"

    def points(self, records: list[dict]) -> list[tuple[int, float, str]]:
        """(epoch, value, series) points: the training loss and the validation accuracy."""
        return [point for r in records
                for point in ((r["epoch"], float(r["train_loss"]), "train loss"),
                              (r["epoch"], float(r["val_accuracy"]), "validation accuracy"))]

    def summary(self, job: Job) -> str:
        classes = self.data.classes
        names = " / ".join(classes) if len(classes) <= 5 else f"{len(classes)} classes: {' / '.join(classes[:3])} / …"
        what = f"classifier {self.name} on {self.source} ({names})"
        if job.state == "failed":
            return f"Training {what} failed: {job.error}"
        last = job.records[-1] if job.records else None
        best = max(job.records, key=lambda r: r["val_accuracy"], default=None)
        scores = (f", train loss {last['train_loss']:.3f}, validation accuracy {last['val_accuracy']:.1%}"
                  if last else "")
        at = f"epoch {job.progress}/{self.config.epochs}"
        if not job.done:
            return f"Training {what}: {at}{scores} ({job.elapsed})"
        if job.published:
            saved = (f" Saved as {job.published.name} (best validation accuracy {best['val_accuracy']:.1%}, "
                     f"epoch {best['epoch']}).")
        else:
            saved = " Nothing was saved (no epoch was completed)."
        early = ""
        if job.state == "finished" and job.progress < self.config.epochs and best:
            early = f" (stopped early: no better validation accuracy for {job.progress - best['epoch']} epochs)"
        return f"{job.state.capitalize()} {what} at {at}{early}{scores}.{saved}"


def make_classifier_request(form: ClassifierForm, device: str = "auto") -> ClassifierRequest:
    """The request of a parsed classifier form, with its data file read (once per upload: see `preview_upload`);
    ValueError (DatasetError for the file) naming the problem. Sizes, batch size and learning rate left at 0, and
    the lexicon share left None, are the preset's."""
    data = preview_upload(form.file, form.format, form.text_column, form.label_column).data
    model, config = preset(form.preset, {"hidden": form.hidden or None, "embed": form.embed or None},
                           {"epochs": form.epochs, "batch_size": form.batch_size or None, "lr": form.lr or None,
                            "lexicon": form.lexicon, "device": device})
    stem = shelf.safe_stem(form.name or f"{Path(data.source).stem}-{form.preset}")
    return ClassifierRequest(stem, data, model, config, form.preset)
