import json
import time

import pytest

from charrnn import checkpoint as ckpt
from charrnn.web import jobs
from charrnn.web.forms import TrainForm, parse_book
from charrnn import load_char_lm, shelf

from ..helpers import REPEAT


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "fox.txt"
    path.write_text(REPEAT)
    return path


def request(device="auto", **raw):
    """The request of the training form's raw values."""
    return jobs.make_request(TrainForm.parse(**raw), device=device)


def tiny(text, **kw):
    args = dict(text_file=text, hidden=16, steps=20, batch_size=8, seq_len=10, lr=0.01, device="cpu")
    return request(**(args | kw))


def wait(job, timeout=300):
    job.thread.join(timeout)
    assert job.done, job.summary()


@pytest.mark.parametrize("value, book", [(1268, 1268), ("84", 84), ("1268 · The Mysterious Island (Jules Verne)", 1268),
                                         ("frankenstein", 84), (" 2701 ", 2701), (11.0, 11)])
def test_parse_book(value, book):
    assert parse_book(value) == book


@pytest.mark.parametrize("value, message", [("", "choose a book"), (None, "choose a book"), ("no such title", "not a"),
                                            ("-5", "not a"), (True, "not a"), ("the", "several books")])
def test_parse_book_refuses(value, message):
    with pytest.raises(ValueError, match=message):
        parse_book(value)


def test_request_defaults_and_names(text):
    req = request(book="1268", steps=1000)  # a step count, the other sizes left automatic: STEP_RUN's
    assert (req.books, req.text_files, req.name, req.source) == ((1268,), (), "gutenberg-1268-h256",
                                                                 "Gutenberg book 1268")
    assert req.model == dict(embed=256, hidden=256, layers=1, cell="lstm")
    assert (req.config.steps, req.config.eval_every, req.config.save_every, req.config.warmup) == (1000, 100, 100, 100)
    req = tiny(text, book=84, name="../My run!")
    assert (req.books, req.text_files, req.name, req.source) == ((), (text,), "My-run", "fox.txt")
    assert req.model["embed"] == 16 and req.config.eval_every == 2


@pytest.mark.parametrize("kwargs, message", [
    (dict(hidden=4), "hidden must be a whole number from 8"),
    (dict(hidden=-3, steps=None, minutes=1), "hidden must be a whole number from 8"),
    (dict(layers=1.5), "layers must be a whole number"),
    (dict(steps="x"), "steps must be a whole number"),
    (dict(lr=-0.1), "learning rate"),
    (dict(lr=float("inf")), "learning rate"),
    (dict(cell="transformer"), "cell must be one of"),
])
def test_bad_settings_are_named(text, kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny(text, **kwargs)


def test_several_books_and_uploads(tmp_path, text):
    req = request(book=["1268 · The Mysterious Island (Jules Verne)", 84, "1268"], steps=1000)
    assert (req.books, req.name, req.source) == ((1268, 84), "gutenberg-1268-84-h256", "Gutenberg books 1268, 84")
    other = tmp_path / "dog.txt"
    other.write_text("The lazy dog sleeps in the sun while the fox runs past it again and again.\n" * 50)
    req = request(book=[1268], text_file=[str(text), str(other)], steps=1000)
    assert (req.books, req.text_files, req.name) == ((), (text, other), "fox-and-1-more-h256")
    corpus = req.corpus()
    assert corpus.texts == (text.read_text(), other.read_text()) and req.source == "fox.txt, dog.txt"
    with pytest.raises(ValueError, match="choose a book or upload a text"):
        request(book=[], text_file=[])


def test_uploads_together_stay_under_the_limit(tmp_path, monkeypatch):
    files = []
    for i in range(3):
        files.append(tmp_path / f"part{i}.txt")
        files[-1].write_text("x" * 400)
    monkeypatch.setattr(jobs, "MAX_TEXT_BYTES", 1000)
    with pytest.raises(ValueError, match="the 3 uploads are 0 MiB; the limit is 0 MiB"):
        request(text_file=files)
    assert request(text_file=files[:2]).text_files == tuple(files[:2])


def test_missing_upload_is_refused(tmp_path):
    with pytest.raises(ValueError, match="uploaded text not found: gone.txt"):
        request(text_file=tmp_path / "gone.txt")


def test_job_publishes_one_checkpoint_with_its_log(tmp_path, text):
    folder = tmp_path / "checkpoints"
    manager = jobs.JobManager(folder)
    job = manager.start(tiny(text, name="fox"))
    wait(job)
    assert job.state == "finished" and job.error is None
    assert job.published == folder / "fox.pt"
    assert sorted(p.name for p in folder.iterdir()) == [".train", "fox.log.jsonl", "fox.pt"]
    info = shelf.describe(folder / "fox.pt")
    assert (info.kind, info.corpus, info.steps) == ("char-lm", "fox.txt", 20)
    assert "optimizer" not in ckpt.load(folder / "fox.pt")
    assert "optimizer" in ckpt.load(manager.run_dir("fox") / "fox.pt")
    records = [json.loads(line) for line in (folder / "fox.log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "val_loss" in r] == list(range(2, 21, 2))
    points = job.curve()
    assert ("validation" in {s for _, _, s in points}) and points[-1][0] == 20
    assert job.summary().startswith("Finished fox on fox.txt at step 20/20") and "Saved as fox.pt" in job.summary()
    load_char_lm(folder / "fox.pt")

    second = manager.start(tiny(text, name="fox"))
    wait(second)
    assert second.published == folder / "fox-2.pt"


def test_one_job_at_a_time_and_stop_saves(tmp_path, text):
    folder = tmp_path / "checkpoints"
    manager = jobs.JobManager(folder)
    assert manager.stop() is False
    job = manager.start(tiny(text, name="long", steps=100_000))
    deadline = time.time() + 600
    while job.step < 1:
        assert time.time() < deadline and not job.done, job.summary()
        time.sleep(0.05)
    with pytest.raises(jobs.JobBusy, match=r"already running \(long, step \d+/100000\)"):
        manager.start(tiny(text, name="other"))
    assert manager.busy() and job.summary().startswith("Training long on fox.txt: step")
    assert manager.stop() is True
    wait(job)
    assert job.state == "stopped" and job.published == folder / "long.pt"
    steps = ckpt.load(manager.run_dir("long") / "long.pt")["metrics"]["steps"]
    assert 1 <= steps < 100_000
    assert not manager.busy()
    assert not (folder / "other.pt").exists()


def test_failures_are_reported_not_raised(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("abc")
    manager = jobs.JobManager(tmp_path / "checkpoints")
    job = manager.start(request(text_file=short, hidden=16, steps=5, seq_len=10, device="cpu"))
    wait(job)
    assert job.state == "failed" and "too short" in job.error
    assert job.summary().startswith("Training on short.txt failed:")
    assert shelf.list_checkpoints(tmp_path / "checkpoints") == []
    assert not manager.busy()


def test_unreachable_book_fails_with_the_reason(tmp_path, http_dir, monkeypatch):
    base, _, _ = http_dir
    monkeypatch.setenv("CHARRNN_GUTENBERG_URL", base)
    manager = jobs.JobManager(tmp_path / "checkpoints", cache_dir=tmp_path / "corpora")
    job = manager.start(request(book=999999, steps=1000, device="cpu"))
    wait(job)
    assert job.state == "failed" and job.error.startswith("could not download Gutenberg book 999999: http")
    assert job.error.endswith("HTTP 404 (and 2 more failed attempts)")


def test_one_job_type_runs_any_kind_of_request(tmp_path, text):
    """The manager runs a request of any kind the same way: it trains itself and describes its job."""
    from dataclasses import dataclass, replace

    @dataclass
    class Toy:
        name: str
        kind = "toy"
        unit = "round"

        def renamed(self, name):
            return replace(self, name=name)

        def run(self, job, manager):
            job.state = "training"
            job.records += [{"round": 1, "score": 0.5}, {"round": 2, "score": 0.25}]
            job.state = "finished"

        def where(self, job):
            return f"toy {self.name}, round {job.progress}"

        def points(self, records):
            return [(r["round"], r["score"], "score") for r in records]

        def summary(self, job):
            return f"{job.state} {self.where(job)}"

    manager = jobs.JobManager(tmp_path / "checkpoints")
    toy = manager.start(Toy("toy"))
    wait(toy)
    assert type(toy) is jobs.Job and toy.kind == "toy" and toy.progress == 2
    assert toy.curve() == [(1, 0.5, "score"), (2, 0.25, "score")] and toy.summary() == "finished toy toy, round 2"
    lm = manager.start(tiny(text, name="fox", steps=4))
    wait(lm)
    assert type(lm) is jobs.Job and lm.kind == "char-lm" and lm.state == "finished" and lm.progress == lm.step == 4
    assert manager.stop("char-lm") is False  # nothing runs


def test_a_failing_request_of_any_kind_fails_its_job(tmp_path):
    class Broken:
        name, kind, unit = "broken", "toy", "round"

        def renamed(self, name):
            return self

        def run(self, job, manager):
            raise ZeroDivisionError("a bug")

        def summary(self, job):
            return job.error

    manager = jobs.JobManager(tmp_path / "checkpoints")
    job = manager.start(Broken())
    wait(job)
    assert job.state == "failed" and job.summary() == "ZeroDivisionError: a bug"
