"""Training to a time budget (issue 11): the schedule runs over the time, the run ends on time with a best
checkpoint, validated at the end."""
import json
import time

import pytest
import torch

from charrnn import checkpoint as ckpt
from charrnn.cli import main
from charrnn.train import TrainConfig, lr_at_progress
from tests.helpers import train_tiny


def test_schedule_over_time_warms_up_and_decays_to_the_floor():
    cfg = TrainConfig(minutes=1, lr=0.004, warmup_fraction=0.05, min_lr_ratio=0.05)
    assert lr_at_progress(0.025, cfg) == pytest.approx(0.002)
    assert lr_at_progress(0.05, cfg) == pytest.approx(0.004)
    assert lr_at_progress(1.0, cfg) == pytest.approx(0.0002)
    assert lr_at_progress(0.525, cfg) == pytest.approx(0.004 * (0.05 + 0.95 * 0.5))


def test_steps_and_minutes_are_exclusive():
    with pytest.raises(ValueError, match="either steps or minutes"):
        TrainConfig(steps=10, minutes=1)
    with pytest.raises(ValueError, match="minutes must be positive"):
        TrainConfig(minutes=0)


@pytest.fixture(autouse=True)
def one_thread():
    """Timing tests: one thread, so a busy 2-core machine's OpenMP spin-waits do not swamp the tiny steps."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_tiny_budget_ends_on_time_with_a_best_checkpoint(tmp_path):
    t0 = time.perf_counter()
    result = train_tiny(tmp_path / "m.pt", steps=None, minutes=0.1, log_every=5)  # 6 seconds
    elapsed = time.perf_counter() - t0
    assert result.status == "finished" and result.steps >= 5
    assert elapsed < 6 + 3, elapsed  # on time (a little slack for a busy machine)
    assert result.val_loss is not None and result.best.exists()
    state = ckpt.load(result.best)
    assert state["metrics"]["val_loss"] <= result.val_loss + 1e-9 and state["metrics"]["budget_seconds"] > 0
    records = [json.loads(x) for x in (tmp_path / "m.log.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == result.steps and "val_loss" in records[-1]
    lrs = [r["lr"] for r in records if "lr" in r]
    assert lrs[-1] < 0.2 * max(lrs)  # the decay ran to completion within the budget


def test_cli_minutes(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 60)
    assert main(["train", "--text", str(text), "--minutes", "0.1", "--out", str(tmp_path / "m.pt"), "--quiet",
                 "--device", "cpu", "--hidden", "16", "--embed", "8", "--seq-len", "16", "--batch-size", "8"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("status=finished") and "val_loss_nats=" in line
