"""Model folders (issue 26): `charrnn export` writes config.json + model.safetensors + README.md, every loader reads
the folder as it reads the .pt (same outputs, same checks), hostile folders are refused in one line, the shelf
lists folders, and `charrnn evaluate` scores any model on any text."""
from __future__ import annotations

import json
import pickle
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch

from charrnn import CheckpointError, Vocab, evaluate_stream, load_char_lm, shelf
from charrnn import checkpoint as ckpt
from charrnn import modelfolder
from charrnn.cli.main import main
from charrnn.export import export
from charrnn.sentiment import load_sentiment, predict
from charrnn.serve import models
from charrnn.serve.options import GenerateForm
from charrnn.web.webapp import WebApp

from .test_hostile import BY_NAME, build_hostile

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "checkpoints"
ISLAND, SST2, SARCASM = SHIPPED / "mysterious-island.pt", SHIPPED / "sst2-sentences.pt", SHIPPED / "sarcasm.pt"
needs = pytest.mark.skipif(not ISLAND.exists() or not SST2.exists() or not SARCASM.exists(),
                           reason="the shipped checkpoints are not in this checkout")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """test_hostile's files: a tiny char model and toy classifier, and .pt files that must be refused."""
    return build_hostile(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def tiny(hostile, tmp_path_factory) -> Path:
    """The tiny char model exported as a folder."""
    return export(hostile.lm, tmp_path_factory.mktemp("export") / "tiny")


def one_line_error(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and text.strip(), text
    return text


# ------------------------------------------------------------------------------------- export, shipped models


@needs
def test_island_folder_samples_exactly_as_the_pt(tmp_path, capsys):
    out = tmp_path / "island"
    assert main(["export", "--checkpoint", str(ISLAND), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    outputs = []
    for source in (ISLAND, out):
        capsys.readouterr()
        assert main(["sample", "--checkpoint", str(source), "--prompt", "The island", "--seed", "7",
                     "--length", "120"]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and outputs[0].startswith("The island")
    pt = torch.load(ISLAND, weights_only=True)
    tensors = safetensors.torch.load_file(out / "model.safetensors")
    assert tensors.keys() == pt["state_dict"].keys()
    assert all(torch.equal(tensors[k], v) for k, v in pt["state_dict"].items())
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "char-lm" and config["vocab"] == pt["vocab"] and "state_dict" not in config
    assert config["preprocessing"] == pt["preprocessing"] and config["metrics"] == pt["metrics"]
    card = (out / "README.md").read_text()
    assert "1268-0.txt" in card and "1.150 nats" in card and "load_file" in card and "charrnn sample" in card


@needs
@pytest.mark.parametrize("source", [SARCASM, SST2], ids=["classifier", "int8-ensemble"])
def test_classifier_folder_predicts_exactly_as_the_pt(source, tmp_path, capsys):
    out = export(source, tmp_path / source.stem)
    texts = ["A gripping, beautiful film.", "dull and far too long", "scientists find water is wet"]
    assert predict(load_sentiment(out), texts) == predict(load_sentiment(source), texts)
    lines = []
    for path in (source, out):
        assert main(["sentiment", "predict", "--checkpoint", str(path), *texts]) == 0
        lines.append(capsys.readouterr().out)
    assert lines[0] == lines[1] and len(lines[0].splitlines()) == 3
    pt = torch.load(source, weights_only=True)
    tensors = safetensors.torch.load_file(out / "model.safetensors")
    for k, v in pt["state_dict"].items():
        assert tensors[k].dtype == v.dtype and torch.equal(tensors[k], v)
    for k, v in (pt.get("scales") or {}).items():  # the int8 ensemble keeps its row scales
        assert torch.equal(tensors[f"scales/{k}"], v)
    assert bool(pt.get("scales")) == (source == SST2)
    assert any(v.dtype == torch.int8 for v in tensors.values()) == (source == SST2)
    config = json.loads((out / "config.json").read_text())
    assert config["classes"] == list(pt["classes"]) and config["format_version"] == pt["format_version"]
    card = (out / "README.md").read_text()
    assert "accuracy" in card and ("int8 * scale" in card) == (source == SST2)


def test_the_folder_loads_to_the_same_dict(hostile, tiny):
    pt, folder = ckpt.load(hostile.lm), ckpt.load(tiny)
    assert "optimizer" in pt and "trainer" in pt  # a resumable checkpoint: its training state is not exported
    for key in set(pt) - {"optimizer", "trainer"}:
        if key == "state_dict":
            assert pt[key].keys() == folder[key].keys()
            assert all(torch.equal(pt[key][k], folder[key][k]) for k in pt[key])
        else:
            assert json.dumps(folder[key]) == json.dumps(pt[key]), key
    assert set(folder) == set(pt) - {"optimizer", "trainer"}
    assert shelf.check_fits(folder, "tiny") is None


# ------------------------------------------------------------------------------------- atomic writing


def test_export_is_atomic_and_never_overwrites_by_accident(hostile, tmp_path, monkeypatch):
    out = tmp_path / "m"

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(modelfolder.safetensors.torch, "save_file", fail)
    with pytest.raises(OSError, match="disk full"):
        export(hostile.lm, out)
    assert list(tmp_path.iterdir()) == []  # no folder, no temporary left behind
    monkeypatch.undo()
    export(hostile.lm, out)
    before = (out / "model.safetensors").read_bytes()
    with pytest.raises(CheckpointError, match="already exists: pass --force"):
        export(hostile.sentiment, out)
    assert (out / "model.safetensors").read_bytes() == before
    export(hostile.sentiment, out, force=True)
    assert ckpt.load(out)["kind"] == "sentiment"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("mine")
    with pytest.raises(CheckpointError, match="not a model folder charrnn wrote"):
        export(hostile.lm, other, force=True)
    assert (other / "todo.txt").read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert modelfolder.is_model_folder(export(hostile.lm, empty))


def test_export_refuses_what_it_cannot_share(hostile, tmp_path):
    with pytest.raises(CheckpointError, match="weights do not fit"):
        export(hostile["shape-lm.pt"], tmp_path / "a")
    with pytest.raises(CheckpointError, match="references"):
        export(hostile["payload-lm.pt"], tmp_path / "b")
    obj = {**ckpt.load(hostile.lm), "optimizer": {}, "extra": {"t": torch.zeros(2)}}
    with pytest.raises(CheckpointError, match=r"extra\.t holds tensors outside state_dict"):
        modelfolder.write(obj, tmp_path / "c", "", "x")
    obj = {**ckpt.load(hostile.lm), "metrics": {"val_loss": float("nan")}}
    folder = modelfolder.write(obj, tmp_path / "d", "", "x")  # strict JSON: NaN as a string
    assert json.loads((folder / "config.json").read_text())["metrics"]["val_loss"] == "NaN"
    assert list(p.name for p in tmp_path.iterdir()) == ["d"]


# ------------------------------------------------------------------------------------- hostile folders


SAME_AS_PT = ["newer-lm.pt", "newer-sentiment.pt", "shape-lm.pt", "shape-sentiment.pt", "vocab-lm.pt",
              "vocab-sentiment.pt", "huge-lm.pt", "malformed-sentiment.pt", "sentiment.pt", "char-lm.pt"]


@pytest.mark.parametrize("name", SAME_AS_PT)
def test_a_folder_is_refused_exactly_as_its_pt(hostile, tmp_path, name):
    """The hostile .pt files whose content a folder can hold, written as a folder of the same name: every loader
    gives the same answer, word for word."""
    obj = torch.load(hostile[name], weights_only=True)
    folder = modelfolder.write(obj, tmp_path / name, "", name)
    for loader in (ckpt.load, load_char_lm, load_sentiment, lambda p: shelf.check_fits(ckpt.load(p), name)):
        answers = []
        for path in (hostile[name], folder):
            try:
                answers.append(("ok", type(loader(path)).__name__))
            except CheckpointError as e:
                answers.append(("refused", str(e)))
        assert answers[0] == answers[1], (loader, answers)
    if BY_NAME[name].load:
        assert re.search(BY_NAME[name].load, answers[1][1])


def _header(path: Path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def _with_header(path: Path, header: dict, body: bytes) -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + body)


def _damage(folder: Path, how: str) -> None:
    weights, config = folder / "model.safetensors", folder / "config.json"
    data = weights.read_bytes()
    header, body = _header(weights)
    first = next(k for k in header if k != "__metadata__")
    cfg = json.loads(config.read_text())
    if how == "truncated":
        weights.write_bytes(data[:-100])
    elif how == "oversized":
        weights.write_bytes(data + b"\0" * 4096)
    elif how == "header-longer-than-file":
        weights.write_bytes(struct.pack("<Q", len(data) * 2) + data[8:])
    elif how == "header-shape-lies":
        header[first]["shape"] = [s * 2 for s in header[first]["shape"]]
        _with_header(weights, header, body)
    elif how == "header-huge-tensor":  # consistent offsets for a 4 GB tensor the file does not hold
        end = header[first]["data_offsets"][0] + 4 * 2**30
        header[first].update(shape=[2**30], dtype="F32", data_offsets=[header[first]["data_offsets"][0], end])
        _with_header(weights, header, body)
    elif how == "header-not-json":
        weights.write_bytes(struct.pack("<Q", 12) + b"{not json!!}" + body)
    elif how == "header-unknown-dtype":
        header[first]["dtype"] = "F8_E4M3"
        _with_header(weights, header, body)
    elif how == "pickle-as-safetensors":
        weights.write_bytes(pickle.dumps({"kind": "char-lm", "state_dict": {}}))
    elif how == "nan-weights":
        tensors = safetensors.torch.load_file(weights)
        tensors[first] = torch.full_like(tensors[first], float("nan"))
        safetensors.torch.save_file(tensors, weights)
    elif how == "config-not-json":
        config.write_text("{'kind': 'char-lm'}")
    elif how == "config-not-utf8":
        config.write_bytes(b"\xff\xfe{}")
    elif how == "config-a-list":
        config.write_text("[1, 2, 3]")
    elif how == "config-lies-about-model":
        cfg["config"]["model"]["hidden"] = 4096
        config.write_text(json.dumps(cfg))
    elif how == "config-wrong-types":
        cfg["config"]["model"]["hidden"] = "wide"
        config.write_text(json.dumps(cfg))
    elif how == "config-version-a-string":
        cfg["format_version"] = "1"
        config.write_text(json.dumps(cfg))
    elif how == "config-vocab-a-number":
        cfg["vocab"] = 28
        config.write_text(json.dumps(cfg))
    elif how == "config-holds-weights":
        cfg["state_dict"] = {"embed.weight": [1.0]}
        config.write_text(json.dumps(cfg))
    elif how == "config-nested-deep":
        config.write_text("[" * 100_000 + "]" * 100_000)
    elif how == "config-no-kind":
        del cfg["kind"]
        config.write_text(json.dumps(cfg))
    elif how == "no-weights":
        weights.unlink()
    else:
        raise AssertionError(how)


DAMAGE = {
    "truncated": r"describes [\d,]+ bytes of tensors and the file holds [\d,]+ \(truncated",
    "oversized": r"describes [\d,]+ bytes of tensors and the file holds",
    "header-longer-than-file": r"header claims [\d,]+ bytes and the file has",
    "header-shape-lies": r"needs [\d,]+ bytes, its offsets give",
    "header-huge-tensor": r"describes [\d,]+ bytes of tensors and the file holds|gap or overlap",
    "header-not-json": r"unreadable header",
    "header-unknown-dtype": r"malformed entry",
    "pickle-as-safetensors": r"not a readable safetensors file",
    "nan-weights": r"NaN or infinite",
    "config-not-json": r"config\.json is not JSON",
    "config-not-utf8": r"config\.json is not JSON",
    "config-a-list": r"config\.json is not a JSON object",
    "config-lies-about-model": r"weights do not fit the model described by the config",
    "config-wrong-types": r"does not match a char-lm model",
    "config-version-a-string": r"has format_version '1'",
    "config-vocab-a-number": r"does not match a char-lm model",
    "config-holds-weights": r"holds 'state_dict': a model folder's weights are in model\.safetensors",
    "config-nested-deep": r"config\.json (is not JSON|is nested more than)",
    "config-no-kind": r"is not a charrnn checkpoint \(no format_version/kind\)",
    "no-weights": r"is not a charrnn model folder: it has no model\.safetensors",
}


@pytest.mark.parametrize("how", list(DAMAGE))
def test_damaged_folders_are_refused_in_one_line(tiny, tmp_path, how):
    folder = tmp_path / f"{how}-model"
    shutil.copytree(tiny, folder)
    _damage(folder, how)
    with pytest.raises(CheckpointError) as e:
        load_char_lm(folder)
    assert re.search(DAMAGE[how], one_line_error(e)) and folder.name in str(e.value)
    info = shelf.describe(folder)  # a listing shows the reason, never raises
    assert info.error and "\n" not in info.error
    assert shelf.list_checkpoints(tmp_path, "char-lm") == []


def test_oversized_config_is_refused_before_reading(tiny, tmp_path, monkeypatch):
    folder = shutil.copytree(tiny, tmp_path / "big")
    monkeypatch.setattr(modelfolder, "MAX_CONFIG_BYTES", 100)
    with pytest.raises(CheckpointError, match=r"config\.json is [\d,]+ bytes; at most 100 are read"):
        ckpt.load(folder)


def test_command_line_refuses_a_damaged_folder_in_one_line(tiny, tmp_path):
    folder = shutil.copytree(tiny, tmp_path / "bad")
    _damage(folder, "header-longer-than-file")
    r = subprocess.run([sys.executable, "-m", "charrnn", "sample", "--checkpoint", str(folder), "--prompt", "the"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stdout == ""
    assert re.fullmatch(r"charrnn sample: error: bad/model\.safetensors is not a readable safetensors file: .*\n",
                        r.stderr), r.stderr


# ------------------------------------------------------------------------------------- the shelf and the app


def test_the_shelf_lists_and_serves_folders(hostile, tiny, tmp_path):
    shelf_dir = tmp_path / "checkpoints"
    shelf_dir.mkdir()
    shutil.copytree(tiny, shelf_dir / "tiny-folder")
    export(hostile.sentiment, shelf_dir / "toy-classifier")
    (shelf_dir / "plain-dir").mkdir()  # not a model folder: not listed
    infos = {i.name: i for i in shelf.list_checkpoints(shelf_dir)}
    assert set(infos) == {"tiny-folder", "toy-classifier"}
    assert infos["tiny-folder"].kind == "char-lm" and infos["tiny-folder"].error is None
    assert infos["tiny-folder"].label.startswith("tiny-folder (repeat.txt, val loss ")
    assert infos["toy-classifier"].kind == "sentiment"
    assert shelf.resolve(shelf_dir, "tiny-folder") == (shelf_dir / "tiny-folder").resolve()
    for bad in ("plain-dir", "missing", "../checkpoints"):
        with pytest.raises(CheckpointError):
            shelf.resolve(shelf_dir, bad)
    path = models.pick(shelf_dir, "tiny-folder", "char-lm")
    cache = models.model_cache("char-lm", device="cpu")
    lm = cache.get(path)
    assert lm is cache.get(path) and lm.vocab == load_char_lm(hostile.lm).vocab
    with pytest.raises(CheckpointError, match="sentiment checkpoint, not char-lm"):
        models.pick(shelf_dir, "toy-classifier", "char-lm")
    app = WebApp(shelf_dir, device="cpu")
    assert "tiny-folder" in str(app.listing())
    *_, text = app.generate(GenerateForm.parse(prompt="the ", length=20, seed=1), "tiny-folder")
    assert text.startswith("the ") and len(text) > 4
    with pytest.raises(CheckpointError, match="is a model folder, not one file"):
        app.download("tiny-folder")


# ------------------------------------------------------------------------------------- evaluate on any text


def test_unknown_characters_are_read_as_a_stand_in_and_not_scored(hostile):
    lm = load_char_lm(hostile.lm)
    text = "the quick brown fox é jumps — over the lazy dog. " * 4
    ids, known = lm.vocab.encode_known(text)
    assert known is not None and int((~known).sum()) == 8 and lm.vocab.stand_in == " "
    assert lm.vocab.decode(ids) == text.replace("é", " ").replace("—", " ")
    clean = "the quick brown fox jumps over the lazy dog. "
    ids_all, none = lm.vocab.encode_known(clean)
    assert none is None and list(ids_all) == list(lm.vocab.encode(clean))
    result = evaluate_stream(lm.model, ids, scored=known)
    assert result.chars == len(text) - 1 - 8
    assert evaluate_stream(lm.model, ids_all).loss_nats == pytest.approx(
        evaluate_stream(lm.model, ids_all, scored=torch.ones(len(ids_all), dtype=torch.bool)).loss_nats)
    assert Vocab(("a", "b")).stand_in == "a"


@needs
def test_evaluate_scores_a_model_on_another_text(tmp_path, capsys):
    other = tmp_path / "other.txt"
    other.write_text("Café naïve — the engineer looked at the sea; the island was far.\n" * 20, encoding="utf-8")
    assert main(["evaluate", "--checkpoint", str(ISLAND), "--text", str(other)]) == 2
    err = capsys.readouterr().err
    assert "start string 'THE MYSTERIOUS ISLAND' not found" in err and "--clean none" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["evaluate", "--checkpoint", str(ISLAND), "--text", str(other), "--clean", "none", "--all"]) == 0
    captured = capsys.readouterr()
    *before, last = captured.out.strip().splitlines()
    m = re.fullmatch(r"loss_nats=(\S+) bpc=(\S+) chars=(\d+)", last)
    assert m and int(m.group(3)) == len(other.read_text(encoding="utf-8")) - 1 - 60
    assert before == ["unknown_chars=60 distinct=3 ('é' x20, 'ï' x20, '—' x20): not in the model's vocabulary, "
                      "read as ' ' and left out of the loss and chars"]
    assert "evaluating all split of other.txt (clean none)" in captured.err
    assert 0.5 < float(m.group(1)) < 4
    assert main(["evaluate", "--checkpoint", str(ISLAND), "--text", str(other), "--clean", "strip",
                 "--val-fraction", "0.5"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("unknown_chars=30 distinct=3") and re.fullmatch(r"loss_nats=\S+ bpc=\S+ chars=\d+",
                                                                                 out[-1])


def test_export_command_errors_are_one_line(hostile, tmp_path, capsys):
    (tmp_path / "a-file").write_text("x")
    assert main(["export", "--checkpoint", str(hostile.lm), "--out", str(tmp_path / "a-file" / "m")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("charrnn export: error: cannot write ") and err.count("\n") == 1
    assert main(["export", "--checkpoint", str(hostile["truncated-lm.pt"]), "--out", str(tmp_path / "m")]) == 2
    assert re.fullmatch(r"charrnn export: error: truncated-lm\.pt is not a readable checkpoint.*\n",
                        capsys.readouterr().err)
    assert main(["export", "--checkpoint", str(hostile.lm), "--out", str(tmp_path / "m")]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'm'}\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "a-file", "m"]


def test_record_writes_only_into_a_pt(hostile, tmp_path, capsys):
    folder = export(hostile.sentiment, tmp_path / "toy")
    assert main(["sentiment", "evaluate", "--checkpoint", str(folder), "--data", str(hostile.text), "--record"]) == 2
    assert "--record writes the accuracy into a .pt checkpoint" in capsys.readouterr().err
