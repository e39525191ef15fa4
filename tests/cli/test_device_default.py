"""Every command that runs a model, and the Python loaders, default to --device auto (CUDA, then MPS, then the CPU).

The device choice is stubbed: each module's `pick_device` records the name it is asked for and answers the CPU, so
the test sees what would be chosen on any machine.
"""
from __future__ import annotations

import sys

import pytest
import torch

from charrnn import device as device_module
from charrnn.cli import main
from charrnn.lm.charlm import load_char_lm
from charrnn.sentiment.kind import load_sentiment

from ..apphelpers import labelled_csv
from ..helpers import REPEAT, train_tiny


@pytest.fixture()
def asked(monkeypatch) -> list[str]:
    """The device names asked of pick_device, wherever in charrnn it was imported."""
    names: list[str] = []

    def fake(name: str = "auto") -> torch.device:
        names.append(name)
        return torch.device("cpu")

    real = device_module.pick_device
    for module in [m for n, m in sys.modules.items() if n.startswith("charrnn") and m is not None]:
        if getattr(module, "pick_device", None) is real:
            monkeypatch.setattr(module, "pick_device", fake)
    return names


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny character model, a tiny classifier trained through the CLI and its labelled file."""
    base = tmp_path_factory.mktemp("device")
    train_tiny(base / "lm.pt", steps=4, eval_every=4, save_every=4)
    data = labelled_csv(base / "labelled.csv", n=40)
    assert main(["sentiment", "train", "--data", str(data), "--preset", "book", "--epochs", "1", "--embed", "8",
                 "--hidden", "8", "--fc", "8", "--device", "cpu", "--quiet", "--out", str(base / "cls.pt")]) == 0
    (base / "book.txt").write_text(REPEAT)
    return base / "lm.pt", base / "cls.pt", data


def test_the_loaders_default_to_auto(models, asked):
    lm, classifier, _ = models
    load_char_lm(lm)
    load_sentiment(classifier)
    assert asked == ["auto", "auto"]
    load_char_lm(lm, device="cpu")
    assert asked[-1] == "cpu"


@pytest.mark.parametrize("command", [
    lambda lm, cls, data: ["sample", "--checkpoint", lm, "--prompt", "the", "--length", "5", "--seed", "1"],
    lambda lm, cls, data: ["evaluate", "--checkpoint", lm, "--text", lm.parent / "book.txt"],
    lambda lm, cls, data: ["sentiment", "predict", "--checkpoint", cls, "a good film"],
    lambda lm, cls, data: ["sentiment", "evaluate", "--checkpoint", cls, "--test", data],
    lambda lm, cls, data: ["sentiment", "explain", "--checkpoint", cls, "a good film"],
], ids=["sample", "evaluate", "sentiment-predict", "sentiment-evaluate", "sentiment-explain"])
def test_commands_that_run_a_model_default_to_auto(models, asked, command, capsys):
    assert main([str(a) for a in command(*models)]) == 0, capsys.readouterr().err
    assert asked == ["auto"]


def test_device_is_still_honoured(models, asked, capsys):
    lm, _, _ = models
    assert main(["sample", "--checkpoint", str(lm), "--prompt", "the", "--length", "3", "--device", "cpu"]) == 0
    assert asked == ["cpu"]
