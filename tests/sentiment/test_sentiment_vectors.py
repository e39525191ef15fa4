"""Word-vector files in GloVe, word2vec text and word2vec binary format, and vectors learned by PPMI + SVD."""
from __future__ import annotations

import random
import struct

import numpy as np
import pytest
import torch

from charrnn.cli import main
from charrnn.sentiment import WordVocab, learn_vectors, load_glove, load_vectors, save_word2vec_text
from charrnn.sentiment.vectors import GLOVE, W2V_BINARY, W2V_TEXT, cosine, detect_format

WORDS = ["film", "good", "other", "bad", "a"]
TABLE = {w: [round((i + 1) * 0.25 - j * 0.5, 4) for j in range(4)] for i, w in enumerate(WORDS)}


def _glove(path, table=TABLE):
    path.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in table.items()), encoding="utf-8")
    return path


def _w2v_text(path, table=TABLE):
    path.write_text(f"{len(table)} 4\n" + _glove(path, table).read_text(encoding="utf-8"), encoding="utf-8")
    return path


def _w2v_binary(path, table=TABLE, newline=True, count=None, dim=4):
    data = f"{count or len(table)} {dim}\n".encode()
    for w, v in table.items():
        data += w.encode() + b" " + struct.pack("<4f", *v) + (b"\n" if newline else b"")
    path.write_bytes(data)
    return path


def test_three_formats_load_the_same_vectors(tmp_path):
    vocab = WordVocab.build([["good", "bad", "film", "xyzzy", "a"]])
    files = {GLOVE: _glove(tmp_path / "g.txt"), W2V_TEXT: _w2v_text(tmp_path / "w.txt"),
             W2V_BINARY: _w2v_binary(tmp_path / "w.bin"), "binary without newlines":
             _w2v_binary(tmp_path / "w2.bin", newline=False)}
    results = {}
    for fmt, path in files.items():
        if fmt in (GLOVE, W2V_TEXT, W2V_BINARY):
            assert detect_format(path) == fmt
        results[fmt] = load_vectors(path, vocab)
    ref = results[GLOVE]
    assert ref.found == 4 and ref.coverage == pytest.approx(4 / 5)
    assert ref.vectors[vocab.index["good"]].tolist() == pytest.approx(TABLE["good"])
    assert torch.equal(ref.vectors[0], torch.zeros(4))
    for fmt, r in results.items():
        assert (r.found, r.coverage) == (ref.found, ref.coverage), fmt
        torch.testing.assert_close(r.vectors, ref.vectors, msg=fmt)
    torch.testing.assert_close(load_glove(files[W2V_BINARY], vocab).vectors, ref.vectors)  # the trainer's reader


def test_bad_files_give_clear_errors(tmp_path):
    vocab = WordVocab.build([["good", "bad"]])
    cases = {
        "truncated": (_w2v_binary(tmp_path / "t.bin", count=9), "truncated"),
        "cut mid-vector": (tmp_path / "c.bin", "truncated"),
        "dim": (_glove(tmp_path / "d.txt"), "vectors have 4 values, expected 8"),
        "binary dim": (_w2v_binary(tmp_path / "d.bin"), "vectors have 4 values, expected 8"),
        "ragged": (tmp_path / "r.txt", "line 2: 2 values, expected 4"),
        "text count": (tmp_path / "n.txt", "header promises 7 vectors, it holds 5"),
        "text header size": (tmp_path / "h.txt", "vectors have 4 values, expected 3"),
        "absurd header": (tmp_path / "a.bin", "header promises 5 vectors of 900000000 values"),
        "prose": (tmp_path / "p.txt", "not numbers"),
        "empty": (tmp_path / "e.txt", "holds no word vectors"),
        "missing": (tmp_path / "none.txt", "cannot read word vectors"),
    }
    cases["cut mid-vector"][0].write_bytes(_w2v_binary(tmp_path / "x.bin").read_bytes()[:-7])
    (tmp_path / "r.txt").write_text("film 1 2 3 4\ngood 1 2\n")
    (tmp_path / "n.txt").write_text(_w2v_text(tmp_path / "y.txt").read_text().replace("5 4", "7 4", 1))
    (tmp_path / "h.txt").write_text(_w2v_text(tmp_path / "y.txt").read_text().replace("5 4", "5 3", 1))
    (tmp_path / "a.bin").write_bytes(b"5 900000000\n" + b"x" * 100)
    (tmp_path / "p.txt").write_text("It was the best of times, it was the worst of times.\n")
    (tmp_path / "e.txt").write_text("\n\n")
    for name, (path, message) in cases.items():
        dim = 8 if "dim" in name else None
        with pytest.raises(ValueError, match=message):
            load_vectors(path, vocab, dim)


def _corpus(n_docs=600, seed=0):
    """Two topics: cats/dogs appear among pet words, cars/trucks among road words."""
    rng = random.Random(seed)
    pets, roads = ["fur", "paws", "vet", "leash", "bark"], ["road", "engine", "wheels", "fuel", "highway"]
    docs = []
    for i in range(n_docs):
        topic, near = (["cat", "dog"], pets) if i % 2 else (["car", "truck"], roads)
        docs.append([rng.choice(topic) if rng.random() < 0.3 else rng.choice(near) for _ in range(12)])
    return docs


def test_learned_vectors_put_shared_contexts_close():
    wv = learn_vectors(_corpus(), dim=4, window=3, min_count=2)
    assert sorted(wv.words) == sorted(["cat", "dog", "car", "truck", "fur", "paws", "vet", "leash", "bark",
                                       "road", "engine", "wheels", "fuel", "highway"])
    assert wv.vectors.shape == (14, 4) and wv.n_tokens == 600 * 12
    assert torch.allclose(wv.vectors.norm(dim=1), torch.ones(14), atol=1e-5)
    assert wv.counts == sorted(wv.counts, reverse=True)
    v = dict(zip(wv.words, wv.vectors))
    assert cosine(v["cat"], v["dog"]) > cosine(v["cat"], v["car"]) + 0.5
    assert cosine(v["truck"], v["car"]) > cosine(v["truck"], v["dog"]) + 0.5


def test_limits_and_documents(tmp_path):
    docs = _corpus(200) + [["rare", "words"]]
    wv = learn_vectors(iter(docs), dim=3, window=2, min_count=2, max_words=6)
    assert len(wv.words) == 6 and "rare" not in wv.words
    with pytest.raises(ValueError, match="need more than dim=8"):
        learn_vectors(docs, dim=8, min_count=2, max_words=6)
    with pytest.raises(ValueError, match="at least 1"):
        learn_vectors(docs, window=0)


def test_cooccurrence_counts_stay_inside_documents():
    from charrnn.sentiment.vectors import _cooccurrence

    ids = np.array([0, 1, 2, -1, -1, 2, 0], dtype=np.int32)  # two documents separated by `window` separators
    keys, vals = _cooccurrence(ids, 3, 2, False, chunk=3, parts=2)
    got = {(int(k) // 3, int(k) % 3): float(v) for k, v in zip(keys, vals)}
    assert got == {(0, 1): 1, (1, 0): 1, (1, 2): 1, (2, 1): 1, (0, 2): 1.5, (2, 0): 1.5}


def test_saved_vectors_read_back_and_cli(tmp_path, capsys):
    wv = learn_vectors(_corpus(), dim=4, window=3, min_count=2)
    save_word2vec_text(wv, tmp_path / "v.txt")
    assert detect_format(tmp_path / "v.txt") == W2V_TEXT
    vocab = WordVocab(["<pad>", "<unk>", *wv.words])
    loaded = load_vectors(tmp_path / "v.txt", vocab)
    assert loaded.coverage == 1.0
    torch.testing.assert_close(loaded.vectors[2:], wv.vectors, atol=1e-5, rtol=1e-5)
    text = tmp_path / "docs.txt"
    text.write_text("\n".join(" ".join(d) for d in _corpus()) + "\n")
    out = tmp_path / "cli.txt"
    assert main(["sentiment", "vectors", "--text", str(text), "--out", str(out), "--dim", "4", "--window", "3",
                 "--min-count", "2", "--quiet"]) == 0
    assert "14 words" in capsys.readouterr().out
    assert load_vectors(out, vocab).coverage == 1.0
    assert main(["sentiment", "vectors", "--out", str(out)]) == 2
    assert "give --text" in capsys.readouterr().err
    assert main(["sentiment", "vectors", "--text", str(tmp_path / "none.txt"), "--out", str(out)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
