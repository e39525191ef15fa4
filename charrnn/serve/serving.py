"""Serving models to many users: form values to checked sampling options, a small cache of loaded models."""
from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from .. import checkpoint as ckpt
from .. import kinds, modelfolder, shelf
from ..lm.charlm import CharLM
from ..lm.data import VocabError
from .engine import Engine
from .engine_process import ProcessEngine
from ..lm.sample import MAX_LENGTH, MAX_PROMPT, MAX_SEED, MAX_TEMPERATURE, stream
from ..lm.stops import UNTIL, stop_strings, unescape, until_stopped
from ..sentiment import predict
from ..sentiment.text import tokenizer, UNK_ID
from ..sentiment.explain import NO_KNOWN_WORDS

MAX_SAMPLES = 8


@dataclass(frozen=True)
class FormDefaults:
    """The generation form's values when left alone (top-k 0 and top-p 1 are off, seed -1 is random).

    Written only here: the app's controls and `sample_options` both start from these.
    """

    length: int = 300
    temperature: float = 0.8
    top_k: int = 0
    top_p: float = 1.0
    seed: int = -1
    num_samples: int = 1
    until: str = "length"  # or "sentence", "paragraph": stop at the first end of one (see charrnn.stops)
    stop: str = ""  # a stop string of the user's; "\\n" and "\\t" in it stand for a newline and a tab


FORM = FormDefaults()
UNTIL_CHOICES = ("length", *UNTIL)


@dataclass(frozen=True)
class SampleOptions:
    prompt: str
    length: int
    temperature: float
    top_k: int | None
    top_p: float | None
    seed: int | None
    num_samples: int
    stop: tuple[str, ...] = ()


def sample_options(
    prompt: str | None,
    length=FORM.length,
    temperature=FORM.temperature,
    top_k=FORM.top_k,
    top_p=FORM.top_p,
    seed=FORM.seed,
    num_samples=FORM.num_samples,
    until=FORM.until,
    stop=FORM.stop,
    max_length: int = MAX_LENGTH,
) -> tuple[SampleOptions, list[str]]:
    """Check and normalise form values; return the options and notices about values that were clamped.

    ValueError (with a short message naming the option) for values that cannot be used at all. A length or
    number of samples beyond the maximum is clamped with a notice; top-k 0, top-p 1 and a negative seed mean off/random.
    """
    notices = []
    prompt = "" if prompt is None else str(prompt)
    if not prompt.strip():
        raise ValueError("the prompt is empty: type a few words to start from")
    if len(prompt) > MAX_PROMPT:
        raise ValueError(f"the prompt has {len(prompt):,} characters; the limit is {MAX_PROMPT:,}")
    length = _whole("length", length, FORM.length)
    if length < 1:
        raise ValueError(f"length must be at least 1, got {_show(length)}")
    if length > max_length:
        notices.append(f"length {_show(length)} is more than the maximum {max_length:,}: "
                       f"generating {max_length:,} characters")
        length = max_length
    temperature = _number("temperature", temperature, FORM.temperature)
    if not math.isfinite(temperature) or not 0 <= temperature <= MAX_TEMPERATURE:
        raise ValueError(f"temperature must be between 0 (greedy) and {MAX_TEMPERATURE:g}, got {temperature:g}")
    top_k = _whole("top-k", top_k, FORM.top_k)
    if top_k < 0:
        raise ValueError(f"top-k must be 0 (off) or more, got {_show(top_k)}")
    top_p = _number("top-p", top_p, FORM.top_p)
    if not (math.isfinite(top_p) and 0 < top_p <= 1):
        raise ValueError(f"top-p must be in (0, 1] (1 = off), got {top_p:g}")
    seed = _whole("seed", seed, FORM.seed)
    if seed > MAX_SEED:
        raise ValueError(f"seed must be at most {MAX_SEED} (-1 = random), got {_show(seed)}")
    num_samples = _whole("number of samples", num_samples, FORM.num_samples)
    if num_samples < 1:
        raise ValueError(f"number of samples must be at least 1, got {_show(num_samples)}")
    if num_samples > MAX_SAMPLES:
        notices.append(f"{_show(num_samples)} samples is more than the maximum {MAX_SAMPLES}: generating {MAX_SAMPLES}")
        num_samples = MAX_SAMPLES
    opts = SampleOptions(prompt, length, temperature, top_k or None, top_p if top_p < 1 else None,
                         seed if seed >= 0 else None, num_samples, form_stops(until, stop))
    return opts, notices


def form_stops(until: str | None, stop: str | None) -> tuple[str, ...]:
    """The stop strings of the form's "Stop at" choice and "Stop string" text (where \\n is a newline, \\t a tab)."""
    until = until or FORM.until
    if until not in UNTIL_CHOICES:
        raise ValueError(f"stop at must be one of {', '.join(UNTIL_CHOICES)}, got {str(until)!r:.40}")
    stop = "" if stop is None else unescape(str(stop))
    return stop_strings([stop] if stop else [], None if until == "length" else until)


def _number(name: str, value, default: float) -> float:
    """A form value as a float (an integer too large for one becomes +-inf); ValueError when it is not a number."""
    if value is None:
        return default
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r:.40}") from None


def _whole(name: str, value, default: int) -> int:
    """A form value as an int (integers of any size kept exactly); ValueError when it is not a whole number."""
    if value is None or value == "":
        return default
    if isinstance(value, int):
        return int(value)
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a whole number, got {value!r:.40}") from None
    if not math.isfinite(f) or not f.is_integer():
        raise ValueError(f"{name} must be a whole number, got {value!r:.40}")
    return int(f)


def _show(n: int) -> str:
    """An integer for a message: with thousands separators, or its order of magnitude when huge."""
    if abs(n) < 10**18:
        return f"{n:,}"
    return f"about {'-' if n < 0 else ''}10^{math.log10(abs(n)):.0f}"


def check_prompt(lm: CharLM, prompt: str) -> None:
    """VocabError naming the prompt's characters that the model never saw in training."""
    unknown = lm.vocab.unknown(prompt)
    if unknown:
        shown = " ".join(repr(c) for c in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise VocabError(f"the prompt has characters this model does not know: {shown}{more}")


def stream_text(lm: CharLM, opts: SampleOptions, every: int = 8, batched: bool = True) -> Iterator[list[str]]:
    """The samples so far (each starting with the prompt), every `every` characters and at the end.

    batched: the request joins the model's engine (`charrnn.engine`), stepped together with other users'
    requests; else it samples on its own. Both give the same text for the same options.
    """
    check_prompt(lm, opts.prompt)
    texts = [[opts.prompt] for _ in range(opts.num_samples)]
    args = dict(temperature=opts.temperature, top_k=opts.top_k, top_p=opts.top_p, seed=opts.seed,
                num_samples=opts.num_samples)
    if batched:
        steps = until_stopped(engine_for(lm).submit(opts.prompt, opts.length, **args), opts.stop, opts.num_samples)
    else:
        steps = stream(lm, opts.prompt, opts.length, stop=opts.stop, **args)
    n = 0
    with closing(steps):  # a client that went away: its request leaves the engine's batch at once
        for n, chars in enumerate(steps, 1):
            for t, c in zip(texts, chars, strict=True):
                t.append(c)
            if n % every == 0:
                yield ["".join(t) for t in texts]
    if n % every or n == 0:
        yield ["".join(t) for t in texts]


_engine_lock = threading.Lock()


def engine_for(lm: CharLM) -> Engine | ProcessEngine:
    """The batched sampling engine of a loaded model, made on first use; it lives as long as the model.

    It steps in a process of its own (`charrnn.serve.engine_process`) where child processes can be given a socket
    (POSIX), else in a thread of this one.
    """
    with _engine_lock:
        engine = getattr(lm, "engine", None)
        if engine is None:
            engine = lm.engine = ProcessEngine(lm) if os.name == "posix" else Engine(lm)
        return engine


def join_samples(samples: list[str]) -> str:
    """Several samples as one text, each after a numbered rule; a single sample as it is."""
    if len(samples) == 1:
        return samples[0]
    return "\n\n".join(f"── sample {i} ──\n{s}" for i, s in enumerate(samples, 1))


class ModelCache:
    """Loaded models by checkpoint file, reloaded when the file changes, least recently used dropped first."""

    def __init__(self, loader: Callable[[Path], object], size: int = 4):
        self.loader = loader
        self.size = size
        self._items: OrderedDict[tuple[str, int, int], object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: str | os.PathLike):
        path = Path(path)
        key = (str(path), *modelfolder.stamp(path))  # a model folder: its files' sizes and newest mtime
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            obj = self.loader(path)
            self._items[key] = obj
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            return obj


def model_cache(kind: str, device: str = "auto", size: int = 4) -> ModelCache:
    """A cache of loaded models of `kind` (a name from `charrnn.kinds`) on `device`."""
    load = kinds.get(kind).load
    return ModelCache(lambda path: load(path, device=device), size)


def pick(folder: str | os.PathLike, name: str | None, kind: str, preferred: str | None = None) -> Path:
    """The checkpoint `name` (checked to be inside `folder` and of `kind`); with no name, `preferred` or the newest."""
    if name:
        path = shelf.resolve(folder, name)
        info = shelf.describe(path)
        if info.kind == "unreadable" or (info.error and info.kind == kind):
            raise ckpt.CheckpointError(info.error)
        if info.kind != kind:
            raise ckpt.CheckpointError(f"{name} is a {info.kind} checkpoint, not {kind}")
        return path
    available = shelf.list_checkpoints(folder, kind)
    if not available:
        raise ckpt.CheckpointError(f"no {kind} checkpoint in {Path(folder).name}/: train or upload one first")
    for info in available:
        if info.name == preferred:
            return info.path
    return available[0].path


def review_text(text: str | None) -> str:
    """The text to classify; ValueError when it is empty."""
    text = "" if text is None else str(text)
    if not text.strip():
        raise ValueError("the text is empty: type or paste a review")
    return text


def positive_probability(model, text: str | None) -> float:
    """P(positive) of one text with a loaded sentiment model; ValueError for an empty text."""
    return float(predict(model, [review_text(text)])[0])


def known_words(model, text: str) -> int:
    """How many of the tokens a loaded sentiment model reads in `text` are in its vocabulary."""
    tokens = tokenizer(model.tokenizer)(text)[: model.max_tokens]
    return sum(i != UNK_ID for i in model.vocab.encode(tokens))


def class_probabilities(model, text: str | None) -> dict[str, float]:
    """{class name: probability} of one text for both of the model's classes; ValueError for an empty text or one
    without a word the model knows (its answer would say nothing about the text)."""
    text = review_text(text)
    if not known_words(model, text):
        raise ValueError(f"{NO_KNOWN_WORDS}: none of the words is in its vocabulary")
    p = positive_probability(model, text)
    negative, positive = model.classes
    return {positive: p, negative: 1.0 - p}
