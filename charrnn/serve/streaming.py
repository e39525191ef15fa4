"""Streaming generated text to a user: the samples so far, from the model's batched engine or sampled alone."""
from __future__ import annotations

from contextlib import closing
from typing import Iterator

from ..lm.charlm import CharLM
from ..lm.data import VocabError
from ..lm.sample import stream
from ..lm.stops import until_stopped
from .models import engine_for
from .options import SampleOptions


def check_prompt(lm: CharLM, prompt: str) -> None:
    """VocabError naming the prompt's characters that the model never saw in training."""
    unknown = lm.vocab.unknown(prompt)
    if unknown:
        shown = " ".join(repr(c) for c in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise VocabError(f"the prompt has characters this model does not know: {shown}{more}")


def stream_text(lm: CharLM, opts: SampleOptions, every: int = 8, batched: bool = True) -> Iterator[list[str]]:
    """The samples so far (each starting with the prompt), every `every` characters and at the end.

    batched: the request joins the model's engine (`charrnn.serve.engine`), stepped together with other users'
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


def join_samples(samples: list[str]) -> str:
    """Several samples as one text, each after a numbered rule; a single sample as it is."""
    if len(samples) == 1:
        return samples[0]
    return "\n\n".join(f"── sample {i} ──\n{s}" for i, s in enumerate(samples, 1))
