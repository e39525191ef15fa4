"""Bad-input matrix, property-based: every input ends in a checked result or a specific, documented error.

Each call runs through `outcome`, which returns the result or the one documented error type the call may raise
(with a message naming the problem); any other exception, or a call that hangs (see `watchdog`), fails the test.
"""
from __future__ import annotations

import dataclasses
import math
import signal
import time
import warnings
from contextlib import contextmanager

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from charrnn import Corpus, VocabError, decode, generate, load_char_lm, load_corpus, read_text, stream, train
from charrnn.serve import options, scoring, streaming
from charrnn import checkpoint as ckpt
from charrnn.lm.data import CharWindows, Vocab, split_ids
from charrnn.lm.gutenberg import strip_gutenberg
from charrnn.lm.sample import (MAX_LENGTH, MAX_NUM_SAMPLES, MAX_SEED, MAX_TEMPERATURE, MIN_SEED, check_options,
                            next_char_probs)
from charrnn.sentiment import SentimentConfig, SentimentLSTM, load_sentiment, predict, tokenize
from charrnn.sentiment.text import PAD, UNK
from charrnn.sentiment.text import TOKENIZER

from .helpers import REPEAT, TINY_MODEL, tiny_config, train_tiny

HANG_CPU_SECONDS = 60  # the slowest call here uses under 1 s of CPU; a busy machine stretches wall time, not this
HANG_WALL_SECONDS = 900  # backstop for a call that blocks without computing
INF, NAN = float("inf"), float("nan")
VOCAB = "".join(sorted(set(REPEAT)))
V = len(VOCAB)
SEQ_LEN = 40  # the chunker's windows are SEQ_LEN + 1 = 41 characters
VAL_FRACTION = 0.1


def fast(n: int):
    """n examples, the same ones on every run (CI must not fail on a draw no one has seen), no per-example deadline."""
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


class Hang(Exception):
    """A call used more than HANG_CPU_SECONDS of CPU time, or ran HANG_WALL_SECONDS without finishing."""


@contextmanager
def watchdog(cpu_seconds: float = HANG_CPU_SECONDS, wall_seconds: float = HANG_WALL_SECONDS):
    """Turn a runaway call into a `Hang`. The limit is on the CPU time the process uses (ITIMER_PROF), which other
    processes competing for the CPU do not inflate, so a loaded CI machine cannot trip it; a generous wall-clock
    limit catches a call that blocks instead of computing."""
    def expire(signum, frame):
        if signum == signal.SIGPROF:
            raise Hang(f"used more than {cpu_seconds} s of CPU time")
        raise Hang(f"still running after {wall_seconds} s")

    timers = {signal.SIGPROF: (signal.ITIMER_PROF, cpu_seconds), signal.SIGALRM: (signal.ITIMER_REAL, wall_seconds)}
    old = {sig: signal.signal(sig, expire) for sig in timers}
    for timer, seconds in timers.values():
        signal.setitimer(timer, seconds)
    try:
        yield
    finally:
        for sig, (timer, _) in timers.items():
            signal.setitimer(timer, 0)
            signal.signal(sig, old[sig])


def test_watchdog_counts_cpu_time_not_time_spent_waiting_for_the_cpu():
    with watchdog(cpu_seconds=0.3, wall_seconds=60):
        time.sleep(0.6)  # as a process that other processes keep off the CPU: no CPU time used, no Hang
    with pytest.raises(Hang, match="CPU time"), watchdog(cpu_seconds=0.3, wall_seconds=60):
        while True:
            pass


def outcome(call, allowed: tuple[type[BaseException], ...] = (ValueError,)):
    """(result, None) or (None, error) for an error of the `allowed` types with a message; anything else propagates."""
    with watchdog(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UnicodeWarning)
        try:
            return call(), None
        except allowed as e:
            assert str(e).strip(), f"{type(e).__name__} without a message"
            return None, e


def assert_names(err: BaseException, *words: str) -> None:
    msg = str(err).lower()
    assert any(w in msg for w in words), f"{type(err).__name__} {str(err)!r} names none of {words}"


# ---------------------------------------------------------------- fixtures: tiny models, built once per module


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    out = tmp_path_factory.mktemp("lm") / "tiny.pt"
    train_tiny(out, steps=10, eval_every=10, save_every=10)
    model = load_char_lm(out.with_name("tiny.best.pt"))
    assert "".join(model.vocab.chars) == VOCAB
    return model


@pytest.fixture(scope="module")
def clf(tmp_path_factory):
    """An untrained (seeded) BiLSTM classifier saved as a real `sentiment` checkpoint and loaded back."""
    torch.manual_seed(0)
    words = [PAD, UNK, "good", "bad", "movie", "br", "the"]
    cfg = SentimentConfig(vocab_size=len(words), embed=8, hidden=8, fc=8, bidirectional=True, pooling="meanmax")
    path = tmp_path_factory.mktemp("clf") / "toy.pt"
    ckpt.save({"format_version": ckpt.FORMAT_VERSION, "kind": "sentiment", "config": {"model": cfg.to_dict()},
               "tokenizer": {"name": TOKENIZER, "max_tokens": 50}, "vocab": words,
               "state_dict": SentimentLSTM(cfg).state_dict(), "metrics": {}}, path)
    return load_sentiment(path)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("props")


# ---------------------------------------------------------------- strategies

known_text = st.text(alphabet=VOCAB, max_size=30)

# Each option has the values a caller may mean (`GOOD`) and the edges and junk it may send (`ANY`); a case takes
# good values for all options but at most two, so both the results and every kind of refusal get exercised.
GOOD = dict(
    prompt=known_text,
    length=st.integers(0, 25),
    temperature=st.one_of(st.floats(0, MAX_TEMPERATURE), st.sampled_from([0, 1e-300, 5e-324, 1e-45, MAX_TEMPERATURE])),
    top_k=st.one_of(st.none(), st.integers(0, V + 3), st.just(10**9)),
    top_p=st.one_of(st.none(), st.floats(0, 1, exclude_min=True), st.sampled_from([1e-300, 5e-324, 1e-45, 1.0])),
    seed=st.one_of(st.none(), st.integers(0, 2**16), st.integers(MIN_SEED, MAX_SEED)),
    num_samples=st.integers(1, 3),
)
ANY = dict(
    prompt=st.one_of(st.text(max_size=30),
                     st.sampled_from(["\x00", "🙂", "\u200b", "\r\n", "the\x7f", "é", " " * 5])),
    length=st.one_of(st.integers(-3, 25), st.sampled_from([MAX_LENGTH + 1, 10**9, -(10**9), 2**63]),
                     st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(), st.text(max_size=4)),
    temperature=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 12),
                          st.sampled_from([-0.0, 1e-38, 1e308, -1e308, -1.0, MAX_TEMPERATURE + 1e-9, NAN, INF, -INF,
                                           "1", None])),
    top_k=st.one_of(st.integers(-3, V + 3), st.sampled_from([0, 1, V, V + 1, -1, 2.0, NAN, "3"])),
    top_p=st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0.0, 0, 1.0 + 1e-12, 2.0, NAN, INF, -1e-300, "0.5"])),
    seed=st.one_of(st.integers(-(2**70), 2**70), st.sampled_from([MAX_SEED + 1, MIN_SEED - 1, -1, 1.5, "7", NAN])),
    num_samples=st.one_of(st.integers(-2, 3), st.sampled_from([0, 2.5, "2", None, -(10**9), 10**12, 1025])),
)

# form values as the web UI or its API may send them: numbers, numeric strings, junk, empties, huge integers
form_values = st.one_of(
    st.none(), st.just(""), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6), st.sampled_from(["12", " 3 ", "1e3", "1e400", "nan", "-inf", "0x10", "2.5", "١٢", "0.9",
                                          10**400, -(10**400), 2**64, 2**63]),
)
FORM_GOOD = dict(
    prompt=st.text(alphabet=VOCAB, min_size=1, max_size=40),
    length=st.one_of(st.integers(1, 20), st.sampled_from(["12", 7.0, " 5 ", MAX_LENGTH + 5, None, ""])),
    temperature=st.one_of(st.floats(0, MAX_TEMPERATURE), st.sampled_from(["0.5", 0, 1e-300, None])),
    top_k=st.one_of(st.integers(0, V + 2), st.sampled_from(["3", None, "", 10**9])),
    top_p=st.one_of(st.floats(0, 1, exclude_min=True), st.sampled_from(["0.9", 1e-300, None])),
    seed=st.one_of(st.integers(-5, 10**6), st.sampled_from(["-1", "42", None, "", 1e3, MAX_SEED])),
    num_samples=st.one_of(st.integers(1, 3), st.sampled_from(["2", None, 50])),
)
FORM_ANY = {name: form_values for name in FORM_GOOD} | dict(
    prompt=st.one_of(st.text(max_size=40), st.none(), st.just(" \n\t"), st.integers(),
                     st.just("x" * (options.MAX_PROMPT + 1))),
    temperature=st.one_of(form_values, ANY["temperature"]),
    seed=st.one_of(form_values, st.sampled_from([MAX_SEED + 1, 1e30, 10**30])),
)


@st.composite
def cases(draw, good: dict, anything: dict, max_bad: int = 2) -> dict:
    """Good values for every option but at most `max_bad`, which take any value."""
    values = {name: draw(strategy) for name, strategy in good.items()}
    for name in draw(st.sets(st.sampled_from(sorted(anything)), max_size=max_bad)):
        values[name] = draw(anything[name])
    return values


OPTION_WORDS = ("length", "temperature", "top_k", "top-k", "top_p", "top-p", "seed", "num_samples", "samples",
                "prompt", "vocabulary", "know")


def assert_sample(text: str, prompt: str, length: int) -> None:
    assert text.startswith(prompt) and len(text) == len(prompt) + length
    assert set(text[len(prompt):]) <= set(VOCAB)


# ---------------------------------------------------------------- sampling options and probabilities


@fast(200)
@given(case=cases({k: v for k, v in GOOD.items() if k != "prompt"}, {k: v for k, v in ANY.items() if k != "prompt"}))
def test_check_options_accepts_only_meaningful_values(case):
    _, err = outcome(lambda: check_options(**case))
    if err is not None:
        assert_names(err, *OPTION_WORDS)
        return
    assert isinstance(case["length"], int) and 0 <= case["length"] <= MAX_LENGTH
    assert math.isfinite(case["temperature"]) and 0 <= case["temperature"] <= MAX_TEMPERATURE
    assert case["top_k"] is None or (isinstance(case["top_k"], int) and case["top_k"] >= 0)
    assert case["top_p"] is None or 0 < case["top_p"] <= 1
    assert case["seed"] is None or (isinstance(case["seed"], int) and MIN_SEED <= case["seed"] <= MAX_SEED)
    assert isinstance(case["num_samples"], int) and 1 <= case["num_samples"] <= MAX_NUM_SAMPLES


@fast(200)
@given(
    logits=st.lists(st.floats(-1e4, 1e4, width=32), min_size=1, max_size=40),
    temperature=st.one_of(st.floats(0, MAX_TEMPERATURE), st.sampled_from([0.0, 1e-300, 5e-324, 1e-45, 1e-38])),
    top_k=st.one_of(st.none(), st.integers(0, 50)),
    top_p=st.one_of(st.none(), st.floats(0, 1, exclude_min=True), st.sampled_from([1e-300, 5e-324, 1e-45])),
)
@example(logits=[0.0, 0.0, 0.0], temperature=1e-300, top_k=None, top_p=None)
@example(logits=[1.0, 2.0, 3.0], temperature=1.0, top_k=None, top_p=1e-300)
@example(logits=[0.0, 8.36e-40], temperature=1.0, top_k=None, top_p=0.5)
def test_probabilities_are_a_distribution_for_every_valid_option(logits, temperature, top_k, top_p):
    x = torch.tensor([logits])
    p = next_char_probs(x, temperature, top_k, top_p)[0]
    assert torch.isfinite(p).all() and (p >= 0).all() and abs(float(p.sum()) - 1) < 1e-4
    q = next_char_probs(x, temperature, None, None)[0]  # before top-k/top-p: ties here are ties in probability
    assert float(p[q == q.max()].sum()) > 0, "a most likely character must stay possible"
    if top_k:
        assert int((p > 0).sum()) <= top_k
    if temperature == 0:
        assert int((p > 0).sum()) == 1


# ---------------------------------------------------------------- generate / stream


@fast(80)
@given(case=cases(GOOD, ANY))
@example(case=dict(prompt="the", length=10, temperature=1e-300, top_k=None, top_p=None, seed=1, num_samples=1))
@example(case=dict(prompt="the", length=10, temperature=1.0, top_k=None, top_p=1e-300, seed=1, num_samples=2))
@example(case=dict(prompt="the", length=5, temperature=1.0, top_k=None, top_p=None, seed=2**64, num_samples=1))
@example(case=dict(prompt="the", length=5, temperature=1.0, top_k=None, top_p=None, seed=None, num_samples=2.5))
def test_generate_gives_prompt_plus_length_characters_or_a_named_error(lm, case):
    prompt, length, num_samples = case["prompt"], case["length"], case["num_samples"]
    kwargs = {k: case[k] for k in ("temperature", "top_k", "top_p", "seed")}
    outs, err = outcome(lambda: generate(lm, prompt, length, num_samples=num_samples, **kwargs))
    if err is not None:
        assert_names(err, *OPTION_WORDS)
        if isinstance(err, VocabError):
            assert set(prompt) - set(VOCAB)
        return
    assert isinstance(outs, list) and len(outs) == num_samples
    for text in outs:
        assert_sample(text, prompt, length)
    if kwargs["seed"] is not None:
        steps, err = outcome(lambda: list(stream(lm, prompt, length, num_samples=num_samples, **kwargs)))
        assert err is None
        assert ["".join(s[i] for s in steps) for i in range(num_samples)] == [o[len(prompt):] for o in outs]


def test_huge_prompts(lm):
    prompt = "the " * 25_000
    outs, err = outcome(lambda: generate(lm, prompt, 5, temperature=0.5, seed=1))
    assert err is None
    assert_sample(outs[0], prompt, 5)
    _, err = outcome(lambda: generate(lm, "é" * 100_000, 5))
    assert isinstance(err, VocabError) and "'é'" in str(err) and len(str(err)) < 200
    _, err = outcome(lambda: options.sample_options("the " * 25_000))
    assert_names(err, "limit")
    opts, _ = options.sample_options("t" * options.MAX_PROMPT, length=3)
    texts = list(streaming.stream_text(lm, opts))[-1]
    assert_sample(texts[0], opts.prompt, 3)


def test_longest_length_is_generated_and_longer_refused(lm):
    outs, err = outcome(lambda: generate(lm, "the", MAX_LENGTH, seed=3))
    assert err is None
    assert_sample(outs[0], "the", MAX_LENGTH)
    _, err = outcome(lambda: generate(lm, "the", MAX_LENGTH + 1))
    assert_names(err, "length")


# ---------------------------------------------------------------- the web UI path: form values -> options -> stream


@fast(120)
@given(case=cases(FORM_GOOD, FORM_ANY))
@example(case=dict(prompt="the", length=5, temperature=1e-300, top_k=0, top_p=1e-300, seed=1, num_samples=1))
@example(case=dict(prompt="the", length=5, temperature=10**400, top_k=0, top_p=1.0, seed=1, num_samples=1))
@example(case=dict(prompt="the", length=10**400, temperature=1.0, top_k=0, top_p=1.0, seed=1e30, num_samples=1))
def test_form_values_give_options_and_samples_or_a_short_message(lm, case):
    prompt = case["prompt"]
    result, err = outcome(lambda: options.sample_options(**case))
    if err is not None:
        assert_names(err, *OPTION_WORDS)
        assert len(str(err)) < 200
        return
    opts, notices = result
    assert opts.prompt == str(prompt) and opts.prompt.strip() and len(opts.prompt) <= options.MAX_PROMPT
    assert isinstance(opts.length, int) and 1 <= opts.length <= MAX_LENGTH
    assert math.isfinite(opts.temperature) and 0 <= opts.temperature <= MAX_TEMPERATURE
    assert opts.top_k is None or (isinstance(opts.top_k, int) and opts.top_k >= 1)
    assert opts.top_p is None or 0 < opts.top_p < 1
    assert opts.seed is None or (isinstance(opts.seed, int) and 0 <= opts.seed <= MAX_SEED)
    assert isinstance(opts.num_samples, int) and 1 <= opts.num_samples <= options.MAX_SAMPLES
    assert all(isinstance(n, str) for n in notices)
    opts = dataclasses.replace(opts, length=min(opts.length, 20))
    frames, err = outcome(lambda: list(streaming.stream_text(lm, opts)))
    if err is not None:
        assert isinstance(err, VocabError) and set(opts.prompt) - set(VOCAB)
        assert_names(err, "know")
        return
    assert frames and len(frames[-1]) == opts.num_samples
    for text in frames[-1]:
        assert_sample(text, opts.prompt, opts.length)


# ---------------------------------------------------------------- corpora: bytes -> text -> corpus -> windows -> train


def check_windows(text: str) -> None:
    """Vocabulary and 41-character windows of `text`, or the documented error for empty or short text."""
    vocab, err = outcome(lambda: Vocab.from_text(text), (VocabError,))
    if err is not None:
        assert text == ""
        return
    ids = vocab.encode(text)
    assert vocab.decode(ids) == text
    windows, err = outcome(lambda: CharWindows(ids, SEQ_LEN))
    if len(text) < SEQ_LEN + 1:
        assert_names(err, "too short")
        return
    assert err is None and len(windows) == len(text) - SEQ_LEN
    x, y = windows[0]
    assert x.shape == y.shape == (SEQ_LEN,) and vocab.decode(x) == text[:SEQ_LEN]
    x, y = windows[len(windows) - 1]
    assert vocab.decode(y) == text[-SEQ_LEN:] and torch.equal(x[1:], y[:-1])


texts = st.one_of(st.text(max_size=80), st.just(""), st.text(alphabet="ab\n", max_size=60),
                  st.builds(lambda c, n: c * n, st.characters(exclude_categories=["Cs"]), st.integers(0, 80)))
encoded_pieces = st.lists(st.one_of(
    st.text(max_size=20).map(lambda s: s.encode("utf-8")),
    st.text(alphabet=st.characters(min_codepoint=0xA0, max_codepoint=0xFF), min_size=1, max_size=5)
    .map(lambda s: s.encode("latin-1")),
    st.text(alphabet="€‘’“”–—…Œœ", min_size=1, max_size=5).map(lambda s: s.encode("cp1252")),
    st.sampled_from([b"\r\n", b"\r", b"\n", b"\xef\xbb\xbf", b"\x00", b"\xff\xfe", b"\x81\x8d"]),
), max_size=10).map(b"".join)
raw_files = st.one_of(st.binary(max_size=300), encoded_pieces, texts.map(lambda s: s.encode("utf-8")),
                      st.builds(lambda s: b"\xef\xbb\xbf" + s.replace("\n", "\r\n").encode("utf-8"), texts))


@fast(150)
@given(data=raw_files, clean=st.sampled_from(["strip", "none", "slice", "bogus"]))
@example(data=b"", clean="none")
@example(data=b"\xef\xbb\xbfcaf\xc3\xa9 \x93quoted\x94\r\n", clean="strip")
def test_any_file_reads_as_text_and_loads_as_a_corpus_or_a_named_error(work, data, clean):
    path = work / "corpus.txt"
    path.write_bytes(data)
    with watchdog(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        text = read_text(path)
    assert isinstance(text, str) and "\r" not in text
    try:
        utf8 = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        assert any(issubclass(w.category, UnicodeWarning) for w in caught)
    else:
        assert text == utf8.replace("\r\n", "\n").replace("\r", "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnicodeWarning)
        assert decode(data) == text
    corpus, err = outcome(lambda: load_corpus(text_file=path, clean=clean))  # TextFileError: a ValueError
    if err is not None:
        assert_names(err, "no text", "not found", "preprocessing")
        return
    assert isinstance(corpus, Corpus) and corpus.text and len(corpus.sha256) == 64
    check_windows(corpus.text)


@fast(150)
@given(text=texts)
def test_chunker_gives_41_character_windows_or_says_the_text_is_too_short(text):
    check_windows(text)
    assert strip_gutenberg(text) == text or "gutenberg" in text.lower() or "small print" in text.lower()


@fast(100)
@given(n=st.integers(0, 500), val_fraction=st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                                                     st.floats(0, 1)))
def test_split_covers_the_text_or_names_the_fraction(n, val_fraction):
    ids = torch.arange(n).numpy()
    parts, err = outcome(lambda: split_ids(ids, val_fraction))
    if err is not None:
        assert_names(err, "val_fraction")
        return
    train_ids, val_ids = parts
    assert len(train_ids) + len(val_ids) == n and list(train_ids) + list(val_ids) == list(range(n))


def quiet_decode(data: bytes) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnicodeWarning)
        return decode(data)


def trainable(n: int) -> bool:
    """Whether a text of n characters leaves a 41-character window for training and 2 for validation."""
    val = int(round(n * VAL_FRACTION))
    return n - val >= SEQ_LEN + 1 and val >= 2


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(
    st.text(alphabet="ab \n", max_size=60),
    st.builds(lambda c, n: c * n, st.characters(exclude_categories=["Cs"]), st.integers(0, 70)),
    st.binary(min_size=30, max_size=80).map(quiet_decode),
))
@example(text="")
@example(text="z" * 44)
@example(text="z" * 45)
@example(text="ab" * 100)
def test_training_on_tiny_corpora_trains_or_says_the_text_is_too_short(work, text):
    out = work / "train" / "t.pt"
    config = tiny_config(steps=2, seq_len=SEQ_LEN, eval_every=2, save_every=2, val_fraction=VAL_FRACTION)
    result, err = outcome(lambda: train(Corpus(text, "t.txt", {"clean": "none"}), TINY_MODEL, config, out=out,
                                        progress=False))
    if err is not None:
        assert not trainable(len(text)), f"{len(text)} characters should train: {err}"
        assert_names(err, "empty", "too short", "too small")
        return
    assert trainable(len(text))
    assert result.status == "finished" and math.isfinite(result.val_loss)
    outs = generate(load_char_lm(result.best), "", 10, seed=0)
    assert len(outs[0]) == 10 and set(outs[0]) <= set(text)


# ---------------------------------------------------------------- sentiment texts

html = st.lists(st.sampled_from(["<br />", "<b>", "</b>", "<a href='x'>", "good", "bad", "<", ">", "<<>>", " ", "&amp;",
                                 ":)", ";-(", "\n"]), max_size=20).map("".join)
reviews = st.one_of(st.text(max_size=200), st.just(""), st.text(alphabet=" \t\n\r\x0b\x0c\u00a0\u2003", max_size=10),
                    html)


def assert_probability(p) -> None:
    assert isinstance(p, float) and math.isfinite(p) and 0.0 <= p <= 1.0


@fast(60)
@given(texts=st.lists(reviews, max_size=6))
def test_predict_scores_every_text(clf, texts):
    probs, err = outcome(lambda: predict(clf, texts))
    assert err is None and len(probs) == len(texts)
    for p in probs:
        assert_probability(p)


@fast(80)
@given(text=st.one_of(reviews, st.none(), st.integers()))
def test_positive_probability_or_says_the_text_is_empty(clf, text):
    p, err = outcome(lambda: scoring.positive_probability(clf, text))
    if text is None or not str(text).strip():
        assert_names(err, "empty")
    else:
        assert err is None
        assert_probability(p)


@pytest.mark.parametrize("text", [
    "good " * 200_000, "<" * 1_000_000, "<a" * 500_000, "<" * 500_000 + ">", "x" * 1_000_000, "🙂" * 100_000,
])
def test_huge_reviews_are_scored_quickly(clf, text):
    p, err = outcome(lambda: scoring.positive_probability(clf, text))
    assert err is None
    assert_probability(p)
    assert tokenize("x <b> y <" + "<" * 1000) == ["x", "y"]
