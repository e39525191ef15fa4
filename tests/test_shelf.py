import errno
import os
import random
import shutil

import pytest
import torch

from charrnn import checkpoint as ckpt
from charrnn import shelf

from .helpers import train_tiny


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """A slim char-lm checkpoint trained for a few steps."""
    out = tmp_path_factory.mktemp("tiny") / "tiny.pt"
    train_tiny(out, steps=20, eval_every=20, save_every=20)
    return out.with_name("tiny.best.pt")


@pytest.fixture
def folder(tmp_path, tiny_lm):
    d = tmp_path / "checkpoints"
    d.mkdir()
    shutil.copyfile(tiny_lm, d / "tiny.pt")
    return d


def test_list_describes_kind_corpus_steps_and_loss(folder):
    (folder / "junk.pt").write_bytes(os.urandom(500))
    (folder / "notes.txt").write_text("not a checkpoint")
    infos = {i.name: i for i in shelf.list_checkpoints(folder)}
    assert set(infos) == {"tiny.pt", "junk.pt"}
    tiny = infos["tiny.pt"]
    assert (tiny.kind, tiny.corpus, tiny.steps) == ("char-lm", "repeat.txt", 20)
    assert 0 < tiny.metrics["val_loss"] < 4
    assert tiny.size == (folder / "tiny.pt").stat().st_size
    assert tiny.label.startswith("tiny.pt (repeat.txt, val loss ") and "bpc" in tiny.label
    assert infos["junk.pt"].kind == "unreadable" and "not a readable checkpoint" in infos["junk.pt"].error
    assert [i.name for i in shelf.list_checkpoints(folder, "char-lm")] == ["tiny.pt"]
    assert shelf.list_checkpoints(folder, "sentiment") == []
    assert shelf.list_checkpoints(folder / "missing") == []


def test_accuracy_is_shown_for_classifiers(tmp_path):
    info = shelf.CheckpointInfo("s.pt", tmp_path / "s.pt", "sentiment", 1, None, {"val_accuracy": 0.8512})
    assert info.score == "val accuracy 85.1%"
    both = {"val_accuracy": 0.8, "test_accuracy": "0.84", "corpus": "imdb"}
    info = shelf.CheckpointInfo("s.pt", tmp_path, "sentiment", 1, None, both)
    assert info.label == "s.pt (imdb, test accuracy 84.0%)"
    assert shelf.CheckpointInfo("s.pt", tmp_path, "other", 1, None, both).score == ""


@pytest.mark.parametrize("name", ["../tiny.pt", "/etc/passwd", "sub/tiny.pt", ".hidden.pt", "tiny.txt", "", None,
                                  "..", "tiny.pt/..", "missing.pt"])
def test_resolve_refuses_anything_but_a_checkpoint_in_the_folder(folder, name):
    (folder / ".hidden.pt").write_bytes(b"x")
    (folder / "tiny.txt").write_bytes(b"x")
    with pytest.raises(ckpt.CheckpointError):
        shelf.resolve(folder, name)


def test_resolve_refuses_links_leading_out(folder, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copyfile(folder / "tiny.pt", outside / "secret.pt")
    (folder / "link.pt").symlink_to(outside / "secret.pt")
    with pytest.raises(ckpt.CheckpointError, match="outside"):
        shelf.resolve(folder, "link.pt")
    assert shelf.resolve(folder, "tiny.pt") == (folder / "tiny.pt").resolve()


def test_safe_stem_and_free_name(folder):
    assert shelf.safe_stem("../../etc/passwd") == "etc-passwd"
    assert shelf.safe_stem("My Model.pt") == "My-Model"
    assert shelf.safe_stem("...") == "model"
    assert shelf.free_name(folder, "tiny") == "tiny-2.pt"
    assert shelf.free_name(folder, "other") == "other.pt"


def test_place_never_overwrites(folder, tmp_path):
    src = tmp_path / "new.pt"
    src.write_bytes(b"new bytes")
    before = (folder / "tiny.pt").read_bytes()
    dest = shelf.place(src, folder, "tiny")
    assert dest.name == "tiny-2.pt" and dest.read_bytes() == b"new bytes"
    assert (folder / "tiny.pt").read_bytes() == before
    assert src.exists()
    moved = shelf.place(src, folder, "tiny", move=True)
    assert moved.name == "tiny-3.pt" and not src.exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("error", [PermissionError(errno.EPERM, "Operation not permitted"),
                                   OSError(errno.EOPNOTSUPP, "Operation not supported"),
                                   OSError(errno.EXDEV, "Invalid cross-device link")])
@pytest.mark.parametrize("move", [True, False])
def test_place_without_hard_links_publishes_a_copy_and_never_overwrites(folder, tmp_path, monkeypatch, error, move):
    """vfat, exFAT and some SMB/FUSE mounts have no hard links: `place` must still publish, and keep the source."""
    def no_links(*args, **kwargs):
        raise error

    monkeypatch.setattr(os, "link", no_links)
    src = tmp_path / "run.best.pt"
    src.write_bytes(b"best weights")
    before = (folder / "tiny.pt").read_bytes()
    dest = shelf.place(src, folder, "tiny", move=move)
    assert dest.name == "tiny-2.pt" and dest.read_bytes() == b"best weights"
    assert (folder / "tiny.pt").read_bytes() == before
    assert src.exists() != move
    assert sorted(p.name for p in folder.iterdir()) == ["tiny-2.pt", "tiny.pt"]


def test_place_that_fails_keeps_the_source(folder, tmp_path, monkeypatch):
    """Publishing a finished run (move=True) that fails part-way leaves its best weights where they were."""
    def fail(errno_, message):
        def raise_(*args, **kwargs):
            raise OSError(errno_, message)
        return raise_

    src = tmp_path / "run.best.pt"
    src.write_bytes(b"best weights")
    monkeypatch.setattr(os, "link", fail(errno.EPERM, "Operation not permitted"))
    monkeypatch.setattr(shutil, "copyfile", fail(errno.ENOSPC, "No space left on device"))
    with pytest.raises(OSError):  # before the fix: the hard link failed and the moved source was deleted
        shelf.place(src, folder, "tiny", move=True)
    assert src.read_bytes() == b"best weights"
    assert sorted(p.name for p in folder.iterdir()) == ["tiny.pt"]


def test_upload_is_validated_and_copied(folder, tiny_lm, tmp_path):
    up = tmp_path / "up"
    up.mkdir()
    for name, steps in (("mine.pt", 999), ("tiny.pt", 5)):
        obj = ckpt.load(tiny_lm)
        obj["metrics"] = {**obj["metrics"], "steps": steps}
        ckpt.save(obj, up / name)
    result = shelf.accept_upload(up / "mine.pt", folder)
    assert (result.info.name, result.info.kind, result.info.steps) == ("mine.pt", "char-lm", 999)
    assert result.message == "accepted char-lm checkpoint mine.pt"
    assert (folder / "mine.pt").read_bytes() == (up / "mine.pt").read_bytes()
    assert shelf.accept_upload(up / "mine.pt", folder, "again.pt").message == "again.pt is already here as mine.pt"
    assert not (folder / "again.pt").exists()

    result = shelf.accept_upload(up / "tiny.pt", folder)
    assert result.info.name == "tiny-2.pt" and "name was taken" in result.message
    assert result.info.steps == 5
    assert ckpt.load(folder / "tiny.pt")["metrics"]["steps"] == 20

    shutil.copyfile(up / "mine.pt", up / "my model.pt")
    (folder / "mine.pt").unlink()
    assert shelf.accept_upload(up / "my model.pt", folder).message == (
        "accepted char-lm checkpoint my-model.pt (saved as my-model.pt)")


def _refusal(tmp_path, folder, obj=None, raw=None, name="bad.pt"):
    path = tmp_path / name
    if raw is not None:
        path.write_bytes(raw)
    else:
        torch.save(obj, path)
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(ckpt.CheckpointError) as e:
        shelf.accept_upload(path, folder)
    assert sorted(p.name for p in folder.iterdir()) == before
    return str(e.value)


def test_bad_uploads_are_refused_with_a_reason(folder, tiny_lm, tmp_path):
    assert "not a readable checkpoint" in _refusal(tmp_path, folder, raw=os.urandom(2000))
    assert "not a charrnn checkpoint" in _refusal(tmp_path, folder, obj={"weights": torch.zeros(2)})
    good = ckpt.load(tiny_lm)
    assert "kind 'other'" in _refusal(tmp_path, folder, obj={**good, "kind": "other"})
    assert "format_version 99" in _refusal(tmp_path, folder, obj={**good, "format_version": 99})
    assert "does not match" in _refusal(tmp_path, folder, obj={**good, "vocab": good["vocab"][:-1]})
    assert "refused" in _refusal(tmp_path, folder, obj={**good, "extra": shelf.CheckpointInfo})
    assert "are .pt files" in _refusal(tmp_path, folder, raw=tiny_lm.read_bytes(), name="model.bin")


def test_any_bytes_are_refused_cleanly(folder, tmp_path):
    rng = random.Random(0)
    for i in range(60):
        path = tmp_path / f"r{i}.pt"
        path.write_bytes(rng.randbytes(rng.randint(1, 3000)))
        with pytest.raises(ckpt.CheckpointError):
            shelf.accept_upload(path, folder)


def _nested(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


def test_deeply_nested_values_cannot_break_the_listing_or_the_messages(folder, tiny_lm, tmp_path):
    import sys

    obj = ckpt.load(tiny_lm)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)  # only to write the files; reading them must work at the normal limit
    try:
        ckpt.save({**obj, "metrics": {**obj["metrics"], "corpus": _nested(3000)}}, tmp_path / "deep.pt")
        ckpt.save({**obj, "format_version": _nested(3000)}, tmp_path / "deepv.pt")
    finally:
        sys.setrecursionlimit(limit)
    result = shelf.accept_upload(tmp_path / "deep.pt", folder)
    assert result.info.kind == "char-lm" and result.info.corpus is None
    assert {i.name for i in shelf.list_checkpoints(folder, "char-lm")} == {"tiny.pt", "deep.pt"}
    with pytest.raises(ckpt.CheckpointError, match=r"format_version \[\[\[\[\.\.\.\]\]\]\]"):
        shelf.accept_upload(tmp_path / "deepv.pt", folder)
    assert not (folder / "deepv.pt").exists()


def test_non_tensor_and_diverged_weights_are_not_offered(folder, tiny_lm):
    obj = ckpt.load(tiny_lm)
    weights = dict(obj["state_dict"])
    ckpt.save({**obj, "state_dict": {**weights, "extra": 3}}, folder / "extra.pt")
    nan = {k: v.clone() for k, v in weights.items()}
    next(iter(nan.values())).view(-1)[0] = float("inf")
    ckpt.save({**obj, "state_dict": nan}, folder / "inf.pt")
    assert [i.name for i in shelf.list_checkpoints(folder, "char-lm")] == ["tiny.pt"]
    infos = {i.name: i for i in shelf.list_checkpoints(folder)}
    assert "not a dict of tensors" in infos["extra.pt"].error
    assert "NaN or infinite" in infos["inf.pt"].error
