"""The web app's actions called directly, without Gradio (the end-to-end tests are in test_app.py)."""
import os
import shutil
import threading
import time

import pytest

from charrnn.web import jobs, sentiment_jobs

from charrnn.serve.options import GenerateForm, sample_options

from charrnn import shelf
from charrnn.checkpoint import CheckpointError
from charrnn.kinds import CHAR_LM, SENTIMENT
from charrnn.lm.sample import MAX_LENGTH
from charrnn.sentiment import default_sentiment_checkpoint, load_labelled, preset, train_sentiment
from charrnn.sentiment.kind import DEFAULT_FILE
from charrnn.web.forms import ClassifierForm, TrainForm
from charrnn.web.webapp import WebApp

from ..apphelpers import SHIPPED, labelled_csv
from ..helpers import train_tiny


def generate(app, prompt, checkpoint=None, warn=None, **raw):
    """The app's generate action on the generation form's raw values, parsed as the Gradio wrapper does."""
    form = GenerateForm.parse(prompt=prompt, **raw)
    return app.generate(form, checkpoint, **({"warn": warn} if warn else {}))


def classifier(app, file, **raw):
    """The app's start_classifier action on the classifier form's raw values."""
    return app.start_classifier(ClassifierForm.parse(file=file, **raw))


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "tiny.pt"
    train_tiny(run, steps=20, eval_every=20, save_every=20)
    folder = tmp_path_factory.mktemp("app") / "checkpoints"
    folder.mkdir()
    shutil.copyfile(run.with_name("tiny.best.pt"), folder / "tiny.pt")
    return WebApp(folder, device="cpu")


def test_listing_offers_usable_checkpoints_by_kind(app):
    listing = app.listing()
    assert [name for _, name in listing.lm.choices] == ["tiny.pt"] and listing.lm.value == "tiny.pt"
    assert listing.lm.choices[0][0].startswith("tiny.pt (repeat.txt, val loss")
    assert listing.sentiment.choices == [] and listing.sentiment.value is None
    assert listing.download.choices == [("tiny.pt", "tiny.pt")] and listing.download.value is None
    assert app.listing(download="tiny.pt").download.value == "tiny.pt"
    [row] = listing.table
    assert row[:3] == ["tiny.pt", "char-lm", "repeat.txt"] and row[4] == 20 and row[5].startswith("val loss")


def test_generate_streams_the_text_and_reports_clamped_options(app):
    texts = list(generate(app, "the qu", "tiny.pt", length=40, seed=3))
    assert texts[-1].startswith("the qu") and len(texts[-1]) == 46
    assert all(texts[-1].startswith(t) for t in texts)
    assert list(generate(app, "the qu", None, length=40, seed=3))[-1] == texts[-1]
    notices = []
    long = list(generate(app, "the", length=MAX_LENGTH + 1, temperature=0, warn=notices.append))[-1]
    assert len(long) == 3 + MAX_LENGTH and len(notices) == 1 and f"{MAX_LENGTH:,}" in notices[0]
    default = list(generate(app, "the"))[-1]
    assert len(default) == 3 + GenerateForm.length


def test_partial_texts_come_less_often_when_many_users_generate(app, monkeypatch):
    monkeypatch.setattr(app, "STREAM_INTERVAL", 0.0)  # alone: a partial text at every chance (each 8 characters)
    monkeypatch.setattr(app, "UPDATES_PER_SECOND", 1e9)
    alone = list(generate(app, "the qu", "tiny.pt", length=200, seed=3))
    monkeypatch.setattr(app, "UPDATES_PER_SECOND", 1.0)
    monkeypatch.setattr(app, "_streams", 29)  # with this one, 30 users: 30 s between one user's updates
    crowded = list(generate(app, "the qu", "tiny.pt", length=200, seed=3))
    assert len(alone) >= 25 and crowded == [alone[-1]]  # only the final text, and the same text
    assert app._streams == 29  # the count is back where it was


@pytest.mark.parametrize("args, error, message", [
    (("",), ValueError, "prompt is empty"),
    (("the €", "tiny.pt"), ValueError, "does not know: '€'"),
    (("the", "../tiny.pt"), CheckpointError, "not a checkpoint name"),
    (("the", "missing.pt"), CheckpointError, "no checkpoint named 'missing.pt'"),
])
def test_generate_raises_plain_errors(app, args, error, message):
    with pytest.raises(error, match=message):
        list(generate(app, *args))


def test_sentiment_needs_a_classifier_and_text(app):
    with pytest.raises(ValueError, match="text is empty"):
        app.sentiment("  ")
    with pytest.raises(CheckpointError, match="no sentiment checkpoint"):
        app.sentiment("a good film")
    with pytest.raises(CheckpointError, match="tiny.pt is a char-lm checkpoint, not sentiment"):
        app.sentiment("a good film", "tiny.pt")


def test_download_and_upload(app, tmp_path):
    assert app.download(None) is None and app.download("") is None
    assert app.download("tiny.pt") == str((app.folder / "tiny.pt").resolve())
    with pytest.raises(CheckpointError, match="not a checkpoint name"):
        app.download("../tiny.pt")
    with pytest.raises(ValueError, match="no file was uploaded"):
        app.upload(None)
    shutil.copyfile(app.folder / "tiny.pt", tmp_path / "copy.pt")
    assert app.upload(tmp_path / "copy.pt") == "copy.pt is already here as tiny.pt"
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        app.upload(tmp_path / "junk.pt")


def test_training_settings_are_checked_and_nothing_runs_by_default(app):
    assert app.training_status() == "" and app.stop_training() is False
    with pytest.raises(ValueError, match="hidden must be a whole number from 8"):
        app.start_training(TrainForm.parse(book="1268", hidden=4))
    with pytest.raises(ValueError, match="choose a book"):
        app.start_training(TrainForm.parse(book=""))
    assert app.jobs.current is None


def test_form_defaults_are_written_once():
    opts, _ = sample_options("x")
    assert (opts.length, opts.temperature, opts.num_samples) == (GenerateForm.length, GenerateForm.temperature,
                                                                 GenerateForm.num_samples)
    assert TrainForm.parse() == TrainForm() and ClassifierForm.parse() == ClassifierForm()
    book = TrainForm.book[0]
    request = jobs.make_request(TrainForm.parse(book=book, steps=1000))
    assert request.model["hidden"] == jobs.STEP_RUN.hidden and request.config.steps == 1000
    assert request.name == f"gutenberg-{book}-h{jobs.STEP_RUN.hidden}"
    budget = jobs.make_request(TrainForm.parse())  # the form left alone: the default book for the default minutes
    assert budget.books == TrainForm.book and budget.config.minutes == TrainForm.minutes
    assert budget.model["hidden"] is None and budget.config.steps is None


# ---------------------------------------------------------------- classifiers: list, classify, explain, train

TINY = dict(epochs=2, hidden=8, embed=8, batch_size=8, lr=0.02)  # learns the toy CSV in about a second


@pytest.fixture(scope="module")
def films(tmp_path_factory):
    return labelled_csv(tmp_path_factory.mktemp("data") / "films.csv")


@pytest.fixture(scope="module")
def classifier_app(tmp_path_factory, films):
    """An app whose folder holds one classifier, trained through the app on the toy CSV (classes dull / fun)."""
    app = WebApp(tmp_path_factory.mktemp("classifiers") / "checkpoints", device="cpu")
    job = classifier(app, films, name="films", **TINY)
    for _ in app.watch(job, every=0.1):
        pass
    assert job.state == "finished", job.summary()
    return app


def test_preview_finds_format_columns_and_classes_and_columns_can_be_changed(films):
    p = WebApp.preview_dataset(films)
    assert (p.format, p.columns, p.text_column, p.label_column) == ("csv", ["id", "text", "label"], "text", "label")
    assert p.classes == ("dull", "fun") and p.counts == (100, 100) and len(p.rows) == 5 and p.rows[0][0] == "0"
    assert p.summary.startswith("200 rows, format csv") and "dull (100 rows) / fun (100 rows)" in p.summary
    assert WebApp.preview_dataset(films, "csv", "id", "label").text_column == "id"
    with pytest.raises(ValueError, match="200 label values in column 'id'; a classifier takes 2 to 100 classes"):
        WebApp.preview_dataset(films, "auto", "text", "id")


def write(path, text: str | bytes):
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


@pytest.mark.parametrize("name, content, message", [
    ("one.csv", "text,label\na good film,pos\nanother,pos\n", "^one.csv: every row is labelled 'pos'"),
    ("many.csv", "text,label\n" + "".join(f"t,{i}\n" for i in range(101)), "^many.csv: 101 label values"),
    ("binary.csv", bytes(range(256)) * 64, r"^binary.csv is not a text file \(it holds binary data\)"),
    ("latin.csv", "text,label\ncafé,a\nbar,b\n".encode("latin-1"), "^latin.csv line 2: bytes that are not UTF-8"),
    ("huge.csv", "text,label\n" + "x" * (2 << 20) + ",pos\n", "line 2 is longer than 1,048,576 bytes"),
    ("empty.csv", "", "is empty"),
    ("list.json", "[1, 2]", "expected a JSON object"),
])
def test_hostile_data_files_get_a_clear_message_and_nothing_is_written(app, tmp_path, name, content, message):
    path = write(tmp_path / name, content)
    before = sorted(p.name for p in app.folder.iterdir())
    with pytest.raises(ValueError, match=message):
        app.preview_dataset(path)
    with pytest.raises(ValueError, match=message):
        classifier(app, path, **TINY)
    assert app.jobs.current is None and sorted(p.name for p in app.folder.iterdir()) == before


def test_classifier_form_is_checked(app, films, monkeypatch):
    with pytest.raises(ValueError, match="upload a CSV"):
        classifier(app, None)
    with pytest.raises(ValueError, match="preset must be one of book, best"):
        classifier(app, films, preset="huge")
    with pytest.raises(ValueError, match="epochs must be a whole number from 1 to 100"):
        classifier(app, films, epochs=0)
    with pytest.raises(ValueError, match="learning rate must be in"):
        classifier(app, films, lr=-1)
    for bad in ("lots", 5, -0.5, "nan"):
        with pytest.raises(ValueError, match="lexicon sentences must be a share of the training rows from 0 to 3"):
            classifier(app, films, lexicon=bad)
    monkeypatch.setattr(sentiment_jobs, "MAX_TEXT_BYTES", 1000)
    with pytest.raises(ValueError, match="the limit is 0 MiB"):
        app.preview_dataset(films)
    assert app.jobs.current is None


def test_a_trained_classifier_is_listed_with_its_classes_and_classifies(classifier_app):
    app = classifier_app
    menu = app.menu(SENTIMENT)
    assert menu.value == "films.pt" and menu.choices[0][0].startswith("films.pt — dull / fun — val accuracy ")
    assert not (app.folder / ".train" / "films" / "films.pt").exists()  # moved into the folder, not copied
    fun, dull = app.sentiment("a great wonderful film", None), app.sentiment("a boring awful film", "films.pt")
    assert set(fun) == {"dull", "fun"} and abs(sum(fun.values()) - 1) < 1e-6 and fun["fun"] > dull["fun"]


@pytest.mark.parametrize("text, message", [("  ", "text is empty"), ("zzz qqq", "no known words")])
def test_text_without_known_words_gets_a_notice_and_no_number(classifier_app, text, message):
    with pytest.raises(ValueError, match=message):
        classifier_app.sentiment(text)
    with pytest.raises(ValueError, match=message):
        classifier_app.explain(text)


def test_explain_gives_each_word_a_score_and_the_running_probability(classifier_app):
    notices = []
    e = classifier_app.explain("not a great film", "films.pt", warn=notices.append)
    assert e.classes == ("dull", "fun") and notices == []
    assert [t for t, _ in e.highlights] == ["not", "a", "great", "film"]
    assert all(-1 <= s <= 1 for _, s in e.highlights) and max(abs(s) for _, s in e.highlights) == 1
    assert [r["position"] for r in e.series] == [1, 2, 3, 4] and e.series[-1]["probability"] == e.probability
    assert e.series[2]["token"] == "great"
    long = classifier_app.explain("great " * 600, warn=notices.append)
    assert len(long.highlights) == 500 and "only the first 500" in notices[0]


@pytest.mark.parametrize("preset_name, lexicon, expected", [
    ("best", "preset's", 0.0), ("mixed", "preset's", 0.5), ("mixed", None, 0.5), ("best", "0.25", 0.25),
    ("mixed", "0", 0.0), ("sentence", 1, 1.0),
])
def test_classifier_form_sets_the_lexicon_share(films, preset_name, lexicon, expected):
    request = sentiment_jobs.make_classifier_request(ClassifierForm.parse(file=films, preset=preset_name,
                                                                          lexicon=lexicon), device="cpu")
    assert request.config.lexicon == expected


def test_default_classifier_is_the_kinds_default_file(classifier_app, tmp_path):
    app = WebApp(tmp_path / "checkpoints", device="cpu")
    shutil.copyfile(classifier_app.folder / "films.pt", app.folder / DEFAULT_FILE)
    os.utime(app.folder / DEFAULT_FILE, (1e9, 1e9))  # older than films.pt, still the default
    shutil.copyfile(classifier_app.folder / "films.pt", app.folder / "films.pt")
    assert app.menu(SENTIMENT).value == DEFAULT_FILE == default_sentiment_checkpoint(app.folder).name
    assert app._pick(SENTIMENT, None).name == DEFAULT_FILE
    (app.folder / DEFAULT_FILE).write_bytes(b"junk")  # unusable: the newest usable one instead
    assert app.menu(SENTIMENT).value == "films.pt"


def test_one_job_at_a_time_and_stop_keeps_the_best_epoch(classifier_app, films):
    app = classifier_app
    job = classifier(app, films, name="films", **{**TINY, "epochs": 100})
    assert job.request.name == "films-2"  # films.pt is taken
    deadline = time.monotonic() + 120
    while not job.records:
        assert time.monotonic() < deadline and not job.done, job.summary()
        time.sleep(0.05)
    with pytest.raises(jobs.JobBusy, match=r"already running \(classifier films-2, epoch \d+/100\)"):
        classifier(app, films, **TINY)
    with pytest.raises(jobs.JobBusy, match="already running"):
        app.start_training(TrainForm.parse(book="1268"))
    assert app.stop_training() is False and app.stop_classifier() is True
    job.thread.join(60)
    assert job.state == "stopped" and job.published == app.folder / "films-2.pt", job.summary()
    assert job.summary().startswith("Stopped classifier films-2 on films.csv (dull / fun) at epoch ")
    assert "Saved as films-2.pt (best validation accuracy" in job.summary()
    best = max(job.records, key=lambda r: r["val_accuracy"])
    assert shelf.describe(job.published).metrics["best_epoch"] == best["epoch"]
    assert app.stop_classifier() is False


def test_stopped_before_an_epoch_ends_writes_nothing(films, tmp_path):
    stop = threading.Event()
    stop.set()
    model, config = preset("book", dict(embed=8, hidden=8, fc=8), dict(epochs=2, device="cpu"))
    result = train_sentiment(load_labelled(films), model, config, out=tmp_path / "x.pt", progress=False,
                             stop_event=stop)
    assert result["stopped"] and result["out"] is None and not list(tmp_path.iterdir())
    seen = []
    result = train_sentiment(load_labelled(films), model, config, out=tmp_path / "y.pt", progress=False,
                             on_epoch=lambda r: seen.append(r) or False)
    assert result["stopped"] and [r["epoch"] for r in seen] == [1] and (tmp_path / "y.pt").is_file()
    seen.clear()
    model, config = preset("book", dict(embed=8, hidden=8, fc=8), dict(epochs=4, patience=1, device="cpu"))
    result = train_sentiment(load_labelled(films), model, config, out=tmp_path / "z.pt", progress=False,
                             on_epoch=seen.append)
    assert seen == result["history"] and not result["stopped"]  # also the epoch that ends it early (patience)


def test_shipped_character_models_are_offered_together_island_first():
    if not (SHIPPED / "tiny-shakespeare.pt").is_file():
        pytest.skip("checkpoints/tiny-shakespeare.pt is not in this checkout")
    app = WebApp(SHIPPED, device="cpu")
    menu = app.menu(CHAR_LM)
    names = [name for _, name in menu.choices]
    assert {"mysterious-island.pt", "tiny-shakespeare.pt"} <= set(names) and menu.value == "mysterious-island.pt"
    label = dict((name, label) for label, name in menu.choices)["tiny-shakespeare.pt"]
    assert "tinyshakespeare" in label and "1.42" in label, label


# ---------------------------------------------------------------- read once


def test_a_classifier_job_is_the_same_job_type(classifier_app):
    job = classifier_app.jobs.current
    assert type(job) is jobs.Job and job.kind == SENTIMENT and job.progress == job.epoch > 0


def test_a_text_is_checked_and_tokenised_once(classifier_app, monkeypatch):
    from charrnn.serve import scoring

    calls = {"review_text": 0, "encode": 0}

    def counted(name, real):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(scoring, "review_text", counted("review_text", scoring.review_text))
    monkeypatch.setattr(scoring, "encode", counted("encode", scoring.encode))
    fun = classifier_app.sentiment("a great wonderful film", "films.pt")
    assert calls == {"review_text": 1, "encode": 1} and set(fun) == {"dull", "fun"}


def test_an_uploaded_data_file_is_read_once_for_preview_and_training(films, tmp_path, monkeypatch):
    data = tmp_path / "films-copy.csv"
    data.write_bytes(films.read_bytes())
    reads = []
    real = sentiment_jobs.preview_dataset
    monkeypatch.setattr(sentiment_jobs, "preview_dataset", lambda *a, **k: reads.append(a) or real(*a, **k))
    p = WebApp.preview_dataset(data)  # the upload event: format and columns found
    again = WebApp.preview_dataset(data, p.format, p.text_column, p.label_column)  # a column menu's event
    form = ClassifierForm.parse(file=data, format=p.format, text_column=p.text_column, label_column=p.label_column,
                                preset="book", epochs=1)
    request = sentiment_jobs.make_classifier_request(form, device="cpu")
    assert len(reads) == 1 and again is p and request.data is p.data
    data.write_text(data.read_text() + "9,a good film,fun\n")  # a changed file is read again
    assert WebApp.preview_dataset(data).counts == (100, 101) and len(reads) == 2


def test_an_uploaded_checkpoint_is_loaded_once(app, tmp_path, monkeypatch):
    from charrnn import checkpoint as ckpt

    other = WebApp(tmp_path / "other", device="cpu")
    shutil.copyfile(app.folder / "tiny.pt", tmp_path / "mine.pt")
    loads = []
    real = ckpt.load
    monkeypatch.setattr(ckpt, "load", lambda *a, **k: loads.append(a) or real(*a, **k))
    assert other.upload(tmp_path / "mine.pt") == "accepted char-lm checkpoint mine.pt"
    assert len(loads) == 1
    assert [n for _, n in other.menu(CHAR_LM).choices] == ["mine.pt"] and len(loads) == 1  # listed from that read
