"""`charrnn sentiment pretrain` (a forward + backward word LM) and classifiers that start from it."""
from __future__ import annotations

import csv
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
import torch

from charrnn import checkpoint as ckpt
from charrnn.cli import main
from charrnn.sentiment import SentimentConfig, SentimentLSTM, SentimentTrainConfig, load_labelled, train_sentiment
from charrnn.sentiment.text import tokenize_words
from charrnn.sentiment.wordlm import PretrainConfig, init_classifier, load_word_lm, pretrain_word_lm

ADJ = {"good": 1, "great": 1, "fine": 1, "bad": 0, "awful": 0, "dull": 0}
NOUNS = ["film", "plot", "cast", "score", "script", "ending"]
VERBS = ["was", "felt", "seemed"]


def _sentence(rng: random.Random) -> str:
    """A fixed shape (the NOUN VERB ADJ , and the NOUN VERB ADJ .): each word's kind follows from the one before."""
    return " ".join(["the", rng.choice(NOUNS), rng.choice(VERBS), rng.choice(list(ADJ)), ",", "and", "the",
                     rng.choice(NOUNS), rng.choice(VERBS), rng.choice(list(ADJ)), "."])


@pytest.fixture(scope="module")
def lm_file(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wordlm")
    rng = random.Random(0)
    texts = [_sentence(rng) for _ in range(1500)]
    (tmp / "unlabelled.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    return tmp, texts


def _unigram_entropy(texts: list[str]) -> float:
    counts = Counter(t for text in texts for t in tokenize_words(text))
    n = sum(counts.values())
    return -sum(c / n * math.log(c / n) for c in counts.values())


def test_pretrained_lm_predicts_better_than_word_frequencies(lm_file):
    tmp, texts = lm_file
    r = pretrain_word_lm(texts, tmp / "lm.pt", PretrainConfig(epochs=4, batch_size=8, bptt=16, lr=1e-2,
                                                              min_freq=1, device="cpu"),
                         embed=16, hidden=24, progress=False)
    # Which kind of word comes next is fixed; only the choice within a kind is random (6, 3 or 6 ways).
    assert r["val_loss"] < _unigram_entropy(texts) - 0.5
    lm = load_word_lm(tmp / "lm.pt")
    assert (lm.config.embed, lm.config.hidden, lm.tokenizer) == (16, 24, "words")
    assert set(ADJ) | set(NOUNS) <= set(lm.vocab.words) and lm.metrics["words_seen"] > 0


def test_cli_pretrain_then_train_a_classifier_from_it(lm_file, tmp_path, capsys):
    tmp, texts = lm_file
    assert main(["sentiment", "pretrain", "--text", str(tmp / "unlabelled.txt"), "--out", str(tmp_path / "lm.pt"),
                 "--embed", "12", "--hidden", "10", "--epochs", "1", "--batch-size", "8", "--bptt", "16",
                 "--min-freq", "1", "--device", "cpu", "--quiet"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith(f"out={tmp_path / 'lm.pt'} words=") and "val_perplexity=" in line
    rng = random.Random(1)
    with open(tmp_path / "data.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for _ in range(200):
            s = _sentence(rng)
            w.writerow([s, ADJ[s.split()[-2]]])  # the label is the last adjective's
    out = tmp_path / "clf.pt"
    assert main(["sentiment", "train", "--data", str(tmp_path / "data.csv"), "--pretrained", str(tmp_path / "lm.pt"),
                 "--preset", "sentence", "--lexicon", "0", "--augment", "0", "--epochs", "1", "--device", "cpu",
                 "--quiet", "--out", str(out)]) == 0
    state = ckpt.load(out, kind="sentiment")
    lm = load_word_lm(tmp_path / "lm.pt")
    assert state["vocab"] == lm.vocab.words  # the LM's vocabulary, not one built from the 180 training rows
    assert (state["config"]["model"]["embed"], state["config"]["model"]["hidden"]) == (12, 10)
    assert state["metrics"]["pretrained"] == "lm.pt"


def test_classifier_starts_from_the_lm_weights(lm_file, tmp_path):
    tmp, texts = lm_file
    pretrain_word_lm(texts[:300], tmp_path / "lm.pt", PretrainConfig(epochs=1, batch_size=4, bptt=8, min_freq=1,
                                                                     device="cpu"), embed=8, hidden=6, progress=False)
    lm = load_word_lm(tmp_path / "lm.pt")
    data = load_labelled(_labelled_csv(tmp_path, texts[300:420]))
    out = tmp_path / "clf.pt"
    # A learning rate so small that Adam moves no weight by more than about 1e-10: what is saved is the start.
    train_sentiment(data, {"bidirectional": True, "pooling": "max", "fc": 4},
                    SentimentTrainConfig(epochs=1, lr=1e-12, pretrained=str(tmp_path / "lm.pt"), device="cpu"),
                    out=out, progress=False)
    weights = ckpt.load(out)["state_dict"]
    for mine, theirs in [("embedding.weight", "embedding.weight"),
                         ("forward_lstms.0.weight_hh_l0", "forward_lstm.weight_hh_l0"),
                         ("backward_lstms.0.weight_ih_l0", "backward_lstm.weight_ih_l0"),
                         ("backward_lstms.0.bias_hh_l0", "backward_lstm.bias_hh_l0")]:
        torch.testing.assert_close(weights[mine], lm.state_dict[theirs], atol=1e-8, rtol=0)


def _labelled_csv(tmp_path, texts):
    path = tmp_path / "labelled.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows([t, ADJ[t.split()[-2]]] for t in texts)
    return path


def test_mismatched_or_wrong_files_are_refused(lm_file, tmp_path, capsys):
    tmp, texts = lm_file
    pretrain_word_lm(texts[:200], tmp_path / "lm.pt", PretrainConfig(epochs=1, batch_size=4, bptt=8, min_freq=1,
                                                                     device="cpu"), embed=8, hidden=6, progress=False)
    lm = load_word_lm(tmp_path / "lm.pt")
    with pytest.raises(ValueError, match="the pre-trained LM has vocabulary .* embed 8 and hidden 6"):
        init_classifier(SentimentLSTM(SentimentConfig(vocab_size=len(lm.vocab), embed=8, hidden=7)), lm)
    data = _labelled_csv(tmp_path, texts[:60])
    cases = [
        (["--pretrained", str(tmp_path / "lm.pt"), "--glove", str(tmp_path / "lm.pt")], "not both"),
        (["--pretrained", str(tmp_path / "missing.pt")], "checkpoint not found"),
        (["--pretrained", str(data)], "not a readable checkpoint"),
    ]
    for extra, message in cases:
        code = main(["sentiment", "train", "--data", str(data), "--epochs", "1", "--quiet", "--device", "cpu",
                     "--out", str(tmp_path / "never.pt"), *extra])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err, (extra, err)
        assert not (tmp_path / "never.pt").exists()
    assert main(["sentiment", "pretrain", "--out", str(tmp_path / "x.pt")]) == 2
    assert "give --text files" in capsys.readouterr().err


def test_init_continues_an_lm_with_its_vocabulary_and_weights(lm_file, tmp_path):
    tmp, texts = lm_file
    config = PretrainConfig(epochs=1, batch_size=8, bptt=16, lr=1e-2, min_freq=1, device="cpu")
    first = pretrain_word_lm(texts, tmp_path / "a.pt", config, embed=12, hidden=16, progress=False)
    # A second pass over the same text (same held-out tail) keeps the first LM's vocabulary and sizes.
    again = PretrainConfig(**{**vars(config), "init": str(tmp_path / "a.pt")})
    second = pretrain_word_lm(texts, tmp_path / "b.pt", again, embed=99, hidden=99, progress=False)
    a, b = load_word_lm(tmp_path / "a.pt"), load_word_lm(tmp_path / "b.pt")
    assert b.vocab.words == a.vocab.words
    assert (b.config.embed, b.config.hidden) == (12, 16)
    assert second["words_seen"] == 2 * first["words_seen"] > 0  # one pass each, every word once per pass
    assert second["val_loss"] < first["val_loss"]  # a second pass from where the first stopped, not from scratch
    with pytest.raises(ValueError, match="not both"):
        PretrainConfig(init="a.pt", glove="v.txt")


def test_pretrained_layers_can_learn_more_slowly():
    from charrnn.sentiment.train import _param_groups

    model = SentimentLSTM(SentimentConfig(vocab_size=20, embed=4, hidden=3, layers=2, bidirectional=True))
    slow, rest = _param_groups(model, SentimentTrainConfig(lr=1e-3, pretrained="lm.pt", pretrained_lr=0.25))
    assert slow["lr"] == pytest.approx(2.5e-4) and slow["scale"] == 0.25 and "lr" not in rest
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)].split(".")[0] for p in slow["params"]} == {"embedding", "forward_lstms", "backward_lstms"}
    assert all(names[id(p)].split(".")[1] == "1" for p in rest["params"] if "lstms" in names[id(p)])
    assert len(slow["params"]) + len(rest["params"]) == len(list(model.parameters()))
    (only,) = _param_groups(model, SentimentTrainConfig(lr=1e-3))
    assert len(only["params"]) == len(list(model.parameters()))


def test_ctrl_c_keeps_the_lm_learned_so_far(lm_file, tmp_path):
    tmp, _ = lm_file
    out = tmp_path / "lm.pt"
    cmd = [sys.executable, "-m", "charrnn", "sentiment", "pretrain", "--text", str(tmp / "unlabelled.txt"),
           "--out", str(out), "--embed", "8", "--hidden", "8", "--minutes", "10", "--batch-size", "4", "--bptt", "8",
           "--min-freq", "1", "--device", "cpu"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    seen = ""
    deadline = time.monotonic() + 120
    while "pre-training" not in seen and time.monotonic() < deadline:  # the bar: the loop (and its handler) runs
        seen += proc.stderr.read(1)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    out_text, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert "stopped early: kept the LM after" in err and "Traceback" not in err
    lm = load_word_lm(out)
    assert lm.metrics["stopped"] is True and lm.metrics["steps"] > 0
    assert out_text.strip().startswith(f"out={out}")
