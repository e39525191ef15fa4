import math
import threading
import warnings

import pytest
import torch

from charrnn import VocabError, generate, load_char_lm, stream
from charrnn.lm.sample import Dice, draw, next_char_probs
from charrnn.lm.run import best_path

from ..helpers import train_tiny


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    out = tmp_path_factory.mktemp("lm") / "m.pt"
    train_tiny(out, steps=150, eval_every=150, save_every=150)
    return load_char_lm(best_path(out))


def _entropy(p):
    return -(p * p.clamp_min(1e-12).log()).sum().item()


def test_temperature_divides_logits_and_alpha_is_its_inverse():
    logits = torch.tensor([[2.0, 1.0, 0.5, -1.0]])
    for t in (0.25, 0.5, 1.0, 2.0):
        alpha = 1 / t
        assert torch.allclose(next_char_probs(logits, t), torch.softmax(logits * alpha, -1))
    entropies = [_entropy(next_char_probs(logits, t)) for t in (0.25, 0.5, 1.0, 2.0, 5.0)]
    assert entropies == sorted(entropies) and entropies[0] < 0.2 < 1.3 < entropies[-1]


def test_zero_temperature_is_greedy():
    p = next_char_probs(torch.tensor([[0.1, 3.0, 2.9]]), 0)
    assert p.tolist() == [[0.0, 1.0, 0.0]]


def test_top_k_and_top_p_keep_the_right_sets():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    p = next_char_probs(logits, 1.0, top_k=2)
    assert torch.allclose(p, torch.tensor([[0.625, 0.375, 0.0, 0.0]]))
    tied = next_char_probs(torch.zeros(1, 6), 1.0, top_k=2)
    assert (tied > 0).sum().item() == 2 and torch.allclose(tied.sum(), torch.tensor(1.0))
    p = next_char_probs(logits, 1.0, top_p=0.75)
    assert torch.allclose(p, torch.tensor([[0.625, 0.375, 0.0, 0.0]]))
    p = next_char_probs(logits, 1.0, top_p=0.81)
    assert (p > 0).sum().item() == 3
    assert torch.allclose(next_char_probs(logits, 1.0, top_p=1.0), torch.softmax(logits, -1))


def test_draw_follows_the_probabilities_and_never_takes_an_excluded_character():
    logits = torch.log(torch.tensor([[0.0, 0.5, 0.0, 0.3, 0.15, 0.05, 0.0]]))  # zeros first, between and last
    dice = Dice(torch.Generator().manual_seed(0), 1)
    counts = torch.zeros(7)
    n = 20_000
    for _ in range(n):
        counts[draw(logits, 1.0, None, None, dice.next())[0]] += 1
    assert counts[[0, 2, 6]].sum() == 0
    assert torch.allclose(counts / n, torch.tensor([0.0, 0.5, 0.0, 0.3, 0.15, 0.05, 0.0]), atol=0.015)
    # the extremes of the uniform numbers stay on characters that can be drawn, whatever the rounding
    two = logits.expand(2, -1)
    assert draw(two, 1.0, 2, None, [0.0, 1.0 - 2**-24]) == [3, 1]  # the last and the first allowed id
    assert draw(two, 0, None, None, [0.0, 0.999]) == [1, 1]


def test_draw_rows_do_not_depend_on_each_other():
    torch.manual_seed(0)
    logits = torch.randn(12, 80) * 3
    u = torch.rand(12).tolist()
    together = draw(logits, 0.8, 20, 0.9, u)
    assert together == [draw(logits[i:i + 1], 0.8, 20, 0.9, u[i:i + 1])[0] for i in range(12)]
    with pytest.raises(ValueError, match="not finite"):
        draw(torch.full((1, 5), float("nan")), 1.0, None, None, [0.5])


def test_seed_repeats_and_prompt_is_kept(lm):
    a = generate(lm, "the quick", 60, temperature=1.0, seed=11)[0]
    b = generate(lm, "the quick", 60, temperature=1.0, seed=11)[0]
    c = generate(lm, "the quick", 60, temperature=1.5, seed=12)[0]
    assert a == b != c
    assert a.startswith("the quick") and len(a) == len("the quick") + 60


def test_greedy_continues_the_learned_text(lm):
    text = generate(lm, "the quick brown ", 30, temperature=0)[0]
    assert text.startswith("the quick brown fox jumps over the lazy")


def test_batch_sampling_gives_independent_streams(lm):
    outs = generate(lm, "the", 80, num_samples=4, temperature=2.0, seed=5)
    assert len(outs) == 4 and all(o.startswith("the") and len(o) == 83 for o in outs)
    assert len(set(outs)) > 1


def test_stream_yields_one_character_per_step(lm):
    steps = list(stream(lm, "the", 10, seed=1))
    assert len(steps) == 10 and all(len(s) == 1 and len(s[0]) == 1 for s in steps)


def test_generate_and_stream_take_the_same_parameters_in_the_same_order(lm):
    import inspect

    params = [(p.name, p.kind, p.default) for p in inspect.signature(stream).parameters.values()]
    assert params == [(p.name, p.kind, p.default) for p in inspect.signature(generate).parameters.values()]
    assert [name for name, kind, _ in params if kind != inspect.Parameter.KEYWORD_ONLY] == ["lm", "prompt", "length"]
    options = dict(temperature=0.7, top_k=5, top_p=0.9, seed=4, num_samples=2)
    steps = list(stream(lm, "the", 12, **options))
    assert generate(lm, "the", 12, **options) == ["the" + "".join(s[i] for s in steps) for i in range(2)]
    with pytest.raises(TypeError):
        generate(lm, "the", 12, 2)  # was num_samples for generate, temperature for stream


def test_empty_prompt_is_allowed(lm):
    text = generate(lm, "", 20, seed=2)[0]
    assert len(text) == 20 and not lm.vocab.unknown(text)


def test_unknown_prompt_characters_are_named(lm):
    with pytest.raises(VocabError, match=r"'Z', '€'"):
        generate(lm, "the Z€", 5)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(temperature=-1), "temperature"),
        (dict(temperature=math.nan), "temperature"),
        (dict(temperature=math.inf), "temperature"),
        (dict(temperature=100), "at most"),
        (dict(top_k=-2), "top_k"),
        (dict(top_p=0.0), "top_p"),
        (dict(top_p=1.5), "top_p"),
        (dict(length=-1), "length"),
        (dict(length=10**9), "length"),
    ],
)
def test_bad_options_are_refused(lm, kw, match):
    kwargs = dict(length=5)
    kwargs.update(kw)
    with pytest.raises(ValueError, match=match):
        generate(lm, "the", **kwargs)


@pytest.mark.parametrize("cell, layers", [("lstm", 1), ("lstm", 3), ("gru", 2), ("rnn", 1)])
def test_single_step_path_matches_full_sequence_call(cell, layers):
    from charrnn import CharRNN, ModelConfig
    from charrnn.lm.model import make_stepper

    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=11, embed=7, hidden=13, layers=layers, cell=cell)).eval()
    x = torch.randint(0, 11, (3, 9))
    with torch.no_grad():
        full, _ = model(x)
        logits, state = model(x[:, :2])
    step = make_stepper(model)
    for t in range(2, 9):
        logits, state = step(x[:, t], state)
        assert torch.allclose(logits, full[:, t], atol=1e-5), t


@pytest.mark.parametrize("capture", [False, pytest.param(True, marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device: the graph capture itself runs only on a GPU"))])
def test_graphed_step_matches_the_plain_step_and_owns_its_outputs(capture):
    from charrnn import CharRNN, ModelConfig
    from charrnn.lm.model import GraphedStepper, LSTMStepper

    torch.manual_seed(0)
    device = "cuda" if capture else "cpu"
    model = CharRNN(ModelConfig(vocab_size=11, embed=7, hidden=13, layers=2)).eval().to(device)
    x = torch.randint(0, 11, (1, 12), device=device)
    with torch.no_grad():
        full, _ = model(x)
        _, state = model(x[:, :2])
    plain = LSTMStepper(model)
    graphed = GraphedStepper(plain, layers=2, hidden=13, batch=1, capture=capture)
    outputs = []
    for t in range(2, 12):
        logits, state = graphed(x[:, t], state)
        outputs.append((t, logits))
        assert torch.allclose(logits, full[:, t], atol=1e-5), t
    for t, logits in outputs:  # each step's logits are its own, not a buffer the next step overwrote
        assert torch.allclose(logits, full[:, t], atol=1e-5), t
    assert (graphed.graph is not None) == capture
    # another batch size (the engine's padded rows) or no state yet: the plain step, same numbers
    rows = torch.randint(0, 11, (4,), device=device)
    state4 = tuple(s.expand(-1, 4, -1).contiguous() for s in state)
    a, b = graphed(rows, state4), plain(rows, state4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1][0], b[1][0])


def test_sampling_through_the_graphed_step_gives_the_same_text(lm):
    from charrnn import CharLM
    from charrnn.lm.model import GraphedStepper, make_stepper

    graphed = CharLM(lm.model, lm.vocab, lm.meta)
    graphed.stepper = make_stepper(lm.model, graphs=True)
    assert isinstance(graphed.stepper, GraphedStepper) and not isinstance(lm.stepper, GraphedStepper)
    for seed in range(3):
        assert generate(graphed, "the ", 120, temperature=1.0, seed=seed) == \
            generate(lm, "the ", 120, temperature=1.0, seed=seed)


def test_threads_sharing_one_graphed_step_each_get_their_own_text(lm):
    """One model's stepper serves every thread sampling from it; its buffers must not mix their steps."""
    from charrnn import CharLM
    from charrnn.lm.model import make_stepper

    graphed = CharLM(lm.model, lm.vocab, lm.meta)
    graphed.stepper = make_stepper(lm.model, graphs=True)
    want = {seed: generate(lm, "the ", 200, seed=seed) for seed in range(6)}
    got, barrier = {}, threading.Barrier(6)

    def run(seed):
        barrier.wait()
        got[seed] = generate(graphed, "the ", 200, seed=seed)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == want


def test_a_failed_graph_capture_warns_and_samples_without_it(lm):
    """Where capture cannot run (here: no CUDA at all), the step says why once and gives the plain step's numbers."""
    from charrnn.lm.model import GraphedStepper, LSTMStepper

    plain = LSTMStepper(lm.model)
    graphed = GraphedStepper(plain, lm.model.config.layers, lm.model.config.hidden, capture=True)
    x = torch.tensor([1])
    state = tuple(torch.zeros(lm.model.config.layers, 1, lm.model.config.hidden) for _ in range(2))
    if torch.cuda.is_available():
        pytest.skip("CUDA is present: capture would run")
    with pytest.warns(RuntimeWarning, match="CUDA graph capture failed"):
        got = graphed(x, state)
    assert graphed.graph is None and not graphed.capture
    assert torch.equal(got[0], plain(x, state)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        graphed(x, state)  # no second attempt, so no second warning
