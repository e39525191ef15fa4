"""Tokenizer, vocabulary, the classifier's padding handling, GloVe vectors, learning, checkpoints and predict()."""
from __future__ import annotations

import random

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from charrnn import checkpoint as ckpt
from charrnn.sentiment import (
    PAD_ID, UNK_ID, Imdb, Review, SentimentConfig, SentimentLSTM, SentimentTrainConfig, WordVocab, load_glove,
    load_sentiment, predict, tokenize, train_sentiment,
)
from charrnn.sentiment.text import bucket_batches, encode

from ..sentiment_fixtures import review


def test_tokenizer_drops_html_and_keeps_emoticons():
    assert tokenize("This :) is :( a test :-)!") == ["this", "is", "a", "test", ":)", ":(", ":)"]
    assert tokenize("Great.<br /><br />Film, <i>really</i>!") == ["great", "film", "really"]
    assert tokenize("Great<br />film") == ["greatfilm"]  # as in the chapter: tags are removed, not spaced
    assert tokenize("") == [] and tokenize("<p></p> ... !!") == []


def test_vocab_reserves_pad_and_unk_and_applies_limits():
    docs = [["b", "a", "b"], ["c", "b", "a"], ["d"]]
    v = WordVocab.build(docs)
    assert v.words == ["<pad>", "<unk>", "b", "a", "c", "d"] and (PAD_ID, UNK_ID) == (0, 1)
    assert v.encode(["a", "zzz", "b"]) == [3, UNK_ID, 2]
    assert WordVocab.build(docs, min_freq=2).words == ["<pad>", "<unk>", "b", "a"]
    assert WordVocab.build(docs, max_size=3).words == ["<pad>", "<unk>", "b"]
    with pytest.raises(ValueError, match="min_freq"):
        WordVocab.build(docs, min_freq=0)


def _padded_batch(lengths, vocab_size=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, vocab_size, (len(lengths), max(lengths)), generator=g)
    for i, n in enumerate(lengths):
        ids[i, n:] = PAD_ID
    return ids, torch.tensor(lengths)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("pooling", ["last", "mean", "max", "meanmax"])
def test_padded_batch_equals_reviews_one_by_one(pooling, bidirectional):
    torch.manual_seed(0)
    model = SentimentLSTM(SentimentConfig(50, embed=8, hidden=6, layers=2, bidirectional=bidirectional,
                                          pooling=pooling, fc=5)).eval()
    ids, lengths = _padded_batch([5, 1, 9, 3])
    batch = model(ids, lengths)
    alone = torch.cat([model(ids[i:i + 1, :n], lengths[i:i + 1]) for i, n in enumerate(lengths.tolist())])
    torch.testing.assert_close(batch, alone, rtol=1e-5, atol=1e-6)
    longer = torch.cat([ids, torch.full((4, 6), PAD_ID)], dim=1)
    torch.testing.assert_close(model(longer, lengths), batch, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_states_match_pack_padded_sequence(bidirectional):
    torch.manual_seed(0)
    model = SentimentLSTM(SentimentConfig(50, embed=8, hidden=6, bidirectional=bidirectional)).eval()
    ref = torch.nn.LSTM(8, 6, batch_first=True, bidirectional=bidirectional)
    with torch.no_grad():
        for name, p in model.forward_lstms[0].named_parameters():
            getattr(ref, name).copy_(p)
        if bidirectional:
            for name, p in model.backward_lstms[0].named_parameters():
                getattr(ref, name + "_reverse").copy_(p)
    ids, lengths = _padded_batch([4, 7, 2])
    x = model.embedding(ids)
    _, (h, _) = ref(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    out = model.encode(ids, lengths)
    torch.testing.assert_close(out[torch.arange(3), lengths - 1, :6], h[0])
    if bidirectional:
        torch.testing.assert_close(out[:, 0, 6:], h[1])


def _imdb(n_train: int, n_test: int, seed: int = 0) -> Imdb:
    rng = random.Random(seed)

    def make(split, n):
        return [Review(review(rng, i % 2), i % 2, f"{split}/{'pos' if i % 2 else 'neg'}/{i}_0") for i in range(n)]

    return Imdb(make("train", n_train), make("test", n_test))


TINY = dict(embed=16, hidden=16, fc=16, bidirectional=True, pooling="max")


def _config(**kw) -> SentimentTrainConfig:
    base = dict(epochs=3, batch_size=16, lr=1e-2, val_size=40, device="cpu", max_tokens=50)
    return SentimentTrainConfig(**{**base, **kw})


def test_tiny_model_learns_good_versus_bad(tmp_path):
    result = train_sentiment(_imdb(200, 100), TINY, _config(), out=tmp_path / "s.pt", test=True, progress=False)
    assert result["val_accuracy"] >= 0.95 and result["test_accuracy"] >= 0.95
    assert result["n_train"] == 160 and result["n_val"] == 40 and result["n_test"] == 100
    sm = load_sentiment(tmp_path / "s.pt")
    good, bad = predict(sm, ["a wonderful film, loved it", "an awful boring film"])
    assert good > 0.8 and bad < 0.2


def test_training_is_reproducible(tmp_path):
    imdb = _imdb(64, 8)
    for name in ("a.pt", "b.pt"):
        train_sentiment(imdb, TINY, _config(epochs=1, val_size=16), out=tmp_path / name, progress=False)
    a, b = (ckpt.load(tmp_path / n, kind="sentiment") for n in ("a.pt", "b.pt"))
    assert a["vocab"] == b["vocab"]
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k


def test_checkpoint_round_trip_and_wrong_kind(tmp_path):
    imdb = _imdb(64, 8)
    train_sentiment(imdb, TINY, _config(epochs=1, val_size=16), out=tmp_path / "s.pt", progress=False)
    state = ckpt.load(tmp_path / "s.pt", kind="sentiment")
    assert "optimizer" not in state and state["tokenizer"] == {"name": "words", "max_tokens": 50}
    assert set(state["metrics"]) >= {"val_accuracy", "train_seconds", "device", "n_train", "n_val"}
    sm = load_sentiment(tmp_path / "s.pt")
    texts = [r.text for r in imdb.test]
    model = SentimentLSTM(SentimentConfig(**state["config"]["model"]))
    model.load_state_dict(state["state_dict"])
    with torch.no_grad():
        ids = encode(sm.vocab, texts, 50)
        expected = [torch.sigmoid(model(torch.tensor([s]), torch.tensor([len(s)]))).item() for s in ids]
    assert predict(sm, texts, batch_size=3) == pytest.approx(expected, abs=1e-6)
    ckpt.save({**state, "kind": "char-lm"}, tmp_path / "c.pt")
    with pytest.raises(ckpt.CheckpointError, match="expected 'sentiment'"):
        load_sentiment(tmp_path / "c.pt")


def test_predict_edge_cases(tmp_path):
    train_sentiment(_imdb(64, 8), TINY, _config(epochs=1, val_size=16), out=tmp_path / "s.pt", progress=False)
    sm = load_sentiment(tmp_path / "s.pt")
    huge = "good " * 100_000
    probs = predict(sm, ["", "zzzz", "<br /> ...", huge, "good " * 50, "zzzz qqqq"])
    assert all(0.0 < p < 1.0 for p in probs)
    assert probs[0] == pytest.approx(probs[1]) == pytest.approx(probs[2])  # each is one <unk>
    assert probs[3] == pytest.approx(probs[4], abs=1e-6)  # cut to max_tokens=50
    assert predict(sm, []) == []
    with pytest.raises(TypeError, match="list of texts"):
        predict(sm, "one text")


def _write_glove(path, words, dim=4):
    lines = [f"{w} " + " ".join(f"{(i + 1) * 0.1 + j:.2f}" for j in range(dim)) for i, w in enumerate(words)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_glove_loading_and_coverage(tmp_path):
    vocab = WordVocab.build([["good", "bad", "film", "xyzzy"]])
    glove = load_glove(_write_glove(tmp_path / "g.txt", ["film", "good", "other", "bad"]), vocab)
    assert glove.found == 3 and glove.coverage == pytest.approx(3 / 4)
    assert glove.vectors.shape == (len(vocab), 4)
    assert glove.vectors[vocab.index["good"]].tolist() == pytest.approx([0.2, 1.2, 2.2, 3.2])
    assert torch.equal(glove.vectors[PAD_ID], torch.zeros(4))
    (tmp_path / "bad.txt").write_text("film 1 2 3 4\ngood 1 2\n")
    with pytest.raises(ValueError, match="line 2"):
        load_glove(tmp_path / "bad.txt", vocab)


@pytest.mark.parametrize("freeze", [True, False])
def test_glove_frozen_or_fine_tuned(tmp_path, freeze):
    imdb = _imdb(64, 8)
    words = [w for r in imdb.train for w in tokenize(r.text)]
    glove_file = _write_glove(tmp_path / "g.txt", sorted(set(words))[:10], dim=16)
    result = train_sentiment(imdb, TINY, _config(epochs=1, val_size=16, glove=str(glove_file), freeze=freeze),
                             out=tmp_path / "s.pt", progress=False)
    assert result["glove_found"] == 10 and 0 < result["glove_coverage"] < 1
    state = ckpt.load(tmp_path / "s.pt", kind="sentiment")
    vectors = load_glove(glove_file, WordVocab(state["vocab"]), seed=1).vectors
    assert torch.equal(state["state_dict"]["embedding.weight"], vectors) == freeze


def test_bucketing_covers_every_review_once_and_cuts_padding():
    rng = random.Random(0)
    lengths = [rng.randint(1, 500) for _ in range(2000)]
    batches = bucket_batches(lengths, 32, 20, torch.Generator().manual_seed(0))
    assert sorted(i for b in batches for i in b) == list(range(2000))
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    assert sum(lengths) / padded > 0.9
    again = bucket_batches(lengths, 32, 20, torch.Generator().manual_seed(0))
    assert again == batches


def test_train_config_rejects_bad_settings():
    with pytest.raises(ValueError, match="lr_decay"):
        SentimentTrainConfig(lr_decay="cosine")
    with pytest.raises(ValueError, match="freeze needs"):
        SentimentTrainConfig(freeze=True)
    with pytest.raises(ValueError, match="pooling"):
        SentimentConfig(10, pooling="median")
