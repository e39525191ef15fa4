import json
import math
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from charrnn import CharRNN, Corpus, ModelConfig, TrainConfig, TrainResult, load_char_lm
from charrnn import checkpoint as ckpt
from charrnn.lm.config import DEFAULT_STEPS
from charrnn.lm.run import best_path, log_path
from charrnn.lm.train import lr_at

from ..helpers import REPEAT, TINY_MODEL, tiny_config, train, train_tiny


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_model_runs_sequences_and_carries_state(cell):
    torch.manual_seed(0)
    m = CharRNN(ModelConfig(vocab_size=10, embed=8, hidden=12, layers=2, cell=cell)).eval()
    x = torch.randint(0, 10, (3, 7))
    logits, state = m(x)
    assert logits.shape == (3, 7, 10)
    split_a, s = m(x[:, :4])
    split_b, _ = m(x[:, 4:], s)
    assert torch.allclose(torch.cat([split_a, split_b], 1), logits, atol=1e-5)


def test_default_model_is_the_chapters():
    cfg = ModelConfig(vocab_size=80)
    m = CharRNN(cfg)
    assert (cfg.embed, cfg.hidden, cfg.layers, cfg.cell) == (256, 512, 1, "lstm")
    assert m.rnn.hidden_size == 512 and m.embedding.embedding_dim == 256


def test_bad_model_config_is_refused():
    with pytest.raises(ValueError, match="cell"):
        ModelConfig(vocab_size=5, cell="transformer")
    with pytest.raises(ValueError, match="dropout"):
        ModelConfig(vocab_size=5, dropout=1.5)
    with pytest.raises(ValueError, match="weight_drop"):
        ModelConfig(vocab_size=5, weight_drop=1.0)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_weight_drop_cuts_recurrent_connections_in_training_only(cell):
    torch.manual_seed(0)
    cfg = dict(vocab_size=10, embed=8, hidden=12, layers=2, cell=cell)
    m = CharRNN(ModelConfig(**cfg, weight_drop=0.5))
    plain = CharRNN(ModelConfig(**cfg))
    plain.load_state_dict(m.state_dict())
    x = torch.randint(0, 10, (3, 7))
    m.eval(), plain.eval()
    assert torch.equal(m(x)[0], plain(x)[0])  # evaluation and sampling see the whole weights
    m.train()
    a, b = m(x)[0], m(x)[0]
    assert not torch.allclose(a, b)  # a new mask per call
    # the mask is one per call, shared by every time step: the first step (h = 0) sees no hidden weights at all
    assert torch.allclose(a[:, 0], b[:, 0])
    a.sum().backward()
    assert m.rnn.weight_hh_l0.grad.abs().sum() > 0 and m.rnn.weight_ih_l0.grad.abs().sum() > 0
    assert sum(p.numel() for p in m.parameters()) == sum(p.numel() for p in plain.parameters())


def test_weight_drop_is_recorded_and_trains(tmp_path):
    result = train_tiny(tmp_path / "m.pt", model=dict(TINY_MODEL, weight_drop=0.2), steps=150, eval_every=50,
                        save_every=50)
    assert result.val_loss < 0.3, result.val_loss
    lm = load_char_lm(best_path(tmp_path / "m.pt"))
    assert lm.meta["config"]["model"]["weight_drop"] == 0.2


def test_tiny_model_learns_repetitive_text(tmp_path):
    result = train_tiny(tmp_path / "m.pt", steps=150, eval_every=50, save_every=50)
    assert result.status == "finished" and result.steps == 150
    assert result.val_loss < 0.15, result.val_loss
    assert math.isclose(result.val_bpc, result.val_loss / math.log(2))
    lm = load_char_lm(best_path(tmp_path / "m.pt"))
    assert lm.meta["metrics"]["val_loss"] < 0.15


def test_resume_continues_exactly(tmp_path):
    straight = train_tiny(tmp_path / "a.pt", steps=40)
    stop = threading.Event()
    first = train(Corpus(REPEAT, "repeat.txt", {"clean": "none"}), TINY_MODEL, tiny_config(steps=40),
                  out=tmp_path / "b.pt", stop_event=stop, on_log=lambda r: r["step"] >= 20 and stop.set(),
                  progress=False)
    assert first.status == "stopped" and first.steps == 20
    resumed = train(Corpus(REPEAT, "repeat.txt", {"clean": "none"}), TINY_MODEL, tiny_config(steps=40),
                    out=tmp_path / "b.pt", resume=True, progress=False)
    assert resumed.steps == 40
    a = ckpt.load(tmp_path / "a.pt")["state_dict"]
    b = ckpt.load(tmp_path / "b.pt")["state_dict"]
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert straight.val_loss == resumed.val_loss
    records = [json.loads(line) for line in log_path(tmp_path / "b.pt").read_text().splitlines()]
    assert [r["step"] for r in records if "val_loss" in r] == [20, 40]


def test_seeded_runs_are_reproducible(tmp_path):
    a = train_tiny(tmp_path / "a.pt", steps=20)
    b = train_tiny(tmp_path / "b.pt", steps=20)
    c = train_tiny(tmp_path / "c.pt", steps=20, seed=4)
    assert a.val_loss == b.val_loss != c.val_loss


def test_resume_refuses_other_text(tmp_path):
    train_tiny(tmp_path / "m.pt", steps=20)
    with pytest.raises(ValueError, match="different text"):
        train(Corpus(REPEAT + "x", "other", {}), TINY_MODEL, tiny_config(), out=tmp_path / "m.pt", resume=True,
              progress=False)


def test_stop_saves_before_returning(tmp_path):
    stop = threading.Event()

    def on_log(record):
        if record["step"] >= 50:
            stop.set()

    result = train(Corpus(REPEAT, "r", {}), TINY_MODEL, tiny_config(steps=1000, eval_every=1000, save_every=1000),
                   out=tmp_path / "m.pt", stop_event=stop, on_log=on_log, progress=False)
    assert result.status == "stopped"
    saved = ckpt.load(tmp_path / "m.pt")
    assert saved["trainer"]["step"] == 50
    assert best_path(tmp_path / "m.pt").exists()
    assert not list(tmp_path.glob("*.tmp"))


def test_best_checkpoint_is_slim_and_small(tmp_path):
    train_tiny(tmp_path / "m.pt", steps=20)
    best = ckpt.load(best_path(tmp_path / "m.pt"))
    assert "optimizer" not in best and "trainer" not in best
    full = ckpt.load(tmp_path / "m.pt")
    assert "optimizer" in full and full["trainer"]["step"] == 20
    assert best_path(tmp_path / "m.pt").stat().st_size < 0.6 * (tmp_path / "m.pt").stat().st_size
    with pytest.raises(ckpt.CheckpointError, match="no optimizer/trainer state"):
        train(Corpus(REPEAT, "repeat.txt", {"clean": "none"}), TINY_MODEL, tiny_config(),
              out=best_path(tmp_path / "m.pt"), resume=True, progress=False)


def test_lr_schedule_warms_up_and_decays():
    cfg = tiny_config(steps=1000, warmup=100, lr=0.01)
    assert lr_at(0, cfg) == pytest.approx(0.0001)
    assert lr_at(99, cfg) == pytest.approx(0.01)
    assert lr_at(550, cfg) == pytest.approx(0.01 * (0.05 + 0.95 * 0.5))
    assert lr_at(1000, cfg) == pytest.approx(0.01 * 0.05)


def test_output_folder_is_created(tmp_path):
    result = train_tiny(tmp_path / "new" / "deeper" / "m.pt", steps=20)
    assert result.status == "finished"
    assert (tmp_path / "new" / "deeper" / "m.log.jsonl").exists()


def test_fresh_run_never_publishes_an_older_runs_best(tmp_path):
    train_tiny(tmp_path / "m.pt", steps=20)
    other = "a b c d e f g. " * 200
    stop = threading.Event()
    train(Corpus(other, "other.txt", {}), TINY_MODEL, tiny_config(steps=100, eval_every=80), out=tmp_path / "m.pt",
          stop_event=stop, on_log=lambda r: r["step"] >= 50 and stop.set(), progress=False)
    best = ckpt.load(best_path(tmp_path / "m.pt"))
    assert best["metrics"]["corpus"] == "other.txt" and best["metrics"]["steps"] == 50


def test_resume_drops_log_records_past_the_checkpoint(tmp_path):
    stop = threading.Event()
    corpus = Corpus(REPEAT, "repeat.txt", {})
    train(corpus, TINY_MODEL, tiny_config(steps=40), out=tmp_path / "m.pt", stop_event=stop,
          on_log=lambda r: r["step"] >= 20 and stop.set(), progress=False)
    with open(log_path(tmp_path / "m.pt"), "a") as f:
        f.write(json.dumps({"step": 33, "train_loss": 9.9}) + "\n")  # as if written after the last save
        f.write('{"step": 34, "train_lo')  # a line cut short by a crash
    train(corpus, TINY_MODEL, tiny_config(steps=40), out=tmp_path / "m.pt", resume=True, progress=False)
    steps = [json.loads(line)["step"] for line in log_path(tmp_path / "m.pt").read_text().splitlines()]
    assert steps == sorted(steps) and 33 not in steps and steps[-1] == 40


@pytest.mark.parametrize("field", ["eval_every", "save_every"])
def test_zero_intervals_are_refused(field):
    with pytest.raises(ValueError, match="at least 1"):
        tiny_config(**{field: 0})


def _stop_at(step: int) -> tuple[threading.Event, Callable[[dict], object]]:
    """A stop event and an on_log hook that sets it once a record at `step` or later is logged."""
    stop = threading.Event()
    return stop, lambda r: r["step"] >= step and stop.set()


def test_resume_through_the_api_continues_the_saved_run(tmp_path):
    """Issue 9: `train(corpus, out=p, resume=True)` with no config used to run a 60-step run on to 5,000 steps on
    another cosine schedule. It continues the saved run: same steps, same weights as an uninterrupted run."""
    corpus = Corpus(REPEAT, "repeat.txt", {"clean": "none"})
    straight = train(corpus, TINY_MODEL, tiny_config(steps=60), out=tmp_path / "a.pt", progress=False)
    stop, at_20 = _stop_at(20)
    train(corpus, TINY_MODEL, tiny_config(steps=60), out=tmp_path / "b.pt", stop_event=stop, on_log=at_20,
          progress=False)
    runaway, past_60 = _stop_at(61)  # ends the old behaviour's 5,000-step run early
    resumed = train(corpus, out=tmp_path / "b.pt", resume=True, stop_event=runaway, on_log=past_60, progress=False)
    assert (resumed.status, resumed.steps) == ("finished", 60)
    saved = ckpt.load(tmp_path / "b.pt")
    assert saved["config"]["train"]["steps"] == 60 and saved["trainer"]["step"] == 60
    a = ckpt.load(tmp_path / "a.pt")["state_dict"]
    for k, v in a.items():
        assert torch.equal(v, saved["state_dict"][k]), k
    assert resumed.val_loss == straight.val_loss


def test_resume_runs_longer_only_when_asked(tmp_path):
    """A config whose steps is set extends the run; its other run-defining settings stay the saved ones."""
    corpus = Corpus(REPEAT, "repeat.txt", {"clean": "none"})
    train(corpus, TINY_MODEL, tiny_config(steps=20), out=tmp_path / "m.pt", progress=False)
    again = train(corpus, config=TrainConfig(device="cpu"), out=tmp_path / "m.pt", resume=True, progress=False)
    assert again.steps == 20, "steps not set: the saved run is already complete"
    longer = train(corpus, config=TrainConfig(steps=30, lr=0.5, device="cpu"), out=tmp_path / "m.pt", resume=True,
                   progress=False)
    assert longer.steps == 30
    train_cfg = ckpt.load(tmp_path / "m.pt")["config"]["train"]
    assert train_cfg["steps"] == 30 and train_cfg["lr"] == 0.01 and train_cfg["batch_size"] == 16


def test_new_run_without_steps_uses_the_default():
    assert TrainConfig().steps is None and DEFAULT_STEPS == 5000
    with pytest.raises(ValueError, match="at least 1"):
        TrainConfig(steps=0)


def test_resume_skips_log_records_it_cannot_use(tmp_path):
    """Issue 9: a log line such as {"step": null} made the resume raise TypeError (and leak the trainer's signal
    handlers). Records without a usable step are dropped; the run resumes."""
    corpus = Corpus(REPEAT, "repeat.txt", {})
    stop, at_20 = _stop_at(20)
    train(corpus, TINY_MODEL, tiny_config(steps=40), out=tmp_path / "m.pt", stop_event=stop, on_log=at_20,
          progress=False)
    bad = ({"step": None}, {"step": "7"}, {"step": True}, {"train_loss": 1.0}, [1, 2], "text", 3)
    with open(log_path(tmp_path / "m.pt"), "a") as f:
        f.writelines(json.dumps(record) + "\n" for record in bad)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    result = train(corpus, TINY_MODEL, tiny_config(steps=40), out=tmp_path / "m.pt", resume=True, progress=False)
    assert result.steps == 40
    records = [json.loads(line) for line in log_path(tmp_path / "m.pt").read_text().splitlines()]
    assert all(isinstance(r["step"], int) and not isinstance(r["step"], bool) for r in records)
    assert [r["step"] for r in records] == sorted(r["step"] for r in records) and records[-1]["step"] == 40
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers


def test_signal_handlers_are_restored_when_preparing_the_files_fails(tmp_path, monkeypatch):
    """Issue 9: the handlers were installed before the `try` that restores them, so an error in between (here a
    PermissionError deleting the old log) left Ctrl-C swallowed for the rest of the Python session."""
    real_unlink = Path.unlink

    def unlink(self, *args, **kwargs):
        if self.name.endswith(".log.jsonl"):
            raise PermissionError(f"not allowed: {self.name}")
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", unlink)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(PermissionError):
        train_tiny(tmp_path / "m.pt", steps=20)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers


def test_ctrl_c_stops_at_the_next_step_saves_and_gives_ctrl_c_back(tmp_path):
    """In one process the stop flag is read every step, not only at log steps: Ctrl-C during step 25's
    validation stops the run at step 25 (log records every 10 steps), and the caller's handler is back after."""
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    seen = []

    def on_log(record):
        seen.append(signal.getsignal(signal.SIGINT))
        if record["step"] == 25 and "val_loss" in record:
            signal.raise_signal(signal.SIGINT)

    result = train(Corpus(REPEAT, "r", {}), TINY_MODEL,
                   tiny_config(steps=1000, log_every=10, eval_every=25, save_every=1000),
                   out=tmp_path / "m.pt", on_log=on_log, progress=False)
    assert (result.status, result.steps) == ("stopped", 25)
    assert ckpt.load(tmp_path / "m.pt")["trainer"]["step"] == 25
    assert seen and all(h is not handlers[0] for h in seen), "the trainer's handler is active while it trains"
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers


def test_result_is_typed_and_matches_the_checkpoint(tmp_path):
    result = train_tiny(tmp_path / "m.pt", steps=20)
    assert isinstance(result, TrainResult)
    assert result.out == tmp_path / "m.pt" and result.best == best_path(tmp_path / "m.pt")
    assert (result.rank, result.world_size) == (0, 1)
    metrics = ckpt.load(result.out)["metrics"]
    assert result.metrics == metrics
    assert (result.chars_seen, result.train_seconds, result.val_loss) == (
        metrics["chars_seen"], metrics["train_seconds"], metrics["val_loss"])
    assert result.chars_seen == 20 * 16 * 20
    assert [r["step"] for r in result.history if "val_loss" in r] == [20]
