import json
import math
import threading

import pytest
import torch

from charrnn import CharRNN, Corpus, ModelConfig, load_char_lm
from charrnn import checkpoint as ckpt
from charrnn.train import best_path, log_path, lr_at

from .helpers import REPEAT, TINY_MODEL, tiny_config, train, train_tiny


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


def test_tiny_model_learns_repetitive_text(tmp_path):
    result = train_tiny(tmp_path / "m.pt", steps=150, eval_every=50, save_every=50)
    assert result["status"] == "finished" and result["steps"] == 150
    assert result["val_loss"] < 0.15, result["val_loss"]
    assert math.isclose(result["val_bpc"], result["val_loss"] / math.log(2))
    lm = load_char_lm(best_path(tmp_path / "m.pt"))
    assert lm.meta["metrics"]["val_loss"] < 0.15


def test_resume_continues_exactly(tmp_path):
    straight = train_tiny(tmp_path / "a.pt", steps=40)
    stop = threading.Event()
    first = train(Corpus(REPEAT, "repeat.txt", {"clean": "none"}), TINY_MODEL, tiny_config(steps=40),
                  out=tmp_path / "b.pt", stop_event=stop, on_log=lambda r: r["step"] >= 20 and stop.set(),
                  progress=False)
    assert first["status"] == "stopped" and first["steps"] == 20
    resumed = train(Corpus(REPEAT, "repeat.txt", {"clean": "none"}), TINY_MODEL, tiny_config(steps=40),
                    out=tmp_path / "b.pt", resume=True, progress=False)
    assert resumed["steps"] == 40
    a = ckpt.load(tmp_path / "a.pt")["state_dict"]
    b = ckpt.load(tmp_path / "b.pt")["state_dict"]
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert straight["val_loss"] == resumed["val_loss"]
    records = [json.loads(line) for line in log_path(tmp_path / "b.pt").read_text().splitlines()]
    assert [r["step"] for r in records if "val_loss" in r] == [20, 40]


def test_seeded_runs_are_reproducible(tmp_path):
    a = train_tiny(tmp_path / "a.pt", steps=20)
    b = train_tiny(tmp_path / "b.pt", steps=20)
    c = train_tiny(tmp_path / "c.pt", steps=20, seed=4)
    assert a["val_loss"] == b["val_loss"] != c["val_loss"]


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
    assert result["status"] == "stopped"
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
        train(Corpus(REPEAT, "repeat.txt", {"clean": "none"}), TINY_MODEL, tiny_config(), out=best_path(tmp_path / "m.pt"),
              resume=True, progress=False)


def test_lr_schedule_warms_up_and_decays():
    cfg = tiny_config(steps=1000, warmup=100, lr=0.01)
    assert lr_at(0, cfg) == pytest.approx(0.0001)
    assert lr_at(99, cfg) == pytest.approx(0.01)
    assert lr_at(550, cfg) == pytest.approx(0.01 * (0.05 + 0.95 * 0.5))
    assert lr_at(1000, cfg) == pytest.approx(0.01 * 0.05)


def test_output_folder_is_created(tmp_path):
    result = train_tiny(tmp_path / "new" / "deeper" / "m.pt", steps=20)
    assert result["status"] == "finished"
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
