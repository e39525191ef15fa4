"""Negation and contrast examples made from a dataset's own short phrases, so a classifier learns word order.

A bag of words cannot tell "not bad at all" from "bad", and sentence-level data holds few such pairs: SST-2's
phrases label "not good" but rarely "far from boring" or "never fails to". This module takes the short labelled
phrases of the training data (texts of at most `max_words` words) and writes new examples around them
(counterfactual augmentation, as in Kaushik et al., 2020):

- negation flips the label: "not {p}", "far from {p}", "{s} is anything but {p}", "{s} never {p}", ...;
- contrast takes the label of the deciding clause: "{a} , but {b}" and "{b} , although {a}" are b, where either
  clause may itself be negated ("it is not {p} , but {q}");
- intensifiers keep it: "really {p}", "it is absolutely {p}", and so do negation words that do not negate the
  phrase: "nothing but {p}", "it could not be more {p}", "not only {p} but {q}".

Only training rows are used, so the held-out and test splits stay untouched; templates are generic English, not
taken from any evaluation set.
"""
from __future__ import annotations

import random
from collections.abc import Sequence

NEGATE = (
    "not {p}", "it is not {p}", "it was not {p}", "it is n't {p}", "this film is not {p}", "never {p}",
    "it is never {p}", "far from {p}", "it is far from {p}", "anything but {p}", "the film is anything but {p}",
    "hardly {p}", "not at all {p}", "it is not {p} at all", "not {p} in the least", "nothing {p} about it",
    "there is nothing {p} about it", "no one would call it {p}", "i would not call it {p}", "not even slightly {p}",
    "i did n't find it {p}", "i never found it {p}", "the story is not {p}", "not for a moment {p}",
    "it is not the least bit {p}", "neither {p} nor {p}", "it does not feel {p}", "it never feels {p}",
    "nobody will find it {p}", "it could not be less {p}", "i was not {p}", "i do n't think it is {p}",
    "it is hard to call it {p}", "no one could say it is {p}",
)
CONTRAST = (
    "{a} , but {b}", "{a} ; however , {b}", "{a} , yet {b}", "although {a} , {b}", "though {a} , {b}",
    "despite {a} , {b}", "{a} at first , but in the end {b}", "sure , {a} , but {b}", "{a} . still , {b}",
    "{b} , even though {a}", "{b} , although {a}", "{b} , despite {a}", "{a} , and yet {b}", "{a} ; {b}",
    "{a} . but {b}", "{a} ; in fact , {b}", "{a} : {b}",
)
INTENSIFY = (
    "really {p}", "very {p}", "absolutely {p}", "truly {p}", "it is really {p}", "simply {p}", "utterly {p}",
    "so {p}", "{p} , really {p}", "it is extremely {p}",
    # negation words that do not flip: the model must read the phrase, not count the "not"s
    "nothing but {p}", "it could not be more {p}", "it could not have been more {p}", "not only {p} but {q}",
    "not just {p} , but {q}", "never anything less than {p}", "i can not stress enough how {p} it is",
    "no doubt about it : {p}", "there is no denying it is {p}", "i can not deny it is {p}",
)


def short_phrases(texts: Sequence[str], labels: Sequence[int], max_words: int = 4) -> tuple[list[str], list[int]]:
    """The training texts of 1..max_words words (lowercased), without duplicates, with their labels."""
    seen: dict[str, int] = {}
    for text, label in zip(texts, labels):
        words = text.lower().split()
        if 1 <= len(words) <= max_words:
            seen.setdefault(" ".join(words), int(label))
    return list(seen), list(seen.values())


def _clause(rng: random.Random, by_class: list[list[str]], y: int) -> str:
    """A clause of class y: one of its phrases, or (half the time) a negated phrase of the other class."""
    if rng.random() < 0.5:
        return rng.choice(by_class[y])
    return rng.choice(NEGATE).format(p=rng.choice(by_class[1 - y]))


def augment(texts: Sequence[str], labels: Sequence[int], n: int, seed: int = 1,
            max_words: int = 4) -> tuple[list[str], list[int]]:
    """`n` new (text, label) examples: negations (label flipped), contrasts (label of the second clause) and
    intensified phrases (label kept), in proportions 5:3:2, built from the short training phrases.

    Returns empty lists when the data holds fewer than 20 short phrases of each class (long reviews only)."""
    phrases, plabels = short_phrases(texts, labels, max_words)
    by_class = [[p for p, y in zip(phrases, plabels) if y == c] for c in (0, 1)]
    if min(len(c) for c in by_class) < 20 or n < 1:
        return [], []
    rng = random.Random(seed)
    out_texts: list[str] = []
    out_labels: list[int] = []
    for _ in range(n):
        kind = rng.random()
        y = rng.randrange(2)
        if kind < 0.5:  # negation: a phrase of class 1 - y, negated, is class y
            out_texts.append(rng.choice(NEGATE).format(p=rng.choice(by_class[1 - y])))
        elif kind < 0.8:  # contrast: clause b decides; half the time a clause is a negated phrase
            a, b = _clause(rng, by_class, 1 - y), _clause(rng, by_class, y)
            out_texts.append(rng.choice(CONTRAST).format(a=a, b=b))
        else:
            out_texts.append(rng.choice(INTENSIFY).format(p=rng.choice(by_class[y]), q=rng.choice(by_class[y])))
        out_labels.append(y)
    return out_texts, out_labels
