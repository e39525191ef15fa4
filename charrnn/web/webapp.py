"""What the web app does, as plain methods on one object: no Gradio here, so every action can be called and tested
directly. Methods return plain values and raise plain errors (ValueError, CheckpointError, JobBusy, ...);
`charrnn.web.ui` turns those into Gradio components and messages.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import jobs, sentiment_jobs
from .. import shelf
from ..checkpoint import CheckpointError
from ..kinds import CHAR_LM, SENTIMENT
from ..sentiment.explain import NO_KNOWN_WORDS, explain, highlights, running_series
from ..sentiment.kind import CLASSES
from ..sentiment.preview import Preview
from ..serve import models, scoring
from ..serve.options import GenerateForm
from ..serve.streaming import join_samples, stream_text
from .forms import ClassifierForm, TrainForm

PUBLIC_REFUSAL = ("this app is public: training, stopping and uploads are turned off (start it without --public "
                  "to use them)")


class Refused(PermissionError):
    """An action public mode turns off (training, stopping, uploads): refused on the server, whoever asks."""


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


@dataclass(frozen=True)
class Explained:
    """Why a classifier said what it said, as plain data: its class names, P(classes[target]) (the second of two, the
    predicted one of more), each token with its contribution scaled to [-1, 1] (positive: towards classes[target])
    and the running probability as rows {position, token, probability} (P(classes[target]) after the first
    `position` tokens)."""

    classes: tuple[str, ...]
    probability: float
    highlights: list[tuple[str, float]]
    series: list[dict]
    target: int = 1


def _ignore(message: str) -> None:
    pass


def _label(info: shelf.CheckpointInfo) -> str:
    """A dropdown line: a classifier's name, class names and score; other kinds' name, corpus and score."""
    if info.kind != SENTIMENT:
        return info.label
    classes = info.classes if len(info.classes) >= 2 else CLASSES
    names = " / ".join(classes) if len(classes) <= 5 else f"{len(classes)} classes: {' / '.join(classes[:3])} / …"
    return " — ".join(p for p in (info.name, names, info.score) if p)


class WebApp:
    """The app's actions on one folder of checkpoints: list, generate, classify, train, download, upload."""

    STREAM_INTERVAL = 0.05  # seconds between partial texts sent to one user while generating, at least
    UPDATES_PER_SECOND = 80  # partial texts the app sends per second to all users together, at most (about)

    def __init__(self, folder: str | os.PathLike, device: str = "auto", batched: bool = True, public: bool = False):
        self.batched = batched  # generation requests share the model's batched engine (charrnn.serve.engine)
        self.public = public  # generate, classify, list and download only: the rest is Refused
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.device = device
        self.models = {name: models.model_cache(name, device) for name in (CHAR_LM, SENTIMENT)}
        self.jobs = jobs.JobManager(self.folder)
        self._streams = 0  # generate requests streaming now
        self._streams_lock = threading.Lock()

    # ------------------------------------------------------------ listing

    def menu(self, kind: str | None, *preferred: str | None) -> Menu:
        """The folder's checkpoints (usable ones of `kind`, labelled with their score; with no kind, every file by
        name). Selected: the first preferred name present, else with a kind its default file, else the newest."""
        infos = shelf.list_checkpoints(self.folder, kind)
        names = [i.name for i in infos]
        if kind:
            preferred = (*preferred, self._default(kind))
        value = next((n for n in preferred if n in names), names[0] if names and kind else None)
        return Menu([(_label(i) if kind else i.name, i.name) for i in infos], value)

    def _default(self, kind: str) -> str | None:
        """The file the app selects for `kind` when none is chosen (`shelf.default_checkpoint`); None if none."""
        try:
            return shelf.default_checkpoint(self.folder, kind).name
        except CheckpointError:
            return None

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
        if not name and not shelf.list_checkpoints(self.folder, kind):
            raise CheckpointError(f"no {kind} checkpoint in {self.folder.name}/: {self.how_to_add()}")
        return models.pick(self.folder, name, kind)

    def how_to_add(self) -> str:
        """How a model gets into the folder: trained or uploaded here, unless public; copied in; another folder."""
        ways = ["copy .pt checkpoints into it", "start the app with --checkpoints FOLDER"]
        if not self.public:
            ways[:0] = ["train one in the Train tab", "upload one under Checkpoints"]
        return ", ".join(ways[:-1]) + ", or " + ways[-1]

    # ------------------------------------------------------------ generate and classify

    def warm(self) -> None:
        """Load the default character model (and start its sampling engine when batched), so the first request
        does not wait for them; nothing happens when the folder has no usable model (the first request says why)."""
        try:
            lm = self.models[CHAR_LM].get(self._pick(CHAR_LM, None))
        except (CheckpointError, OSError, ValueError):
            return
        engine = models.engine_for(lm) if self.batched else None
        if hasattr(engine, "start"):
            engine.start()

    def generate(self, form: GenerateForm, checkpoint: str | None = None,
                 warn: Callable[[str], None] = _ignore) -> Iterator[str]:
        """The text so far (the prompt, then what is sampled) from time to time, and at the end.

        `form`: a parsed generation form (`GenerateForm.parse`). A partial text goes out every STREAM_INTERVAL
        seconds while few users generate; with many, each gets them less often, so that all together receive about
        UPDATES_PER_SECOND: every update costs the server the same work whoever gets it, and sampling keeps the
        CPU. The form's notices (values that were clamped) are reported through `warn` before the first text.
        """
        opts = form.options()
        lm = self.models[CHAR_LM].get(self._pick(CHAR_LM, checkpoint))
        for notice in form.notices:
            warn(notice)
        with self._streams_lock:
            self._streams += 1
        try:
            last = time.monotonic()
            samples = [opts.prompt]
            for samples in stream_text(lm, opts, batched=self.batched):
                if time.monotonic() - last > max(self.STREAM_INTERVAL, self._streams / self.UPDATES_PER_SECOND):
                    last = time.monotonic()
                    yield join_samples(samples)
            yield join_samples(samples)
        finally:
            with self._streams_lock:
                self._streams -= 1

    def sentiment(self, text: str | None, checkpoint: str | None = None) -> dict[str, float]:
        """The probability of each of the classifier's classes (IMDb: positive, negative) for `text`.

        ValueError for empty text, and for text without a word the classifier knows: no number is given then.
        """
        text = scoring.review_text(text)  # checked once, before a classifier is looked for
        model = self.models[SENTIMENT].get(self._pick(SENTIMENT, checkpoint))
        return scoring.class_probabilities(model, text)

    def explain(self, text: str | None, checkpoint: str | None = None, target: str | None = None,
                warn: Callable[[str], None] = _ignore) -> Explained:
        """Each word's contribution to the classifier's answer, and the probability as the text is read: towards the
        class named `target`, or when it is blank the second of two classes, the predicted one of more.

        ValueError as for `sentiment`, and for a class the classifier does not have; a caveat (the text was cut)
        goes to `warn`.
        """
        text = scoring.review_text(text)
        model = self.models[SENTIMENT].get(self._pick(SENTIMENT, checkpoint))
        exp = explain(model, text, target=target or None)
        if not exp.known_words:
            raise ValueError(f"{NO_KNOWN_WORDS}: none of the words is in its vocabulary")
        if exp.notice:
            warn(exp.notice)
        return Explained(exp.classes, exp.probability, highlights(exp), running_series(exp), exp.target)

    def explain_targets(self, checkpoint: str | None = None) -> Menu:
        """What /explain can pull towards with the classifier `checkpoint` (the folder's default when blank): first
        the default rule (value ""), then each of its classes by name."""
        infos = {i.name: i for i in shelf.list_checkpoints(self.folder, SENTIMENT)}
        info = infos.get(checkpoint or self._default(SENTIMENT) or "")
        classes = info.classes if info is not None and len(info.classes) >= 2 else ()
        rule = f"{classes[1]} (the second class)" if len(classes) == 2 else "the predicted class"
        return Menu([(rule, ""), *((c, c) for c in classes)], "")

    # ------------------------------------------------------------ training

    def check_open(self) -> None:
        """Refused (with PUBLIC_REFUSAL) in public mode: every action that trains, stops or uploads calls it first."""
        if self.public:
            raise Refused(PUBLIC_REFUSAL)

    def start_training(self, form: TrainForm) -> jobs.Job:
        """Start training a character model from a parsed form (`TrainForm.parse`) in the background; ValueError for
        missing or too large uploads, JobBusy if a job runs. With no steps the run trains to the form's minutes;
        sizes left at 0 are automatic (see jobs.make_request). A form naming a character model to start from
        fine-tunes that checkpoint of the folder (CheckpointError when it is not a usable one). Refused in public
        mode."""
        self.check_open()
        start = self._pick(CHAR_LM, form.start_from) if form.start_from else None
        return self.jobs.start(jobs.make_request(form, device=self.device, start=start))

    @staticmethod
    def watch(job: jobs.Job, every: float = 1.0) -> Iterator[jobs.Job]:
        """`job`, every `every` seconds until it is done (finished, stopped or failed)."""
        while not job.done:
            yield job
            job.thread.join(timeout=every)

    def stop_training(self) -> bool:
        """Ask the running character-model job to save and stop; False when none runs; Refused in public mode."""
        self.check_open()
        return self.jobs.stop(CHAR_LM)

    # ------------------------------------------------------------ training a classifier

    @staticmethod
    def preview_dataset(file, format: str | None = "auto", text_column: str | None = None,
                        label_column: str | None = None) -> Preview:
        """What an uploaded labelled file holds (format, columns, first rows, classes); ValueError if unusable.
        (Static, so reading a file needs no app; the page's preview is refused in public mode by the UI.)"""
        return sentiment_jobs.preview_upload(file, format, text_column, label_column)

    def start_classifier(self, form: ClassifierForm) -> jobs.Job:
        """Start training a classifier from a parsed form (`ClassifierForm.parse`) on its uploaded file in the
        background; ValueError for a bad file, JobBusy while any training job runs (checked first, before the file
        is read); Refused in public mode."""
        self.check_open()
        self.jobs.check_free()
        return self.jobs.start(sentiment_jobs.make_classifier_request(form, device=self.device))

    def stop_classifier(self) -> bool:
        """Ask the running classifier job to stop (its best epoch is kept); False when none runs; Refused in public
        mode."""
        self.check_open()
        return self.jobs.stop(SENTIMENT)

    def training_status(self) -> str:
        """Where the current (or last) training job stands; "" when there has been none."""
        return self.jobs.current.summary() if self.jobs.current else ""

    # ------------------------------------------------------------ sharing

    def download(self, name: str | None) -> str | None:
        """The path of checkpoint `name` for download (None when no name is given); .pt files only, a model
        folder is several files (shared with `charrnn push`, or copied as it is)."""
        if not name:
            return None
        path = shelf.resolve(self.folder, name)
        if path.is_dir():
            raise CheckpointError(f"{name} is a model folder, not one file: copy the folder, or share it with "
                                  f"`charrnn push {name} --repo user/name`")
        return str(path)

    def upload(self, file: str | os.PathLike | None) -> str:
        """Check an uploaded checkpoint and add it to the folder; the message says under which name. Refused in
        public mode."""
        self.check_open()
        if not file:
            raise ValueError("no file was uploaded")
        return shelf.accept_upload(file, self.folder, Path(file).name).message
