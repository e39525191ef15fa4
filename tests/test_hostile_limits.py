"""Hostile input, round two: memory bombs, special files, full disks, and refusals printed before any output."""
from __future__ import annotations

import csv
import errno
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from charrnn import Corpus, TrainConfig, train
from charrnn import checkpoint as ckpt
from charrnn.files import (NotRegularFileError, OutputLockedError, WriteError, atomic_write, output_lock, read_bytes,
                           regular_file)
from charrnn.lm import run as lm_run
from charrnn.lm.model import CharRNN, ModelConfig
from charrnn.lm.run import DivergedError
from charrnn.lm.textfile import TextFileError, read_text
from charrnn.sentiment import SentimentTrainConfig, WordVocab, load_glove, load_labelled
from charrnn.sentiment.datasets import DatasetError

from .conftest import ROOT
from .helpers import REPEAT, TINY_MODEL, tiny_config, train_tiny

ISLAND = ROOT / "checkpoints" / "mysterious-island.pt"
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
MB = 1 << 20


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "charrnn", *args], capture_output=True, text=True, timeout=timeout,
                          env=ENV, stdin=subprocess.DEVNULL)


# ------------------------------------------------------------------------------------------------ memory bombs


def bomb(path: Path, hidden: int = 8000) -> Path:
    """A char-lm checkpoint of a few KB whose weights are zero-stride views claiming a model of `hidden` units."""
    state = ckpt.load(ISLAND)
    model = {**state["config"]["model"], "hidden": hidden}
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in CharRNN(ModelConfig(**model)).state_dict().items()}
    state.update(config={**state["config"], "model": model},
                 state_dict={k: torch.zeros(1).expand(s) for k, s in shapes.items()})
    torch.save(state, path)
    return path


def test_a_zero_stride_checkpoint_is_refused_by_load(tmp_path):
    path = bomb(tmp_path / "bomb.pt")
    assert path.stat().st_size < 64 * 1024
    with pytest.raises(ckpt.CheckpointError, match="view that repeats its values"):
        ckpt.load(path)


def test_overlapping_strides_are_refused_too(tmp_path):
    state = ckpt.load(ISLAND)
    w = state["state_dict"]["rnn.weight_hh_l0"]
    rows, cols = w.shape
    state["state_dict"]["rnn.weight_hh_l0"] = torch.zeros(rows + cols).as_strided((rows, cols), (1, 1))
    torch.save(state, tmp_path / "overlap.pt")
    with pytest.raises(ckpt.CheckpointError, match="stored in"):
        ckpt.load(tmp_path / "overlap.pt")


def test_the_parameter_budget_is_enforced_and_settable(tmp_path, monkeypatch):
    assert sum(v.numel() for v in ckpt.load(ISLAND)["state_dict"].values()) < ckpt.DEFAULT_MAX_PARAMS
    monkeypatch.setenv(ckpt.MAX_PARAMS_ENV, "1000000")
    with pytest.raises(ckpt.CheckpointError, match=r"3,739,728 weights, more than the limit of 1,000,000"):
        ckpt.load(ISLAND)
    monkeypatch.setenv(ckpt.MAX_PARAMS_ENV, "lots")
    with pytest.raises(ckpt.CheckpointError, match="CHARRNN_MAX_PARAMS='lots' is not a whole number"):
        ckpt.load(ISLAND)


PEAK = """
import resource, sys, time
from pathlib import Path
def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
import charrnn
from charrnn import shelf
from charrnn.web.webapp import WebApp
path = Path(sys.argv[1]); before = peak(); start = time.perf_counter()
if sys.argv[2] == "shelf":
    info = shelf.describe(path); listed = shelf.list_checkpoints(path.parent)
    message = info.error + " | " + "; ".join(f"{i.name}: {i.error}" for i in listed)
else:
    try:
        message = "accepted: " + WebApp(sys.argv[3], "cpu", False).upload(str(path))
    except charrnn.CheckpointError as e:
        message = str(e)
print(peak() - before, time.perf_counter() - start, message)
"""


@pytest.mark.parametrize("where", ["shelf", "upload"])
def test_a_bomb_is_refused_quickly_in_bounded_memory_by_the_shelf_and_upload(tmp_path, where):
    (tmp_path / "in").mkdir()
    (tmp_path / "shelf").mkdir()
    path = bomb(tmp_path / "in" / "bomb.pt", hidden=12000)
    out = subprocess.run([sys.executable, "-c", PEAK, str(path), where, str(tmp_path / "shelf")], capture_output=True,
                         text=True, timeout=120, env=ENV)
    assert out.returncode == 0, out.stderr[-2000:]
    grew, seconds, message = out.stdout.split(" ", 2)
    assert "view that repeats its values" in message
    assert int(grew) < 200 * MB and float(seconds) < 5
    assert not any((tmp_path / "shelf").iterdir())  # the upload kept nothing


PEAK_CHILD = "import resource, subprocess, sys; subprocess.run(sys.argv[1:], capture_output=True); " \
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)"


def child_peak(*args: str) -> int:
    out = subprocess.run([sys.executable, "-c", PEAK_CHILD, sys.executable, "-m", "charrnn", *args],
                         capture_output=True, text=True, timeout=120, env=ENV)
    return int(out.stdout)


def test_sample_refuses_a_bomb_in_seconds_within_200_mb_of_its_start(tmp_path):
    path = bomb(tmp_path / "bomb.pt", hidden=12000)
    start = time.perf_counter()
    refused = run("sample", "--checkpoint", str(path), "--prompt", "The", "--length", "5")
    assert time.perf_counter() - start < 5 + 10  # the refusal itself; the rest is the interpreter and torch
    assert refused.returncode == 2 and refused.stdout == ""
    assert "view that repeats its values" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    started = child_peak("sample", "--help")  # the same interpreter with charrnn imported, refusing nothing
    assert child_peak("sample", "--checkpoint", str(path), "--prompt", "The") - started < 200 * MB


# ------------------------------------------------------------------------------------------------ special files


def test_regular_file_names_what_a_path_is(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(NotRegularFileError, match="is a FIFO"):
        regular_file(tmp_path / "fifo")
    with pytest.raises(NotRegularFileError, match="is a character device"):
        read_bytes("/dev/zero")
    with pytest.raises(NotRegularFileError, match="is a folder"):
        regular_file(tmp_path)
    with pytest.raises(FileNotFoundError):
        regular_file(tmp_path / "missing")
    (tmp_path / "ok.txt").write_bytes(b"abcdef")
    assert read_bytes(tmp_path / "ok.txt", limit=3) == b"abc"


def test_read_text_reads_no_more_than_its_limit(tmp_path):
    (tmp_path / "big.txt").write_text("x" * 1_000_000)
    with pytest.raises(TextFileError, match="more than 10 characters"):
        read_text(tmp_path / "big.txt", max_chars=10)
    (tmp_path / "small.txt").write_text("é" * 10)
    assert read_text(tmp_path / "small.txt", max_chars=10) == "é" * 10
    with pytest.raises(TextFileError, match="11 characters; at most 10"):
        (tmp_path / "eleven.txt").write_text("é" * 11)
        read_text(tmp_path / "eleven.txt", max_chars=10)


@pytest.fixture
def fifo(tmp_path) -> Path:
    os.mkfifo(tmp_path / "pipe.txt")
    return tmp_path / "pipe.txt"


@pytest.mark.parametrize("args, expected", [
    (["train", "--text", "{fifo}", "--steps", "1", "--out", "{tmp}/m.pt"], "is a FIFO"),
    (["train", "--text", "/dev/zero", "--steps", "1", "--out", "{tmp}/m.pt"], "is a character device"),
    (["evaluate", "--checkpoint", str(ISLAND), "--text", "{fifo}"], "is a FIFO"),
    (["sample", "--checkpoint", str(ISLAND), "--prompt-file", "{fifo}"], "is a FIFO"),
    (["sample", "--checkpoint", str(ISLAND), "--prompt-file", "/dev/zero"], "is a character device"),
    (["sample", "--checkpoint", "{fifo}"], "is a FIFO"),
])
def test_special_files_are_refused_in_seconds(fifo, tmp_path, args, expected):
    args = [a.format(fifo=fifo, tmp=tmp_path) for a in args]
    start = time.perf_counter()
    out = run(*args, timeout=60)
    assert time.perf_counter() - start < 30  # a FIFO read would block until the timeout
    assert out.returncode == 2 and expected in out.stderr and "Traceback" not in out.stderr
    assert out.stdout == ""


def test_word_vectors_from_a_device_are_refused():
    with pytest.raises(ValueError, match="is a character device"):
        load_glove("/dev/zero", WordVocab(["<pad>", "<unk>", "good"]))


# ------------------------------------------------------------------------------------------------ full disk


def test_a_failed_write_names_the_file_and_the_cause_and_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "m.pt"
    ckpt.save({"x": torch.ones(3)}, target)

    def full(obj, f, *a, **k):
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 86080 vs 86032")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(WriteError) as caught:
        ckpt.save({"x": torch.zeros(3)}, target)
    assert str(caught.value) == f"could not write {target}: No space left on device"
    assert caught.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert torch.equal(torch.load(target, weights_only=True)["x"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
    with pytest.raises(ValueError, match="not an OSError"), atomic_write(tmp_path / "y"):
        raise ValueError("not an OSError")  # other failures pass through unchanged


def _small_disk(path: Path, kib: int) -> bool:
    path.mkdir()
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_training_on_a_full_disk_ends_in_one_line_and_keeps_the_last_checkpoint(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text(REPEAT)
    args = ["train", "--text", str(text), "--clean", "none", "--steps", "40", "--batch-size", "8", "--seq-len", "20",
            "--embed", "16", "--hidden", "48", "--eval-every", "20", "--save-every", "20", "--device", "cpu",
            "--quiet"]
    sizing = run(*args, "--out", str(tmp_path / "sizing" / "m.pt"))
    assert sizing.returncode == 0, sizing.stderr
    one_save = sum(p.stat().st_size for p in (tmp_path / "sizing").iterdir())
    disk = tmp_path / "disk"
    if not _small_disk(disk, (one_save * 3 // 2) // 1024 + 4):
        pytest.skip("no small filesystem can be mounted here (needs root and tmpfs); the writer test above "
                    "covers the message with ENOSPC raised by hand")
    try:
        full = run(*args, "--out", str(disk / "m.pt"))
        assert full.returncode == 2, full.stderr
        assert full.stderr.strip().splitlines()[-1] == f"charrnn train: error: could not write {disk / 'm.pt'}: " \
                                                      f"No space left on device"
        assert "Traceback" not in full.stderr
        assert ckpt.load(disk / "m.pt")["trainer"]["step"] == 20  # the last good checkpoint
        assert not [p for p in disk.iterdir() if p.name.endswith(".tmp")]
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


# ------------------------------------------------------------------------------------------------ one output, one run


def test_a_second_writer_of_the_same_output_is_refused_and_a_dead_one_leaves_no_stale_lock(tmp_path):
    out = tmp_path / "m.pt"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom charrnn.files import output_lock\n"
                               f"with output_lock({str(out)!r}):\n    print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OutputLockedError, match="another run is writing"), output_lock(out):
            pass
    finally:
        holder.kill()
        holder.wait()
    with output_lock(out):  # killed: the kernel dropped its lock
        pass


# ------------------------------------------------------------------------ nothing printed before a refusal


def test_sample_checks_its_options_before_printing_the_prompt():
    out = run("sample", "--checkpoint", str(ISLAND), "--prompt", "caf", "--temperature", "-1")
    assert out.returncode == 2 and out.stdout == "" and "temperature" in out.stderr


def test_a_binary_prompt_file_is_refused_without_echoing_it(tmp_path):
    (tmp_path / "bin.txt").write_bytes(bytes(range(256)) * 12)
    out = run("sample", "--checkpoint", str(ISLAND), "--prompt-file", str(tmp_path / "bin.txt"))
    assert out.returncode == 2 and out.stdout == "" and "not in the model's vocabulary" in out.stderr


def test_explain_gives_no_pretend_answer_when_no_word_is_known():
    out = run("sentiment", "explain", "--checkpoint", str(ROOT / "checkpoints" / "sarcasm.pt"), "zzqx", "qqzx")
    assert out.returncode == 2 and "P(" not in out.stdout and "no known words" in out.stderr


# ----------------------------------------------------------------------------------------- damaged training state


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "m.pt"
    train_tiny(out, steps=20, eval_every=20, save_every=20)
    return out


def _tampered(saved_run: Path, tmp_path: Path, change) -> Path:
    state = torch.load(saved_run, weights_only=True)
    change(state)
    out = tmp_path / "m.pt"
    torch.save(state, out)
    return out


def _exp_avg(state: dict) -> torch.Tensor:
    return next(s["exp_avg"] for s in state["optimizer"]["state"].values())


@pytest.mark.parametrize("change, expected", [
    (lambda s: next(iter(s["optimizer"]["state"].values())).update(exp_avg=torch.zeros(3, 3)),
     "optimizer state 'exp_avg' has shape (3, 3)"),
    (lambda s: _exp_avg(s).fill_(float("nan")), "optimizer state 'exp_avg' holds NaN or infinite values"),
    (lambda s: s["trainer"].update(step=-5), "step is -5; a saved run's step is a whole number from 0"),
    (lambda s: s["trainer"].update(step=10**9), "step is 1000000000; a saved run's step is a whole number from 0 to"),
    (lambda s: s["trainer"].update(step=2.5), "step is 2.5"),
    (lambda s: s["trainer"].update(seconds=float("nan")), "seconds nan"),
])
def test_a_damaged_resumable_state_is_refused_before_training(saved_run, tmp_path, change, expected):
    out = _tampered(saved_run, tmp_path, change)
    with pytest.raises(ckpt.CheckpointError, match="cannot resume from m.pt: its optimizer or trainer state is "
                                                   "damaged: " + re.escape(expected)):
        train(Corpus(REPEAT, "repeat.txt", {"clean": "none"}), TINY_MODEL, tiny_config(steps=40), out=out,
              resume=True, progress=False)


def test_the_cli_refuses_a_damaged_state_in_one_line(saved_run, tmp_path):
    out = _tampered(saved_run, tmp_path, lambda s: _exp_avg(s).fill_(float("inf")))
    (tmp_path / "t.txt").write_text(REPEAT)
    done = run("train", "--text", str(tmp_path / "t.txt"), "--clean", "none", "--out", str(out), "--resume",
               "--device", "cpu", "--quiet")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].endswith("holds NaN or infinite values")


def test_a_diverged_run_stops_with_a_message_and_keeps_its_finite_files(tmp_path):
    out = tmp_path / "m.pt"

    def poison(record: dict) -> None:
        if record.get("step") == 30 and "train_loss" in record:  # after the step-20 saves, the weights turn NaN
            with torch.no_grad():
                for p in model_params:
                    p.fill_(float("nan"))

    model_params: list = []
    original = lm_run.RunState.create

    def create(*args, **kwargs):
        state = original(*args, **kwargs)
        model_params.extend(state.net.parameters())
        return state

    try:
        lm_run.RunState.create = create
        with pytest.raises(DivergedError, match=r"the training loss became nan at step 40: the run diverged"):
            train(Corpus(REPEAT, "repeat.txt", {"clean": "none"}), TINY_MODEL,
                  tiny_config(steps=60, eval_every=20, save_every=20, log_every=10), out=out, progress=False,
                  on_log=poison)
    finally:
        lm_run.RunState.create = original
    latest, best = ckpt.load(out), ckpt.load(out.with_suffix(".best.pt"))  # both saved at step 20, kept
    assert latest["trainer"]["step"] == 20 and best["metrics"]["steps"] == 20
    assert all(bool(torch.isfinite(v).all()) for s in (latest, best) for v in s["state_dict"].values())


def test_weights_broken_by_a_step_are_never_saved(tmp_path, monkeypatch):
    """The step that breaks the weights reports the finite loss it started from: the save checks the weights."""
    from charrnn.lm import train as lm_train

    real = lm_train.optimizer_step

    def breaking(loss, opt, *args, **kwargs):
        real(loss, opt, *args, **kwargs)
        if breaking.calls == 9:
            with torch.no_grad():
                opt.param_groups[0]["params"][0].fill_(float("inf"))
        breaking.calls += 1

    breaking.calls = 0
    monkeypatch.setattr(lm_train, "optimizer_step", breaking)
    with pytest.raises(DivergedError, match="the weights became NaN or infinite by step 10"):
        train(Corpus(REPEAT, "repeat.txt", {"clean": "none"}), TINY_MODEL,
              tiny_config(steps=40, eval_every=100, save_every=10, log_every=100), out=tmp_path / "m.pt",
              progress=False)
    assert not (tmp_path / "m.pt").exists()


def test_two_runs_cannot_write_one_output(tmp_path):
    out = tmp_path / "m.pt"
    with output_lock(out), pytest.raises(OutputLockedError, match="another run is writing"):
        train_tiny(out, steps=5)
    assert not out.exists()
    (tmp_path / "t.txt").write_text(REPEAT)
    args = ["train", "--text", str(tmp_path / "t.txt"), "--clean", "none", "--out", str(out), "--device", "cpu",
            "--embed", "8", "--hidden", "16", "--seq-len", "10", "--batch-size", "4", "--eval-every", "100000",
            "--save-every", "100000", "--steps", "100000", "--quiet"]
    first = subprocess.Popen([sys.executable, "-m", "charrnn", *args], env=ENV, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not (tmp_path / "m.log.jsonl").exists() and time.time() < deadline:  # it holds the lock by then
            time.sleep(0.2)
        second = run(*args, timeout=60)
        assert second.returncode == 2
        assert second.stderr.strip().splitlines()[-1] == (
            f"charrnn train: error: another run is writing {out} (it holds m.pt.lock); wait for it to end or "
            f"choose another output")
    finally:
        first.kill()
        first.communicate()
    with output_lock(out):  # the killed run left no stale lock
        pass


# ------------------------------------------------------------------------------------------------ labelled files


def test_a_long_csv_field_reads_the_same_whatever_the_process_set_before(tmp_path):
    rows = ["text,label", f"{'word ' * 40_000},1", "bad,0", "good,1", "awful,0"]
    (tmp_path / "long.csv").write_text("\n".join(rows) + "\n")
    seen = []
    for limit in (1000, 10**9):
        csv.field_size_limit(limit)
        seen.append(load_labelled(tmp_path / "long.csv"))
        assert csv.field_size_limit() == limit  # put back
    assert seen[0].train_texts == seen[1].train_texts and len(seen[0].train_texts[0]) == 200_000


def test_a_long_first_field_gives_a_dataset_error_not_a_csv_crash(tmp_path):
    (tmp_path / "longfirst.csv").write_text("x" * 200_000 + "\n" + "y" * 10 + "\n")
    out = run("sentiment", "train", "--data", str(tmp_path / "longfirst.csv"), "--preset", "book", "--epochs", "1",
              "--out", str(tmp_path / "s.pt"))
    assert out.returncode == 2 and "Traceback" not in out.stderr and "field larger" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("charrnn sentiment: error: ") and str(tmp_path / "longfirst.csv") in last


@pytest.mark.parametrize("data, expected", [("{fifo}", "is a FIFO"), ("/dev/zero", "is a character device")])
def test_special_labelled_files_are_refused_in_seconds(fifo, tmp_path, data, expected):
    start = time.perf_counter()
    out = run("sentiment", "train", "--data", data.format(fifo=fifo), "--format", "csv", "--epochs", "1", "--out",
              str(tmp_path / "s.pt"), timeout=60)
    assert time.perf_counter() - start < 30
    assert out.returncode == 2 and expected in out.stderr and "Traceback" not in out.stderr


def test_a_file_whose_texts_are_all_empty_trains_nothing(tmp_path):
    (tmp_path / "empty.csv").write_text("text,label\n" + '"",1\n"  ",0\n' * 20)
    with pytest.raises(DatasetError, match="every text in column 'text' is empty"):
        load_labelled(tmp_path / "empty.csv")
    out = run("sentiment", "train", "--data", str(tmp_path / "empty.csv"), "--epochs", "1", "--out",
              str(tmp_path / "s.pt"))
    assert out.returncode == 2 and "is empty" in out.stderr and not (tmp_path / "s.pt").exists()


# ------------------------------------------------------------------------------------------------ numbers


@pytest.mark.parametrize("option, value, expected", [
    ("--lr", "inf", "argument --lr: must be a finite number, got inf"),
    ("--lr", "nan", "argument --lr: must be a finite number, got nan"),
    ("--grad-clip", "nan", "argument --grad-clip: must be a finite number, got nan"),
    ("--grad-clip", "-1", "grad_clip must be at least 0 (0: no clipping), got -1"),
    ("--warmup", "-1", "warmup must be at least 0, got -1"),
    ("--minutes", "inf", "argument --minutes: must be a finite number, got inf"),
    ("--seed", "99999999999999999999999", "seed must be a whole number from"),
])
def test_train_refuses_numbers_out_of_range_naming_the_option(tmp_path, option, value, expected):
    (tmp_path / "t.txt").write_text(REPEAT)
    how_long = [] if option == "--minutes" else ["--steps", "1"]
    out = run("train", "--text", str(tmp_path / "t.txt"), "--clean", "none", *how_long, "--out",
              str(tmp_path / "m.pt"), "--device", "cpu", option, value)
    assert out.returncode == 2 and expected in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "m.pt").exists()


def test_sentiment_train_refuses_an_infinite_learning_rate(tmp_path):
    out = run("sentiment", "train", "--data", str(tmp_path / "x.csv"), "--lr", "inf", "--out", str(tmp_path / "s.pt"))
    assert out.returncode == 2 and "argument --lr: must be a finite number, got inf" in out.stderr


@pytest.mark.parametrize("field, value", [("lr", float("inf")), ("grad_clip", float("nan")), ("warmup", -1),
                                          ("weight_decay", -0.5), ("seed", 10**23), ("min_lr_ratio", 2.0)])
def test_the_api_refuses_the_same_numbers_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"^{field} must be"):
        TrainConfig(steps=5, **{field: value})


@pytest.mark.parametrize("field, value", [("lr", float("inf")), ("pretrained_lr", float("nan")),
                                          ("grad_clip", -1.0), ("seed", 10**23)])
def test_the_classifier_api_refuses_them_too(field, value):
    with pytest.raises(ValueError, match=f"^{field} must be"):
        SentimentTrainConfig(**{field: value})


# ---------------------------------------------------------------------------------------- the app's own messages


def _engine_children(pid: int) -> list[int]:
    """The app's sampling-engine child processes (their command line names charrnn.serve.engine_process)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid \
                    and b"engine_process" in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finding the engine's process needs /proc")
def test_the_app_s_own_messages_reach_the_client(tmp_path):
    from gradio_client import Client

    from .apphelpers import SHIPPED, launch

    app = launch(SHIPPED)
    try:
        client = Client(app.url, verbose=False)
        args = dict(prompt="The island", checkpoint="mysterious-island.pt", length=5)
        for bad, expected in ((dict(temperature="hot"), "temperature must be"), (dict(length="abc"), "length must"),
                              (dict(seed="x"), "seed must be")):
            with pytest.raises(Exception, match=expected):
                client.predict(**{**args, **bad}, api_name="/generate")
        assert client.predict(**args, seed=1, api_name="/generate").startswith("The island")  # engine started
        children = _engine_children(app.proc.pid)
        assert children, "the app's engine process was not found"
        job = client.submit(**{**args, "length": 10_000}, api_name="/generate")
        time.sleep(1.0)
        for child in children:
            os.kill(child, 9)
        with pytest.raises(Exception, match="the sampling engine's process stopped unexpectedly; try again"):
            job.result(timeout=120)
        assert client.predict(**args, seed=1, api_name="/generate").startswith("The island")  # a new engine serves
    finally:
        app.stop()
