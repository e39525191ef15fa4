"""The registry of checkpoint kinds: a third kind is one registration, and the folder, uploads and serving use it."""
import os

import pytest
import torch
from torch import nn

from charrnn import checkpoint as ckpt
from charrnn import kinds, shelf
from charrnn.serve import models

TOY = "toy-classifier"


def _toy_model(obj: dict, name: str, meta: bool = False) -> nn.Module:
    try:
        cfg = obj["config"]["model"]
        return kinds.fit_model(lambda: nn.Linear(cfg["inputs"], len(cfg["classes"])), obj["state_dict"], 1, meta)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ckpt.CheckpointError(f"{name} does not match a {TOY} model: {ckpt.short(e)}") from None


def _toy_load(path: str | os.PathLike, device: str = "cpu") -> nn.Module:
    return _toy_model(ckpt.load(path, kind=TOY), os.path.basename(path)).eval()


TOY_KIND = kinds.Kind(TOY, "toy.pt", check=lambda obj, name: _toy_model(obj, name, meta=True),
                      load=_toy_load, score=lambda m: f"macro F1 {kinds.metric(m, 'f1'):.2f}" if "f1" in m else "")


def toy_checkpoint(path, inputs=3, classes=("cat", "dog"), weight_inputs=None, **metrics):
    layer = nn.Linear(weight_inputs or inputs, len(classes))
    ckpt.save({"format_version": ckpt.FORMAT_VERSION, "kind": TOY, "metrics": metrics,
               "config": {"model": {"inputs": inputs, "classes": list(classes)}},
               "state_dict": {k: v.detach() for k, v in layer.state_dict().items()}}, path)
    return path


@pytest.fixture
def toy():
    kinds.register(TOY_KIND)
    yield TOY_KIND
    kinds.unregister(TOY)


def test_builtin_kinds():
    assert kinds.names() == (kinds.CHAR_LM, kinds.SENTIMENT) == ("char-lm", "sentiment")
    assert kinds.get(kinds.CHAR_LM).default_file == "mysterious-island.pt"
    assert kinds.get(kinds.SENTIMENT).score({"val_accuracy": 0.5, "test_accuracy": 0.875}) == "test accuracy 87.5%"
    assert kinds.get(kinds.CHAR_LM).score({"val_loss": 1.0}) == "val loss 1.000 nats (1.443 bpc)"
    assert kinds.find(None) is kinds.find(["char-lm"]) is kinds.find("nope") is None
    with pytest.raises(ckpt.CheckpointError, match="unknown checkpoint kind 'nope'; known kinds: char-lm, sentiment"):
        kinds.get("nope")


def test_a_third_kind_is_one_registration(toy, tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    toy_checkpoint(folder / "toy.pt", f1=0.8123, corpus="pets")
    toy_checkpoint(folder / "bad.pt", weight_inputs=5)
    infos = {i.name: i for i in shelf.list_checkpoints(folder)}
    assert infos["toy.pt"].error is None and infos["toy.pt"].label == "toy.pt (pets, macro F1 0.81)"
    assert "does not match a toy-classifier model" in infos["bad.pt"].error
    assert [i.name for i in shelf.list_checkpoints(folder, TOY)] == ["toy.pt"]

    path = models.pick(folder, None, TOY, toy.default_file)
    model = models.model_cache(TOY, "cpu").get(path)
    assert model(torch.zeros(1, 3)).shape == (1, 2)

    result = shelf.accept_upload(toy_checkpoint(tmp_path / "mine.pt", inputs=4), folder)
    assert result.message == "accepted toy-classifier checkpoint mine.pt"


def test_unknown_kinds_are_listed_but_not_accepted(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    toy_checkpoint(folder / "toy.pt", f1=0.8)
    [info] = shelf.list_checkpoints(folder)
    assert (info.kind, info.error, info.score) == (TOY, None, "")
    with pytest.raises(ckpt.CheckpointError, match="is of kind 'toy-classifier'; accepted kinds: char-lm, sentiment"):
        shelf.accept_upload(toy_checkpoint(tmp_path / "up.pt"), tmp_path / "other")
    with pytest.raises(ckpt.CheckpointError, match="unknown checkpoint kind"):
        models.model_cache(TOY)
