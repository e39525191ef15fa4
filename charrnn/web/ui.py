"""The Gradio face of `charrnn.web.webapp.WebApp`: one small builder per tab, and thin wrappers that turn the app's
plain errors into messages (gr.Error), its notices into toasts and its values into components.

Endpoint names (api_name) and their inputs and outputs are a contract with API clients: generate, sentiment,
train, stop_training, download, upload; and explain, preview_dataset, train_classifier, stop_classifier.

/sentiment returns a Label of every one of the classifier's classes (IMDb: positive, negative). Empty text, and
text without a word the classifier knows, get an error message and no number (in the page the Label is cleared
first). /explain explains the pull towards the class its third input names (blank, the default: the second of two
classes, or the predicted one of more).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict

import gradio as gr
import pandas as pd

from . import jobs, sentiment_jobs
from ..checkpoint import CheckpointError
from ..kinds import CHAR_LM, SENTIMENT
from ..lm.sample import MAX_LENGTH, MAX_PROMPT
from ..sentiment.preview import UPLOAD_FORMATS, Preview
from ..sentiment.train import PRESETS
from ..serve.engine_process import EngineStopped
from ..serve.options import MAX_SAMPLES, UNTIL_CHOICES
from .forms import LEXICON_SHARES, ClassifierForm, GenerateForm, TrainForm, book_choices
from .webapp import Explained, Listing, Menu, Refused, WebApp

PROMPTS = ["The island", "Captain Nemo", "The engineer said", "At daybreak the settlers",  # the island model's
           "ROMEO:\n", "First Citizen:\n"]  # tiny-Shakespeare's
REVIEWS = [
    "A wonderful film. The acting is superb, the story moving and the photography beautiful; I loved every minute.",
    "A dull, badly acted mess. The plot makes no sense and I wanted my two hours back. Avoid it.",
    "The first half is gripping and the leads are good, but the ending drags on and the twist falls flat.",
]
TABLE_HEADERS = ["name", "kind", "corpus", "size", "steps", "validation", "modified (UTC)"]
CURVE_COLUMNS = ["step", "loss", "split"]
GEN, TRAIN, CLASSIFIER = GenerateForm(), TrainForm(), ClassifierForm()  # the forms' defaults: the controls' values
DATA_TYPES = [".csv", ".tsv", ".json", ".jsonl", ".ndjson"]
LEXICON_SHARE_SHOWN = LEXICON_SHARES[0] if CLASSIFIER.lexicon is None else str(CLASSIFIER.lexicon)


def whole_number(value=None, **kwargs) -> gr.Number:
    """A number field for a whole number: an integer in the API (precision=0), but its value reaches the form
    unrounded, so that a fraction is refused by the form's rules (charrnn.numbers) rather than rounded. (Not a
    subclass: Gradio writes a .pyi file beside the module of every component class.)"""
    field = gr.Number(value, precision=0, **kwargs)

    def unrounded(payload: float | None) -> float | None:
        if payload is not None:
            field.raise_if_out_of_bounds(payload, field.minimum, field.maximum)
        return payload

    field.preprocess = unrounded  # this field's own, in place of gr.Number's rounding one
    return field


@contextmanager
def shown_as_message(*errors: type[BaseException], prefix: str = ""):
    """Re-raise `errors` as gr.Error: a short message for the user, no traceback."""
    try:
        yield
    except errors as e:
        raise gr.Error(f"{prefix}{e}", print_exception=False) from None


def stopper(stop: Callable[[], bool], stopping: str, idle: str) -> Callable[[], None]:
    """A Stop button's handler: `stop()` (refused in public mode), then a toast saying whether a job was stopped."""

    def handler() -> None:
        with shown_as_message(Refused):
            stopped = stop()
        (gr.Info if stopped else gr.Warning)(stopping if stopped else idle)

    return handler


def dropdown(menu: Menu, **kwargs) -> gr.Dropdown:
    return gr.Dropdown(**asdict(menu), **kwargs)


GENERATE_CONCURRENCY = 48  # requests sampled at once through the batched engine (each waits cheaply for its steps)


def generate_tab(app: WebApp) -> tuple[gr.Tab, gr.Dropdown]:
    """Continue a prompt with a character model; the text streams in as it is sampled."""

    def generate(prompt, checkpoint=None, length=GEN.length, temperature=GEN.temperature, top_k=GEN.top_k,
                 top_p=GEN.top_p, seed=GEN.seed, num_samples=GEN.num_samples, until=GEN.until, stop=GEN.stop):
        """Continue the prompt with a character model; the text streams in as it is sampled."""
        with shown_as_message(ValueError, CheckpointError, EngineStopped):  # VocabError is a ValueError
            form = GenerateForm.parse(prompt=prompt, length=length, temperature=temperature, top_k=top_k,
                                      top_p=top_p, seed=seed, num_samples=num_samples, until=until, stop=stop)
            yield from app.generate(form, checkpoint, warn=gr.Warning)

    with gr.Tab("Generate") as tab:
        with gr.Row():
            with gr.Column(scale=2):
                choice = dropdown(app.menu(CHAR_LM), label="Checkpoint", allow_custom_value=True,
                                  info=f"{CHAR_LM} checkpoints: corpus and validation loss")
                prompt = gr.Textbox(label="Prompt", value=PROMPTS[0], lines=2, max_length=MAX_PROMPT)
                with gr.Row():
                    start = gr.Button("Generate", variant="primary", elem_id="generate")
                    stop = gr.Button("Stop", elem_id="generate-stop")
                output = gr.Textbox(label="Generated text", lines=14, buttons=["copy"], elem_id="generated")
            with gr.Column(scale=1):
                length = whole_number(value=GEN.length, label="Length (characters)",
                                   info=f"at most {MAX_LENGTH:,}; more is clamped")
                temperature = gr.Slider(0, 2.0, value=GEN.temperature, step=0.05, label="Temperature",
                                        info="Lower is safer and more repetitive, higher more surprising; "
                                             "0 is greedy. T = 1/α, the textbook's scale factor α.")
                top_k = gr.Slider(0, 100, value=GEN.top_k, step=1, label="Top-k",
                                  info="sample among the k likeliest (0 = off)")
                top_p = gr.Slider(0.05, 1.0, value=GEN.top_p, step=0.05, label="Top-p",
                                  info="sample from the smallest set holding this probability (1 = off)")
                seed = whole_number(value=GEN.seed, label="Seed", info="same seed, same text; -1 = random")
                num_samples = gr.Slider(1, MAX_SAMPLES, value=GEN.num_samples, step=1,
                                        label="Number of samples")
                with gr.Row():
                    until = gr.Dropdown(list(UNTIL_CHOICES), value=GEN.until, label="Stop at",
                                        info="end of the length, or the first sentence/paragraph end")
                    stop_text = gr.Textbox(value=GEN.stop, label="Stop string", max_length=100,
                                           info="ends at its first appearance (kept); \\n is a newline")
        gr.Examples([[p] for p in PROMPTS], inputs=[prompt], label="Prompts")
        event = gr.on([start.click, prompt.submit], generate,
                      inputs=[prompt, choice, length, temperature, top_k, top_p, seed, num_samples, until, stop_text],
                      outputs=output, api_name="generate", concurrency_limit=GENERATE_CONCURRENCY if app.batched else 4,
                      concurrency_id="generate")
        stop.click(None, cancels=[event])
    return tab, choice


def highlighted(explained: Explained) -> gr.HighlightedText:
    """The words coloured by their contribution (scores mode: red towards the class explained, the second of two;
    purple towards the other of two, or away from it)."""
    target = explained.classes[explained.target]
    other = (f"towards {explained.classes[1 - explained.target]}" if len(explained.classes) == 2
             else "away from it")
    tokens: list[tuple[str, float | None]] = []
    for token, score in explained.highlights:
        tokens += [(" ", None), (token, round(score, 4))] if tokens else [(token, round(score, 4))]
    return gr.HighlightedText(tokens, label=f"Each word's pull: red towards {target}, purple {other}")


WORDS_ON_AXIS = 30  # a text of at most this many tokens has its words on the running plot's x axis


def running_plot(explained: Explained) -> gr.LinePlot:
    """P(class explained) after each token. A short text reads along its words ("1 not", "2 good": numbered, as a
    word may come twice); a longer one along the count of words read."""
    frame = pd.DataFrame(explained.series, columns=["position", "token", "probability"])
    y_title = f"P({explained.classes[explained.target]})"
    if len(frame) > WORDS_ON_AXIS:
        return gr.LinePlot(frame, x="position", sort=None, y_title=y_title, x_label_angle=0)
    frame["word"] = [f"{k} {t}" for k, t in zip(frame["position"], frame["token"])]
    return gr.LinePlot(frame, x="word", sort=list(frame["word"]), y_title=y_title, x_label_angle=-45)


def sentiment_tab(app: WebApp) -> tuple[gr.Tab, gr.Dropdown]:
    """Classify a text, and explain the answer word by word."""

    def sentiment(text, checkpoint=None):
        """The probability of each of the classifier's classes (IMDb: positive, negative)."""
        with shown_as_message(ValueError, CheckpointError, ImportError):
            return app.sentiment(text, checkpoint)

    def explain(text, checkpoint=None, towards=""):
        """Each word's contribution (-1 to 1, towards the class `towards` names, or when blank the second of two
        classes, the predicted one of more, when positive) and the running probability."""
        with shown_as_message(ValueError, CheckpointError, ImportError):
            explained = app.explain(text, checkpoint, towards, warn=gr.Warning)
        return highlighted(explained), running_plot(explained)

    with gr.Tab("Sentiment") as tab:
        with gr.Row():
            with gr.Column(scale=2):
                review = gr.Textbox(label="Text to classify", lines=6, placeholder="Type or paste a review…",
                                    elem_id="review")
                classifiers = app.menu(SENTIMENT)
                choice = dropdown(classifiers, label="Classifier", allow_custom_value=True,
                                  info="its classes and accuracy; train your own under Train a classifier")
                towards = dropdown(app.explain_targets(classifiers.value), label="Explain towards",
                                   allow_custom_value=True,  # API callers name a class of whichever classifier
                                   elem_id="towards", info="the class Explain measures each word's pull towards")
                with gr.Row():
                    classify = gr.Button("Classify", variant="primary", elem_id="classify")
                    explain_button = gr.Button("Explain", elem_id="explain")
            with gr.Column(scale=1):
                verdict = gr.Label(label="Probability", elem_id="verdict")  # every class
        words = gr.HighlightedText(label="Each word's pull (Explain)", show_legend=True, elem_id="explanation")
        running = gr.LinePlot(None, x="position", y="probability", tooltip=["token"], y_lim=[0, 1], height=220,
                              title="Probability as the text is read", x_title="words read", elem_id="running")
        gr.Examples([[r] for r in REVIEWS], inputs=[review], label="Examples: positive, negative, mixed")
        cleared = [verdict, words, running]  # a refused text leaves no stale number behind
        gr.on([classify.click, review.submit], lambda: (None, None, None), None, cleared, queue=False,
              api_visibility="private").then(sentiment, inputs=[review, choice], outputs=verdict,
                                             api_name="sentiment", concurrency_limit=4, concurrency_id="sentiment")
        explain_button.click(lambda: (None, None, None), None, cleared, queue=False, api_visibility="private").then(
            explain, inputs=[review, choice, towards], outputs=[words, running], api_name="explain",
            concurrency_limit=2, concurrency_id="explain").success(  # the verdict too: an explanation has one
            sentiment, inputs=[review, choice], outputs=verdict, api_visibility="private",
            concurrency_limit=4, concurrency_id="sentiment")
        choice.change(lambda name: dropdown(app.explain_targets(name)), choice, towards, queue=False,
                      api_visibility="private")
    return tab, choice


def loss_curve(job: jobs.Job) -> gr.LinePlot:
    frame = pd.DataFrame(job.curve(), columns=CURVE_COLUMNS).astype({"step": "int64", "loss": "float64"})
    # the plot rebuilds its colour scale only when a property changes, so name the splits present
    return gr.LinePlot(frame, colors_in_legend=sorted(set(frame["split"])))


def train_tab(app: WebApp) -> gr.events.Dependency:
    """Train a character model on Gutenberg books or uploaded texts (several: one corpus); one job at a time.
    Returns the training event (the lists refresh when it ends)."""

    def train(book, text_file=None, name="", cell=TRAIN.cell, hidden=TRAIN.hidden, layers=TRAIN.layers,
              steps=TRAIN.steps, batch_size=TRAIN.batch_size, seq_len=TRAIN.seq_len, lr=TRAIN.lr,
              minutes=TRAIN.minutes, start_from=TRAIN.start_from, progress=gr.Progress(track_tqdm=True)):
        """Train a character model on Gutenberg books or uploaded texts, new or fine-tuned from a model of the
        folder; yields status and loss curve."""
        with shown_as_message(ValueError, jobs.JobBusy, Refused):  # CheckpointError is a ValueError
            app.check_open()  # public mode: refused before the form is read
            form = TrainForm.from_widgets(book, text_file, name, cell, hidden, layers, steps, batch_size, seq_len,
                                          lr, minutes, start_from)
            job = app.start_training(form)
        progress(0, desc=f"loading {job.request.source}")
        for _ in app.watch(job):
            yield job.summary(), loss_curve(job)
        if job.state == "failed":
            raise gr.Error(job.summary(), print_exception=False)
        gr.Info(job.summary())
        yield job.summary(), loss_curve(job)

    stop_training = stopper(app.stop_training, "Stopping: the checkpoint is being saved",
                            "No character model is being trained")

    def start_menu(chosen: str | None = TRAIN.start_from) -> Menu:
        """The "Start from" choices: a new model, then the folder's character models; `chosen` kept if listed."""
        models = app.menu(CHAR_LM).choices
        value = chosen if chosen in [name for _, name in models] else TRAIN.start_from
        return Menu([("a new model", TRAIN.start_from), *models], value)

    with gr.Tab("Train", visible=not app.public) as tab:  # public: hidden, and its endpoints refused
        gr.Markdown("Train a character model on Project Gutenberg books (pick them or type any ID) or on your "
                    "own `.txt` files; several make one corpus, each file's last tenth held out. Say how many "
                    "minutes: the model and batch are then sized for this machine (fields left at 0). The result "
                    "appears under Generate when training ends or is stopped; one job runs at a time.")
        with gr.Row():
            with gr.Column():
                book = gr.Dropdown(book_choices(), value=list(TRAIN.book), label="Gutenberg books",
                                   info="choose one or several (one corpus), or type an ID or title",
                                   allow_custom_value=True, multiselect=True, elem_id="train-books")
                text_file = gr.File(label="…or upload .txt files (used instead of the books)", file_types=[".txt"],
                                    type="filepath", file_count="multiple", elem_id="train-uploads")
                run_name = gr.Textbox(label="Checkpoint name", placeholder="automatic")
                start_from = gr.Dropdown(**asdict(start_menu()), label="Start from", elem_id="train-start-from",
                                         info="a new model, or fine-tune a character model of the folder (its "
                                              "sizes: cell, hidden units and layers here are then not used)")
            with gr.Column():
                with gr.Row():
                    cell = gr.Dropdown(["lstm", "gru", "rnn"], value=TRAIN.cell, label="Cell")
                    hidden = whole_number(TRAIN.hidden, label="Hidden units",
                                       info=f"0: sized for the minutes ({jobs.STEP_RUN.hidden} with steps)")
                    layers = whole_number(TRAIN.layers, label="Layers")
                with gr.Row():
                    minutes = gr.Number(TRAIN.minutes, label="Minutes", elem_id="train-minutes",
                                        info="how long to train (loading and validation included)")
                    steps = whole_number(TRAIN.steps, label="Steps", info="instead of minutes, if not 0")
                    batch_size = whole_number(TRAIN.batch_size, label="Batch size", info="0: automatic")
                    seq_len = whole_number(TRAIN.seq_len, label="Sequence length", info="0: automatic")
                    lr = gr.Number(TRAIN.lr, label="Learning rate", info="0: automatic")
                with gr.Row():
                    start = gr.Button("Start", variant="primary", elem_id="train-start")
                    stop = gr.Button("Stop", elem_id="train-stop")
        status = gr.Markdown(min_height=90, elem_id="train-status")
        plot = gr.LinePlot(None, x="step", y="loss", color="split", title="Loss (nats per character)",
                           y_title="loss", height=320)
        # new inputs go last: API calls are by position
        event = start.click(train, inputs=[book, text_file, run_name, cell, hidden, layers, steps, batch_size,
                                           seq_len, lr, minutes, start_from],
                            outputs=[status, plot], api_name="train", concurrency_limit=4, concurrency_id="train",
                            show_progress_on=[status])
        stop.click(stop_training, api_name="stop_training", concurrency_limit=None)
    tab.select(app.training_status, None, status, api_visibility="private", queue=False)
    for trigger in (tab.select, event.then):
        trigger(lambda chosen: dropdown(start_menu(chosen)), start_from, start_from, api_visibility="private",
                queue=False)
    return event


def preview_outputs(preview: Preview | None) -> tuple:
    """A preview as updates of the table, the format and column dropdowns and the summary line (None: cleared)."""
    if preview is None:
        empty = gr.Dropdown(choices=[], value=None)
        return None, gr.Dropdown(value=CLASSIFIER.format), empty, empty, ""
    columns = [(c, c) for c in preview.columns]
    table = pd.DataFrame(preview.rows, columns=preview.columns)
    return (table, gr.Dropdown(value=preview.format), gr.Dropdown(choices=columns, value=preview.text_column),
            gr.Dropdown(choices=columns, value=preview.label_column), preview.summary)


def classifier_curve(job: jobs.Job) -> gr.LinePlot:
    frame = pd.DataFrame(job.curve(), columns=sentiment_jobs.CURVE_COLUMNS).astype({"epoch": "int64",
                                                                                    "value": "float64"})
    return gr.LinePlot(frame, colors_in_legend=sorted(set(frame["series"])))


def classifier_settings() -> list[gr.components.Component]:
    """The classifier form's settings, in `ClassifierForm.WIDGETS`' order: name, preset, epochs, hidden, embed,
    batch size, learning rate, lexicon share."""
    with gr.Row():
        preset = gr.Dropdown(list(PRESETS), value=CLASSIFIER.preset, label="Preset",
                             info="best: a BiLSTM with max pooling; book: the chapter's LSTM")
        epochs = whole_number(CLASSIFIER.epochs, label="Epochs")
        name = gr.Textbox(label="Classifier name", placeholder="automatic")
    with gr.Accordion("Model and optimiser (0: the preset's)", open=False):
        with gr.Row():
            hidden = whole_number(CLASSIFIER.hidden, label="Hidden units")
            embed = whole_number(CLASSIFIER.embed, label="Embedding size")
            batch_size = whole_number(CLASSIFIER.batch_size, label="Batch size")
            lr = gr.Number(CLASSIFIER.lr, label="Learning rate")
        lexicon = gr.Dropdown(LEXICON_SHARES, value=LEXICON_SHARE_SHOWN, label="Lexicon sentences",
                              allow_custom_value=True,
                              info="negation and contrast sentences from the built-in English polarity lexicon "
                                   "(\"i did n't hate it\"), as a share of the training rows; only for "
                                   "negative/positive labels (sentence and mixed presets: 0.5)")
    return [name, preset, epochs, hidden, embed, batch_size, lr, lexicon]


def classifier_tab(app: WebApp, classifiers: gr.Dropdown) -> gr.events.Dependency:
    """Train a classifier on an uploaded CSV/TSV/JSON(L) file; the new one is selected in `classifiers`
    when it is saved. Returns the training event (the lists refresh when it ends)."""

    def preview(file, format="auto", text_column=None, label_column=None):
        """The file's first rows, format, text and label columns, and classes."""
        if not file:
            return preview_outputs(None)
        with shown_as_message(ValueError, Refused):
            app.check_open()
            return preview_outputs(app.preview_dataset(file, format, text_column, label_column))

    def train_classifier(file, format=CLASSIFIER.format, text_column=None, label_column=None, name="",
                         preset=CLASSIFIER.preset, epochs=CLASSIFIER.epochs, hidden=CLASSIFIER.hidden,
                         embed=CLASSIFIER.embed, batch_size=CLASSIFIER.batch_size, lr=CLASSIFIER.lr,
                         lexicon=LEXICON_SHARE_SHOWN, progress=gr.Progress(track_tqdm=True)):
        """Train a classifier on an uploaded file; yields status, loss/accuracy curve, and at the end the new
        classifier's name."""
        with shown_as_message(ValueError, jobs.JobBusy, Refused):
            app.check_open()  # public mode: refused before the file is read
            form = ClassifierForm.from_widgets(file, format, text_column, label_column, name, preset, epochs,
                                               hidden, embed, batch_size, lr, lexicon)
            job = app.start_classifier(form)
        progress(0, desc=f"training on {job.request.source}")
        for _ in app.watch(job):
            yield job.summary(), classifier_curve(job), gr.skip()
        if job.state == "failed":
            raise gr.Error(job.summary(), print_exception=False)
        gr.Info(job.summary())
        new = dropdown(app.menu(SENTIMENT, job.published.name)) if job.published else gr.skip()
        yield job.summary(), classifier_curve(job), new

    stop_classifier = stopper(app.stop_classifier, "Stopping: the best epoch so far is kept",
                              "No classifier is being trained")

    with gr.Tab("Train a classifier", visible=not app.public):  # public: hidden, and its endpoints refused
        gr.Markdown("Train a text classifier on your own labelled texts: a CSV, TSV, JSON or JSON lines file with "
                    "a text column and a label column of 2 to 100 values (more than two: numbers in numeric order, "
                    "names in alphabetical order). Check the columns and classes in the preview, "
                    "then train; the best epoch is kept (also when you stop) and appears under Sentiment. One "
                    "training job runs at a time.")
        with gr.Row():
            with gr.Column(scale=3):
                data_file = gr.File(label="Labelled texts (.csv, .tsv, .json, .jsonl)", file_types=DATA_TYPES,
                                    type="filepath", elem_id="classifier-data")
                with gr.Row():
                    fmt = gr.Dropdown(list(UPLOAD_FORMATS), value=CLASSIFIER.format, label="Format")
                    text_column = gr.Dropdown([], label="Text column", allow_custom_value=True)
                    label_column = gr.Dropdown([], label="Label column", allow_custom_value=True)
                summary = gr.Markdown(elem_id="classifier-preview-summary")
            with gr.Column(scale=2):
                settings = classifier_settings()
                with gr.Row():
                    start = gr.Button("Train", variant="primary", elem_id="classifier-start")
                    stop = gr.Button("Stop", elem_id="classifier-stop")
        table = gr.Dataframe(None, label="First rows", interactive=False, elem_id="classifier-preview")
        status = gr.Markdown(min_height=60, elem_id="classifier-status")
        plot = gr.LinePlot(None, x="epoch", y="value", color="series", title="Training loss and validation accuracy",
                           y_title="", height=300)
        shown = [table, fmt, text_column, label_column, summary]
        # progress and errors show on the summary line only, so a refused choice leaves the menus usable
        data_file.upload(preview, data_file, shown, api_visibility="private", show_progress_on=[summary])
        data_file.clear(lambda: preview_outputs(None), None, shown, api_visibility="private", queue=False)
        fmt.input(preview, [data_file, fmt], shown, api_visibility="private", show_progress_on=[summary])
        gr.on([text_column.select, label_column.select], preview, [data_file, fmt, text_column, label_column], shown,
              api_name="preview_dataset", show_progress_on=[summary])
        event = start.click(train_classifier, [data_file, fmt, text_column, label_column, *settings],
                            [status, plot, classifiers],
                            api_name="train_classifier", concurrency_limit=4, concurrency_id="train",
                            show_progress_on=[status])
        stop.click(stop_classifier, api_name="stop_classifier", concurrency_limit=None)
    return event


def checkpoints_tab(app: WebApp) -> tuple[gr.Tab, gr.Dropdown, gr.Dataframe, gr.events.Dependency]:
    """The folder's checkpoints: a table of all files, download one, upload one."""

    def download(name):
        """The file of checkpoint `name` for download."""
        with shown_as_message(CheckpointError):
            return app.download(name)

    def upload(file):
        """Check an uploaded checkpoint and add it to the folder."""
        with shown_as_message(Refused, prefix="Upload refused: "):
            app.check_open()
        if not file:
            raise gr.Error("no file was uploaded", print_exception=False)
        with shown_as_message(CheckpointError, ImportError, OSError, prefix="Upload refused: "):
            message = app.upload(file)
        gr.Info(message)
        return message

    with gr.Tab("Checkpoints") as tab:
        table = gr.Dataframe(app.table(), headers=TABLE_HEADERS, interactive=False,
                             label=f"Checkpoints in {app.folder.name}/")
        with gr.Row():
            with gr.Column():
                choice = dropdown(app.menu(None), label="Checkpoint to download", allow_custom_value=True)
                download_button = gr.DownloadButton("Download")
            with gr.Column(visible=not app.public):  # public: no uploads (the endpoint refuses them too)
                upload_file = gr.File(label="Upload a checkpoint (.pt)", file_types=[".pt"], type="filepath")
                upload_status = gr.Markdown()
        choice.change(download, choice, download_button, api_name="download")
        event = upload_file.upload(upload, upload_file, upload_status, api_name="upload")
    return tab, choice, table, event


def refresh_outputs(listing: Listing) -> tuple:
    """A fresh listing as updates of the three dropdowns and the table."""
    return dropdown(listing.lm), dropdown(listing.sentiment), dropdown(listing.download), listing.table


def build_blocks(app: WebApp) -> gr.Blocks:
    """The Blocks app: generate, sentiment, train, train-a-classifier and checkpoints tabs; lists refresh on load,
    tab switch, upload and the end of training."""

    def refresh(lm_name, sentiment_name, download_name):
        return refresh_outputs(app.listing(lm_name, sentiment_name, download_name))

    with gr.Blocks(title="charrnn") as demo:
        gr.Markdown("# charrnn\nCharacter-level recurrent language models: generate, classify, train, share.")
        tab_generate, lm_choice = generate_tab(app)
        tab_sentiment, sentiment_choice = sentiment_tab(app)
        train_event = train_tab(app)
        classifier_event = classifier_tab(app, sentiment_choice)
        tab_checkpoints, download_choice, table, upload_event = checkpoints_tab(app)
        lists = [lm_choice, sentiment_choice, download_choice, table]
        for trigger in (demo.load, tab_generate.select, tab_sentiment.select, tab_checkpoints.select):
            trigger(refresh, lists[:3], lists, api_visibility="private", queue=False)
        for event in (train_event, classifier_event, upload_event):
            event.then(refresh, lists[:3], lists, api_visibility="private", queue=False)
    for component in demo.blocks.values():
        if isinstance(component, (gr.Slider, gr.Number)):
            numbers_checked_by_the_form(component)
    return demo


def numbers_checked_by_the_form(component: gr.Slider | gr.Number) -> None:
    """A value sent to the API that is no finite number (None, "hot", NaN) reaches the form unchanged, whose rules
    refuse it naming the field; Gradio's own check would fail with a TypeError, which the client sees only as a
    generic "the upstream app has raised an exception"."""
    checked = component.preprocess

    def preprocess(payload):
        if isinstance(payload, bool) or not isinstance(payload, (int, float)) or not math.isfinite(payload):
            return payload
        return checked(payload)

    component.preprocess = preprocess
