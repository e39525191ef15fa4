"""Several files as one corpus (issue 11): each file cleaned and split on its own, no window across files, the
split recorded in the checkpoint so `evaluate` repeats it; ids in the smallest integer type."""
import dataclasses
import hashlib

import numpy as np
import pytest
import torch

from charrnn import checkpoint as ckpt
from charrnn.cli import main
from charrnn.lm.corpus import load_corpus
from charrnn.lm.data import CharWindows, Vocab
from charrnn.lm.train import TrainConfig

A = "abcab cabba " * 40  # file A uses only a, b, c and space
B = "xyzzy\nzyx\n" * 50  # file B only x, y, z and newline


@pytest.fixture
def two_files(tmp_path):
    (tmp_path / "a.txt").write_text(A)
    (tmp_path / "b.txt").write_text(B)
    return tmp_path / "a.txt", tmp_path / "b.txt"


def test_no_window_spans_two_files():
    vocab = Vocab.from_text(A + B)
    ids = [vocab.encode(A, dtype=vocab.dtype), vocab.encode(B, dtype=vocab.dtype)]
    ds = CharWindows(ids, seq_len=20)
    assert len(ds) == (len(A) - 20) + (len(B) - 20)
    x, y = ds.batch(torch.arange(len(ds)))
    in_a, in_b = set(vocab.encode("abc ").tolist()), set(vocab.encode("xyz\n").tolist())
    for row in torch.cat([x, y[:, -1:]], 1).tolist():
        assert set(row) <= in_a or set(row) <= in_b
    assert vocab.decode(ds[0][0]) == A[:20] and vocab.decode(ds[len(ds) - 1][1]) == B[-20:]
    assert vocab.decode(ds[len(A) - 20][0]) == B[:20]  # the first window of the second file


def test_ids_use_the_smallest_type():
    small = Vocab.from_text("hello world")
    assert small.dtype == np.uint8 and small.encode("hello", dtype=small.dtype).dtype == np.uint8
    assert small.encode("hello").dtype == np.int64  # the default stays int64 for existing callers
    wide = Vocab(tuple(chr(c) for c in range(0x100, 0x100 + 300)))
    assert wide.dtype == np.int16
    text = "".join(wide.chars[::-1])
    assert wide.encode(text, dtype=wide.dtype).tolist() == list(range(299, -1, -1))
    assert Vocab.from_text("ab").encode("ba?", replace="a").tolist() == [1, 0, 0]  # slow path still works


def test_corpus_of_several_files_and_single_file_hash(two_files, tmp_path):
    single = load_corpus(text_file=two_files[0], clean="none")
    assert single.sha256 == hashlib.sha256(A.encode()).hexdigest() and single.texts == (A,)
    both = load_corpus(text_file=[str(two_files[0]), str(two_files[1])], clean="none")
    assert both.texts == (A, B) and both.chars == len(A) + len(B)
    assert both.preprocessing["files"] == ["a.txt", "b.txt"]
    folder = load_corpus(text_file=str(tmp_path), clean="none")  # a folder: its *.txt, sorted
    assert folder.texts == (A, B) and folder.sha256 == both.sha256 != single.sha256


def test_corpus_hash_is_computed_once_on_a_frozen_corpus(two_files, monkeypatch):
    """The hash is cached (issue 24: each access re-hashed the whole text); the corpus is frozen, so it stays right."""
    corpus = load_corpus(text_file=list(two_files), clean="none")
    first = corpus.sha256
    monkeypatch.setattr(hashlib, "sha256", lambda *a: pytest.fail("the text was hashed again"))
    assert corpus.sha256 == first
    with pytest.raises(dataclasses.FrozenInstanceError):
        corpus.text = "other"


def test_train_and_evaluate_two_files_end_to_end(two_files, tmp_path, capsys):
    a, b = map(str, two_files)
    out = tmp_path / "m.pt"
    code = main(["train", "--text", a, "--text", b, "--clean", "none", "--steps", "6", "--batch-size", "4",
                 "--seq-len", "16", "--embed", "8", "--hidden", "16", "--eval-every", "3", "--val-fraction",
                 "0.2", "--out", str(out), "--quiet", "--device", "cpu"])
    assert code == 0
    state = ckpt.load(tmp_path / "m.best.pt")
    assert state["preprocessing"]["files"] == ["a.txt", "b.txt"] and state["preprocessing"]["val_fraction"] == 0.2
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(tmp_path / "m.best.pt"), "--text", a, "--text", b]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    # the held-out split is the last 20% of EACH file: 96 + 100 characters, 1 + 1 of them unpredicted
    assert line.startswith("loss_nats=") and line.endswith(f"chars={len(A) // 5 - 1 + len(B) // 5 - 1}")
    assert float(line.split()[0].split("=")[1]) == pytest.approx(state["metrics"]["val_loss"], abs=1e-4)


def test_training_windows_stay_inside_each_files_training_part(two_files):
    corpus = load_corpus(text_file=list(map(str, two_files)), clean="none")
    from charrnn.lm.train import _prepare_data
    from charrnn import distributed
    vocab = Vocab.from_text(A + B)
    windows, val = _prepare_data(corpus, vocab, TrainConfig(seq_len=10, val_fraction=0.1), distributed.context(),
                                 torch.device("cpu"))
    assert windows.ids.dtype == torch.uint8
    assert [vocab.decode(v) for v in val] == [A[-len(A) // 10:], B[-len(B) // 10:]]
    assert len(windows) == (len(A) * 9 // 10 - 10) + (len(B) * 9 // 10 - 10)
