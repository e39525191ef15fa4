"""--tensorboard DIR on charrnn train and charrnn sentiment train: event files holding the log's scalars, read back
with TensorBoard's own reader; without the package, one line saying how to install it, before any training."""
from __future__ import annotations

import json
import math
import sys

import pytest

from charrnn import checkpoint as ckpt
from charrnn.cli import main

from .apphelpers import labelled_csv
from .helpers import REPEAT

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                                        reason="the tensorboard extra is not installed")


def scalars(folder) -> dict[str, dict[int, float]]:
    """Every scalar in the event files under `folder`: tag -> {step: value}."""
    acc = event_accumulator.EventAccumulator(str(folder))
    acc.Reload()
    return {tag: {e.step: e.value for e in acc.Scalars(tag)} for tag in acc.Tags()["scalars"]}


def test_train_writes_the_logs_scalars(tmp_path):
    (tmp_path / "book.txt").write_text(REPEAT)
    assert main(["train", "--text", str(tmp_path / "book.txt"), "--steps", "6", "--batch-size", "8", "--seq-len", "16",
                 "--embed", "8", "--hidden", "16", "--log-every", "2", "--eval-every", "3", "--warmup", "0",
                 "--device", "cpu", "--quiet", "--out", str(tmp_path / "m.pt"),
                 "--tensorboard", str(tmp_path / "tb")]) == 0
    found = scalars(tmp_path / "tb")
    log = [json.loads(line) for line in (tmp_path / "m.log.jsonl").read_text().splitlines()]
    train = {r["step"]: r for r in log if "train_loss" in r}
    val = {r["step"]: r for r in log if "val_loss" in r}
    assert sorted(train) == [2, 4, 6] and sorted(val) == [3, 6]
    assert found["loss/train"] == pytest.approx({s: r["train_loss"] for s, r in train.items()})
    assert found["bpc/train"] == pytest.approx({s: r["train_loss"] / math.log(2) for s, r in train.items()})
    assert found["lr"] == pytest.approx({s: r["lr"] for s, r in train.items()})
    assert found["loss/val"] == pytest.approx({s: r["val_loss"] for s, r in val.items()})
    assert found["bpc/val"] == pytest.approx({s: r["val_bpc"] for s, r in val.items()})
    assert found["chars_per_second"] == pytest.approx({s: r["chars_per_second"] for s, r in train.items()})
    assert all(v > 0 for v in found["chars_per_second"].values())


def test_sentiment_train_writes_each_epochs_scalars(tmp_path):
    data = labelled_csv(tmp_path / "labelled.csv", n=40)
    out = tmp_path / "cls.pt"
    assert main(["sentiment", "train", "--data", str(data), "--preset", "book", "--epochs", "2", "--embed", "8",
                 "--hidden", "8", "--fc", "8", "--device", "cpu", "--quiet", "--out", str(out),
                 "--tensorboard", str(tmp_path / "tb")]) == 0
    found = scalars(tmp_path / "tb")
    history = {r["epoch"]: r for r in ckpt.load(out)["metrics"]["history"]}
    assert sorted(history) == [1, 2]
    for tag, key in (("loss/train", "train_loss"), ("accuracy/val", "val_accuracy"), ("lr", "lr"),
                     ("examples_per_second", "examples_per_second")):
        assert found[tag] == pytest.approx({e: r[key] for e, r in history.items()}), tag


def test_without_tensorboard_the_error_is_one_line_and_nothing_trains(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if the package were not installed
    (tmp_path / "book.txt").write_text(REPEAT)
    assert main(["train", "--text", str(tmp_path / "book.txt"), "--steps", "2", "--out", str(tmp_path / "m.pt"),
                 "--tensorboard", str(tmp_path / "tb")]) == 2
    assert capsys.readouterr().err == ("charrnn train: error: --tensorboard needs the tensorboard package: "
                                       "pip install 'charrnn-studio[tensorboard]'\n")
    assert not (tmp_path / "m.pt").exists()
    assert main(["sentiment", "train", "--data", "x.csv", "--tensorboard", str(tmp_path / "tb")]) == 2
    assert "charrnn sentiment: error: --tensorboard needs the tensorboard package" in capsys.readouterr().err
