"""The web app's actions called directly, without Gradio (the end-to-end tests are in test_app.py)."""
import shutil

import pytest

from charrnn import jobs, serving
from charrnn.checkpoint import CheckpointError
from charrnn.sample import MAX_LENGTH
from charrnn.webapp import WebApp

from .helpers import train_tiny


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
    texts = list(app.generate("the qu", "tiny.pt", length=40, seed=3))
    assert texts[-1].startswith("the qu") and len(texts[-1]) == 46
    assert all(texts[-1].startswith(t) for t in texts)
    assert list(app.generate("the qu", None, length=40, seed=3))[-1] == texts[-1]
    notices = []
    long = list(app.generate("the", length=MAX_LENGTH + 1, temperature=0, warn=notices.append))[-1]
    assert len(long) == 3 + MAX_LENGTH and len(notices) == 1 and f"{MAX_LENGTH:,}" in notices[0]
    default = list(app.generate("the"))[-1]
    assert len(default) == 3 + serving.FORM.length


@pytest.mark.parametrize("args, error, message", [
    (("",), ValueError, "prompt is empty"),
    (("the €", "tiny.pt"), ValueError, "does not know: '€'"),
    (("the", "../tiny.pt"), CheckpointError, "not a checkpoint name"),
    (("the", "missing.pt"), CheckpointError, "no checkpoint named 'missing.pt'"),
])
def test_generate_raises_plain_errors(app, args, error, message):
    with pytest.raises(error, match=message):
        list(app.generate(*args))


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
        app.start_training("1268", hidden=4)
    with pytest.raises(ValueError, match="choose a book"):
        app.start_training("")
    assert app.jobs.current is None


def test_form_defaults_are_written_once():
    opts, _ = serving.sample_options("x")
    assert (opts.length, opts.temperature, opts.num_samples) == (serving.FORM.length, serving.FORM.temperature,
                                                                 serving.FORM.num_samples)
    request = jobs.make_request(jobs.FORM.book)
    assert request.model["hidden"] == jobs.FORM.hidden and request.config.steps == jobs.FORM.steps
    assert request.name == f"gutenberg-{jobs.FORM.book}-h{jobs.FORM.hidden}"
