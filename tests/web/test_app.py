"""End-to-end: app.py in a subprocess, driven through its API with gradio_client."""
import filecmp
import os
import subprocess
import sys
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from charrnn import shelf  # noqa: E402
from charrnn import checkpoint as ckpt  # noqa: E402
from charrnn.lm.sample import MAX_LENGTH  # noqa: E402

from ..apphelpers import SHIPPED, checkpoint_folder, labelled_csv, serving  # noqa: E402
from ..helpers import REPEAT  # noqa: E402

BOOK = 4242
SENTIMENT = SHIPPED / "imdb-sentiment.pt"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def gutenberg(tmp_path_factory):
    """A local stand-in for gutenberg.org holding one small book; every other ID is a 404."""
    root = tmp_path_factory.mktemp("www")
    book = root / "cache" / "epub" / str(BOOK) / f"pg{BOOK}.txt"
    book.parent.mkdir(parents=True)
    book.write_text(f"Header\n*** START OF THE PROJECT GUTENBERG EBOOK FOX ***\n{REPEAT}\n"
                    "*** END OF THE PROJECT GUTENBERG EBOOK FOX ***\nlicense\n")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def app(tmp_path_factory, gutenberg):
    base = tmp_path_factory.mktemp("app")
    folder = checkpoint_folder(base, [SENTIMENT])
    with serving(folder, base, {"CHARRNN_GUTENBERG_URL": gutenberg, "CHARRNN_CORPORA": str(base / "corpora")}) as proc:
        yield proc


@pytest.fixture(scope="module")
def client(app, tmp_path_factory):
    return app.client(tmp_path_factory.mktemp("downloads"))


def generate(client, prompt, checkpoint="tiny.pt", length=40, temperature=0.8, top_k=0, top_p=1.0, seed=1, n=1):
    return client.predict(prompt, checkpoint, length, temperature, top_k, top_p, seed, n, api_name="/generate")


def test_starts_quickly_and_prints_its_url(app):
    assert app.url.startswith("http://127.0.0.1:")
    # against what no app can avoid on this machine now: starting Python and importing torch and gradio (about the
    # whole startup alone); 15 s on a quiet machine, more only when the imports themselves are slow
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", "import torch, gradio"], check=True, timeout=600)
    imports = time.monotonic() - t0
    limit = max(15, 3 * imports)
    assert app.startup_seconds < limit, f"startup took {app.startup_seconds:.1f} s, the imports alone {imports:.1f} s"


def test_generate_continues_the_prompt_and_same_seed_gives_same_text(client):
    text = generate(client, "the quick", length=60, seed=11)
    assert text.startswith("the quick") and len(text) == len("the quick") + 60
    assert generate(client, "the quick", length=60, seed=11) == text
    assert generate(client, "the quick", length=60, seed=12) != text
    greedy = generate(client, "the quick", temperature=0, seed=-1)
    assert generate(client, "the quick", temperature=0, seed=-1) == greedy


def test_generate_streams(client):
    job = client.submit("the ", "tiny.pt", 3000, 1.0, 0, 1.0, 3, 1, api_name="/generate")
    final = job.result(timeout=300)
    partials = job.outputs()
    assert len(final) == 3004 and len(partials) >= 2
    assert all(final.startswith(p) for p in partials)


def test_generate_defaults_to_a_checkpoint_and_joins_samples(client):
    text = client.predict("the lazy", api_name="/generate")
    assert text.startswith("the lazy") and len(text) == len("the lazy") + 300
    two = generate(client, "the", n=2, length=10)
    assert two.startswith("── sample 1 ──\nthe") and "\n\n── sample 2 ──\nthe" in two


@pytest.mark.parametrize("args, message", [
    (("the €", "tiny.pt"), "does not know: '€'"),
    (("", "tiny.pt"), "prompt is empty"),
    (("the", "tiny.pt", 40, -1.0), "less than minimum value 0"),
    (("the", "tiny.pt", 40, 0.8, 0, 0.0), "less than minimum"),
    (("the", "tiny.pt", 2.5), "length must be a whole number"),
    (("the", "tiny.pt", 40, 0.8, 0, 1.0, 1.5), "seed must be a whole number"),
    (("the", "tiny.pt", 40, 0.8, 2.5), "top-k must be a whole number"),
    (("the", "../tiny.pt"), "not a checkpoint name"),
    (("the", "missing.pt"), "no checkpoint named 'missing.pt'"),
])
def test_bad_generate_input_gets_a_short_message(client, args, message):
    with pytest.raises(AppError, match=message) as e:
        generate(client, *args)
    assert "Traceback" not in str(e.value) and len(str(e.value)) < 200


def test_too_long_is_clamped(client):
    text = generate(client, "the", length=MAX_LENGTH + 5000, temperature=1.0)
    assert len(text) == 3 + MAX_LENGTH


def confidences(label: dict) -> dict:
    return {c["label"]: c["confidence"] for c in label["confidences"]}


def test_sentiment_label_with_a_toy_classifier(app, client):
    if not (app.folder / "toy-sentiment.pt").is_file():
        pytest.skip("charrnn.sentiment could not train a toy classifier (its API changed?)")
    good = client.predict("a good great film", "toy-sentiment.pt", api_name="/sentiment")
    bad = client.predict("an awful boring plot", "toy-sentiment.pt", api_name="/sentiment")
    p, q = confidences(good), confidences(bad)
    assert set(p) == {"positive", "negative"} and abs(p["positive"] + p["negative"] - 1) < 1e-6
    assert p["positive"] > q["positive"]
    assert good["label"] == max(p, key=p.get)


def test_sentiment(client):
    if not SENTIMENT.is_file():
        pytest.skip(f"{SENTIMENT} is absent: the shipped sentiment checkpoint is needed to check the classifier")
    good = client.predict("A wonderful, moving film with superb acting. I loved it.", SENTIMENT.name,
                          api_name="/sentiment")
    bad = client.predict("Dull, stupid and badly acted. A waste of time, the worst film this year.", SENTIMENT.name,
                         api_name="/sentiment")
    p, q = confidences(good), confidences(bad)
    assert good["label"] == "positive" and p["positive"] > 0.5
    assert bad["label"] == "negative" and q["positive"] < 0.5


def test_sentiment_refuses_empty_text_unknown_words_and_wrong_kind(client):
    with pytest.raises(AppError, match="text is empty"):
        client.predict("   ", api_name="/sentiment")
    with pytest.raises(AppError, match="no known words: the classifier has nothing to go on"):
        client.predict("zzzq qqqz", "toy-sentiment.pt", api_name="/sentiment")
    with pytest.raises(AppError, match="no known words"):
        client.predict("zzzq qqqz", "toy-sentiment.pt", api_name="/explain")
    with pytest.raises(AppError, match="tiny.pt is a char-lm checkpoint, not sentiment"):
        client.predict("Great film", "tiny.pt", api_name="/sentiment")


def test_training_on_uploaded_texts_adds_a_checkpoint(app, client, tmp_path):
    text, other = tmp_path / "fox.txt", tmp_path / "dog.txt"
    text.write_text(REPEAT)
    other.write_text(REPEAT.upper())
    status, plot = client.predict(["1268"], [handle_file(str(text)), handle_file(str(other))], "fox", "lstm", 16, 1,
                                  30, 8, 20, 0.01, api_name="/train")
    assert status.startswith("Finished fox on fox.txt, dog.txt at step 30/30") and "Saved as fox.pt" in status
    assert {row[2] for row in plot["value"]["data"]} == set(plot["colors_in_legend"]) == {"train", "validation"}
    names = {i.name: i for i in shelf.list_checkpoints(app.folder)}
    assert names["fox.pt"].kind == "char-lm" and names["fox.pt"].steps == 30
    assert not [n for n in names if ".best" in n] and (app.folder / "fox.log.jsonl").is_file()
    assert generate(client, "the fox", checkpoint="fox.pt").startswith("the fox")
    files = ckpt.load(app.folder / "fox.pt")["preprocessing"]["files"]
    assert files == ["fox.txt", "dog.txt"]  # one corpus of two files, each held out


def test_training_can_start_from_a_character_model_of_the_folder(app, client, tmp_path):
    text = tmp_path / "greek.txt"
    text.write_text("ΑΒΓΔ the fox. " * 60)
    status, _ = client.predict(None, [handle_file(str(text))], "greek", "gru", 16, 3, 10, 8, 20, 0.01, 0, "tiny.pt",
                               api_name="/train")  # the form's sizes (gru, 16 x 3) give way to tiny.pt's
    assert status.startswith("Finished greek on greek.txt at step 10/10"), status
    saved = ckpt.load(app.folder / "greek.pt")
    assert saved["metrics"]["init_from"]["file"] == "tiny.pt" and saved["metrics"]["init_from"]["chars_added"] == 4
    assert saved["config"]["model"]["hidden"] == ckpt.load(app.folder / "tiny.pt")["config"]["model"]["hidden"]


def test_a_classifier_trained_on_an_uploaded_csv_is_picked_classifies_and_explains(app, client, tmp_path):
    data = handle_file(str(labelled_csv(tmp_path / "films.csv")))
    table, *found, summary = client.predict(data, "auto", None, None, api_name="/preview_dataset")
    fmt, text, label = (update["value"] for update in found)  # the dropdowns' updates: value and choices
    assert (fmt, text, label) == ("csv", "text", "label") and table["headers"] == ["id", "text", "label"]
    assert found[1]["choices"] == [["id", "id"], ["text", "text"], ["label", "label"]]
    assert len(table["data"]) == 5 and "classes: dull (100 rows) / fun (100 rows)" in summary
    status, plot, menu = client.predict(data, fmt, text, label, "films", "best", 2, 8, 8, 8, 0.02, "0.25",
                                        api_name="/train_classifier")
    name = menu["value"]  # the classifier dropdown, the new one selected
    assert name == "films.pt" and status.startswith("Finished classifier films on films.csv (dull / fun)")
    assert any(label.startswith("films.pt — dull / fun — val accuracy ") and value == name
               for label, value in menu["choices"])
    assert {row[2] for row in plot["value"]["data"]} == {"train loss", "validation accuracy"}
    assert shelf.describe(app.folder / name).classes == ("dull", "fun")
    assert ckpt.load(app.folder / name)["config"]["train"]["lexicon"] == 0.25  # recorded (dull/fun get none)
    fun = confidences(client.predict("a great wonderful film", name, api_name="/sentiment"))
    dull = confidences(client.predict("a boring awful film", name, api_name="/sentiment"))
    assert set(fun) == {"dull", "fun"} and fun["fun"] > dull["fun"]
    words, running = client.predict("not a great film", name, api_name="/explain")
    assert words["label"] == "Each word's pull: red towards fun, purple towards dull"
    scored = [(w["token"], w["class_or_confidence"]) for w in words["value"] if w["class_or_confidence"] is not None]
    assert [t for t, _ in scored] == ["not", "a", "great", "film"] and all(-1 <= c <= 1 for _, c in scored)
    assert [row[0] for row in running["value"]["data"]] == [1, 2, 3, 4]


@pytest.mark.parametrize("content, message", [
    (b"text,label\n" + b"".join(b"t,%d\n" % i for i in range(101)), "101 label values in column 'label'"),
    (b"text,label\na,pos\nb,pos\n", "every row is labelled 'pos'"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 100, "is not a text file"),
])
def test_bad_classifier_data_gets_a_clear_message_and_nothing_is_written(app, client, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    before = sorted(p.name for p in app.folder.iterdir())
    with pytest.raises(AppError, match=message) as e:
        client.predict(handle_file(str(path)), "auto", None, None, api_name="/preview_dataset")
    assert "Traceback" not in str(e.value) and str(tmp_path) not in str(e.value)
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(str(path)), "auto", None, None, "bad", "best", 1, 8, 8, 8, 0.02,
                       api_name="/train_classifier")
    assert sorted(p.name for p in app.folder.iterdir()) == before


def test_unfetchable_book_gets_a_clear_message(client):
    with pytest.raises(AppError, match="could not download Gutenberg book 999"):
        client.predict(["999"], None, "x", "lstm", 16, 1, 10, 8, 20, 0.01, api_name="/train")
    with pytest.raises(AppError, match="hidden must be a whole number from 8"):
        client.predict(["1268"], None, "x", "lstm", 4, 1, 10, 8, 20, 0.01, api_name="/train")


def test_one_job_at_a_time_stop_keeps_the_model_and_generation_stays_responsive(app, client):
    job = client.submit([str(BOOK)], None, "", "gru", 16, 1, 100_000, 8, 20, 0.01, api_name="/train")
    deadline = time.time() + 600
    while not any("step" in (o[0] if isinstance(o, (list, tuple)) else "") for o in job.outputs()):
        assert time.time() < deadline and not job.done(), job.outputs()
        time.sleep(0.2)
    with pytest.raises(AppError, match="already running"):
        client.predict(["1268"], None, "", "lstm", 16, 1, 10, 8, 20, 0.01, api_name="/train")
    t0 = time.monotonic()
    assert generate(client, "the", length=20).startswith("the")
    assert not job.done(), "generation waited for the training job to end"
    assert time.monotonic() - t0 < 120  # a fraction of a second alone; generous for a loaded machine
    client.predict(api_name="/stop_training")
    status, _ = job.result(timeout=300)
    assert status.startswith(f"Stopped gutenberg-{BOOK}-h16 on Gutenberg book {BOOK} at step")
    info = shelf.describe(app.folder / f"gutenberg-{BOOK}-h16.pt")
    assert info.kind == "char-lm" and info.corpus == f"gutenberg:{BOOK}" and info.steps >= 1


def test_download_is_byte_identical_and_confined_to_the_folder(app, client):
    path = client.predict("tiny.pt", api_name="/download")
    assert filecmp.cmp(path, app.folder / "tiny.pt", shallow=False)
    for name in ("../checkpoints/tiny.pt", "/etc/passwd", ".train"):
        with pytest.raises(AppError, match="not a checkpoint name|outside"):
            client.predict(name, api_name="/download")


def test_uploads_are_validated(app, client, tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(AppError, match="Upload refused: junk.pt is not a readable checkpoint"):
        client.predict(handle_file(str(junk)), api_name="/upload")
    good = ckpt.load(app.folder / "tiny.pt")
    torch.save({**good, "kind": "other"}, tmp_path / "other.pt")
    with pytest.raises(AppError, match="Upload refused: other.pt is of kind 'other'"):
        client.predict(handle_file(str(tmp_path / "other.pt")), api_name="/upload")
    torch.save({**good, "extra": shelf.CheckpointInfo}, tmp_path / "code.pt")
    with pytest.raises(AppError, match="Upload refused: code.pt was refused"):
        client.predict(handle_file(str(tmp_path / "code.pt")), api_name="/upload")
    assert not {"junk.pt", "other.pt", "code.pt"} & {p.name for p in app.folder.iterdir()}

    ckpt.save({**good, "metrics": {**good["metrics"], "steps": 7}}, tmp_path / "tiny.pt")
    assert client.predict(handle_file(str(tmp_path / "tiny.pt")), api_name="/upload") == (
        "accepted char-lm checkpoint tiny-2.pt (saved as tiny-2.pt: the name was taken)")
    assert shelf.describe(app.folder / "tiny-2.pt").steps == 7
    assert generate(client, "the", checkpoint="tiny-2.pt").startswith("the")


def test_command_line_options(monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("charrnn_app", SHIPPED.parent / "app.py")
    app_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app_module)
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.setenv("GRADIO_SERVER_PORT", "8123")
    args = app_module.parse_args([])
    assert (args.host, args.port, args.share, args.device) == ("127.0.0.1", 8123, False, "auto")
    assert args.checkpoints == str(SHIPPED)
    args = app_module.parse_args(["--host", "0.0.0.0", "--port", "9000", "--checkpoints", "x", "--share"])
    assert (args.host, args.port, args.checkpoints, args.share) == ("0.0.0.0", 9000, "x", True)
