"""The app's forms as objects, and the one set of number rules every form follows (charrnn.numbers)."""
import math

import pytest

from charrnn import numbers
from charrnn.lm.budget import FINETUNE_RECIPE
from charrnn.serve.options import GenerateForm, sample_options
from charrnn.web import jobs
from charrnn.web.forms import ClassifierForm, TrainForm


@pytest.mark.parametrize("value, expected", [
    (None, 7), ("", 7), ("  ", 7), (3, 3), ("3", 3), (" 4 ", 4), (5.0, 5), ("6.0", 6), ("1e1", 10), (2**70, 2**70),
])
def test_whole_numbers_blank_is_the_default_and_integers_stay_exact(value, expected):
    got = numbers.whole("n", value, 7)
    assert got == expected and type(got) is int


@pytest.mark.parametrize("value, message", [
    (2.5, "n must be a whole number from 1 to 10, got 2.5"),
    ("2.5", "n must be a whole number from 1 to 10, got '2.5'"),
    (math.nan, "n must be a whole number from 1 to 10, got nan"),
    (math.inf, "n must be a whole number from 1 to 10, got inf"),
    ("-inf", "n must be a whole number from 1 to 10"),
    ("many", "n must be a whole number from 1 to 10, got 'many'"),
    (True, "n must be a whole number from 1 to 10"),
    (11, "n must be a whole number from 1 to 10, got 11"),
    (-1, "n must be a whole number from 1 to 10, got -1"),
])
def test_whole_numbers_refused_name_the_field_and_its_range(value, message):
    with pytest.raises(ValueError, match=f"^{message.replace('(', '.').replace(')', '.')}"):
        numbers.whole("n", value, 1, (1, 10))


def test_numbers_off_values_open_ranges_and_huge_integers():
    assert numbers.whole("hidden", 0, 5, (8, 64), off=0) == 0 and numbers.number("lr", 0, 1.0, (0, 1), off=0) == 0
    with pytest.raises(ValueError, match=r"^lr must be in \(0, 1\] \(0: auto\), got -0.1$"):
        numbers.number("lr", -0.1, 0.0, (0, 1), lo_open=True, off=0, note=" (0: auto)")
    with pytest.raises(ValueError, match=r"^t must be from 0 to 10, got about 10\^400$"):
        numbers.number("t", 10**400, 1.0, (0, 10))
    with pytest.raises(ValueError, match="^t must be a finite number from 0 to 10, got 'nan'$"):
        numbers.number("t", "nan", 1.0, (0, 10))
    with pytest.raises(ValueError, match="^share must be a share, got 'lots'$"):
        numbers.number("share", "lots", 1.0, (0, 3), says="a share")


@pytest.mark.parametrize("field, value, name", [
    ("seed", 1.5, "seed"), ("length", 2.5, "length"), ("top_k", 2.5, "top-k"),
    ("num_samples", 1.5, "number of samples"),
    ("temperature", math.nan, "temperature"), ("temperature", math.inf, "temperature"), ("top_p", math.nan, "top-p"),
    ("length", math.inf, "length"), ("seed", -math.inf, "seed"), ("top_p", 0, "top-p"),
])
def test_generate_form_refuses_fractions_nan_and_infinity_naming_the_field(field, value, name):
    with pytest.raises(ValueError, match=f"^{name} must be "):
        GenerateForm.parse(prompt="the", **{field: value})


def test_generate_form_blank_is_the_default_and_too_long_is_clamped_with_a_notice():
    blank = GenerateForm.parse(prompt="the", length=None, temperature="", top_k=None, top_p=" ", seed="",
                               num_samples=None, until=None, stop=None)
    assert blank == GenerateForm(prompt="the") and blank.notices == ()
    clamped = GenerateForm.parse(prompt="the", length=10**6, num_samples=50)
    assert (clamped.length, clamped.num_samples) == (10_000, 8) and len(clamped.notices) == 2
    opts, notices = sample_options("the", seed="42", top_k="3")
    assert (opts.seed, opts.top_k, opts.top_p, notices) == (42, 3, None, [])
    with pytest.raises(TypeError, match="'lenght'"):
        GenerateForm.parse(prompt="the", lenght=3)


@pytest.mark.parametrize("raw, message", [
    (dict(hidden=64.5), "hidden must be a whole number from 8 to 4096"),
    (dict(steps=10.5), "steps must be a whole number from 1 to 1000000"),
    (dict(batch_size=math.nan), "batch_size must be a whole number from 1 to 4096"),
    (dict(minutes=math.inf), "minutes must be a finite number from 0.05 to 1440"),
    (dict(lr=math.nan), "learning rate must be a finite number in"),
    (dict(layers=0), "layers must be a whole number from 1 to 6"),
    (dict(steps=0, minutes=0), "steps must be a whole number from 1"),
])
def test_train_form_follows_the_same_rules(raw, message):
    with pytest.raises(ValueError, match=message):
        TrainForm.parse(book=1268, **raw)


def test_train_form_defaults_blank_and_widget_order():
    assert TrainForm.parse(hidden=None, steps="", lr=" ") == TrainForm()
    form = TrainForm.from_widgets(["84"], None, "x", "gru", 64, 2, 30, 8, 20, 0.01, 3)
    assert (form.book, form.name, form.cell, form.hidden, form.layers, form.steps, form.batch_size, form.seq_len,
            form.lr, form.minutes) == ((84,), "x", "gru", 64, 2, 30, 8, 20, 0.01, 3.0)
    request = jobs.make_request(form, device="cpu")
    assert request.config.steps == 30 and request.model == dict(embed=64, hidden=64, layers=2, cell="gru")


@pytest.mark.parametrize("raw, message", [
    (dict(epochs=2.5), "epochs must be a whole number from 1 to 100"),
    (dict(hidden=16.5), "hidden must be a whole number from 8 to 1024"),
    (dict(batch_size=math.inf), "batch_size must be a whole number from 1 to 4096"),
    (dict(lr=math.nan), "learning rate must be a finite number in"),
    (dict(lexicon=math.nan), "lexicon sentences must be a share of the training rows from 0 to 3"),
])
def test_classifier_form_follows_the_same_rules(raw, message):
    with pytest.raises(ValueError, match=message):
        ClassifierForm.parse(file="films.csv", **raw)


def test_classifier_form_defaults_and_widget_order():
    assert ClassifierForm.parse(epochs="", hidden=None, lexicon="preset's") == ClassifierForm()
    form = ClassifierForm.from_widgets("f.csv", "csv", "text", "label", "films", "book", 2, 8, 8, 8, 0.02, "0.25")
    assert form == ClassifierForm("f.csv", "csv", "text", "label", "films", "book", 2, 8, 8, 8, 0.02, 0.25)


def test_the_endpoints_take_the_forms_fields_in_order_and_whole_numbers_stay_integers(tmp_path):
    """The /train and /train_classifier inputs are the forms' WIDGETS in order; whole-number fields are integers
    in the API (as they always were) but reach the form unrounded, so a fraction is refused, not rounded."""
    pytest.importorskip("gradio")
    from charrnn.web.ui import build_blocks, whole_number
    from charrnn.web.webapp import WebApp

    api = build_blocks(WebApp(tmp_path, device="cpu")).get_api_info()["named_endpoints"]
    params = {name: [(p["parameter_name"], p["type"]["type"]) for p in api[f"/{name}"]["parameters"]]
              for name in ("generate", "train", "train_classifier")}
    assert [n for n, _ in params["train"]] == list(TrainForm.WIDGETS)
    assert [n for n, _ in params["train_classifier"]] == list(ClassifierForm.WIDGETS)
    assert [n for n, _ in params["generate"]] == ["prompt", "checkpoint", "length", "temperature", "top_k", "top_p",
                                                  "seed", "num_samples", "until", "stop"]
    types = {n: t for p in params.values() for n, t in p}
    assert all(types[n] == "integer" for n in ("length", "seed", "hidden", "layers", "steps", "batch_size",
                                                "seq_len", "epochs", "embed"))
    assert whole_number(3).preprocess(2.5) == 2.5


def test_train_form_starting_from_a_model_fine_tunes_it_with_the_recipe(tmp_path):
    form = TrainForm.parse(book=84, start_from=" tiny.pt ", hidden=64, steps=50)
    assert form.start_from == "tiny.pt" and TrainForm().start_from == ""
    request = jobs.make_request(form, device="cpu", start=tmp_path / "tiny.pt")
    assert request.model == {} and request.config.init_from == str(tmp_path / "tiny.pt")  # the sizes: tiny.pt's
    assert (request.config.lr, request.config.batch_size, request.config.steps, request.config.eval_every) == \
        (FINETUNE_RECIPE.lr, FINETUNE_RECIPE.batch_size, 50, 5)
    assert request.name == "gutenberg-84-ft-tiny"
