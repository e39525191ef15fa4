"""--precision auto|fp32|bf16|fp16 (issue 11): auto detects and probes, an unsupported explicit choice is one clear
error, the precision used is recorded; checkpoints stay fp32."""
import importlib
import json

import pytest
import torch

from charrnn import checkpoint as ckpt
from charrnn import training
from charrnn.cli import main
from charrnn.training import PrecisionError, resolve_precision
from tests.helpers import train_tiny

CPU = torch.device("cpu")
train_module = importlib.import_module("charrnn.lm.train")  # charrnn.lm.train is also the function


def test_auto_is_fp32_without_native_bf16(monkeypatch):
    monkeypatch.setattr(training, "cpu_has_bf16", lambda: False)
    assert resolve_precision(CPU, "auto") == "fp32"
    assert resolve_precision(CPU, "fp32") == "fp32"


def test_auto_picks_bf16_where_supported_and_falls_back_when_the_probe_fails(monkeypatch):
    monkeypatch.setattr(training, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(training, "precision_works", lambda device_type, precision: True)
    assert resolve_precision(CPU, "auto") == "bf16"
    assert resolve_precision(CPU, "auto", amp=False) == "fp32"
    assert resolve_precision(torch.device("cuda"), "auto") == "fp16"
    monkeypatch.setattr(training, "precision_works", lambda device_type, precision: False)
    assert resolve_precision(CPU, "auto") == "fp32"


def test_explicit_unsupported_precision_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(training, "precision_works", lambda device_type, precision: False)
    with pytest.raises(PrecisionError, match="precision bf16 is not supported on this cpu"):
        resolve_precision(CPU, "bf16")
    with pytest.raises(PrecisionError, match="precision must be"):
        resolve_precision(CPU, "int8")


def test_cli_unsupported_precision_exits_2_with_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(training, "precision_works", lambda device_type, precision: False)
    text = tmp_path / "t.txt"
    text.write_text("hello there, general kenobi. " * 30)
    code = main(["train", "--text", str(text), "--steps", "2", "--precision", "bf16", "--out",
                 str(tmp_path / "m.pt"), "--quiet", "--device", "cpu", "--hidden", "8", "--embed", "4"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("charrnn train: error: precision bf16 is not supported")
    assert "Traceback" not in "\n".join(err)


def test_precision_is_recorded_and_weights_stay_fp32(monkeypatch, tmp_path):
    if not training.precision_works("cpu", "bf16"):  # this CPU cannot: pretend the autocast is a no-op
        monkeypatch.setattr(training, "precision_works", lambda device_type, precision: True)
        monkeypatch.setattr(train_module, "autocast", lambda device, precision: training.autocast(device, "fp32"))
    result = train_tiny(tmp_path / "m.pt", steps=4, precision="bf16", log_every=2)
    assert result.metrics["precision"] == "bf16"
    records = [json.loads(x) for x in (tmp_path / "m.log.jsonl").read_text().splitlines()]
    assert all(r["precision"] == "bf16" for r in records if "train_loss" in r)
    state = ckpt.load(tmp_path / "m.best.pt")
    assert all(v.dtype == torch.float32 for v in state["state_dict"].values() if v.is_floating_point())
