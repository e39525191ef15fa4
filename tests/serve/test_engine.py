"""The batched sampling engine: same text as single-request sampling, join/leave at any step, isolation."""
import threading

import pytest
import torch

from charrnn.lm.data import Vocab
from charrnn.serve.engine import Engine
from charrnn.lm.model import ROW_MULTIPLE, CharRNN, ModelConfig, pad_rows
from charrnn.lm.sample import CharLM, generate

TEXT = "the quick brown fox jumps over the lazy dog. " * 4


def tiny_lm(cell: str = "lstm", layers: int = 2) -> CharLM:
    torch.manual_seed(0)
    vocab = Vocab.from_text(TEXT)
    model = CharRNN(ModelConfig(len(vocab), embed=16, hidden=32, layers=layers, cell=cell)).eval()
    return CharLM(model, vocab, {})


def collect(stream) -> list[str]:
    texts: list[list[str]] = []
    for chars in stream:
        if not texts:
            texts = [[] for _ in chars]
        for t, c in zip(texts, chars):
            t.append(c)
    return ["".join(t) for t in texts]


OPTIONS = [
    dict(prompt="the ", length=60, temperature=1.0, seed=1),
    dict(prompt="quick", length=25, temperature=0.5, top_k=5, seed=2),
    dict(prompt="fox", length=90, temperature=1.3, top_p=0.9, seed=3, num_samples=3),
    dict(prompt="lazy dog", length=40, temperature=0.0, seed=4),
    dict(prompt="o", length=70, temperature=0.8, top_k=3, top_p=0.5, seed=5, num_samples=2),
]


def alone(lm: CharLM, opts: dict) -> list[str]:
    """What single-request sampling gives: the continuations without the prompt."""
    opts = dict(opts)
    prompt = opts.pop("prompt")
    return [t[len(prompt):] for t in generate(lm, prompt, **opts)]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_batched_requests_give_the_single_request_text(cell):
    lm = tiny_lm(cell)
    engine = Engine(lm)
    streams = [engine.submit(**o) for o in OPTIONS]  # mixed options, lengths and sample counts in one batch
    got = [collect(s) for s in streams]
    assert got == [alone(lm, o) for o in OPTIONS]
    assert engine.steps < sum(o["length"] for o in OPTIONS)  # the requests really shared steps


def test_requests_join_and_leave_at_arbitrary_steps():
    lm = tiny_lm()
    engine = Engine(lm)
    first = iter(engine.submit(**OPTIONS[2]))
    head = [next(first) for _ in range(17)]  # the first request is 17 steps in when the others join
    late = [engine.submit(**o) for o in OPTIONS[:2]]
    rest = list(first)
    texts = ["".join(chars) for chars in zip(*(head + rest))]
    assert texts == alone(lm, OPTIONS[2])
    assert [collect(s) for s in late] == [alone(lm, o) for o in OPTIONS[:2]]


def test_a_closed_stream_leaves_and_the_others_finish():
    lm = tiny_lm()
    engine = Engine(lm)
    quitter = engine.submit(prompt="the", length=5000, seed=9)
    stayer = engine.submit(**OPTIONS[0])
    it = iter(quitter)
    for _ in range(5):
        next(it)
    it.close()  # a client that went away
    assert collect(stayer) == alone(lm, OPTIONS[0])
    before = engine.steps
    extra = engine.submit(**OPTIONS[1])
    assert collect(extra) == alone(lm, OPTIONS[1])
    assert engine.steps - before <= OPTIONS[1]["length"] + 1  # the closed 5000-character request no longer steps


def test_a_failing_request_does_not_disturb_the_others(monkeypatch):
    lm = tiny_lm()
    engine = Engine(lm)
    import charrnn.serve.engine as eng

    real = eng.draw
    calls = {"n": 0}

    def flaky(logits, temperature, *args):
        if temperature == 0.77:  # only the poisoned request's draws fail, after a few characters
            calls["n"] += 1
            if calls["n"] > 3:
                raise RuntimeError("poisoned request")
        return real(logits, temperature, *args)

    monkeypatch.setattr(eng, "draw", flaky)
    bad = engine.submit(prompt="the", length=50, temperature=0.77, seed=1)
    good = [engine.submit(**o) for o in OPTIONS[:2]]
    with pytest.raises(RuntimeError, match="poisoned"):
        collect(bad)
    assert [collect(s) for s in good] == [alone(lm, o) for o in OPTIONS[:2]]


def test_bad_options_are_refused_at_submit_and_the_engine_goes_on():
    lm = tiny_lm()
    engine = Engine(lm)
    with pytest.raises(ValueError, match="temperature"):
        engine.submit(prompt="the", length=10, temperature=-1)
    with pytest.raises(ValueError, match="vocabulary"):
        engine.submit(prompt="Ω", length=10)
    assert collect(engine.submit(**OPTIONS[0])) == alone(lm, OPTIONS[0])


def test_many_threads_at_once_each_get_their_own_text():
    lm = tiny_lm()
    engine = Engine(lm, max_rows=8)  # fewer rows than requests: the rest wait their turn
    results: dict[int, list[str]] = {}

    def user(i: int) -> None:
        results[i] = collect(engine.submit(prompt="the", length=30 + i, temperature=0.9, seed=100 + i))

    threads = [threading.Thread(target=user, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(results[i] == alone(lm, dict(prompt="the", length=30 + i, temperature=0.9, seed=100 + i))
               for i in range(12))


def test_shipped_model_batched_equals_alone():
    """At the shipped size (2 x 512) the matrix kernels' blocking depends on the batch: padding keeps rows exact."""
    from charrnn.lm.charlm import load_char_lm
    from tests.conftest import ROOT

    lm = load_char_lm(ROOT / "checkpoints" / "mysterious-island.pt")
    prompts = ("The island", "Captain", "Pencroft", "The")
    options = [dict(prompt=p, length=150, temperature=1.0, seed=7) for p in prompts]
    options += [dict(prompt="The engineer", length=120, temperature=0.8, seed=3, num_samples=3)]
    engine = Engine(lm)
    streams = [engine.submit(**o) for o in options]  # 4 + 3 = 7 rows, then fewer as requests finish
    each_alone = [collect(Engine(lm).submit(**o)) for o in options]  # every request with the engine to itself
    assert [collect(s) for s in streams] == each_alone


def test_stepper_rows_do_not_depend_on_the_batch_size():
    """Each row's logits come out bit for bit the same whatever the number of rows stepped with it."""
    from charrnn.lm.charlm import load_char_lm
    from tests.conftest import ROOT

    lm = load_char_lm(ROOT / "checkpoints" / "mysterious-island.pt")
    torch.manual_seed(0)
    h, c = torch.randn(2, 24, 512) * 0.5, torch.randn(2, 24, 512) * 0.5
    x = torch.randint(0, len(lm.vocab), (24,))
    def step(x, state):  # as the engine steps: the rows padded to a multiple of ROW_MULTIPLE
        extra = -x.shape[0] % ROW_MULTIPLE
        logits, state = lm.stepper(torch.cat([x, x.new_zeros(extra)]), pad_rows(state, extra))
        return logits[:x.shape[0]], state

    full, _ = step(x, (h, c))
    for rows in range(1, 13):
        part, _ = step(x[:rows], (h[:, :rows], c[:, :rows]))
        assert torch.equal(part, full[:rows]), rows


def test_a_failing_step_fails_the_batch_and_the_engine_goes_on(monkeypatch):
    lm = tiny_lm()
    engine = Engine(lm)
    real, failed = lm.stepper, []

    def broken_once(x, state):
        if len(engine._active) == 2 and not failed:  # once both requests share the batch
            failed.append(True)
            raise RuntimeError("out of memory, say")
        return real(x, state)

    monkeypatch.setattr(lm, "stepper", broken_once)
    streams = [engine.submit(prompt="the", length=2000, seed=1), engine.submit(**OPTIONS[1])]
    for stream in streams:
        with pytest.raises(RuntimeError, match="out of memory"):
            collect(stream)
    assert collect(engine.submit(**OPTIONS[0])) == alone(lm, OPTIONS[0])  # no request hangs; the next is served


def test_a_failing_shared_draw_is_retried_request_by_request(monkeypatch):
    lm = tiny_lm()
    engine = Engine(lm)
    import charrnn.serve.engine as eng

    real = eng.draw

    def no_groups(logits, temperature, top_k, top_p, uniforms):
        if logits.shape[0] > 1 and len(uniforms) > 1:
            raise RuntimeError("a shared draw failed")
        return real(logits, temperature, top_k, top_p, uniforms)

    monkeypatch.setattr(eng, "draw", no_groups)
    same = [dict(prompt=p, length=40, temperature=0.9, seed=s) for p, s in (("the", 1), ("fox", 2), ("dog", 3))]
    streams = [engine.submit(**o) for o in same]  # one set of options: drawn together, then one by one
    assert [collect(s) for s in streams] == [alone(lm, o) for o in same]
