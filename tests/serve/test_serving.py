import os
import shutil

import pytest
import torch

from charrnn import VocabError, load_char_lm, shelf

from charrnn.serve import models, options, scoring, streaming
from charrnn import checkpoint as ckpt
from charrnn.lm.sample import MAX_LENGTH, MAX_TEMPERATURE

from ..helpers import train_tiny


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("checkpoints")
    out = tmp_path_factory.mktemp("run") / "tiny.pt"
    train_tiny(out, steps=20, eval_every=20, save_every=20)
    shutil.copyfile(out.with_name("tiny.best.pt"), d / "tiny.pt")
    return d


def test_options_are_normalised():
    opts, notices = options.sample_options("The", length=100, temperature=0.5, top_k=0, top_p=1.0, seed=-1,
                                            num_samples=2)
    assert opts == options.SampleOptions("The", 100, 0.5, None, None, None, 2) and notices == []
    opts, _ = options.sample_options("The", length=100.0, temperature=0, top_k=5, top_p=0.9, seed=7, num_samples=1)
    assert (opts.length, opts.temperature, opts.top_k, opts.top_p, opts.seed) == (100, 0.0, 5, 0.9, 7)


def test_too_long_or_too_many_are_clamped_with_a_notice():
    opts, notices = options.sample_options("The", length=MAX_LENGTH + 1, num_samples=50)
    assert (opts.length, opts.num_samples) == (MAX_LENGTH, options.MAX_SAMPLES)
    assert len(notices) == 2 and f"{MAX_LENGTH:,}" in notices[0] and str(options.MAX_SAMPLES) in notices[1]


@pytest.mark.parametrize("kwargs, message", [
    (dict(prompt=""), "prompt is empty"),
    (dict(prompt="   \n"), "prompt is empty"),
    (dict(prompt="x" * (options.MAX_PROMPT + 1)), "limit"),
    (dict(length=0), "length must be at least 1"),
    (dict(length=2.5), "length must be a whole number"),
    (dict(length="many"), "length must be a whole number"),
    (dict(temperature=-0.1), "temperature must be between 0"),
    (dict(temperature=MAX_TEMPERATURE + 1), "temperature must be between 0"),
    (dict(temperature=float("nan")), "temperature"),
    (dict(top_k=-1), "top-k"),
    (dict(top_p=0), "top-p"),
    (dict(top_p=1.5), "top-p"),
    (dict(num_samples=0), "number of samples"),
])
def test_unusable_options_get_a_short_message(kwargs, message):
    args = dict(prompt="The", length=10, temperature=1.0, top_k=0, top_p=1.0, seed=1, num_samples=1) | kwargs
    with pytest.raises(ValueError, match=message) as e:
        options.sample_options(**args)
    assert len(str(e.value)) < 120


def test_stream_text_grows_from_the_prompt_and_is_seeded(folder):
    lm = load_char_lm(folder / "tiny.pt")
    opts, _ = options.sample_options("the qu", length=30, temperature=1.0, top_k=0, top_p=1.0, seed=5, num_samples=2)
    steps = list(streaming.stream_text(lm, opts, every=8))
    assert [len(s[0]) for s in steps] == [14, 22, 30, 36]
    final = steps[-1]
    assert all(s.startswith("the qu") for s in final) and final[0] != final[1]
    assert list(streaming.stream_text(lm, opts))[-1] == final
    joined = streaming.join_samples(final)
    assert joined.startswith("── sample 1 ──\nthe qu") and "\n\n── sample 2 ──\nthe qu" in joined
    assert streaming.join_samples(["only"]) == "only"


def test_unknown_prompt_characters_are_named(folder):
    lm = load_char_lm(folder / "tiny.pt")
    opts, _ = options.sample_options("the €uro Z", length=5)
    with pytest.raises(VocabError, match="does not know: '€' 'Z'"):
        next(streaming.stream_text(lm, opts))


def test_pick_checks_name_kind_and_defaults(folder, tmp_path):
    assert models.pick(folder, "tiny.pt", "char-lm") == (folder / "tiny.pt").resolve()
    assert models.pick(folder, None, "char-lm", preferred="absent.pt") == folder / "tiny.pt"
    with pytest.raises(ckpt.CheckpointError, match="not sentiment"):
        models.pick(folder, "tiny.pt", "sentiment")
    with pytest.raises(ckpt.CheckpointError, match="no sentiment checkpoint"):
        models.pick(folder, "", "sentiment")
    with pytest.raises(ckpt.CheckpointError):
        models.pick(folder, "../tiny.pt", "char-lm")


def test_model_cache_reloads_changed_files_and_drops_the_oldest(tmp_path):
    loads = []
    cache = models.ModelCache(lambda p: loads.append(p.name) or p.read_text(), size=2)
    for name in "abc":
        (tmp_path / name).write_text(name)
    assert [cache.get(tmp_path / n) for n in "aab"] == ["a", "a", "b"] and loads == ["a", "b"]
    (tmp_path / "a").write_text("a2")
    os.utime(tmp_path / "a", ns=(1, 1))
    assert cache.get(tmp_path / "a") == "a2"
    cache.get(tmp_path / "c")
    cache.get(tmp_path / "b")
    assert loads == ["a", "b", "a", "c", "b"]


def test_model_cache_keeps_its_total_of_weights_bounded(tmp_path):
    """Models of 3, 4 and 5 weights under a total of 8: loading the third drops the least recently used until they
    fit; the newest stays even alone over the total."""
    class Model:
        def __init__(self, n: int):
            self.model = torch.nn.Linear(n, 1, bias=False)

    cache = models.ModelCache(lambda p: Model(int(p.name)), size=10, max_weights=8)
    for n in (3, 4, 5, 9):
        (tmp_path / str(n)).write_text("")
    first = cache.get(tmp_path / "3")
    cache.get(tmp_path / "4")
    assert cache.total() == 7 and cache.get(tmp_path / "3") is first
    cache.get(tmp_path / "5")
    assert cache.total() == 8 and cache.get(tmp_path / "3") is first  # 4, the least recently used, dropped
    cache.get(tmp_path / "9")
    assert cache.total() == 9  # over the total alone: kept, the others dropped
    assert cache.get(tmp_path / "3") is not first  # dropped: loaded again


def test_the_app_s_caches_are_bounded_by_the_parameter_budget(monkeypatch):
    monkeypatch.setenv(ckpt.MAX_PARAMS_ENV, "1234")
    assert models.model_cache("char-lm", "cpu").max_weights == 1234


def test_empty_review_is_refused():
    with pytest.raises(ValueError, match="text is empty"):
        scoring.positive_probability(object(), "  ")


def test_labels_of_listing_are_what_the_dropdown_shows(folder):
    [info] = shelf.list_checkpoints(folder, "char-lm")
    assert info.label.startswith("tiny.pt (repeat.txt, val loss")
