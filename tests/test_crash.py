"""Crash safety: training killed with SIGKILL (mid-step or mid-checkpoint-write) resumes from the last complete
checkpoint and ends with exactly the weights of an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from charrnn import checkpoint as ckpt

from .helpers import REPEAT

SAVE_EVERY = 20
STEPS = 300
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # same thread count in every run, so float results are bit-equal

# Runs the CLI with torch.save replaced: the third write of the full training state stops half-way and the
# process kills itself with SIGKILL, exactly as if the machine died while the checkpoint was being written.
KILL_IN_SAVE = """
import io, os, signal, sys, torch
real, calls = torch.save, [0]
def save(obj, f, *args, **kwargs):
    if isinstance(obj, dict) and "trainer" in obj:
        calls[0] += 1
        if calls[0] == 3:
            buf = io.BytesIO()
            real(obj, buf, *args, **kwargs)
            f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
            f.flush()
            os.fsync(f.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
    return real(obj, f, *args, **kwargs)
torch.save = save
from charrnn.cli import main
sys.exit(main(sys.argv[1:]))
"""


# Runs the CLI and kills it with SIGKILL in the middle of training step KILL_AT (after its forward and backward
# passes, before the optimizer updates the weights): a crash at a known point, whatever the machine's speed.
KILL_AT = 57
KILL_MID_STEP = f"""
import os, signal, sys
import charrnn.lm.train
t = sys.modules["charrnn.lm.train"]  # the module: the package's `train` attribute is the function
real, calls = t.optimizer_step, [0]
def step(*args, **kwargs):
    calls[0] += 1
    if calls[0] == {KILL_AT}:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kwargs)
t.optimizer_step = step
from charrnn.cli import main
sys.exit(main(sys.argv[1:]))
"""


def train_cmd(text, out, *extra, runner=("-m", "charrnn")):
    return [sys.executable, *runner, "train", "--text", str(text), "--clean", "none", "--out", str(out),
            "--steps", str(STEPS), "--batch-size", "16", "--seq-len", "20", "--embed", "16", "--hidden", "48",
            "--lr", "0.01", "--warmup", "0", "--dropout", "0.1", "--weight-drop", "0.1", "--layers", "2",
            "--eval-every", "100", "--save-every", str(SAVE_EVERY), "--log-every", "1", "--seed", "5",
            "--device", "cpu", "--quiet", *extra]


def run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def run_until_killed(cmd):
    """Run a command whose injected fault ends it with SIGKILL."""
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=900)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]


def logged_steps(out):
    """Steps of the train-loss records in the run's log (one per step with --log-every 1)."""
    path = out.with_name(out.stem + ".log.jsonl")
    lines = path.read_text().splitlines() if path.exists() else []
    records = [json.loads(line) for line in lines if line.endswith("}")]
    return [r["step"] for r in records if "train_loss" in r]


def assert_same_weights(a, b):
    sa, sb = ckpt.load(a)["state_dict"], ckpt.load(b)["state_dict"]
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    d = tmp_path_factory.mktemp("straight")
    text = d / "t.txt"
    text.write_text(REPEAT)
    run(train_cmd(text, d / "m.pt"))
    return text, d / "m.pt"


def test_sigkill_mid_training_loses_at_most_one_interval(straight, tmp_path):
    text, reference = straight
    out = tmp_path / "m.pt"
    run_until_killed(train_cmd(text, out, runner=("-c", KILL_MID_STEP)))
    done = logged_steps(out)[-1]
    assert done == KILL_AT - 1

    saved = ckpt.load(out)["trainer"]["step"]  # loads: the file on disk is always a complete checkpoint
    assert saved == done // SAVE_EVERY * SAVE_EVERY >= done - SAVE_EVERY

    run(train_cmd(text, out, "--resume"))
    assert_same_weights(reference, out)
    assert ckpt.load(out)["metrics"]["val_loss"] == ckpt.load(reference)["metrics"]["val_loss"]
    assert logged_steps(out) == list(range(1, STEPS + 1)), "the log has every step once, none lost or repeated"
    assert not list(tmp_path.glob(".*.tmp"))


def test_sigkill_while_writing_a_checkpoint_keeps_the_previous_one(straight, tmp_path):
    text, reference = straight
    out = tmp_path / "m.pt"
    run_until_killed(train_cmd(text, out, runner=("-c", KILL_IN_SAVE)))
    half_written = list(tmp_path.glob(".m.pt.*.tmp"))
    assert len(half_written) == 1, "the kill should have landed while the third checkpoint was being written"
    with pytest.raises(ckpt.CheckpointError):
        ckpt.load(half_written[0])
    assert ckpt.load(out)["trainer"]["step"] == 2 * SAVE_EVERY  # the last complete checkpoint, untouched
    assert logged_steps(out)[-1] == 3 * SAVE_EVERY

    run(train_cmd(text, out, "--resume"))
    assert_same_weights(reference, out)
    assert not list(tmp_path.glob(".*.tmp")), "the stale temporary file is cleaned up on resume"
    assert logged_steps(out) == list(range(1, STEPS + 1))
