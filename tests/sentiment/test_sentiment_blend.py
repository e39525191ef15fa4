"""`charrnn sentiment blend`: classifiers of different vocabularies joined into one that routes by text length,
and `--pretrained` from a classifier's encoder."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from charrnn import checkpoint as ckpt
from charrnn import shelf
from charrnn.cli import main
from charrnn.sentiment import load_sentiment
from charrnn.sentiment.blend import blend_classifiers
from charrnn.sentiment.ensemble import combine_classifiers
from charrnn.sentiment.explain import explain, explanation_table
from charrnn.sentiment.predict import predict
from charrnn.sentiment.text import tokenize_words
from charrnn.sentiment.wordlm import load_encoder

from ..sentiment_fixtures import reviews, train_tiny, write_tar

SYNONYMS = {"good": "fine", "great": "superb", "bad": "poor", "awful": "dreadful", "movie": "picture"}
SHORT = ["great", "awful film", "not good", "", "superb", "dreadful picture"]  # at most SPLIT tokens
LONG = ["the movie was great and the actor was wonderful too", "a boring plot and an awful awful waste of a film",
        "superb superb picture but a dreadful dreadful ending overall"]
SPLIT = 3


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """Three classifiers: a and c on the same reviews and split (one vocabulary, other models), b on reviews with
    other words for some (another vocabulary: its words "fine", "superb", ... are unknown to a)."""
    tmp = tmp_path_factory.mktemp("blend")
    files = reviews({"train": 60, "test": 10})
    other = {k: " ".join(SYNONYMS.get(w, w) for w in v.split(" ")) for k, v in reviews({"train": 60, "test": 10},
                                                                                     seed=5).items()}
    train_tiny(write_tar(tmp / "a.tar.gz", files), tmp / "a.pt")
    train_tiny(write_tar(tmp / "b.tar.gz", other), tmp / "b.pt", "--pooling", "last", "--fc", "8")
    train_tiny(tmp / "a.tar.gz", tmp / "c.pt", "--pooling", "max", "--fc", "12")  # a's split: a's vocabulary
    return tmp


def _p(path, texts):
    return predict(load_sentiment(path), texts)


def test_short_texts_get_the_short_parts_and_long_texts_the_long_ones(parts, capsys):
    tmp = parts
    assert "superb" not in ckpt.load(tmp / "a.pt")["vocab"] and "superb" in ckpt.load(tmp / "b.pt")["vocab"]
    assert main(["sentiment", "blend", "--short", str(tmp / "a.pt"), "--long", str(tmp / "b.pt"), "--split-at",
                 str(SPLIT), "--out", str(tmp / "ab.pt"), "--full-precision"]) == 0
    line = capsys.readouterr().out.strip()
    words = len(ckpt.load(tmp / "ab.pt")["vocab"])
    assert re.fullmatch(rf"out=\S+ab\.pt parts=2 members=2 words={words} mb=\d+\.\d", line)
    assert words > len(ckpt.load(tmp / "a.pt")["vocab"])  # the union: b's own words joined a's
    assert all(len(tokenize_words(t)) <= SPLIT for t in SHORT) and all(len(tokenize_words(t)) > SPLIT for t in LONG)
    assert _p(tmp / "ab.pt", SHORT) == pytest.approx(_p(tmp / "a.pt", SHORT), abs=1e-5)
    assert _p(tmp / "ab.pt", LONG) == pytest.approx(_p(tmp / "b.pt", LONG), abs=1e-5)
    # in one batch, mixed: each row still goes its own way
    assert _p(tmp / "ab.pt", SHORT + LONG) == pytest.approx(_p(tmp / "a.pt", SHORT) + _p(tmp / "b.pt", LONG),
                                                            abs=1e-5)
    assert max(abs(x - y) for x, y in zip(_p(tmp / "a.pt", LONG), _p(tmp / "b.pt", LONG))) > 0.01


def test_a_classifier_in_both_lists_reads_both_and_parts_are_averaged(parts):
    tmp = parts
    r = blend_classifiers([tmp / "a.pt", tmp / "b.pt"], [tmp / "b.pt", tmp / "c.pt"], tmp / "abc.pt", SPLIT,
                          "float32")
    assert r["parts"] == 3 and r["members"] == 3
    a, b, c = (_p(tmp / f"{n}.pt", SHORT + LONG) for n in "abc")
    want = [(x + y) / 2 for x, y in zip(a, b)][:len(SHORT)] + [(y + z) / 2 for y, z in zip(b, c)][len(SHORT):]
    assert _p(tmp / "abc.pt", SHORT + LONG) == pytest.approx(want, abs=1e-5)
    # An ensemble is one part: its members' mean counts once.
    combine_classifiers([tmp / "a.pt", tmp / "c.pt"], tmp / "ac.pt", precision="float32")
    blend_classifiers([tmp / "ac.pt", tmp / "b.pt"], [tmp / "b.pt"], tmp / "acb.pt", SPLIT, "float32")
    ac = [(x + z) / 2 for x, z in zip(a, c)]
    assert _p(tmp / "acb.pt", SHORT) == pytest.approx([(x + y) / 2 for x, y in zip(ac, b)][:len(SHORT)], abs=1e-5)
    # int8 (the default) keeps the answers within rounding, in about a quarter of the size.
    blend_classifiers([tmp / "ac.pt", tmp / "b.pt"], [tmp / "b.pt"], tmp / "acb8.pt", SPLIT)
    assert _p(tmp / "acb8.pt", SHORT + LONG) == pytest.approx(_p(tmp / "acb.pt", SHORT + LONG), abs=2e-2)
    size = {n: sum(v.numel() * v.element_size() for k, v in ckpt.load(tmp / n)["state_dict"].items()
                   if k.startswith("members.")) for n in ("acb.pt", "acb8.pt")}
    assert size["acb8.pt"] < 0.35 * size["acb.pt"]


def test_a_blend_is_a_sentiment_checkpoint_everywhere(parts, tmp_path, capsys):
    tmp = parts
    blend_classifiers([tmp / "a.pt"], [tmp / "b.pt"], tmp_path / "ab.pt", SPLIT)
    sm = load_sentiment(tmp_path / "ab.pt")
    assert sm.classes == ("negative", "positive") and sm.max_tokens == 500
    info = shelf.describe(tmp_path / "ab.pt")
    assert info.kind == "sentiment" and info.error is None
    for text in ("superb superb picture was dreadful", "good film"):  # a long text, then a short one
        exp = explain(sm, text)
        assert exp.probability == pytest.approx(predict(sm, [text])[0], abs=1e-6)
        assert exp.known == [True] * len(exp.tokens)  # words of either part are known to the blend
        which = "more than 3 tokens, so the mean of its 1 part(s) for long" if len(exp.tokens) > SPLIT else \
            "at most 3 tokens, so the mean of its 1 part(s) for short"
        assert which in exp.route and exp.route in explanation_table(exp)
    assert explain(load_sentiment(tmp / "a.pt"), "good film").route == ""
    assert main(["sentiment", "evaluate", "--checkpoint", str(tmp_path / "ab.pt"), "--data",
                 str(tmp / "a.tar.gz")]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].endswith("n=20")  # the archive's test split
    assert main(["show", "--checkpoint", str(tmp_path / "ab.pt")]) == 0
    out = capsys.readouterr().out
    assert "charrnn sentiment blend --short a.pt --long b.pt --split-at 3" in out
    assert "blend of 2 parts: 1 for texts of at most 3 tokens, 1 for longer ones" in out
    # exported as a folder, it answers the same
    assert main(["export", "--checkpoint", str(tmp_path / "ab.pt"), "--out", str(tmp_path / "dir")]) == 0
    assert _p(tmp_path / "dir", SHORT + LONG) == pytest.approx(_p(tmp_path / "ab.pt", SHORT + LONG), abs=1e-6)


@pytest.mark.parametrize("tamper", ["id past the part's vocabulary", "negative id", "pad mapped", "float map",
                                    "map of another length", "member in two parts", "no part for long texts",
                                    "split_at zero", "split_at past int64", "reads past int64", "parts not a list"])
def test_a_tampered_blend_is_refused_in_one_line(parts, tmp_path, tamper):
    tmp = parts
    blend_classifiers([tmp / "a.pt"], [tmp / "b.pt"], tmp_path / "ab.pt", SPLIT)
    state = ckpt.load(tmp_path / "ab.pt")
    maps, spec = state["state_dict"], state["config"]["model"]["blend"]
    if tamper == "id past the part's vocabulary":
        maps["maps.1"][5] = 10**6
    elif tamper == "negative id":
        maps["maps.0"][7] = -3
    elif tamper == "pad mapped":
        maps["maps.0"][0] = 2
    elif tamper == "float map":
        maps["maps.0"] = maps["maps.0"].float()
    elif tamper == "map of another length":
        maps["maps.0"] = maps["maps.0"][:-1]
    elif tamper == "split_at past int64":
        spec["split_at"] = 2**70
    elif tamper == "reads past int64":
        spec["parts"][0]["reads"] = 2**70
    elif tamper == "parts not a list":
        spec["parts"] = {"members": [0, 1]}
    elif tamper == "member in two parts":
        spec["parts"][1]["members"] = [0]
    elif tamper == "no part for long texts":
        spec["parts"][1]["texts"] = "short"
    else:
        spec["split_at"] = 0
    ckpt.save(state, tmp_path / "bad.pt")
    with pytest.raises(ckpt.CheckpointError, match="not a usable sentiment checkpoint: ") as err:
        load_sentiment(tmp_path / "bad.pt")
    assert "\n" not in str(err.value)
    assert shelf.describe(tmp_path / "bad.pt").error is not None


@pytest.mark.parametrize("case", ["a blend in an ensemble", "other classes", "none for long"])
def test_what_cannot_be_blended_is_refused_and_nothing_written(parts, tmp_path, capsys, case):
    tmp = parts
    blend_classifiers([tmp / "a.pt"], [tmp / "b.pt"], tmp_path / "ab.pt", SPLIT)
    out = tmp_path / "out.pt"
    if case == "a blend in an ensemble":
        argv, expect = ["ensemble", str(tmp_path / "ab.pt"), str(tmp / "a.pt")], "is a blend"
    elif case == "other classes":
        state = ckpt.load(tmp / "b.pt")
        state["classes"] = ["bad", "good"]
        ckpt.save(state, tmp_path / "b2.pt")
        argv, expect = ["blend", "--short", str(tmp / "a.pt"), "--long", str(tmp_path / "b2.pt")], "class names"
    else:
        with pytest.raises(ValueError, match="at least one classifier for short texts and one for long texts"):
            blend_classifiers([tmp / "a.pt"], [], out)
        argv, expect = ["blend", "--short", str(tmp / "a.pt"), "--long", str(tmp / "b.pt"), "--split-at", "0"], \
            "split_at must be a whole number of tokens from 1 to 100,000, got 0"
    assert main(["sentiment", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("charrnn sentiment") and expect in err[-1]
    assert not out.exists()


def test_a_blend_brings_its_parts_to_a_new_blend(parts, tmp_path):
    """A blend given to `blend` adds its parts for the texts it is given for: rebuilt from itself it is the same
    file's contents, and a part can be added to it without the classifiers it was made of."""
    tmp = parts
    blend_classifiers([tmp / "a.pt", tmp / "b.pt"], [tmp / "b.pt", tmp / "c.pt"], tmp_path / "abc.pt", SPLIT)
    blend_classifiers([tmp_path / "abc.pt"], [tmp_path / "abc.pt"], tmp_path / "again.pt", SPLIT)
    old, new = ckpt.load(tmp_path / "abc.pt"), ckpt.load(tmp_path / "again.pt")
    assert [old[k] for k in ("vocab", "tokenizer", "classes")] == [new[k] for k in ("vocab", "tokenizer", "classes")]
    for key in ("scales", "state_dict"):  # int8 rows re-quantized from their own scales come back the same
        assert old[key].keys() == new[key].keys()
        assert all(torch.equal(old[key][k], new[key][k]) for k in old[key])
    assert old["config"]["model"] == new["config"]["model"]  # b still reads both: one part, "all"
    assert [m["file"] for m in new["metrics"]["members"]] == ["a.pt", "b.pt", "c.pt"]
    a, b, c = (_p(tmp / f"{n}.pt", SHORT + LONG) for n in "abc")
    # c.pt added for short texts (a part of its own beside abc.pt's c, which stays long); abc.pt's long parts (b, c)
    # for long ones
    blend_classifiers([tmp_path / "abc.pt", tmp / "c.pt"], [tmp_path / "abc.pt"], tmp_path / "plus.pt", SPLIT,
                      "float32")
    want = [(x + y + z) / 3 for x, y, z in zip(a, b, c)][:len(SHORT)] + [(y + z) / 2 for y, z in zip(b, c)][len(SHORT):]
    assert _p(tmp_path / "plus.pt", SHORT + LONG) == pytest.approx(want, abs=0.02)  # abc.pt's parts are int8
    state = ckpt.load(tmp_path / "plus.pt")
    assert [p["texts"] for p in state["config"]["model"]["blend"]["parts"]] == ["short", "all", "long", "short"]
    # given for short texts only, a blend brings only its short parts: long texts go to c alone
    blend_classifiers([tmp_path / "abc.pt"], [tmp / "c.pt"], tmp_path / "short.pt", SPLIT)
    assert ckpt.load(tmp_path / "short.pt")["config"]["train"]["short"] == ["a.pt", "b.pt"]
    assert _p(tmp_path / "short.pt", LONG) == pytest.approx(c[len(SHORT):], abs=0.01)


def test_a_classifier_is_a_starting_point_for_another(parts, tmp_path):
    """--pretrained takes a classifier: its vocabulary, embedding and first-layer LSTMs start the new one."""
    tmp = parts
    lm = load_encoder(tmp / "b.pt")
    b = load_sentiment(tmp / "b.pt")
    assert lm.vocab.words == b.vocab.words and lm.config.hidden == 16
    assert torch.equal(lm.state_dict["embedding.weight"], b.model.embedding.weight)
    assert torch.equal(lm.state_dict["forward_lstm.weight_hh_l0"], b.model.forward_lstms[0].weight_hh_l0)
    train_tiny(tmp / "a.tar.gz", tmp_path / "from_b.pt", "--pretrained", str(tmp / "b.pt"), "--epochs", "1")
    assert ckpt.load(tmp_path / "from_b.pt")["vocab"] == ckpt.load(tmp / "b.pt")["vocab"]  # b's words, not a's
    combine_classifiers([tmp / "a.pt", tmp / "c.pt"], tmp_path / "ac.pt")
    with pytest.raises(ckpt.CheckpointError, match="2 member"):
        load_encoder(tmp_path / "ac.pt", member=2)
    assert torch.equal(load_encoder(tmp_path / "ac.pt", member=1).state_dict["embedding.weight"],
                       load_sentiment(tmp_path / "ac.pt").model.members[1].embedding.weight)


def test_a_word_only_the_other_route_knows_counts_for_nothing(parts, tmp_path):
    """A short text is read by the short parts only: b's words ("superb") are unknown to them, so the app refuses
    to give a number, and explain marks the word unknown, as a.pt alone would."""
    from charrnn.serve.scoring import class_probabilities, known_words

    tmp = parts
    blend_classifiers([tmp / "a.pt"], [tmp / "b.pt"], tmp_path / "ab.pt", SPLIT)
    sm = load_sentiment(tmp_path / "ab.pt")
    with pytest.raises(ValueError, match="no known words"):
        class_probabilities(sm, "superb dreadful")
    assert known_words(sm, "superb good") == 1 and explain(sm, "superb good").known == [False, True]
    long_text = "superb superb picture was dreadful"  # long: b reads it and knows its words
    assert known_words(sm, long_text) == 5 and class_probabilities(sm, long_text)


def test_a_split_past_every_part_still_sends_long_texts_to_the_long_parts(parts, tmp_path):
    tmp = parts
    reads = load_sentiment(tmp / "a.pt").max_tokens
    blend_classifiers([tmp / "a.pt"], [tmp / "b.pt"], tmp_path / "ab.pt", reads + 5, "float32")
    sm = load_sentiment(tmp_path / "ab.pt")
    assert sm.max_tokens == reads + 6  # the blend reads one token past its split, so a long text can be seen
    longer = " ".join(["good film"] * (reads // 2 + 3))
    assert predict(sm, [longer]) == pytest.approx(_p(tmp / "b.pt", [longer]), abs=1e-5)


def test_blends_of_more_than_two_classes_average_each_class(tmp_path):
    from charrnn.sentiment.predict import predict_proba

    from ..sentiment_fixtures import keyword_csv

    classes = ["arts", "food", "tech"]
    for name, seed in (("x", 0), ("y", 3)):
        assert main(["sentiment", "train", "--data", str(keyword_csv(tmp_path / f"{name}.csv", classes, 30, seed)),
                     "--preset", "best", "--embed", "16", "--hidden", "16", "--epochs", "2", "--batch-size", "16",
                     "--device", "cpu", "--quiet", "--out", str(tmp_path / f"{name}.pt")]) == 0
    blend_classifiers([tmp_path / "x.pt", tmp_path / "y.pt"], [tmp_path / "y.pt"], tmp_path / "xy.pt", SPLIT,
                      "float32")
    sm = load_sentiment(tmp_path / "xy.pt")
    texts = ["painting soup", "the laptop code was a chip in the server room"]
    got = predict_proba(sm, texts)
    x, y = (predict_proba(load_sentiment(tmp_path / f"{n}.pt"), texts) for n in "xy")
    assert sm.classes == tuple(classes) and all(sum(row) == pytest.approx(1.0) for row in got)
    assert got[0] == pytest.approx([(a + b) / 2 for a, b in zip(x[0], y[0])], abs=1e-5)
    assert got[1] == pytest.approx(y[1], abs=1e-5)


def test_evaluate_without_a_checkpoint_uses_the_default_and_record_needs_one(parts, tmp_path, capsys, monkeypatch):
    from charrnn.sentiment.kind import DEFAULT_FILE

    tmp = parts
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    blend_classifiers([tmp / "a.pt"], [tmp / "b.pt"], folder / DEFAULT_FILE, SPLIT)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["sentiment", "evaluate", "--data", str(tmp / "a.tar.gz")]) == 0
    out = capsys.readouterr()
    assert DEFAULT_FILE in out.err and out.out.strip().splitlines()[-1].endswith("n=20")
    assert main(["sentiment", "evaluate", "--data", str(tmp / "a.tar.gz"), "--record"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith("name it with --checkpoint")


def test_pretrained_member_needs_a_classifier(parts, tmp_path):
    from charrnn.sentiment import SentimentTrainConfig

    with pytest.raises(ValueError, match="pretrained_member needs a classifier"):
        SentimentTrainConfig(pretrained_member=1)
    shakespeare = Path(__file__).resolve().parents[2] / "checkpoints" / "tiny-shakespeare.pt"
    if shakespeare.is_file():
        with pytest.raises(ckpt.CheckpointError, match="--pretrained takes a word LM"):
            load_encoder(shakespeare)
