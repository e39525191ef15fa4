import numpy as np
import pytest
import torch

from charrnn.lm.data import CharWindows, Vocab, VocabError, split_ids


def test_vocab_sorted_and_round_trip():
    v = Vocab.from_text("hello world")
    assert v.chars == (" ", "d", "e", "h", "l", "o", "r", "w")
    ids = v.encode("hello")
    assert ids.dtype == np.int64 and ids.tolist() == [3, 2, 4, 4, 5]
    assert v.decode(ids) == "hello"


def test_vocab_unknown_characters_named():
    v = Vocab.from_text("abc")
    with pytest.raises(VocabError, match=r"'x', 'é'"):
        v.encode("abxcé")
    assert v.unknown("abxxz") == ["x", "z"]
    assert v.decode(v.encode("abz", replace="c")) == "abc"
    with pytest.raises(VocabError):
        Vocab.from_text("")


def test_windows_are_stride_one_with_next_char_target():
    ids = np.arange(100)
    ds = CharWindows(ids, seq_len=40)
    assert len(ds) == 100 - 40
    for i in (0, 1, 37, len(ds) - 1):
        x, y = ds[i]
        assert x.tolist() == list(range(i, i + 40))
        assert y.tolist() == list(range(i + 1, i + 41))
    xb, yb = ds.batch(torch.tensor([3, 59]))
    assert xb.shape == (2, 40) and xb[1, -1].item() == 98 and yb[1, -1].item() == 99


def test_windows_do_not_copy_the_text():
    ids = np.random.default_rng(0).integers(0, 80, size=200_000).astype(np.uint8)
    ds = CharWindows(ids, seq_len=40)
    assert ds.ids.dtype == torch.uint8 and ds.ids.untyped_storage().nbytes() == 200_000  # one byte per character
    x, y = ds.batch(torch.tensor([12345]))
    assert x.dtype == torch.long and x[0].tolist() == ids[12345:12385].tolist()


@pytest.mark.parametrize("device", ["meta", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device"))])
def test_windows_are_gathered_on_the_device_holding_the_text(device):
    """Training moves the text to its device once; each batch is then gathered there from host-drawn indices."""
    parts = [np.arange(100, dtype=np.uint8), np.arange(100, 160, dtype=np.uint8)]
    on_host = CharWindows(parts, seq_len=10)
    starts = torch.tensor([0, 89, 90, 139])
    ds = CharWindows(parts, seq_len=10).to(device)
    xb, yb = ds.batch(starts)
    assert xb.device.type == device and xb.shape == (4, 10) and xb.dtype == torch.long
    if device != "meta":
        for got, want in zip((xb, yb), on_host.batch(starts)):
            assert torch.equal(got.cpu(), want)


def test_windows_reject_short_text():
    with pytest.raises(ValueError, match="too short"):
        CharWindows(np.arange(40), seq_len=40)


def test_split_is_contiguous_and_windows_stay_inside():
    ids = np.arange(1000)
    train, val = split_ids(ids, 0.1)
    assert len(train) == 900 and len(val) == 100
    assert train[-1] == 899 and val[0] == 900
    ds = CharWindows(train, 40)
    last_x, last_y = ds[len(ds) - 1]
    assert last_y[-1].item() == 899, "no training window may reach into the validation range"
    with pytest.raises(ValueError):
        split_ids(ids, 1.0)
