"""`charrnn sentiment ensemble`: classifiers that share a vocabulary, combined into one averaging checkpoint."""
from __future__ import annotations

import re

import pytest
import torch

from charrnn import checkpoint as ckpt
from charrnn import shelf
from charrnn.cli import main
from charrnn.sentiment import load_sentiment
from charrnn.sentiment.datasets import rows_sha256
from charrnn.sentiment.ensemble import combine_classifiers, quantize_rows
from charrnn.sentiment.explain import explain
from charrnn.sentiment.predict import predict

from ..sentiment_fixtures import reviews, train_tiny, write_tar

TEXTS = ["A wonderful film, I loved it.", "Dull and awful.", "not good", "", "great great great but the end"]


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    """Two classifiers of one split and vocabulary but other models (max pooling, and last state one-way), and a
    third on another seed's split."""
    tmp = tmp_path_factory.mktemp("ensemble")
    data = write_tar(tmp / "imdb.tar.gz", reviews({"train": 60, "test": 25}))
    train_tiny(data, tmp / "a.pt")
    train_tiny(data, tmp / "b.pt", "--pooling", "last", "--no-bidirectional", "--fc", "8")
    train_tiny(data, tmp / "c.pt", seed="2")
    return tmp, data


def test_the_ensemble_answers_the_members_mean_probability(members):
    tmp, _ = members
    r = combine_classifiers([tmp / "a.pt", tmp / "b.pt"], tmp / "ab.pt")
    assert r["members"] == 2
    a, b, ab = (predict(load_sentiment(tmp / f"{n}.pt"), TEXTS) for n in ("a", "b", "ab"))
    mean = [(x + y) / 2 for x, y in zip(a, b)]
    assert ab == pytest.approx(mean, abs=2e-3)  # float16 weights
    assert max(abs(x - y) for x, y in zip(a, b)) > 0.01  # the members really differ
    full = combine_classifiers([tmp / "a.pt", tmp / "b.pt"], tmp / "ab32.pt", precision="float32")
    assert predict(load_sentiment(full["out"]), TEXTS) == pytest.approx(mean, abs=1e-5)
    assert r["bytes"] < 0.6 * full["bytes"]  # half precision halves the weights
    # An ensemble joins another as its members: three members, the first counted twice.
    aab = combine_classifiers([tmp / "ab.pt", tmp / "a.pt"], tmp / "aab.pt")
    assert aab["members"] == 3
    assert predict(load_sentiment(tmp / "aab.pt"), TEXTS) == pytest.approx(
        [(2 * x + y) / 3 for x, y in zip(a, b)], abs=2e-3)


def test_int8_storage_keeps_the_answers_in_a_quarter_of_the_size(members, capsys):
    tmp, _ = members
    full = combine_classifiers([tmp / "a.pt", tmp / "b.pt"], tmp / "f32.pt", precision="float32")
    assert main(["sentiment", "ensemble", str(tmp / "a.pt"), str(tmp / "b.pt"), "--out", str(tmp / "q.pt"),
                 "--int8"]) == 0
    capsys.readouterr()
    state = ckpt.load(tmp / "q.pt")
    emb = state["state_dict"]["members.0.embedding.weight"]
    assert emb.dtype == torch.int8 and int(emb.abs().max()) == 127
    assert state["scales"]["members.0.embedding.weight"].shape == (emb.shape[0],)
    assert state["state_dict"]["members.0.fc2.bias"].dtype == torch.float16  # vectors stay float16
    weights = sum(v.numel() * v.element_size() for v in state["state_dict"].values())
    full_weights = sum(v.numel() * v.element_size() for v in ckpt.load(full["out"])["state_dict"].values())
    assert weights < 0.3 * full_weights
    exact, q = (predict(load_sentiment(tmp / n), TEXTS) for n in ("f32.pt", "q.pt"))
    assert q == pytest.approx(exact, abs=5e-3) and q != exact
    # An int8 ensemble joins another (its weights are read back as floats) and keeps its answers.
    again = combine_classifiers([tmp / "q.pt", tmp / "q.pt"], tmp / "qq.pt", precision="float32")
    assert predict(load_sentiment(again["out"]), TEXTS) == pytest.approx(q, abs=1e-5)


def test_quantize_rows_rounds_each_row_to_its_own_scale():
    w = torch.tensor([[0.5, -1.0, 0.25], [0.0, 0.0, 0.0], [3e-3, 1e-3, -2e-3]])
    q, scales = quantize_rows({"m": w, "v": torch.tensor([0.1, 0.2])})
    assert q["m"].dtype == torch.int8 and q["m"].abs().amax(1).tolist() == [127, 0, 127]
    assert scales["m"].tolist() == pytest.approx([1 / 127, 0.0, 3e-3 / 127])
    back = q["m"].float() * scales["m"][:, None]
    assert ((back - w).abs() <= scales["m"][:, None] / 2 + 1e-9).all()  # within half a level of its own row
    assert "v" not in scales and q["v"].dtype == torch.float16  # vectors stay float16


@pytest.mark.parametrize("tamper", ["scale dropped", "scale of another length", "scale not finite",
                                    "no scales at all", "scales not a dict"])
def test_int8_weights_without_a_fitting_scale_are_refused(members, tmp_path, tamper):
    tmp, _ = members
    combine_classifiers([tmp / "a.pt", tmp / "b.pt"], tmp_path / "q.pt", precision="int8")
    state = ckpt.load(tmp_path / "q.pt")
    assert state["format_version"] == ckpt.INT8_FORMAT_VERSION  # a charrnn without scales refuses it cleanly
    key = "members.1.fc1.weight"
    if tamper == "scale dropped":
        del state["scales"][key]
    elif tamper == "scale of another length":
        state["scales"][key] = state["scales"][key][:-1]
    elif tamper == "scale not finite":
        state["scales"][key][0] = float("nan")
    elif tamper == "no scales at all":
        del state["scales"]
    else:
        state["scales"] = [1.0]
    ckpt.save(state, tmp_path / "bad.pt")
    expect = "its scales are not a dict" if tamper == "scales not a dict" else r"members\.\d\.\w+\.weight"
    with pytest.raises(ckpt.CheckpointError, match="not a usable sentiment checkpoint: .*" + expect):
        load_sentiment(tmp_path / "bad.pt")
    assert shelf.describe(tmp_path / "bad.pt").error is not None


def test_an_ensemble_is_a_sentiment_checkpoint_everywhere(members, capsys):
    tmp, data = members
    assert main(["sentiment", "ensemble", str(tmp / "a.pt"), str(tmp / "b.pt"), "--out", str(tmp / "e.pt"),
                 "--max-tokens", "50"]) == 0
    assert re.fullmatch(r"out=\S+e\.pt members=2 max_tokens=50 mb=\d+\.\d", capsys.readouterr().out.strip())
    sm = load_sentiment(tmp / "e.pt")
    assert sm.max_tokens == 50 and sm.classes == ("negative", "positive")
    info = shelf.describe(tmp / "e.pt")
    assert info.kind == "sentiment" and info.error is None
    # The members share one split here, so the ensemble keeps it: evaluate repeats the held-out rows ...
    assert main(["sentiment", "evaluate", "--checkpoint", str(tmp / "e.pt"), "--data", str(data)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].endswith("n=50")  # the archive's test split
    exp = explain(sm, "not good at all")
    assert exp.probability == pytest.approx(predict(sm, ["not good at all"])[0], abs=1e-6)
    assert exp.running[-1] == exp.probability and len(exp.contributions) == 4


def test_members_with_other_held_out_rows_give_no_split(members, tmp_path, capsys):
    """A row one member held out, another may have trained on: the ensemble has no held-out rows of its own (members
    fine-tuned from one LM on other seeds share the vocabulary but not the split)."""
    tmp, data = members
    state = ckpt.load(tmp / "b.pt")
    state["data"]["split"]["seed"] = 2
    ckpt.save(state, tmp_path / "b2.pt")
    combine_classifiers([tmp / "a.pt", tmp_path / "b2.pt"], tmp_path / "e.pt")
    split = ckpt.load(tmp_path / "e.pt")["data"]["split"]
    assert "seed" not in split and split["n_rows"] == 120
    # IMDb has a test split: measured there. A file without one is refused, as the held-out rows are unknown.
    assert main(["sentiment", "evaluate", "--checkpoint", str(tmp_path / "e.pt"), "--data", str(data)]) == 0
    tsv = tmp_path / "train.tsv"
    tsv.write_text("sentence\tlabel\ngood film\t1\nawful plot\t0\n", encoding="utf-8")
    state = ckpt.load(tmp_path / "e.pt")
    state["data"]["split"].update(n_rows=2, rows_sha256=rows_sha256(["good film", "awful plot"], [1, 0]))
    ckpt.save(state, tmp_path / "e.pt")
    capsys.readouterr()
    assert main(["sentiment", "evaluate", "--checkpoint", str(tmp_path / "e.pt"), "--data", str(tsv)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == ("charrnn sentiment: error: the checkpoint records no usable held-out split (its members held "
                       "out different rows): give --test FILE")


@pytest.mark.parametrize("case", ["other vocabulary", "one member", "not a classifier"])
def test_what_cannot_be_combined_is_refused_and_nothing_written(members, tmp_path, capsys, case):
    tmp, _ = members
    if case == "other vocabulary":
        paths = [tmp / "a.pt", tmp / "c.pt"]
        if ckpt.load(paths[0])["vocab"] == ckpt.load(paths[1])["vocab"]:
            state = ckpt.load(paths[1])
            state["vocab"] = list(reversed(state["vocab"]))
            ckpt.save(state, tmp_path / "c.pt")
            paths[1] = tmp_path / "c.pt"
        expect = "has another vocabulary than a.pt"
    elif case == "one member":
        paths, expect = [tmp / "a.pt"], "at least 2 classifiers"
    else:
        (tmp_path / "x.pt").write_bytes(b"not a checkpoint")
        paths, expect = [tmp / "a.pt", tmp_path / "x.pt"], "x.pt"
    out = tmp_path / "out.pt"
    assert main(["sentiment", "ensemble", *map(str, paths), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("charrnn sentiment: error: ") and expect in err[0]
    assert not out.exists()


def test_a_tampered_member_count_is_refused_on_load(members, tmp_path):
    tmp, _ = members
    combine_classifiers([tmp / "a.pt", tmp / "b.pt"], tmp_path / "e.pt")
    state = ckpt.load(tmp_path / "e.pt")
    state["config"]["model"]["members"].append(state["config"]["model"]["members"][0])
    ckpt.save(state, tmp_path / "bad.pt")
    with pytest.raises(ckpt.CheckpointError, match="not a usable sentiment checkpoint"):
        load_sentiment(tmp_path / "bad.pt")
    assert torch.is_tensor(ckpt.load(tmp_path / "e.pt")["state_dict"]["members.1.fc2.weight"])
