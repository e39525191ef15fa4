"""The generation form: its defaults, written once, and its one parse from raw form values into checked sampling
options (`charrnn.numbers` rules: blank is the default, fractions, NaN and infinity are refused naming the field)."""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from .. import numbers
from ..lm.sample import MAX_LENGTH, MAX_PROMPT, MAX_SEED, MAX_TEMPERATURE
from ..lm.stops import UNTIL, stop_strings, unescape

MAX_SAMPLES = 8
UNTIL_CHOICES = ("length", *UNTIL)


@dataclass(frozen=True)
class SampleOptions:
    """Checked sampling options as the sampler takes them (None: off or random)."""

    prompt: str
    length: int
    temperature: float
    top_k: int | None
    top_p: float | None
    seed: int | None
    num_samples: int
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class GenerateForm:
    """The generation form (top-k 0 and top-p 1 are off, seed -1 is random). The defaults are the form's values
    when left alone, written only here: the app's controls and `parse` both start from them.

    Build one with `parse` from raw values: it is then checked, and `notices` says which values were clamped.
    """

    prompt: str = ""
    length: int = 300
    temperature: float = 0.8
    top_k: int = 0
    top_p: float = 1.0
    seed: int = -1
    num_samples: int = 1
    until: str = "length"  # or "sentence", "paragraph": stop at the first end of one (see charrnn.lm.stops)
    stop: str = ""  # a stop string of the user's; "\\n" and "\\t" in it stand for a newline and a tab
    notices: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def parse(cls, *, max_length: int = MAX_LENGTH, **raw) -> GenerateForm:
        """The form from raw values (numbers as numbers or strings, blank for the default); ValueError with a short
        message naming the field for a value that cannot be used. A length or number of samples beyond its
        maximum is clamped, with a notice."""
        unknown = sorted(set(raw) - {f.name for f in fields(cls)} | ({"notices"} & set(raw)))
        if unknown:
            raise TypeError(f"GenerateForm.parse() got an unexpected keyword argument {unknown[0]!r}")
        d = cls()
        prompt = "" if raw.get("prompt") is None else str(raw["prompt"])
        if not prompt.strip():
            raise ValueError("the prompt is empty: type a few words to start from")
        if len(prompt) > MAX_PROMPT:
            raise ValueError(f"the prompt has {len(prompt):,} characters; the limit is {MAX_PROMPT:,}")
        length = numbers.whole("length", raw.get("length"), d.length, bounds=(1, None))
        num_samples = numbers.whole("number of samples", raw.get("num_samples"), d.num_samples, bounds=(1, None))
        form = cls(
            prompt, min(length, max_length),
            numbers.number("temperature", raw.get("temperature"), d.temperature, (0, MAX_TEMPERATURE),
                           says=f"between 0 (greedy) and {MAX_TEMPERATURE:g}"),
            numbers.whole("top-k", raw.get("top_k"), d.top_k, bounds=(0, None), note=" (0 = off)"),
            numbers.number("top-p", raw.get("top_p"), d.top_p, (0, 1), lo_open=True, note=" (1 = off)"),
            numbers.whole("seed", raw.get("seed"), d.seed, bounds=(None, MAX_SEED), note=" (-1 = random)"),
            min(num_samples, MAX_SAMPLES), raw.get("until") or d.until,
            "" if raw.get("stop") is None else str(raw["stop"]))
        form.stops()  # checks "stop at"
        notices = []
        if length > max_length:
            notices.append(f"length {numbers.show(length)} is more than the maximum {max_length:,}: "
                           f"generating {max_length:,} characters")
        if num_samples > MAX_SAMPLES:
            notices.append(f"{numbers.show(num_samples)} samples is more than the maximum {MAX_SAMPLES}: "
                           f"generating {MAX_SAMPLES}")
        return replace(form, notices=tuple(notices))

    def stops(self) -> tuple[str, ...]:
        """The stop strings of the "Stop at" choice and the "Stop string" text."""
        return form_stops(self.until, self.stop)

    def options(self) -> SampleOptions:
        """The sampler's options: top-k 0, top-p 1 and a negative seed become None (off, random)."""
        return SampleOptions(self.prompt, self.length, self.temperature, self.top_k or None,
                             self.top_p if self.top_p < 1 else None, self.seed if self.seed >= 0 else None,
                             self.num_samples, self.stops())


def sample_options(prompt: str | None = None, /, **raw) -> tuple[SampleOptions, list[str]]:
    """`GenerateForm.parse` of raw values, as the sampler's options and the notices about clamped values."""
    form = GenerateForm.parse(**({"prompt": prompt} if prompt is not None else {}), **raw)
    return form.options(), list(form.notices)


def form_stops(until: str | None, stop: str | None) -> tuple[str, ...]:
    """The stop strings of the form's "Stop at" choice and "Stop string" text (where \\n is a newline, \\t a tab)."""
    until = until or GenerateForm.until
    if until not in UNTIL_CHOICES:
        raise ValueError(f"stop at must be one of {', '.join(UNTIL_CHOICES)}, got {str(until)!r:.40}")
    stop = "" if stop is None else unescape(str(stop))
    return stop_strings([stop] if stop else [], None if until == "length" else until)
