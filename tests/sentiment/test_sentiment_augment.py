"""Negation/contrast augmentation and training on several datasets at once."""
import random
import re

import pytest

from charrnn.sentiment.augment import NEGATE, augment, short_phrases
from charrnn.cli import main
from charrnn.sentiment.datasets import DatasetError, LabelledData, combine

NOUNS = "film plot cast music story ending scene acting script score pace lead".split()
POS = [f"good {w}" for w in NOUNS] + [f"good {w} here" for w in NOUNS]
NEG = [f"bad {w}" for w in NOUNS] + [f"bad {w} here" for w in NOUNS]


def test_short_phrases_only_and_once():
    texts = ["Good  Film", "good film", "a very long review " * 5, "bad"]
    assert short_phrases(texts, [1, 1, 0, 0]) == (["good film", "bad"], [1, 0])


def test_negation_flips_contrast_follows_the_second_clause():
    texts, labels = augment(POS + NEG, [1] * len(POS) + [0] * len(NEG), 600, seed=3)
    assert len(texts) == len(labels) == 600 and 200 < sum(labels) < 400
    phrase_label = {p: 1 for p in POS} | {n: 0 for n in NEG}
    negations = 0
    for text, y in zip(texts, labels):
        for template in NEGATE:
            m = re.fullmatch(re.escape(template).replace(re.escape("{p}"), "(.+)"), text)
            if m and all(g in phrase_label for g in m.groups()):
                assert phrase_label[m[1]] == 1 - y, text  # a negated phrase has the other class
                negations += 1
                break
    assert negations > 150
    contrasts = [(t.split(" , but ")[1], y) for t, y in zip(texts, labels) if " , but " in t and "at first" not in t]
    plain = [(b, y) for b, y in contrasts if b.startswith(("good", "bad"))]
    assert plain and all(b.startswith("good") == (y == 1) for b, y in plain)
    negated = [(b, y) for b, y in contrasts if not b.startswith(("good", "bad"))]
    assert negated and all(("good" in b.split()) == (y == 0) for b, y in negated)  # "it is not good" decides 0
    assert augment(POS + NEG, [1] * len(POS) + [0] * len(NEG), 600, seed=3) == (texts, labels)  # seeded


def test_long_reviews_give_nothing_to_augment():
    long = [" ".join(["word"] * 50)] * 100
    assert augment(long, [0, 1] * 50, 100) == ([], [])


def _data(source, classes=("negative", "positive"), n=3):
    return LabelledData([f"t{i}" for i in range(n)], [i % 2 for i in range(n)], ["x"], [1], classes, source, "csv")


def test_combine_keeps_the_first_test_split_and_refuses_other_classes():
    both = combine(_data("/a/imdb.csv"), _data("/b/sst.tsv", n=2))
    assert both.train_texts == ["t0", "t1", "t2", "t0", "t1"] and both.train_labels == [0, 1, 0, 0, 1]
    assert both.test_texts == ["x"] and both.source == "imdb.csv + sst.tsv"
    with pytest.raises(DatasetError, match="classes not sarcastic/sarcastic differ"):
        combine(_data("a"), _data("b", ("not sarcastic", "sarcastic")))


def test_cli_trains_on_two_files_with_augmentation(tmp_path, capsys):
    rng = random.Random(0)
    a, b = tmp_path / "a.csv", tmp_path / "b.tsv"
    a.write_text("text,label\n" + "".join(f"{rng.choice(POS)} indeed,1\n{rng.choice(NEG)} indeed,0\n"
                                          for _ in range(60)))
    b.write_text("label\tsentence\n" + "".join(f"1\t{p}\n0\t{n}\n" for p, n in zip(POS, NEG)))
    out = tmp_path / "m.pt"
    assert main(["sentiment", "train", "--data", str(a), "--data", str(b), "--augment", "0.5", "--lexicon", "0.2",
                 "--epochs", "1", "--embed", "8", "--hidden", "8", "--fc", "8", "--out", str(out), "--quiet"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    from charrnn import checkpoint as ckpt

    state = ckpt.load(out)
    # 168 rows, a tenth held out; the 151 training rows gain round(0.5 * 151) = 76 made-up examples and
    # round(0.2 * 151) = 30 lexicon sentences
    assert state["metrics"]["n_train"] == 151 + 76 + 30 and state["metrics"]["n_val"] == 17, line
    assert state["data"]["format"] == "csv+glue" and state["config"]["train"]["augment"] == 0.5
    assert state["config"]["train"]["lexicon"] == 0.2


def test_lexicon_sentences_turn_words_around_as_english_does():
    from charrnn.sentiment.lexicon import ADJ, VERB, lexicon_sentences

    texts, labels = lexicon_sentences(4000, seed=5)
    assert len(texts) == 4000 and 1800 < sum(labels) < 2200
    assert lexicon_sentences(4000, seed=5) == (texts, labels) and lexicon_sentences(50, seed=6)[0] != texts[:50]
    verb_sign = {v: c for c in (0, 1) for pair in VERB[c] for v in pair}
    adj_sign = {a: c for c in (0, 1) for a in ADJ[c]}
    checked = 0
    for text, y in zip(texts, labels):  # an independent reading of a few constructions
        if m := re.fullmatch(r"(\S+) , to say the least", text):
            assert y == adj_sign[m[1]], text
        elif any(join in text for join in (" , ", " ; ", " : ", " . ")):
            continue  # two clauses
        elif m := re.fullmatch(r"i (?:did not|did n't|never) (\w+) it", text):
            assert y == 1 - verb_sign[m[1]], text
        elif m := re.fullmatch(r"(?:it is hard not to|you can not help but) (\w+) it", text):
            assert y == verb_sign[m[1]], text  # a double negation keeps the verb's sign
        elif m := re.fullmatch(r".+ is (?:not|never|far from|anything but) (\S+)(?: at all)?", text):
            if m[1] in adj_sign:
                assert y == 1 - adj_sign[m[1]], text
        else:
            continue
        checked += 1
    assert checked > 50


def test_lexicon_sentences_only_for_positive_negative_classes():
    from charrnn.sentiment.lexicon import reads_as_sentiment
    from charrnn.sentiment.train import SentimentTrainConfig, _prepare_data, _split

    assert reads_as_sentiment(("negative", "positive")) and reads_as_sentiment(("Neg", "Pos"))
    assert not reads_as_sentiment(("not sarcastic", "sarcastic")) and not reads_as_sentiment(("positive", "negative"))
    config = SentimentTrainConfig(lexicon=0.5, val_fraction=0.1)
    for classes, extra in ((("negative", "positive"), 43), (("not sarcastic", "sarcastic"), 0)):
        data = LabelledData(POS * 2 + NEG * 2, [1] * 48 + [0] * 48, [], [], classes, "x.csv", "csv")
        split = _split(data, config)
        assert len(split.train) == 86 and len(_prepare_data(data, split, config).train_ids) == 86 + extra
