"""Stream batches (truncated BPTT with the state carried) and the time-budget sizing (issue 11)."""
import threading

import numpy as np
import pytest
import torch

from charrnn import Corpus, ModelConfig, TrainConfig, train
from charrnn import checkpoint as ckpt
from charrnn.lm.data import StreamBatches
from charrnn.lm.model import CharRNN
from charrnn.lm.sizing import CHARS_PER_PARAM, MAX_PARAMS_PER_CHAR, Sizing, model_config, params, size_for_budget

from ..helpers import REPEAT


def test_streams_read_on_contiguously_and_restart_only_where_they_say():
    ids = np.arange(5000) % 250  # position p holds p % 250: a chunk's place in the text is visible
    streams = StreamBatches(ids.astype(np.uint8), seq_len=10, batch=6, segment=200)
    gen = torch.Generator().manual_seed(0)
    prev = None
    restarts = 0
    for _ in range(300):
        x, y, fresh = streams.next(gen)
        assert x.shape == y.shape == (6, 10) and x.dtype == torch.long
        assert torch.equal(x[:, 1:], y[:, :-1]) and torch.equal((x + 1) % 250, y)
        if prev is not None:
            continuing = ~fresh
            assert torch.equal(x[continuing, 0], prev[continuing, -1])  # the next chunk starts where one ended
        restarts += int(fresh.sum())
        prev = y
    assert 6 * 300 * 10 / 200 * 0.8 < restarts < 6 * 300 * 10 / 200 * 1.6  # about one segment per 200 characters


def test_no_segment_spans_two_parts_and_every_position_is_read_alike():
    parts = [np.full(3000, 1, np.uint8), np.full(1000, 2, np.uint8), np.full(5, 3, np.uint8)]  # the last: too short
    streams = StreamBatches(parts, seq_len=8, batch=16, segment=300)
    gen = torch.Generator().manual_seed(1)
    counts = torch.zeros(len(streams.ids), dtype=torch.long)
    for _ in range(2000):
        x, y, _ = streams.next(gen)
        start = streams.pos - 8  # where this chunk began
        w = torch.cat([x, y[:, -1:]], 1)
        assert bool((w == w[:, :1]).all())  # one part's ids only
        assert not bool((w == 3).any())
        counts.index_add_(0, (start[:, None] + torch.arange(8)).reshape(-1), torch.ones(16 * 8, dtype=torch.long))
    inner = torch.cat([counts[300:2700], counts[3300:3700]]).double()  # away from the parts' edges
    assert inner.min() > 0.6 * inner.mean() and inner.max() < 1.4 * inner.mean()
    long, short = counts[300:2700].double().mean(), counts[3300:3700].double().mean()
    assert 0.85 < long / short < 1.15  # a short part's positions are read as often as a long one's


@pytest.mark.parametrize("device", ["meta", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device"))])
def test_stream_chunks_are_gathered_on_the_device_holding_the_text(device):
    ids = (np.arange(3000) % 250).astype(np.uint8)
    on_host, moved = StreamBatches(ids, 10, 4, segment=100), StreamBatches(ids, 10, 4, segment=100).to(device)
    a, b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    for _ in range(30):
        want, got = on_host.next(a), moved.next(b)
        assert got[0].device.type == device and got[0].shape == (4, 10)
        assert torch.equal(got[2], want[2]) and torch.equal(moved.pos, on_host.pos)  # host state, same draws
        assert moved.pos.device.type == "cpu"
        if device != "meta":
            assert torch.equal(got[0].cpu(), want[0]) and torch.equal(got[1].cpu(), want[1])


def test_stream_positions_round_trip_and_bad_ones_are_refused():
    ids = np.arange(2000) % 50
    a = StreamBatches(ids, 12, 4)
    gen = torch.Generator().manual_seed(3)
    for _ in range(5):
        a.next(gen)
    b = StreamBatches(ids, 12, 4)
    b.load_state_dict(a.state_dict())
    state = gen.get_state()
    xa = a.next(gen)
    gen.set_state(state)
    xb = b.next(gen)
    assert all(torch.equal(u, v) for u, v in zip(xa, xb))
    with pytest.raises(ValueError, match="do not fit 3 streams"):
        StreamBatches(ids, 12, 3).load_state_dict(a.state_dict())
    with pytest.raises(ValueError, match="too short"):
        StreamBatches(np.arange(5), 12, 2)


def tiny_streams(**kw) -> TrainConfig:
    return TrainConfig(**{**dict(steps=120, batch_size=8, seq_len=16, lr=0.02, batching="streams", eval_every=60,
                                 save_every=60, log_every=10, warmup=0, device="cpu"), **kw})


TINY = dict(embed=16, hidden=48, layers=1)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_stream_training_learns_and_resumes_exactly(tmp_path, cell):
    corpus = Corpus(REPEAT, "repeat.txt", {"clean": "none"})
    straight = train(corpus, {**TINY, "cell": cell}, tiny_streams(), out=tmp_path / "a.pt", progress=False)
    assert straight.val_loss < 0.3, straight.val_loss
    stop = threading.Event()
    stopped = train(corpus, {**TINY, "cell": cell}, tiny_streams(), out=tmp_path / "b.pt", stop_event=stop,
                    on_log=lambda r: r["step"] >= 50 and stop.set(), progress=False)
    assert stopped.status == "stopped" and stopped.steps == 50
    saved = ckpt.load(tmp_path / "b.pt")["trainer"]["streams"]
    assert saved["pos"].shape == (8,) and len(saved["hidden"]) == (2 if cell == "lstm" else 1)
    resumed = train(corpus, None, None, out=tmp_path / "b.pt", resume=True, progress=False)
    assert resumed.steps == 120
    a, b = ckpt.load(tmp_path / "a.pt")["state_dict"], ckpt.load(tmp_path / "b.pt")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a) and resumed.val_loss == straight.val_loss


def test_stream_batching_is_refused_under_a_bad_name():
    with pytest.raises(ValueError, match="batching must be 'windows' or 'streams'"):
        TrainConfig(batching="shuffled")
    with pytest.raises(ValueError, match="only with a time budget"):
        TrainConfig(batch_size=None)


def test_parameter_count_matches_the_model():
    for cfg in (ModelConfig(80, 256, 384), ModelConfig(30, 16, 24, layers=2, cell="gru"), model_config(65, 128)):
        assert params(cfg) == sum(p.numel() for p in CharRNN(cfg).parameters())


def test_sizing_takes_the_largest_model_the_budget_trains_enough(monkeypatch):
    rate = {16: 800.0, 32: 1000.0, 64: 1050.0, 128: 1060.0}  # chars/s of the probe model by batch: flat on a CPU
    monkeypatch.setattr("charrnn.lm.sizing.throughput",
                        lambda cfg, batch, *a, **k: rate.get(batch, 1060.0) * (256 / cfg.hidden) ** 2)
    sized = size_for_budget(80, 10_000_000, 600, 40, torch.device("cpu"))
    assert sized.batch_size == 16  # the smallest within 70% of the best: more updates for the same characters
    assert sized.chars_per_second * 600 >= CHARS_PER_PARAM * sized.params
    bigger = model_config(80, [h for h in (96, 128, 192, 256, 320, 384) if h > sized.hidden][0])
    assert 800.0 * (256 / bigger.hidden) ** 2 * 600 < CHARS_PER_PARAM * params(bigger)
    assert size_for_budget(80, 10_000_000, 6000, 40, torch.device("cpu")).hidden > sized.hidden  # more time
    small_text = size_for_budget(80, 60_000, 6000, 40, torch.device("cpu"))
    assert small_text.params <= MAX_PARAMS_PER_CHAR * 60_000 < params(model_config(80, 128))  # capped by the text
    assert isinstance(sized, Sizing) and "hidden" in sized.line(600)
    given = size_for_budget(80, 10_000_000, 600, 40, torch.device("cpu"), batch=64)  # a batch given: kept
    assert given.batch_size == 64 and {t["batch"] for t in given.trials} == {64}
    given = size_for_budget(80, 10_000_000, 600, 40, torch.device("cpu"), hidden=128)  # a hidden size given: kept
    assert given.hidden == 128 and [t["hidden"] for t in given.trials if t["batch"] == given.batch_size][-1] == 128


def test_a_budget_run_without_a_size_is_sized_and_says_so(tmp_path):
    corpus = Corpus(REPEAT * 3, "repeat.txt", {"clean": "none"})
    config = TrainConfig(minutes=0.15, batch_size=None, seq_len=16, batching="streams", device="cpu")
    result = train(corpus, None, config, out=tmp_path / "m.pt", progress=False)
    sizing = result.metrics["sizing"]
    saved = ckpt.load(result.best)
    assert saved["config"]["model"]["hidden"] == sizing["hidden"] and sizing["hidden"] >= 64
    assert saved["config"]["train"]["batch_size"] == sizing["batch_size"] >= 16
    assert sizing["trials"] and all(t["chars_per_second"] > 0 for t in sizing["trials"])
    assert result.status == "finished" and result.val_loss is not None
    assert [r["sizing"]["hidden"] for r in result.history if "sizing" in r] == [sizing["hidden"]]
