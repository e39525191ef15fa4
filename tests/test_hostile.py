"""Hostile checkpoints: every entry point that loads a .pt refuses them with a clear message, and no payload runs.

One set of hostile files is built per module (code payloads, truncated and random bytes, the wrong kind, shapes and
vocabularies that do not fit, a newer format, malformed fields) and fed to the Python API, the command line (as
subprocesses) and the web app (its checkpoint dropdowns and its upload), which is launched once.
"""
from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from charrnn import CheckpointError, Corpus, load_char_lm, shelf

from charrnn.serve import models

from charrnn import train
from charrnn import checkpoint as ckpt
from charrnn.kinds import CHAR_LM, SENTIMENT
from charrnn.sentiment import load_sentiment
from charrnn.web.webapp import WebApp

from .apphelpers import ROOT, serving, tiny_sentiment
from .helpers import REPEAT, tiny_config, train_tiny

LM, SENT = CHAR_LM, SENTIMENT
REFUSED = r"was refused: it references (io\.open|builtins\.open|builtins\.exec|exec)\b.*loading it could run code"
UNREADABLE = r"is not a readable checkpoint \(truncated or corrupt\?\)"
NEWER = rf"has format_version {ckpt.READS_UP_TO + 1}; this charrnn reads up to {ckpt.READS_UP_TO}"
NOT_CHARRNN = r"is not a charrnn checkpoint \(no format_version/kind\)"
NOT_FIT = r"weights do not fit the model described by the config"


def wrong_kind(found: str, expected: str) -> str:
    """The loaders say "'x' checkpoint, expected 'y'"; the app's picker "x checkpoint, not y"."""
    return rf"'?{found}'? checkpoint, (expected|not) '?{expected}'?"


@dataclass(frozen=True)
class Hostile:
    """One hostile file: how each kind of loader must refuse it (a regex; None: it is a valid file of that kind)."""

    name: str
    own: str | None  # the kind it pretends to be (None: no kind at all)
    lm: str | None
    sentiment: str | None
    load: str | None  # checkpoint.load(path) without a kind; None: the format is fine, the model is not
    resume: str | None = None  # train(..., resume=True); None: not tried

    def expect(self, kind: str) -> str | None:
        return self.lm if kind == LM else self.sentiment


HOSTILE = [
    Hostile("payload-lm.pt", LM, REFUSED, REFUSED, REFUSED, REFUSED),
    Hostile("payload-sentiment.pt", SENT, REFUSED, REFUSED, REFUSED),
    Hostile("payload-bare.pt", None, REFUSED, REFUSED, REFUSED),
    Hostile("payload-pickle.pt", None, REFUSED, REFUSED, REFUSED, REFUSED),
    Hostile("truncated-lm.pt", LM, UNREADABLE, UNREADABLE, UNREADABLE, UNREADABLE),
    Hostile("truncated-sentiment.pt", SENT, UNREADABLE, UNREADABLE, UNREADABLE),
    Hostile("random.pt", None, UNREADABLE, UNREADABLE, UNREADABLE, UNREADABLE),
    Hostile("empty.pt", None, UNREADABLE, UNREADABLE, UNREADABLE),
    Hostile("not-a-dict.pt", None, NOT_CHARRNN, NOT_CHARRNN, NOT_CHARRNN),
    Hostile("newer-lm.pt", LM, NEWER, NEWER, NEWER, NEWER),
    Hostile("newer-sentiment.pt", SENT, NEWER, NEWER, NEWER),
    Hostile("sentiment.pt", SENT, wrong_kind(SENT, LM), None, None, wrong_kind(SENT, LM)),
    Hostile("char-lm.pt", LM, None, wrong_kind(LM, SENT), None),
    Hostile("shape-lm.pt", LM, NOT_FIT, wrong_kind(LM, SENT), None, r"does not match|do not fit"),
    Hostile("shape-sentiment.pt", SENT, wrong_kind(SENT, LM), NOT_FIT, None),
    Hostile("vocab-lm.pt", LM, r"vocabulary has 29 characters but the model expects 28", wrong_kind(LM, SENT), None,
            r"does not match|do not fit"),
    Hostile("vocab-sentiment.pt", SENT, wrong_kind(SENT, LM), r"vocabulary has \d+ words but the model expects \d+",
            None),
    # a config asking for a 60,000-wide LSTM with tiny weights: refused before any memory is allocated
    Hostile("huge-lm.pt", LM, NOT_FIT, wrong_kind(LM, SENT), None, r"does not match|do not fit"),
    Hostile("malformed-lm.pt", LM, r"does not match a char-lm model", wrong_kind(LM, SENT), None,
            r"does not match|do not fit|is damaged"),
    Hostile("malformed-sentiment.pt", SENT, wrong_kind(SENT, LM), r"is not a usable sentiment checkpoint", None),
]
BY_NAME = {h.name: h for h in HOSTILE}
VALID = {LM: "char-lm.pt", SENT: "sentiment.pt"}  # the file that is of that kind and fine


class _Payload:
    """Unpickling this creates the marker file (or runs `code`)."""

    def __init__(self, target: str, code: str | None = None):
        self.target, self.code = target, code

    def __reduce__(self):
        if self.code:
            return (exec, (self.code,))
        return (open, (self.target, "w"))


@dataclass
class Files:
    folder: Path  # the hostile files
    marker: Path  # must never exist
    lm: Path  # a good char-lm checkpoint (with optimizer state: resumable), trained on REPEAT
    sentiment: Path  # a good toy sentiment checkpoint
    text: Path  # REPEAT as a file, the corpus `lm` was trained on

    def __getitem__(self, name: str) -> Path:
        return self.folder / name


def build_hostile(base: Path) -> Files:
    good = base / "good"
    good.mkdir()
    train_tiny(good / "tiny.pt", steps=20, eval_every=20, save_every=20)
    sent = tiny_sentiment(good / "toy-sentiment.pt")
    assert sent is not None, "could not train a toy sentiment checkpoint"
    text = good / "repeat.txt"
    text.write_text(REPEAT)
    folder = base / "hostile"
    folder.mkdir()
    marker = base / "pwned"
    lm_obj = ckpt.load(good / "tiny.pt", kind=LM)
    s_obj = ckpt.load(sent, kind=SENT)
    lm_bytes, s_bytes = (good / "tiny.pt").read_bytes(), sent.read_bytes()

    def save(name: str, obj) -> None:
        torch.save(obj, folder / name)

    save("payload-lm.pt", {**lm_obj, "extra": _Payload(str(marker))})
    save("payload-sentiment.pt", {**s_obj, "metrics": {"val_accuracy": _Payload(str(marker))}})
    save("payload-bare.pt", _Payload(str(marker), f"open({str(marker)!r}, 'w')"))
    (folder / "payload-pickle.pt").write_bytes(pickle.dumps(_Payload(str(marker))))
    (folder / "truncated-lm.pt").write_bytes(lm_bytes[: len(lm_bytes) // 2])
    (folder / "truncated-sentiment.pt").write_bytes(s_bytes[: len(s_bytes) // 3])
    (folder / "random.pt").write_bytes(os.urandom(4096))
    (folder / "empty.pt").write_bytes(b"")
    save("not-a-dict.pt", [torch.zeros(3), "kind", 1])
    save("newer-lm.pt", {**lm_obj, "format_version": ckpt.READS_UP_TO + 1})
    save("newer-sentiment.pt", {**s_obj, "format_version": ckpt.READS_UP_TO + 1})
    shutil.copyfile(sent, folder / "sentiment.pt")
    shutil.copyfile(good / "tiny.pt", folder / "char-lm.pt")

    def with_model(obj: dict, **changes) -> dict:
        return {**obj, "config": {**obj["config"], "model": {**obj["config"]["model"], **changes}}}

    save("shape-lm.pt", with_model(lm_obj, hidden=lm_obj["config"]["model"]["hidden"] + 16))
    save("shape-sentiment.pt", with_model(s_obj, hidden=s_obj["config"]["model"]["hidden"] + 8))
    assert len(lm_obj["vocab"]) == 28 and "~" not in lm_obj["vocab"]
    save("vocab-lm.pt", {**lm_obj, "vocab": [*lm_obj["vocab"], "~"]})  # the corpus still encodes: resume must check
    save("vocab-sentiment.pt", {**s_obj, "vocab": [*s_obj["vocab"], "zzzextra", "zzzmore"]})
    save("huge-lm.pt", with_model(lm_obj, hidden=60_000))
    save("malformed-lm.pt", {**lm_obj, "state_dict": [1, 2, 3], "metrics": [1, 2]})
    save("malformed-sentiment.pt", {**s_obj, "tokenizer": "bert", "metrics": "accurate"})
    assert {p.name for p in folder.iterdir()} == set(BY_NAME)
    assert not marker.exists()
    return Files(folder, marker, good / "tiny.pt", sent, text)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Files:
    return build_hostile(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(autouse=True)
def payload_never_runs(files):
    assert not files.marker.exists()
    yield
    assert not files.marker.exists(), "a checkpoint's pickle payload ran"


def names(kind: str | None = None, resume: bool = False, load: bool = False, own: tuple = ()) -> list[str]:
    """The hostile files that an entry point expecting `kind` must refuse."""
    out = []
    for h in HOSTILE:
        if resume and h.resume is None or load and h.load is None or kind and h.expect(kind) is None:
            continue
        if own and h.own not in own:
            continue
        out.append(h.name)
    return out


# ---------------------------------------------------------------- Python API


@pytest.mark.parametrize("name", names(load=True))
def test_checkpoint_load_refuses(files, name):
    with pytest.raises(CheckpointError, match=BY_NAME[name].load) as e:
        ckpt.load(files[name])
    assert name in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("name", names(LM))
def test_load_char_lm_refuses(files, name):
    with pytest.raises(CheckpointError, match=BY_NAME[name].lm) as e:
        load_char_lm(files[name])
    assert name in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("name", names(SENT))
def test_load_sentiment_refuses(files, name):
    with pytest.raises(CheckpointError, match=BY_NAME[name].sentiment) as e:
        load_sentiment(files[name])
    assert name in str(e.value) and "\n" not in str(e.value)


def test_the_valid_files_load(files):
    """The hostile files are made from these two: the refusals above are not about the base files."""
    assert load_char_lm(files[VALID[LM]]).vocab.chars == tuple(ckpt.load(files.lm)["vocab"])
    assert load_sentiment(files[VALID[SENT]]).vocab.words[:2] == ["<pad>", "<unk>"]


@pytest.mark.parametrize("name", names(resume=True))
def test_train_resume_refuses(files, name, tmp_path):
    out = tmp_path / name
    shutil.copyfile(files[name], out)
    before = out.read_bytes()
    corpus = Corpus(REPEAT, "repeat.txt", {"clean": "none"})
    with pytest.raises(CheckpointError, match=BY_NAME[name].resume):
        train(corpus, None, tiny_config(steps=40), out=out, resume=True, progress=False)
    assert out.read_bytes() == before, "a refused checkpoint must be left as it was"


def test_shelf_lists_describes_and_picks(files):
    """Listing a folder of hostile files never fails; they are described with their error and never offered."""
    infos = {i.name: i for i in shelf.list_checkpoints(files.folder)}
    assert set(infos) == set(BY_NAME)
    for h in HOSTILE:
        info = infos[h.name]
        if h.name in VALID.values():
            assert info.error is None and info.kind == h.own
        else:
            assert info.error and re.search(h.expect(h.own or LM), info.error), (h.name, info.error)
    assert [i.name for i in shelf.list_checkpoints(files.folder, LM)] == [VALID[LM]]
    assert [i.name for i in shelf.list_checkpoints(files.folder, SENT)] == [VALID[SENT]]
    for kind in (LM, SENT):
        assert models.pick(files.folder, None, kind).name == VALID[kind]
        for name in names(kind):
            with pytest.raises(CheckpointError, match=BY_NAME[name].expect(kind)):
                models.pick(files.folder, name, kind)


@pytest.mark.parametrize("name", [h.name for h in HOSTILE if h.name not in VALID.values()])
def test_accept_upload_refuses_and_keeps_nothing(files, name, tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    h = BY_NAME[name]
    with pytest.raises(CheckpointError, match=h.expect(h.own or LM)):
        shelf.accept_upload(files[name], folder, name)
    assert list(folder.iterdir()) == []


# ---------------------------------------------------------------- command line, as subprocesses

CLI_CASES: list[tuple[str, str]] = (
    [("sample", n) for n in names(LM, own=(LM, None)) + [VALID[SENT]]]
    + [("sentiment predict", n) for n in names(SENT, own=(SENT, None)) + [VALID[LM]]]
    + [("evaluate", n) for n in ("payload-lm.pt", VALID[SENT])]
    + [("sentiment evaluate", n) for n in ("payload-sentiment.pt", "vocab-sentiment.pt")]
    + [("train --resume", n) for n in ("payload-lm.pt", "truncated-lm.pt", "newer-lm.pt", "shape-lm.pt", "vocab-lm.pt")]
)
CLI_PARAMS = CLI_CASES


def cli_args(command: str, path: Path, files: Files) -> list[str]:
    if command == "sample":
        return ["sample", "--checkpoint", str(path), "--prompt", "the", "--length", "5"]
    if command == "evaluate":
        return ["evaluate", "--checkpoint", str(path), "--text", str(files.text)]
    if command == "sentiment predict":
        return ["sentiment", "predict", "--checkpoint", str(path), "a good film"]
    if command == "sentiment evaluate":  # the checkpoint is read before the data, which does not exist
        return ["sentiment", "evaluate", "--checkpoint", str(path), "--data", str(files.folder / "no-imdb.tar.gz")]
    if command == "train --resume":
        return ["train", "--text", str(files.text), "--clean", "none", "--resume", "--out", str(path), "--quiet",
                "--device", "cpu"]
    raise AssertionError(command)


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str
    unchanged: bool


@pytest.fixture(scope="module")
def cli_runs(files, tmp_path_factory) -> dict[tuple[str, str], CliRun]:
    """Every CLI case, run up front two at a time (each subprocess spends ~1.5 s importing torch)."""
    base = tmp_path_factory.mktemp("cli")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}

    def run(i: int, case: tuple[str, str]) -> CliRun:
        command, name = case
        work = base / str(i)
        work.mkdir()
        path = work / name  # a copy: a resumed run writes beside its checkpoint
        shutil.copyfile(files[name], path)
        proc = subprocess.run([sys.executable, "-m", "charrnn", *cli_args(command, path, files)], cwd=work, env=env,
                              capture_output=True, text=True, timeout=600)
        return CliRun(proc.returncode, proc.stdout, proc.stderr, path.read_bytes() == files[name].read_bytes())

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, range(len(CLI_CASES)), CLI_CASES))
    return dict(zip(CLI_CASES, results))


@pytest.mark.parametrize("command, name", CLI_PARAMS)
def test_cli_refuses(cli_runs, command, name):
    r = cli_runs[command, name]
    kind = SENT if command.startswith("sentiment") else LM
    expected = BY_NAME[name].resume if command == "train --resume" else BY_NAME[name].expect(kind)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.code == 2, (r.code, r.stderr)
    errors = [line for line in r.stderr.splitlines() if "error:" in line]
    prog = f"charrnn {command.split()[0]}"
    assert len(errors) == 1 and errors[0].startswith(f"{prog}: error: "), r.stderr
    assert r.stderr.strip().splitlines()[-1] == errors[0], "the error is the last thing printed"
    assert re.search(expected, errors[0]), (expected, errors[0])
    assert r.stdout == "" or command == "train --resume"
    assert r.unchanged, "a refused checkpoint must be left as it was"


# ---------------------------------------------------------------- the web app, launched once


@pytest.fixture(scope="module")
def app(files, tmp_path_factory):
    pytest.importorskip("gradio_client")
    base = tmp_path_factory.mktemp("app")
    folder = base / "checkpoints"
    folder.mkdir()
    shutil.copyfile(files.lm, folder / "tiny.pt")
    shutil.copyfile(files.sentiment, folder / "toy-sentiment.pt")
    for h in HOSTILE:  # copied after the good ones, so the hostile files are the newest
        shutil.copyfile(files[h.name], folder / h.name)
    with serving(folder, base) as proc:
        yield proc


@pytest.fixture(scope="module")
def client(app, tmp_path_factory):
    return app.client(tmp_path_factory.mktemp("downloads"))


def app_error(call, expected: str):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as e:
        call()
    message = str(e.value)
    assert re.search(expected, message), (expected, message)
    assert "Traceback" not in message and "\n" not in message.strip() and len(message) < 400, message
    return message


def test_app_lists_the_folder_and_defaults_to_good_checkpoints(app, client):
    """The app started with the hostile files in its folder, and with no checkpoint named it uses the good ones."""
    assert "Traceback" not in "".join(app.lines)
    text = client.predict("the", None, 20, 0.8, 0, 1.0, 1, 1, api_name="/generate")
    assert text.startswith("the") and len(text) == 23
    label = client.predict("a good great film", None, api_name="/sentiment")
    assert label["label"] in ("positive", "negative")
    assert [i.name for i in shelf.list_checkpoints(app.folder, LM)] == ["char-lm.pt", "tiny.pt"]
    assert [i.name for i in shelf.list_checkpoints(app.folder, SENT)] == ["sentiment.pt", "toy-sentiment.pt"]


def test_app_refresh_lists_only_usable_checkpoints(app):
    """The checkpoint lists the app rebuilds on page load, tab switch and upload (a private endpoint, so built
    in-process on the same folder): dropdowns offer only usable checkpoints, the table shows every file."""
    from charrnn.web.ui import refresh_outputs

    listing = WebApp(app.folder, device="cpu").listing("payload-lm.pt", "vocab-sentiment.pt", None)
    lm, sentiment, download, table = refresh_outputs(listing)  # as the dropdowns and table receive them
    assert [value for _, value in lm.choices] == ["char-lm.pt", "tiny.pt"] and lm.value == "char-lm.pt"
    assert [value for _, value in sentiment.choices] == ["sentiment.pt", "toy-sentiment.pt"]
    assert sentiment.value == "sentiment.pt"
    assert {value for _, value in download.choices} == set(BY_NAME) | {"tiny.pt", "toy-sentiment.pt"}
    rows = {row[0]: row for row in table}
    assert set(rows) == set(BY_NAME) | {"tiny.pt", "toy-sentiment.pt"}
    for h in HOSTILE:
        if h.name not in VALID.values():
            assert re.search(h.expect(h.own or LM), rows[h.name][5]), rows[h.name]


@pytest.mark.parametrize("name", names(LM))
def test_app_generate_refuses(client, name):
    app_error(lambda: client.predict("the", name, 20, 0.8, 0, 1.0, 1, 1, api_name="/generate"), BY_NAME[name].lm)


@pytest.mark.parametrize("name", names(SENT))
def test_app_sentiment_refuses(client, name):
    app_error(lambda: client.predict("a good film", name, api_name="/sentiment"), BY_NAME[name].sentiment)


@pytest.mark.parametrize("name", [h.name for h in HOSTILE if h.name not in VALID.values()])
def test_app_upload_refuses_and_keeps_nothing(app, client, files, name, tmp_path):
    from gradio_client import handle_file

    before = sorted(p.name for p in app.folder.iterdir())
    upload = tmp_path / f"up-{name}"
    shutil.copyfile(files[name], upload)
    h = BY_NAME[name]
    app_error(lambda: client.predict(handle_file(str(upload)), api_name="/upload"),
              rf"Upload refused: up-{re.escape(name)}.*({h.expect(h.own or LM)})")
    assert sorted(p.name for p in app.folder.iterdir()) == before


def test_app_keeps_working_after_the_hostile_calls(app, client):
    assert client.predict("the", "tiny.pt", 10, 0.8, 0, 1.0, 1, 1, api_name="/generate").startswith("the")
    assert client.predict("a good film", "toy-sentiment.pt", api_name="/sentiment")["label"]
    assert "Traceback" not in "".join(app.lines), "".join(app.lines)[-3000:]
