"""What the web app does, as plain methods on one object: no Gradio here, so every action can be called and tested
directly. Methods return plain values and raise plain errors (ValueError, CheckpointError, JobBusy, ...);
`charrnn.ui` turns those into Gradio components and messages.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import jobs, kinds, serving, shelf
from .kinds import CHAR_LM, SENTIMENT


@dataclass(frozen=True)
class Menu:
    """A checkpoint dropdown: (label, file name) choices and the selected name."""

    choices: list[tuple[str, str]]
    value: str | None


@dataclass(frozen=True)
class Listing:
    """Everything the app lists about its folder: the generate, sentiment and download menus and the table rows."""

    lm: Menu
    sentiment: Menu
    download: Menu
    table: list[list]


def _ignore(message: str) -> None:
    pass


class WebApp:
    """The app's actions on one folder of checkpoints: list, generate, classify, train, download, upload."""

    STREAM_INTERVAL = 0.05  # seconds between partial texts sent while generating

    def __init__(self, folder: str | os.PathLike, device: str = "auto"):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.device = device
        self.models = {name: serving.model_cache(name, device) for name in (CHAR_LM, SENTIMENT)}
        self.jobs = jobs.JobManager(self.folder)

    # ------------------------------------------------------------ listing

    def menu(self, kind: str | None, *preferred: str | None) -> Menu:
        """The folder's checkpoints (usable ones of `kind`, labelled with their score; with no kind, every file by
        name). Selected: the first preferred name present, else with a kind its default file, else the newest."""
        infos = shelf.list_checkpoints(self.folder, kind)
        names = [i.name for i in infos]
        if kind:
            preferred = (*preferred, kinds.get(kind).default_file)
        value = next((n for n in preferred if n in names), names[0] if names and kind else None)
        return Menu([(i.label if kind else i.name, i.name) for i in infos], value)

    def table(self) -> list[list]:
        """One row per file: name, kind, corpus, size, steps, score (or why it cannot be used), modified."""
        return [[i.name, i.kind, i.corpus or "", f"{i.size / 2**20:.2f} MiB", "" if i.steps is None else i.steps,
                 i.error or i.score or "", i.modified.strftime("%Y-%m-%d %H:%M")]
                for i in shelf.list_checkpoints(self.folder)]

    def listing(self, lm: str | None = None, sentiment: str | None = None, download: str | None = None) -> Listing:
        """All lists afresh, keeping the given selections where they are still offered."""
        return Listing(self.menu(CHAR_LM, lm), self.menu(SENTIMENT, sentiment), self.menu(None, download),
                       self.table())

    def _pick(self, kind: str, name: str | None) -> Path:
        return serving.pick(self.folder, name, kind, kinds.get(kind).default_file)

    # ------------------------------------------------------------ generate and classify

    def generate(self, prompt: str | None, checkpoint: str | None = None, length=serving.FORM.length,
                 temperature=serving.FORM.temperature, top_k=serving.FORM.top_k, top_p=serving.FORM.top_p,
                 seed=serving.FORM.seed, num_samples=serving.FORM.num_samples,
                 warn: Callable[[str], None] = _ignore) -> Iterator[str]:
        """The text so far (the prompt, then what is sampled), every STREAM_INTERVAL seconds and at the end.

        Options that were clamped are reported through `warn` before the first text.
        """
        opts, notices = serving.sample_options(prompt, length, temperature, top_k, top_p, seed, num_samples)
        lm = self.models[CHAR_LM].get(self._pick(CHAR_LM, checkpoint))
        for notice in notices:
            warn(notice)
        last = time.monotonic()
        samples = [opts.prompt]
        for samples in serving.stream_text(lm, opts):
            if time.monotonic() - last > self.STREAM_INTERVAL:
                last = time.monotonic()
                yield serving.join_samples(samples)
        yield serving.join_samples(samples)

    def sentiment(self, text: str | None, checkpoint: str | None = None) -> dict[str, float]:
        """Probability that a movie review is positive, and negative."""
        text = serving.review_text(text)
        model = self.models[SENTIMENT].get(self._pick(SENTIMENT, checkpoint))
        p = serving.positive_probability(model, text)
        return {"positive": p, "negative": 1.0 - p}

    # ------------------------------------------------------------ training

    def start_training(self, book, text_file=None, name="", cell=jobs.FORM.cell, hidden=jobs.FORM.hidden,
                       layers=jobs.FORM.layers, steps=jobs.FORM.steps, batch_size=jobs.FORM.batch_size,
                       seq_len=jobs.FORM.seq_len, lr=jobs.FORM.lr, minutes=None) -> jobs.Job:
        """Start training a character model in the background; ValueError for bad settings, JobBusy if one runs.
        With `minutes` and no `steps` (empty or 0) the run trains to that time budget."""
        request = jobs.make_request(book, text_file, name, cell, hidden, layers, steps, batch_size, seq_len, lr,
                                    device=self.device, minutes=minutes)
        return self.jobs.start(request)

    @staticmethod
    def watch(job: jobs.Job, every: float = 1.0) -> Iterator[jobs.Job]:
        """`job`, every `every` seconds until it is done (finished, stopped or failed)."""
        while not job.done:
            yield job
            job.thread.join(timeout=every)

    def stop_training(self) -> bool:
        """Ask the running job to save and stop; False when none runs."""
        return self.jobs.stop()

    def training_status(self) -> str:
        """Where the current (or last) training job stands; "" when there has been none."""
        return self.jobs.current.summary() if self.jobs.current else ""

    # ------------------------------------------------------------ sharing

    def download(self, name: str | None) -> str | None:
        """The path of checkpoint `name` for download (None when no name is given)."""
        return str(shelf.resolve(self.folder, name)) if name else None

    def upload(self, file: str | os.PathLike | None) -> str:
        """Check an uploaded checkpoint and add it to the folder; the message says under which name."""
        if not file:
            raise ValueError("no file was uploaded")
        return shelf.accept_upload(file, self.folder, Path(file).name).message
