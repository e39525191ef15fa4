"""Sentences built from a small sentiment lexicon and the constructions that turn words around.

The phrase augmentation (augment.py) can only negate what the training data holds as short phrases, and those are
mostly adjectives and noun phrases. Sentences turn on other things too: a verb ("I didn't hate it", "it never
fails"), a noun ("I have no complaints"), a feeling ("I was not disappointed"), a comparison ("better than I
expected", "not as good as I hoped"), a double negation ("it is hard not to love it"). This module writes such
sentences from hand-written word lists by part of speech and templates that each keep (+1) or flip (-1) the
polarity of the word they hold, so a classifier sees every construction with words of both signs and must read
the order to get the label. Labels: 1 = positive (the second class of a sentiment dataset).

The words and templates are generic English written for this project, not taken from any evaluation set.
"""
from __future__ import annotations

import random

from .datasets import SENTIMENT_CLASSES

# (negative, positive) word lists per slot; verbs as (base, past) or (base, third person)
ADJ = ("boring dull tedious awful terrible bad weak dreadful clumsy lazy predictable stale forgettable pointless "
       "silly confusing bland messy flat tiresome cheap shallow painful slow annoying disappointing hollow unfunny "
       "mediocre poor lifeless clichéd".split(),
       "good great wonderful brilliant excellent superb funny clever charming moving gripping fresh delightful "
       "beautiful smart original thrilling touching engaging entertaining enjoyable lovely memorable sharp "
       "stunning powerful warm witty exciting fun solid".split())
NOUN = (["a mess", "a bore", "a disaster", "a chore", "a failure", "a waste of time", "a letdown",
         "a disappointment", "a flop", "a slog", "an embarrassment", "a mistake"],
        ["a delight", "a joy", "a triumph", "a treat", "a gem", "a masterpiece", "a pleasure", "a success",
         "a winner", "a must-see", "a thrill", "a marvel"])
NOUNS = (["complaints", "regrets", "problems", "flaws", "dull moments", "weak scenes", "wasted scenes",
          "bad performances", "false notes", "boring stretches"],
         ["laughs", "surprises", "great scenes", "fine performances", "redeeming qualities", "memorable moments",
          "highlights", "pleasures", "clever touches", "big laughs"])
VERB = ([("hate", "hated"), ("dislike", "disliked"), ("regret", "regretted"), ("resent", "resented"),
         ("despise", "despised"), ("loathe", "loathed"), ("fault", "faulted"), ("mock", "mocked")],
        [("love", "loved"), ("like", "liked"), ("enjoy", "enjoyed"), ("adore", "adored"), ("admire", "admired"),
         ("recommend", "recommended"), ("cherish", "cherished"), ("appreciate", "appreciated")])
FILM_VERB = ([("drag", "drags"), ("disappoint", "disappoints"), ("fail", "fails"), ("bore", "bores"),
              ("sag", "sags"), ("fizzle", "fizzles"), ("stumble", "stumbles"), ("fall flat", "falls flat"),
              ("let you down", "lets you down"), ("waste your time", "wastes your time"),
              ("leave you cold", "leaves you cold")],
             [("work", "works"), ("shine", "shines"), ("deliver", "delivers"), ("succeed", "succeeds"),
              ("delight", "delights"), ("soar", "soars"), ("impress", "impresses"), ("satisfy", "satisfies"),
              ("entertain", "entertains"), ("grip", "grips"),
              ("blow you away", "blows you away")])
FEELING = (["bored", "disappointed", "annoyed", "let down", "confused", "irritated", "offended", "underwhelmed"],
           ["impressed", "moved", "entertained", "amused", "charmed", "delighted", "thrilled", "gripped"])
DOING = (["yawning", "cringing", "groaning", "sighing", "wincing", "checking my watch", "dozing off",
          "rolling my eyes"],
         ["laughing", "smiling", "grinning", "cheering", "laughing out loud", "humming the songs",
          "thinking about it", "talking about it"])
BETTER = (["worse", "duller", "weaker", "more boring", "less fun", "less interesting", "sillier", "flatter"],
          ["better", "funnier", "smarter", "more fun", "more exciting", "stronger", "sharper", "livelier"])
GOES = (["wrong", "awry", "badly", "flat"], ["right", "well", "smoothly", "to plan"])
IDIOMS = (["i could not wait for it to end", "i was counting the minutes", "i kept looking at the clock",
           "it felt twice as long as it was", "i nearly walked out", "i wanted my money back", "it went nowhere",
           "i lost interest early"],
          ["i did not want it to end", "i never wanted it to end", "i was sorry when it ended", "the time flew",
           "i could watch it again and again", "i was on the edge of my seat", "it stayed with me for days",
           "i was hooked from the start"])
SLOTS = {"adj": ADJ, "noun": NOUN, "nouns": NOUNS, "verb": VERB, "fverb": FILM_VERB, "feel": FEELING,
         "doing": DOING, "better": BETTER, "goes": GOES}
PARTS = (("start", "finish"), ("premise", "execution"), ("opening", "ending"), ("first half", "second half"),
         ("cast", "script"), ("idea", "result"), ("setup", "payoff"), ("look", "story"), ("score", "dialogue"))
SUBJECTS = ("the film", "the movie", "this film", "it", "the story", "the ending", "the cast", "the script",
            "the acting", "the show", "the book", "the plot", "the sequel", "the second half")

# (template, sign): +1 keeps the polarity of the slot word, -1 flips it. {s} is a subject; {v}/{vd} a verb's
# base/past (or base/third person for fverb); {b} a noun without its article.
TEMPLATES = {
    "adj": [("easily the most {w} film of the year", 1), ("the least {w} film i have seen", -1),
            ("{s} is easily the least {w} part", -1), ("rarely has a film been so {w}", 1),
            ("i kept waiting for it to get {w}", -1), ("i kept hoping it would turn {w}", -1),
            ("i was worried it would be {w} , and it was not", -1), ("i hoped it would be {w} , and it was", 1),
            ("i expected it to be {w} , but it was not", -1), ("i feared it would be {w} , and it was", 1),
            ("i had no idea {s} could be so {w}", 1), ("i never knew {s} could be so {w}", 1),
            ("the music is the only {w} thing about it", -1), ("{s} is the only {w} part", -1),
            ("{s} is {w}", 1), ("{s} is really {w}", 1), ("surprisingly {w}", 1), ("{w} , to say the least", 1),
            ("nothing short of {w}", 1), ("{s} could not be more {w}", 1), ("few films are this {w}", 1),
            ("it is rare to see such a {w} film", 1), ("{s} is {w} from start to finish", 1),
            ("{s} is more {w} than i expected", 1), ("{s} is far more {w} than i expected", 1),
            ("{s} is not {w}", -1), ("{s} is not {w} at all", -1), ("{s} is never {w}", -1),
            ("{s} was not {w} in the slightest", -1), ("{s} is far from {w}", -1), ("{s} is anything but {w}", -1),
            ("hardly {w}", -1), ("not {w} at all", -1), ("nothing about it is {w}", -1), ("nothing here is {w}", -1),
            ("there is nothing {w} about it", -1), ("not a single {w} moment", -1), ("there is not one {w} scene", -1),
            ("hardly a {w} moment", -1), ("no one will find it {w}", -1), ("it is hard to call it {w}", -1),
            ("{s} is not as {w} as i expected", -1), ("{s} is less {w} than i hoped", -1),
            ("{s} is not nearly as {w} as people say", -1), ("{s} is not {w} , not even close", -1)],
    "noun": [("{s} is far from the {b} i was told it would be", -1), ("{s} is not the {b} some say it is", -1),
             ("{s} is the {b} everyone says it is", 1), ("{s} is {w}", 1), ("{s} is nothing short of {w}", 1),
             ("what {w}", 1), ("{s} turns out to be {w}", 1),
             ("{s} is not {w}", -1), ("{s} is far from {w}", -1), ("{s} is hardly {w}", -1),
             ("{s} is anything but {w}", -1), ("{s} is not {w} at all", -1), ("i would not call it {w}", -1)],
    "nouns": [("there are so many {w}", 1), ("plenty of {w}", 1), ("i have nothing but {w} to report", 1),
              ("i have no {w}", -1), ("there are no {w}", -1), ("no {w} at all", -1), ("hardly any {w}", -1),
              ("i could not find any {w}", -1)],
    "verb": [("it is impossible not to {v} it", 1), ("impossible not to {v}", 1), ("it is impossible to {v} it", -1),
             ("i wanted to {v} it", -1), ("i really wanted to {v} it", -1), ("i so wanted to {v} it", -1),
             ("i {vd} it", 1), ("i really {vd} it", 1), ("it is hard not to {v} it", 1),
             ("you can not help but {v} it", 1), ("i could not help but {v} it", 1), ("i {vd} every minute of it", 1),
             ("everyone will {v} it", 1), ("i did not {v} it", -1), ("i did n't {v} it", -1),
             ("i could not {v} it", -1), ("nobody could {v} it", -1), ("it is hard to {v} it", -1),
             ("you will not {v} it", -1), ("i never {vd} it", -1), ("i can not {v} it", -1),
             ("there is nothing to {v} here", -1), ("i could not find anything to {v}", -1)],
    "fverb": [("none of the jokes {v}", -1), ("none of the scenes {v}", -1), ("not one scene {vd}", -1),
              ("every scene {vd}", 1), ("all of the jokes {v}", 1), ("{s} {vd}", 1), ("{s} really {vd}", 1),
              ("{s} always {vd}", 1), ("{s} never stops trying to {v}", 1), ("{s} does not {v}", -1),
              ("{s} never {vd}", -1), ("{s} did not {v}", -1),
              ("not once does it {v}", -1), ("{s} never once {vd}", -1), ("{s} does not {v} at all", -1),
              ("{s} rarely {vd}", -1)],
    "doing": [("i did not stop {w}", 1), ("i could not stop {w}", 1), ("i kept {w}", 1),
              ("i was {w} all the way through", 1), ("i never stopped {w}", 1),
              ("you will be {w} for days", 1), ("not once was i {w}", -1),
              ("nobody was {w}", -1), ("i was not {w} once", -1), ("i never caught myself {w}", -1)],
    "better": [("you would be hard pressed to find a {w} film", 1), ("the book was {w}", -1),
               ("the original was far {w}", -1), ("the first film was {w} , much {w}", -1),
               ("no film this year was {w}", 1), ("i have never seen a {w} film", 1),
               ("far {w} than the original", 1), ("{s} is much {w} than i expected", 1),
               ("{s} is {w} than the first film", 1), ("{s} is even {w} than people say", 1),
               ("{s} is not {w} than the original", -1), ("{s} is hardly {w} than the first film", -1),
               ("{s} could not be any {w}", 1)],
    "goes": [("everything goes {w}", 1), ("it all goes {w}", 1), ("nothing goes {w}", -1),
             ("hardly anything goes {w}", -1), ("not much goes {w}", -1), ("little goes {w}", -1)],
    "feel": [("i was {w}", 1), ("i was {w} from start to finish", 1), ("you will be {w}", 1),
             ("i was really {w}", 1), ("i was not {w}", -1), ("i was never {w}", -1), ("you will not be {w}", -1),
             ("no one will be {w}", -1), ("nobody will be {w}", -1), ("i was not {w} for a second", -1),
             ("i was not {w} in the least", -1), ("not once was i {w}", -1)],
}
# two clauses: a contrast is decided by its second clause (a and b of opposite classes); an agreement joins two
# clauses of the same class; a juxtaposition ("weak start , brilliant finish") is read by its last part
CONTRAST = ("{a} , but {b}", "{a} ; however , {b}", "{a} , yet {b}", "although {a} , {b}", "{b} , even though {a}",
            "{a} . still , {b}", "{a} at first , but {b}", "{a} , but then {b}", "while {a} , {b}")
AGREE = ("{a} , and {b}", "{a} ; {b}", "{a} ; in fact , {b}", "{a} : {b}", "{a} . {b}", "{a} , {b}",
         "{a} , and what is more , {b}")
ELLIPSIS = (("i did not want to {v} it , but i did", 1), ("i never expected to {v} it , but i did", 1),
            ("i was sure i would not {v} it , but i did", 1), ("i wanted to {v} it , but i could not", -1),
            ("i expected to {v} it , but i did not", -1), ("i tried to {v} it , but i just could not", -1))
EXPECTING = ("i was not expecting much", "i expected very little", "i went in with low hopes", "i had my doubts",
             "i was looking forward to it", "i had high hopes", "everyone told me it was great",
             "the trailer promised a lot")
SHORT = (("{w}", 1), ("so {w}", 1), ("always {w}", 1), ("very {w}", 1), ("never {w}", -1), ("not {w}", -1),
         ("not at all {w}", -1), ("hardly {w}", -1))


def reads_as_sentiment(classes: tuple[str, str]) -> bool:
    """Whether class 0 / class 1 are negative / positive, so the lexicon's labels mean the same thing."""
    names = tuple(str(c).strip().lower() for c in classes)
    return names in (SENTIMENT_CLASSES, ("neg", "pos"), ("bad", "good"))


def _signed(rng: random.Random, templates, words, y: int):
    """A (template, sign) pair and a word whose class makes the template's text class y: y's own word where the
    template keeps its sign, the other class's where it flips it."""
    template, sign = rng.choice(templates)
    return template, rng.choice(words[y if sign > 0 else 1 - y])


def sentence(rng: random.Random, y: int) -> str:
    """One sentence of class y (1 = positive) from one slot word and a template that keeps or flips it (one in
    twenty: an idiom of class y)."""
    if rng.random() < 0.05:
        return rng.choice(IDIOMS[y])
    slot = rng.choice(list(TEMPLATES))
    template, word = _signed(rng, TEMPLATES[slot], SLOTS[slot], y)
    base, past = word if isinstance(word, tuple) else (word, word)
    return template.format(s=rng.choice(SUBJECTS), w=base, v=base, vd=past, b=base.split(" ", 1)[-1])


def elliptic(rng: random.Random, y: int) -> str:
    """ "I didn't want to like it , but I did": a contrast whose second clause repeats the first's verb by ellipsis;
    or an expectation ("I was not expecting much") that a clause of class y answers."""
    if rng.random() < 0.5:
        return f"{rng.choice(EXPECTING)} , but {sentence(rng, y)}"
    template, (base, past) = _signed(rng, ELLIPSIS, VERB, y)
    return template.format(v=base, vd=past)


def short(rng: random.Random, y: int) -> str:
    """A clause of a list ("never boring", "always clever") of class y."""
    template, word = _signed(rng, SHORT, ADJ, y)
    return template.format(w=word)


def juxtaposed(rng: random.Random, y: int) -> str:
    """ "weak start , brilliant finish": two parts, each with an adjective; the last decides."""
    first, last = rng.choice(PARTS)
    return f"{rng.choice(ADJ[rng.randrange(2)])} {first} , {rng.choice(ADJ[y])} {last}"


def lexicon_sentences(n: int, seed: int = 1) -> tuple[list[str], list[int]]:
    """`n` (text, label) pairs, classes balanced on average: half one clause; the rest contrasts (the second
    clause decides), agreements of two clauses, ellipses and answered expectations, two-item lists and juxtaposed
    parts."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        y, kind = rng.randrange(2), rng.random()
        if kind < 0.5:
            texts.append(sentence(rng, y))
        elif kind < 0.75:
            texts.append(rng.choice(CONTRAST).format(a=sentence(rng, 1 - y), b=sentence(rng, y)))
        elif kind < 0.83:
            texts.append(rng.choice(AGREE).format(a=sentence(rng, y), b=sentence(rng, y)))
        elif kind < 0.89:
            texts.append(elliptic(rng, y))
        elif kind < 0.95:
            texts.append(f"{short(rng, y)} , {short(rng, y)}")
        else:
            texts.append(juxtaposed(rng, y))
        labels.append(y)
    return texts, labels
