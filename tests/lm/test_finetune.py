"""Fine-tuning a character model (TrainConfig.init_from, `charrnn train --init-from`): the vocabulary extended with
the old rows kept, new characters learnt, where the run started recorded, resume, and one-line errors."""
import hashlib
import threading

import pytest
import torch

from charrnn import CheckpointError, Corpus, load_char_lm, train
from charrnn import checkpoint as ckpt
from charrnn.cli import main
from charrnn.export import export
from charrnn.lm.finetune import file_sha256, load_start
from charrnn.lm.run import best_path
from charrnn.lm.sample import generate

from ..helpers import TINY_MODEL, tiny_config, train_tiny

NEW = "ΑΒΓΔ ΕΖΗΘ ΙΚΛΜ. " * 80  # Greek capitals: characters the base model never saw


def corpus(text: str, name: str = "new.txt") -> Corpus:
    return Corpus(text, name, {"clean": "none"})


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    out = tmp_path_factory.mktemp("base") / "base.pt"
    train_tiny(out, steps=60)
    return best_path(out)


def test_extending_the_vocabulary_keeps_the_old_rows(base):
    old = load_char_lm(base)
    start = load_start(base, corpus(NEW + "the end"))
    assert list(start.vocab.chars) == sorted(set(old.vocab.chars) | set(NEW))  # sorted: encoding's fast path
    assert start.added == len(set(NEW) - set(old.vocab.chars)) > 0
    assert start.model.vocab_size == len(start.vocab) and start.model.hidden == old.model.config.hidden
    assert (start.model.dropout, start.model.weight_drop) == (0.25, 0.0)  # lm.finetune.REGULARISERS
    assert load_start(base, corpus(NEW), {"dropout": 0.2}).model.dropout == 0.2
    was = old.model.state_dict()
    for c in old.vocab.chars:
        i, j = old.vocab.chars.index(c), start.vocab.chars.index(c)
        for key in ("embedding.weight", "fc.weight", "fc.bias"):
            assert torch.equal(start.state_dict[key][j], was[key][i]), (c, key)
    fresh = [start.vocab.chars.index(c) for c in set(NEW) - set(old.vocab.chars)]
    assert torch.allclose(start.state_dict["embedding.weight"][fresh], was["embedding.weight"].mean(0).expand(
        len(fresh), -1))
    assert torch.all(start.state_dict["fc.bias"][fresh] == was["fc.bias"].min())  # starts as rare as the rarest
    for key in was:
        if key not in ("embedding.weight", "fc.weight", "fc.bias"):
            assert torch.equal(start.state_dict[key], was[key]), key


def test_fine_tuning_learns_new_characters_and_records_its_start(base, tmp_path):
    result = train(corpus(NEW), None, tiny_config(steps=80, eval_every=40, init_from=base), out=tmp_path / "ft.pt",
                   progress=False)
    start = result.metrics["init_from"]
    assert start["file"] == base.name and start["sha256"] == hashlib.sha256(base.read_bytes()).hexdigest()
    assert start["chars_added"] == len(set("ΑΒΓΔΕΖΗΘΙΚΛΜ")) and start["base_vocab"] == 28
    lm = load_char_lm(result.best)
    assert lm.meta["metrics"]["init_from"] == start and lm.meta["config"]["train"]["init_from"] == str(base)
    text = generate(lm, "ΑΒΓΔ ", 40, temperature=0.0)[0]
    assert sum(c in "ΑΒΓΔΕΖΗΘΙΚΛΜ" for c in text[5:]) >= 20, text  # greedy sampling writes the new characters


def test_resuming_a_fine_tuning_run(base, tmp_path):
    out, stop = tmp_path / "ft.pt", threading.Event()
    config = tiny_config(steps=40, init_from=base)
    first = train(corpus(NEW), None, config, out=out, stop_event=stop, progress=False,
                  on_log=lambda r: r.get("step", 0) >= 20 and stop.set())
    assert first.status == "stopped"
    resumed = train(corpus(NEW), None, config, out=out, resume=True, progress=False)  # same start: continues
    assert resumed.steps == 40 and resumed.metrics["init_from"] == first.metrics["init_from"]
    other = tmp_path / "other.pt"
    ckpt.save({**ckpt.load(base), "metrics": {"note": "another file"}}, other)
    with pytest.raises(ValueError, match="started from base.best.pt"):
        train(corpus(NEW), None, tiny_config(init_from=other), out=out, resume=True, progress=False)
    scratch = tmp_path / "scratch.pt"
    train_tiny(scratch, text=NEW, steps=5)
    with pytest.raises(ValueError, match="trained from scratch"):
        train(corpus(NEW), TINY_MODEL, tiny_config(init_from=base), out=scratch, resume=True, progress=False)


def test_the_command_says_how_many_characters_it_added(base, tmp_path, capsys):
    text = tmp_path / "new.txt"
    text.write_text(NEW, encoding="utf-8")
    assert main(["train", "--text", str(text), "--init-from", str(base), "--steps", "3", "--seq-len", "20",
                 "--out", str(tmp_path / "ft.pt"), "--quiet"]) == 0
    assert " chars_added=12 " in capsys.readouterr().out


def test_init_from_errors_are_one_line(base, tmp_path, capsys):
    text = tmp_path / "new.txt"
    text.write_text(NEW, encoding="utf-8")
    sentiment = tmp_path / "sentiment.pt"
    ckpt.save({"format_version": 1, "kind": "sentiment", "config": {}, "state_dict": {}}, sentiment)
    for start, extra, expected in [(tmp_path / "none.pt", [], "checkpoint not found"),
                                   (sentiment, [], "is a 'sentiment' checkpoint, expected 'char-lm'"),
                                   (base, ["--hidden", "99"], "leave out hidden 99 (it has 48)")]:
        code = main(["train", "--text", str(text), "--init-from", str(start), "--steps", "5", "--out",
                     str(tmp_path / "ft.pt"), "--quiet", *extra])
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if "error" in line]
        assert code == 2 and len(errors) == 1 and expected in errors[0] and "Traceback" not in err, err
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_start(tmp_path / "none.pt", corpus(NEW))


def test_fine_tuning_starts_from_a_model_folder(base, tmp_path):
    folder = export(base, tmp_path / "base-model")
    result = train(corpus(NEW), None, tiny_config(steps=5, init_from=folder), out=tmp_path / "ft.pt", progress=False)
    assert result.metrics["init_from"]["file"] == "base-model" and result.metrics["init_from"]["chars_added"] == 12
    assert result.metrics["init_from"]["sha256"] == file_sha256(folder) != file_sha256(base)
