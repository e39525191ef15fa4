"""The app's forms as objects: each form is one dataclass whose defaults are the form's values when left alone
(written only here: the app's controls start from them) and one parse from raw widget values, following the one
set of number rules of `charrnn.numbers`. The generation form lives in `charrnn.serve.options` (serving needs it)
and is offered here too.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from .. import numbers
from ..lm.gutenberg import CATALOGUE
from ..lm.model import CELLS
from ..serve.options import GenerateForm
from ..sentiment.train import PRESETS

__all__ = ["GenerateForm", "TrainForm", "ClassifierForm", "LEXICON_SHARES", "book_choices", "parse_book"]

LEXICON_SHARES = ["preset's", "0", "0.25", "0.5", "1"]  # the form's choices; any share in [0, 3] is accepted


def _check_names(form: type, raw: dict) -> None:
    """TypeError for a raw value no field of `form` takes, as Python says it for a keyword."""
    unknown = sorted(set(raw) - {f.name for f in fields(form)})
    if unknown:
        raise TypeError(f"{form.__name__}.parse() got an unexpected keyword argument {unknown[0]!r}")


def _items(value) -> list:
    """A value that may be one item or several (a multi-select, several uploads) as a list; blank: []."""
    if value is None or value == "":
        return []
    return [v for v in value if v not in (None, "")] if isinstance(value, (list, tuple)) else [value]


def _text(value, default: str = "") -> str:
    return default if numbers.blank(value) else str(value).strip()


def book_choices() -> list[tuple[str, int]]:
    """(label, ID) pairs of the small Gutenberg catalogue, for a menu."""
    return [(f"{i} · {title}", i) for i, title in CATALOGUE.items()]


def parse_book(value) -> int:
    """A Gutenberg ID from `1268`, `"1268"`, `"1268 · The Mysterious Island"` or part of a catalogue title."""
    if isinstance(value, bool):
        raise ValueError(f"not a Gutenberg book: {value!r}")
    if isinstance(value, (int, float)) and float(value).is_integer() and value > 0:
        return int(value)
    text = str(value or "").strip()
    if not text:
        raise ValueError("choose a book or upload a text")
    head = (text.split("·")[0].split() or [""])[0]
    if head.isdigit() and int(head) > 0:
        return int(head)
    hits = [i for i, title in CATALOGUE.items() if text.lower() in title.lower()]
    if len(hits) > 1:
        raise ValueError(f"{text!r} matches several books: " + "; ".join(CATALOGUE[i] for i in hits))
    if not hits:
        raise ValueError(f"not a Gutenberg book ID or catalogue title: {text!r}")
    return hits[0]


@dataclass(frozen=True)
class TrainForm:
    """The form that trains a character model: The Mysterious Island for three minutes, sizes left at 0
    (automatic: sized for the machine for minutes, `jobs.STEP_RUN`'s for a step count), a new model; started
    from a model of the folder (`start_from`), the sizes are that model's and the form's are not used."""

    book: tuple[int, ...] = (1268,)  # Gutenberg books (several make one corpus)
    text_file: tuple[str, ...] = ()  # uploaded texts, used instead of the books
    name: str = ""  # "": named after the source and size
    cell: str = "lstm"
    hidden: int = 0
    layers: int = 1
    steps: int = 0  # 0: train for `minutes` instead
    batch_size: int = 0
    seq_len: int = 0
    lr: float = 0  # (an int: the /train endpoint's default as it always was)
    minutes: float = 3.0  # 0: train for `steps` instead
    embed: int = 0  # not on the app's form (API callers only); 0: automatic
    start_from: str = ""  # a character model of the folder to fine-tune (its sizes); "": a new model

    WIDGETS = ("book", "text_file", "name", "cell", "hidden", "layers", "steps", "batch_size", "seq_len", "lr",
               "minutes", "start_from")  # the /train endpoint's inputs, in order

    @classmethod
    def from_widgets(cls, *values) -> TrainForm:
        """`parse` of the values of the /train endpoint's inputs, in their order (WIDGETS)."""
        return cls.parse(**dict(zip(cls.WIDGETS, values, strict=False)))

    @classmethod
    def parse(cls, **raw) -> TrainForm:
        """The form from raw values; ValueError naming the field for one that cannot be used. A book left out is
        the default one; books given blank with no upload are refused."""
        _check_names(cls, raw)
        d = cls()
        text_file = tuple(str(f) for f in _items(raw.get("text_file")))
        books = () if text_file else (
            d.book if "book" not in raw else tuple(dict.fromkeys(parse_book(v) for v in _items(raw["book"]))))
        if not books and not text_file:
            raise ValueError("choose a book or upload a text")
        cell = _text(raw.get("cell"), d.cell)
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r:.40}")
        auto = " (0: automatic)"
        form = cls(
            books, text_file, _text(raw.get("name")), cell,
            numbers.whole("hidden", raw.get("hidden"), d.hidden, (8, 4096), off=0, note=auto),
            numbers.whole("layers", raw.get("layers"), d.layers, (1, 6)),
            numbers.whole("steps", raw.get("steps"), d.steps, (1, 1_000_000), off=0,
                          note=" (0: use the minutes)"),
            numbers.whole("batch_size", raw.get("batch_size"), d.batch_size, (1, 4096), off=0, note=auto),
            numbers.whole("seq_len", raw.get("seq_len"), d.seq_len, (2, 2000), off=0, note=auto),
            numbers.number("learning rate", raw.get("lr"), d.lr, (0, 1), lo_open=True, off=0, note=auto),
            numbers.number("minutes", raw.get("minutes"), d.minutes, (0.05, 24 * 60), off=0,
                           note=" (0: use the steps)"),
            numbers.whole("embed", raw.get("embed"), d.embed, (4, 2048), off=0, note=auto),
            _text(raw.get("start_from")))
        if not form.steps and not form.minutes:
            raise ValueError("steps must be a whole number from 1 to 1,000,000 when minutes is 0")
        return form


@dataclass(frozen=True)
class ClassifierForm:
    """The form that trains a classifier on an uploaded file: the best preset for a few epochs; sizes, batch and
    learning rate 0 and lexicon None are the preset's."""

    file: str | None = None
    format: str = "auto"
    text_column: str | None = None  # None: found by its name
    label_column: str | None = None
    name: str = ""  # "": named after the file and preset
    preset: str = "best"
    epochs: int = 4
    hidden: int = 0
    embed: int = 0
    batch_size: int = 0
    lr: float = 0.0
    lexicon: float | None = None  # lexicon sentences as a share of the training rows; None: the preset's

    WIDGETS = ("file", "format", "text_column", "label_column", "name", "preset", "epochs", "hidden", "embed",
               "batch_size", "lr", "lexicon")  # the /train_classifier endpoint's inputs, in order

    @classmethod
    def from_widgets(cls, *values) -> ClassifierForm:
        """`parse` of the values of the /train_classifier endpoint's inputs, in their order (WIDGETS)."""
        return cls.parse(**dict(zip(cls.WIDGETS, values, strict=False)))

    @classmethod
    def parse(cls, **raw) -> ClassifierForm:
        """The form from raw values; ValueError naming the field for one that cannot be used."""
        _check_names(cls, raw)
        d = cls()
        preset = _text(raw.get("preset"), d.preset)
        if preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r:.40}")
        lexicon = raw.get("lexicon")
        share = None if numbers.blank(lexicon) or lexicon == LEXICON_SHARES[0] else numbers.number(
            "lexicon sentences", lexicon, 0, (0, 3),
            says="a share of the training rows from 0 to 3 (or the preset's)")
        preset_s = " (0: the preset's)"
        return cls(
            None if numbers.blank(raw.get("file")) else str(raw["file"]), _text(raw.get("format"), d.format),
            _text(raw.get("text_column")) or None, _text(raw.get("label_column")) or None, _text(raw.get("name")),
            preset, numbers.whole("epochs", raw.get("epochs"), d.epochs, (1, 100)),
            numbers.whole("hidden", raw.get("hidden"), d.hidden, (8, 1024), off=0, note=preset_s),
            numbers.whole("embed", raw.get("embed"), d.embed, (4, 1024), off=0, note=preset_s),
            numbers.whole("batch_size", raw.get("batch_size"), d.batch_size, (1, 4096), off=0, note=preset_s),
            numbers.number("learning rate", raw.get("lr"), d.lr, (0, 1), lo_open=True, off=0, note=preset_s),
            share)
