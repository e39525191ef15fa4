"""Single-stream sampling characters/s: the chapter's sample() vs charrnn.stream, same weights, same device.

Usage: python bench/sample_speed.py [--length 2000] [--rounds 3]
       python bench/sample_speed.py --checkpoint checkpoints/mysterious-island.pt --device cuda
Prints both figures per round, the medians, ratio=<ours / reference>, and as its last line
step_share=<ours / the bare one-character step at batch 1>: how much of the model's own stepping speed sampling
keeps (the step alone, fed a fixed character, without drawing or decoding). Each round times ours and the bare
step TRIES times, alternating, and keeps each one's best; the figures are the rounds' medians.
With --checkpoint the reference is our own stream with the plain per-character step and "ours" the default step
(on CUDA: one CUDA graph per character, charrnn.lm.model.GraphedStepper), both on --device.
"""
import argparse
import statistics
import time

import torch

from common import chapter_text, machine, report_rounds

import reference as ref
from charrnn import CharLM, CharRNN, ModelConfig, Vocab, load_char_lm, stream
from charrnn.lm.model import make_stepper
from charrnn.lm.sample import prime


TRIES = 3  # each round times ours and the bare step this many times, alternating, and keeps each one's best


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--length", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--checkpoint", help="time this model's default step against its plain step instead")
    p.add_argument("--device", default="cpu", help="with --checkpoint: cpu, cuda, auto")
    a = p.parse_args()
    if a.checkpoint:
        return compare_steps(a)
    text = chapter_text()
    vocab = Vocab.from_text(text)
    _, char2int, char_array = ref.encode(text)
    assert list(char_array) == list(vocab.chars)
    torch.manual_seed(1)
    theirs = ref.RNN(len(vocab), 256, 512)
    ours = CharRNN(ModelConfig(len(vocab), 256, 512))
    ours.load_state_dict(theirs.state_dict())
    lm = CharLM(ours.eval(), vocab, {})
    prompt = "The island"
    print(f"machine: {machine()}; model embed 256, LSTM 512; prompt {prompt!r}, {a.length} characters, T=1")
    refs, mine, bare = [], [], []
    for r in range(a.rounds):
        t = time.perf_counter()
        out = ref.sample(theirs, char2int, char_array, prompt, a.length, scale_factor=1.0)
        refs.append(a.length / (time.perf_counter() - t))
        assert len(out) == len(prompt) + a.length
        ours_best = bare_best = 0.0
        for _ in range(TRIES):  # side by side, alternating: a moment's interference moves one try, not the pair
            t = time.perf_counter()
            n = sum(1 for _ in stream(lm, prompt, a.length, temperature=1.0, seed=r))
            ours_best = max(ours_best, n / (time.perf_counter() - t))
            bare_best = max(bare_best, bare_step_rate(lm, a.length))
        mine.append(ours_best)
        bare.append(bare_best)
        print(f"round {r + 1}: reference {refs[-1]:,.0f} chars/s   ours {mine[-1]:,.0f} chars/s   bare step "
              f"{bare[-1]:,.0f} steps/s")
    report_rounds(refs, mine, "chars/s")
    print(f"step_share={statistics.median(mine) / statistics.median(bare):.2f}")


@torch.no_grad()
def bare_step_rate(lm: CharLM, steps: int) -> float:
    """Steps/s of the model's own one-character step at batch 1 (the stepper sampling uses), fed one fixed
    character: the ceiling for single-stream sampling."""
    x = torch.zeros(1, dtype=torch.long, device=lm.device)
    _, state, _ = prime(lm, "The island", steps, 1.0, None, None, 0, 1)  # the state a sample starts from
    t = time.perf_counter()
    for _ in range(steps):
        _, state = lm.stepper(x, state)
    return steps / (time.perf_counter() - t)


def compare_steps(a) -> None:
    """One checkpoint, same device: plain step (reference) vs the default step (graphed on CUDA)."""
    lm = load_char_lm(a.checkpoint, device=a.device)
    plain = CharLM(lm.model, lm.vocab, lm.meta)
    plain.stepper = make_stepper(lm.model, graphs=False)
    prompt = "The island"
    print(f"machine: {machine()}; {a.checkpoint} on {lm.device} ({type(lm.stepper).__name__} vs "
          f"{type(plain.stepper).__name__}); prompt {prompt!r}, {a.length} characters, T=1")
    sum(1 for _ in stream(lm, prompt, 50, seed=0))  # warm-up (and the graph capture)
    refs, mine = [], []
    for r in range(a.rounds):
        for target, rates in ((plain, refs), (lm, mine)):
            t = time.perf_counter()
            n = sum(1 for _ in stream(target, prompt, a.length, temperature=1.0, seed=r))
            rates.append(n / (time.perf_counter() - t))
        print(f"round {r + 1}: plain step {refs[-1]:,.0f} chars/s   default step {mine[-1]:,.0f} chars/s")
    report_rounds(refs, mine, "chars/s")


if __name__ == "__main__":
    main()
