"""Single-stream sampling characters/s: the chapter's sample() vs charrnn.stream, same weights, same device.

Usage: python bench/sample_speed.py [--length 2000] [--rounds 3]
Prints both figures per round, the medians, and as its last line ratio=<ours / reference>.
"""
import argparse
import time

import torch

from common import chapter_text, machine, report_rounds

import reference as ref
from charrnn import CharLM, CharRNN, ModelConfig, Vocab, stream


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--length", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
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
    refs, mine = [], []
    for r in range(a.rounds):
        t = time.perf_counter()
        out = ref.sample(theirs, char2int, char_array, prompt, a.length, scale_factor=1.0)
        refs.append(a.length / (time.perf_counter() - t))
        assert len(out) == len(prompt) + a.length
        t = time.perf_counter()
        n = sum(1 for _ in stream(lm, prompt, a.length, temperature=1.0, seed=r))
        mine.append(n / (time.perf_counter() - t))
        print(f"round {r + 1}: reference {refs[-1]:,.0f} chars/s   ours {mine[-1]:,.0f} chars/s")
    report_rounds(refs, mine, "chars/s")


if __name__ == "__main__":
    main()
