"""Training to a time budget (issue 11): the schedule runs over the time, the run ends on time with a best
checkpoint, validated at the end; or sooner, after max_passes over the text (fine-tuning's default)."""
import json
import threading
import time

import pytest
import torch

from charrnn import Corpus, train
from charrnn import checkpoint as ckpt
from charrnn.cli import main
from charrnn.lm.budget import BUDGET_RECIPE, FINETUNE_RECIPE, Budget, lr_at_progress
from charrnn.lm.data import split_ids
from charrnn.lm.train import TrainConfig
from tests.helpers import REPEAT, TINY_MODEL, tiny_config, train_tiny

TRAIN_CHARS = len(split_ids(list(REPEAT), 0.1)[0])  # REPEAT's training characters (the last 10% held out)
STEP_CHARS = tiny_config().batch_size * tiny_config().seq_len  # characters one step of tiny_config reads


def passes_ended_at(chars_seen: int, passes: int) -> bool:
    """Whether a run stopped on the step that completed `passes` passes over REPEAT."""
    return passes * TRAIN_CHARS <= chars_seen < passes * TRAIN_CHARS + STEP_CHARS


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
    with pytest.raises(ValueError, match="max_passes"):
        TrainConfig(minutes=1, max_passes=0)
    with pytest.raises(ValueError, match="max_passes ends a time budget sooner: give minutes"):
        TrainConfig(steps=10, max_passes=2)


def test_progress_is_the_larger_of_the_time_and_the_passes():
    now = time.perf_counter()
    budget = Budget(now, now + 1000, final=0, reserve=0, chars=2000)
    assert budget.progress(500) == pytest.approx(0.25, abs=1e-3) and budget.progress(0) < 1e-3
    assert budget.progress(2000) >= 1 and budget.ended_by_passes(2000) and not budget.ended_by_passes(1999)
    assert budget.validation_due(1000) and not budget.validation_due(1100)  # 50% crossed once, 80% not yet
    no_limit = Budget(now - 500, now + 500, final=0, reserve=0)
    assert no_limit.progress(10**9) == pytest.approx(0.5, abs=1e-2) and not no_limit.ended_by_passes(10**9)
    # fine-tuning stops after 8 passes by default; a run from scratch has no such limit (issue 11's recipe)
    assert FINETUNE_RECIPE.train_config(3).max_passes == 8 and BUDGET_RECIPE.train_config(3).max_passes is None
    assert FINETUNE_RECIPE.train_config(3, max_passes=20).max_passes == 20
    assert FINETUNE_RECIPE.train_config(None, steps=50).max_passes is None  # a step count is the run's length


@pytest.fixture(autouse=True)
def one_thread():
    """Timing tests: one thread, so a busy 2-core machine's OpenMP spin-waits do not swamp the tiny steps, and
    one-off import costs paid before the clock starts."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # the first Adam pays torch's lazy imports (seconds)
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


def test_app_minutes_field_trains_to_a_budget(tmp_path):
    from charrnn.web import jobs
    from charrnn.web.forms import TrainForm
    from charrnn.web.webapp import WebApp

    text = tmp_path / "fox.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 60)
    app = WebApp(tmp_path / "ckpts", device="cpu")
    # the form's way: Steps left empty, Minutes given (the order of the /train endpoint's inputs)
    job = app.start_training(TrainForm.from_widgets(None, str(text), "fox", "lstm", 16, 1, None, 8, 16, 0.01, 0.1))
    assert job.request.config.minutes == 0.1 and job.request.config.steps is None
    job.thread.join(60)
    assert job.state == "finished" and (tmp_path / "ckpts" / "fox.pt").exists(), job.summary()
    # sizes left at 0 (as the form sends them): sized for the machine, and the status says what was chosen
    job = app.start_training(TrainForm.from_widgets(None, str(text), "auto", "lstm", 0, 1, 0, 0, 0, 0, 0.1))
    assert job.request.model["hidden"] is None and job.request.config.batching == "streams"
    job.thread.join(60)
    assert job.state == "finished" and "sized: hidden " in job.summary(), job.summary()
    assert ckpt.load(tmp_path / "ckpts" / "auto.pt")["metrics"]["sizing"]["hidden"] >= 64
    # a step count, as existing API callers give it, still wins over the Minutes field's default
    req = jobs.make_request(TrainForm.parse(text_file=text, steps=7, minutes=TrainForm.minutes))
    assert req.config.steps == 7 and req.config.minutes is None
    with pytest.raises(ValueError, match="minutes must be"):
        jobs.make_request(TrainForm.parse(text_file=text, steps=None, minutes=-1))


def test_a_budget_run_ends_after_its_passes_with_the_schedule_complete(tmp_path):
    t0 = time.perf_counter()
    result = train_tiny(tmp_path / "m.pt", steps=None, minutes=1, max_passes=3, log_every=1)
    assert time.perf_counter() - t0 < 30  # far sooner than the minute
    assert passes_ended_at(result.chars_seen, 3)
    assert result.status == "finished" and result.metrics["ended_by"] == "max_passes"
    assert ckpt.load(tmp_path / "m.pt")["metrics"]["passes"] == 3
    records = [json.loads(x) for x in (tmp_path / "m.log.jsonl").read_text().splitlines()]
    lrs = [r["lr"] for r in records if "lr" in r]
    assert lrs[-1] < 0.1 * max(lrs)  # the decay ran over the passes, not over the minute
    assert sum("val_loss" in r for r in records) == 3  # validated at 50%, 80% and the end, of the passes


def test_the_passes_are_counted_across_a_resume(tmp_path):
    out, stop, corpus = tmp_path / "m.pt", threading.Event(), Corpus(REPEAT, "repeat.txt", {"clean": "none"})
    config = tiny_config(steps=None, minutes=1, max_passes=3, log_every=1)
    first = train(corpus, TINY_MODEL, config, out=out, stop_event=stop, progress=False,
                  on_log=lambda r: r.get("step", 0) >= 8 and stop.set())
    assert first.status == "stopped" and "ended_by" not in first.metrics
    resumed = train(corpus, TINY_MODEL, config, out=out, resume=True, progress=False)
    assert resumed.metrics["ended_by"] == "max_passes" and resumed.steps > first.steps
    assert passes_ended_at(resumed.chars_seen, 3)  # three passes in all, not three after the resume


def test_cli_max_passes(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text(REPEAT)
    assert main(["train", "--text", str(text), "--minutes", "1", "--max-passes", "2", "--out",
                 str(tmp_path / "m.pt"), "--quiet", "--device", "cpu", "--hidden", "16", "--embed", "8", "--seq-len",
                 "16", "--batch-size", "8"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert " ended_by=max_passes passes=2 " in line, line


def test_app_fine_tuning_to_minutes_ends_after_its_passes_and_says_so(tmp_path):
    from charrnn.web.forms import TrainForm
    from charrnn.web.webapp import WebApp

    text = tmp_path / "fox.txt"
    text.write_text(REPEAT)
    folder = tmp_path / "ckpts"
    train_tiny(folder / "tiny.pt", steps=20)
    app = WebApp(folder, device="cpu")
    job = app.start_training(TrainForm.parse(text_file=text, name="ft", steps=None, minutes=1, start_from="tiny.pt"))
    assert job.request.config.max_passes == FINETUNE_RECIPE.max_passes  # the fine-tuning recipe's default
    job.thread.join(60)
    assert job.state == "finished", job.summary()
    assert f"ended after {FINETUNE_RECIPE.max_passes:g} passes over the text" in job.summary(), job.summary()
    assert ckpt.load(folder / "ft.pt")["metrics"]["ended_by"] == "max_passes"
