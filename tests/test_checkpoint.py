import os
import pickle

import pytest
import torch

from charrnn import CheckpointError, generate, load_char_lm
from charrnn import checkpoint as ckpt
from charrnn.lm.run import best_path

from .helpers import train_tiny


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    out = tmp_path_factory.mktemp("ck") / "m.pt"
    train_tiny(out, steps=20)
    return best_path(out)


def test_round_trip_keeps_outputs(tiny_ckpt):
    obj = torch.load(tiny_ckpt, map_location="cpu", weights_only=True)
    assert obj["format_version"] == ckpt.FORMAT_VERSION and obj["kind"] == "char-lm"
    for key in ("val_loss", "val_bpc", "steps", "chars_seen", "corpus", "corpus_sha256", "train_seconds", "device"):
        assert key in obj["metrics"], key
    lm = load_char_lm(tiny_ckpt)
    x = torch.as_tensor(lm.vocab.encode("the quick")).unsqueeze(0)
    a, _ = lm.model(x)
    lm2 = load_char_lm(tiny_ckpt)
    b, _ = lm2.model(x)
    assert torch.equal(a, b)
    assert generate(lm, "the", 30, seed=1) == generate(lm2, "the", 30, seed=1)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        ckpt.load(tmp_path / "nope.pt")


def test_truncated_and_random_files(tiny_ckpt, tmp_path):
    data = tiny_ckpt.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "random.pt").write_bytes(os.urandom(4096))
    for name in ("trunc.pt", "random.pt"):
        with pytest.raises(CheckpointError, match="not a readable checkpoint"):
            load_char_lm(tmp_path / name)


class _Payload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_code_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"format_version": 1, "kind": "char-lm", "x": _Payload(str(marker))}, tmp_path / "evil.pt")
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="refused"):
        load_char_lm(tmp_path / "evil.pt")
    assert not marker.exists()
    (tmp_path / "evil2.pt").write_bytes(pickle.dumps(_Payload(str(marker))))
    with pytest.raises(CheckpointError):
        ckpt.load(tmp_path / "evil2.pt")
    assert not marker.exists()


def test_wrong_kind_newer_format_and_shape_mismatch(tiny_ckpt, tmp_path):
    obj = ckpt.load(tiny_ckpt)
    ckpt.save({**obj, "kind": "sentiment"}, tmp_path / "kind.pt")
    with pytest.raises(CheckpointError, match="'sentiment' checkpoint, expected 'char-lm'"):
        load_char_lm(tmp_path / "kind.pt")
    ckpt.save({**obj, "format_version": ckpt.READS_UP_TO + 1}, tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match="format_version"):
        load_char_lm(tmp_path / "new.pt")
    ckpt.save({**obj, "vocab": obj["vocab"][:-1]}, tmp_path / "vocab.pt")
    with pytest.raises(CheckpointError, match="does not match"):
        load_char_lm(tmp_path / "vocab.pt")
    ckpt.save({k: v for k, v in obj.items() if k != "kind"}, tmp_path / "nokind.pt")
    with pytest.raises(CheckpointError, match="not a charrnn checkpoint"):
        ckpt.load(tmp_path / "nokind.pt")


def test_save_is_atomic_on_failure(tmp_path):
    target = tmp_path / "m.pt"
    ckpt.save({"format_version": 1, "kind": "char-lm", "config": {}, "state_dict": {}}, target)
    before = target.read_bytes()
    with pytest.raises(Exception):
        ckpt.save({"bad": lambda: None}, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_huge_config_with_small_weights_is_refused_before_allocating(tiny_ckpt, tmp_path):
    import resource

    obj = ckpt.load(tiny_ckpt)
    cfg = {**obj["config"], "model": {**obj["config"]["model"], "hidden": 60_000}}
    ckpt.save({**obj, "config": cfg}, tmp_path / "huge.pt")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_char_lm(tmp_path / "huge.pt")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500_000  # KiB: no 60k-wide LSTM was built


def test_diverged_weights_are_refused(tiny_ckpt, tmp_path):
    obj = ckpt.load(tiny_ckpt)
    weights = dict(obj["state_dict"])
    key = next(iter(weights))
    weights[key] = weights[key].clone()
    weights[key].view(-1)[0] = float("nan")
    ckpt.save({**obj, "state_dict": weights}, tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match=f"NaN or infinite values \\({key}\\)"):
        load_char_lm(tmp_path / "nan.pt")
