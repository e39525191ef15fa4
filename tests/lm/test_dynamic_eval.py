"""Dynamic evaluation: predict-then-adapt on one stream, scored like the static evaluation."""
import copy
import random
import re

import pytest
import torch
import torch.nn.functional as F

from charrnn import CharRNN, ModelConfig, Vocab, evaluate_stream, load_char_lm
from charrnn.cli import main
from charrnn.lm.data import split_ids
from charrnn.lm.dynamic import (
    DynamicConfig,
    dynamic_logprobs,
    dynamic_losses,
    evaluate_dynamic,
    gradient_rms,
)

from ..helpers import REPEAT

LETTERS = "abcdefghijklmnopqrstuvwxyz .\n"
PATTERN = "jaws zip vex quo. "  # a phrase the model below never saw


def _text_a(n: int = 3000, seed: int = 0) -> str:
    rng = random.Random(seed)
    words = ["the", "and", "island", "sea", "engineer", "fire", "wood", "rock", "water", "sailor"]
    return " ".join(rng.choice(words) for _ in range(n // 5))[:n]


@pytest.fixture(scope="module")
def tiny():
    """A small LSTM trained for 60 SGD steps on text A: it knows words of A, not PATTERN."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: a second thread only waits when the cores are shared
    try:
        yield _train_tiny()
    finally:
        torch.set_num_threads(threads)


def _train_tiny():
    torch.manual_seed(0)
    vocab = Vocab(tuple(sorted(LETTERS)))
    model = CharRNN(ModelConfig(vocab_size=len(vocab), embed=16, hidden=32, layers=2))
    ids = torch.as_tensor(vocab.encode(_text_a()))
    for _ in range(60):  # plain SGD: an optimizer's first use would import torch._dynamo (seconds)
        starts = torch.randint(0, len(ids) - 41, (8,))
        window = torch.stack([ids[s : s + 41] for s in starts.tolist()])
        logits, _ = model(window[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, len(vocab)), window[:, 1:].reshape(-1))
        grads = torch.autograd.grad(loss, list(model.parameters()))
        with torch.no_grad():
            for p, g in zip(model.parameters(), grads):
                p.sub_(g, alpha=2.0)
    model.eval()
    return vocab, model


def test_no_step_equals_static_single_stream(tiny):
    vocab, model = tiny
    ids = vocab.encode(_text_a(700, seed=1))
    static = evaluate_stream(model, ids, streams=1)
    for method in ("sgd", "rms"):
        dyn = evaluate_dynamic(model, ids, DynamicConfig(method=method, lr=0.0, decay=0.0, segment=30),
                               stats_ids=vocab.encode(_text_a(400, seed=2)))
        assert dyn.chars == static.chars == len(ids) - 1
        assert dyn.loss_nats == pytest.approx(static.loss_nats, abs=1e-5)


@pytest.mark.parametrize("config", [DynamicConfig(method="sgd", lr=1.0, decay=0.01, segment=20),
                                    DynamicConfig(method="rms", lr=0.003, decay=0.01, segment=20)])
def test_dynamic_learns_a_repeated_pattern_static_does_not(tiny, config):
    vocab, model = tiny
    held_out = vocab.encode(PATTERN * 60)
    before = [p.detach().clone() for p in model.parameters()]
    static = evaluate_stream(model, held_out, streams=1)
    dyn = evaluate_dynamic(model, held_out, config, stats_ids=vocab.encode(_text_a(1000, seed=3)))
    assert static.loss_nats > 1.5, "the pattern must be new to the model"
    assert dyn.loss_nats < static.loss_nats - 1.0
    assert dyn.chars == static.chars
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters())), "the caller's model is unchanged"


def test_frozen_or_training_mode_model_is_evaluated_the_same(tiny):
    vocab, model = tiny
    ids, stats = vocab.encode(PATTERN * 5), vocab.encode(_text_a(300, seed=6))
    config = DynamicConfig(lr=0.003, segment=20)
    expected = evaluate_dynamic(model, ids, config, stats_ids=stats)
    frozen = copy.deepcopy(model).requires_grad_(False).train()
    assert evaluate_dynamic(frozen, ids, config, stats_ids=stats) == expected
    assert frozen.training and not any(p.requires_grad for p in frozen.parameters())


def test_each_segment_is_scored_before_the_step_on_it(tiny):
    """Segment k's loss depends only on text before its end: later text cannot change it."""
    vocab, model = tiny
    config = DynamicConfig(method="sgd", lr=2.0, decay=0.0, segment=25)
    shared = PATTERN * 10  # 180 characters: segments 0..6 lie wholly inside it
    a = list(dynamic_losses(model, vocab.encode(shared + PATTERN * 5), config))
    b = list(dynamic_losses(model, vocab.encode(shared + _text_a(90, seed=4)), config))
    k = (len(shared) - 1) // 25
    assert a[:k] == b[:k]
    assert a[k] != b[k]
    first = evaluate_stream(model, vocab.encode(shared[:26]), streams=1)
    assert a[0][0] / a[0][1] == pytest.approx(first.loss_nats, abs=1e-5), "the first segment uses untouched weights"
    assert sum(c for _, c in a) == len(shared) + 5 * len(PATTERN) - 1


def test_models_stepped_in_lockstep_do_not_disturb_each_other(tiny):
    """Two adapting copies advanced segment by segment (bench/dynamic_ensemble.py) each score as if alone."""
    vocab, model = tiny
    ids, config = vocab.encode(PATTERN * 8), DynamicConfig(method="sgd", lr=1.0, decay=0.01, segment=20)
    alone = list(dynamic_logprobs(model, ids, config))
    paired = list(zip(dynamic_logprobs(model, ids, config), dynamic_logprobs(model, ids, config)))
    assert len(alone) == len(paired) == -(-(len(ids) - 1) // 20)
    assert all(torch.equal(a, p) and torch.equal(a, q) for a, (p, q) in zip(alone, paired))
    assert alone[-1].mean() > alone[0].mean() + 0.5, "the copies do adapt to the pattern"
    losses = list(dynamic_losses(model, ids, config))
    assert [c for _, c in losses] == [len(a) for a in alone]
    assert [loss for loss, _ in losses] == pytest.approx([-a.sum().item() for a in alone])


def test_gradient_rms_matches_segment_gradients(tiny):
    vocab, model = tiny
    ids = torch.as_tensor(vocab.encode(_text_a(61, seed=5)))
    rms = gradient_rms(model, ids, segment=30)
    grads = []
    state = None
    for a in (0, 30):
        logits, state = model(ids[a : a + 30].unsqueeze(0), state)
        state = tuple(s.detach() for s in state)
        loss = F.cross_entropy(logits[0], ids[a + 1 : a + 31])
        grads.append(torch.autograd.grad(loss, list(model.parameters())))
    for r, g0, g1 in zip(rms, *grads):
        torch.testing.assert_close(r, torch.sqrt((g0 * g0 + g1 * g1) / 2))


@pytest.mark.parametrize("kw, message", [
    ({"method": "adam"}, "unknown dynamic evaluation method"),
    ({"lr": -1.0}, "learning rate"),
    ({"decay": 1.5}, "decay"),
    ({"segment": 0}, "segment"),
    ({"stats_chars": 1}, "statistics"),
])
def test_bad_config_is_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        DynamicConfig(**kw)


def test_rms_needs_training_text(tiny):
    vocab, model = tiny
    with pytest.raises(ValueError, match="training text"):
        evaluate_dynamic(model, vocab.encode(PATTERN), DynamicConfig(method="rms"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    d = tmp_path_factory.mktemp("dyn")
    text = d / "book.txt"
    text.write_text(REPEAT, encoding="utf-8")
    out = d / "m.pt"
    assert main(["train", "--text", str(text), "--out", str(out), "--steps", "20", "--batch-size", "8",
                 "--seq-len", "20", "--embed", "16", "--hidden", "32", "--lr", "0.01", "--warmup", "0",
                 "--eval-every", "20", "--save-every", "20", "--quiet"]) == 0
    return text, out


def test_cli_dynamic_last_line_matches_direct_computation(checkpoint, capsys):
    text, out = checkpoint
    capsys.readouterr()
    args = ["evaluate", "--checkpoint", str(out), "--text", str(text), "--dynamic", "--dynamic-lr", "0.001",
            "--dynamic-segment", "40", "--dynamic-stats", "500"]
    assert main(args) == 0
    captured = capsys.readouterr()
    last = captured.out.strip().splitlines()[-1]
    m = re.fullmatch(r"loss_nats=(\d+\.\d{4}) bpc=(\d+\.\d{4}) chars=(\d+)", last)
    assert m, last
    assert "dynamic (rms, lr 0.001" in captured.err
    lm = load_char_lm(out)
    train, val = split_ids(lm.vocab.encode(REPEAT), 0.1)
    direct = evaluate_dynamic(lm.model, val, DynamicConfig(lr=0.001, segment=40, stats_chars=500), stats_ids=train)
    assert last == direct.line()
    assert int(m.group(3)) == len(val) - 1


def test_cli_refuses_rms_statistics_from_the_scored_text(checkpoint, capsys):
    text, out = checkpoint
    assert main(["evaluate", "--checkpoint", str(out), "--text", str(text), "--dynamic", "--split", "all"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("charrnn evaluate: error: --dynamic-method rms")
    assert main(["evaluate", "--checkpoint", str(out), "--text", str(text), "--dynamic", "--dynamic-decay", "2"]) == 2
    assert "decay must be in [0, 1]" in capsys.readouterr().err
