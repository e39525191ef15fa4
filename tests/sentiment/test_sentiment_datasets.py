"""Labelled datasets: every format on small files written here, label values and class names, the seeded held-out
split, and one clear error line (exit 2 from the CLI, no traceback) for each kind of bad file."""
from __future__ import annotations

import json

import pytest

from charrnn.cli import main
from charrnn.sentiment import load_imdb, split_train_val
from charrnn.sentiment.datasets import (
    DatasetError, LabelledData, load_labelled, make_split, repeat_split, rows_sha256,
)
from charrnn.sentiment.formats import MAX_ROW_BYTES

from ..sentiment_fixtures import SHARED, reviews, write_tar

SST2_DEV = SHARED / "datasets" / "sst2" / "dev.tsv"
SARCASM = SHARED / "datasets" / "sarcasm" / "Sarcasm_Headlines_Dataset.json"

HEADLINES = [("area man wins war on boredom", 1), ("senate passes budget bill", 0),
             ("local cat elected mayor", 1), ("rates rise again", 0)]


def _write(path, text: str, encoding: str = "utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def _rows(data: LabelledData) -> list[tuple[str, int]]:
    return list(zip(data.train_texts, data.train_labels))


def test_glue_tsv_goes_by_header_names_whatever_the_column_order(tmp_path):
    first = _write(tmp_path / "dev.tsv", 'label\tcontent\n1\ta "great" film\n0\tdoes n\'t work\n')
    second = _write(tmp_path / "train.tsv", 'sentence\tlabel\na "great" film\t1\ndoes n\'t work\t0\n')
    for path in (first, second):
        data = load_labelled(path)
        assert data.format == "glue" and data.classes == ("negative", "positive") and data.test_texts is None
        assert _rows(data) == [('a "great" film', 1), ("does n't work", 0)]  # quotes are text in TSV
    assert load_labelled(first).text_column == "content" and load_labelled(second).text_column == "sentence"


def test_sarcasm_json_lines_and_json_list_read_the_same(tmp_path):
    objects = [{"article_link": "x", "headline": h, "is_sarcastic": y} for h, y in HEADLINES]
    lines = _write(tmp_path / "Sarcasm_Headlines_Dataset.json", "\n".join(json.dumps(o) for o in objects) + "\n")
    listed = _write(tmp_path / "sarcasm.json", json.dumps(objects, indent=1))
    for path in (lines, listed):
        for fmt in ("auto", "sarcasm"):
            data = load_labelled(path, fmt)
            assert _rows(data) == HEADLINES and data.classes == ("not sarcastic", "sarcastic")
            assert (data.text_column, data.label_column) == ("headline", "is_sarcastic")
    assert load_labelled(lines).format == "jsonl" and load_labelled(listed).format == "json"


def test_sentiment140_has_no_header_is_latin1_and_drops_neutral(tmp_path):
    rows = ['"0","1","Mon","NO_QUERY","u1","caf\xe9 was awful"', '"4","2","Mon","NO_QUERY","u2","love it, truly"',
            '"2","3","Mon","NO_QUERY","u3","just a tweet"', '"4","4","Mon","NO_QUERY","u4","great day"']
    path = _write(tmp_path / "training.1600000.processed.noemoticon.csv", "\r\n".join(rows) + "\r\n", "latin-1")
    data = load_labelled(path)
    assert data.format == "sentiment140" and data.classes == ("negative", "positive")
    assert _rows(data) == [("caf\xe9 was awful", 0), ("love it, truly", 1), ("great day", 1)]


@pytest.mark.parametrize("values, expected", [
    (("-1", "1"), [0, 1, 1]), (("0", "4"), [0, 1, 1]), (("1", "0"), [1, 0, 0]), (("1.0", "0"), [1, 0, 0]),
])
def test_numeric_labels_larger_is_the_second_class(tmp_path, values, expected):
    a, b = values
    path = _write(tmp_path / "d.csv", f"review,sentiment\n\"bad, truly\",{a}\ngood,{b}\nfine,{b}\n")
    data = load_labelled(path)
    assert data.format == "csv" and data.classes == ("negative", "positive")
    assert data.train_labels == expected and data.train_texts[0] == "bad, truly"


def test_booleans_strings_and_class_names(tmp_path):
    jsonl = "\n".join(json.dumps({"text": t, "is_spam": y}) for t, y in [("buy now", True), ("hi mum", False)])
    data = load_labelled(_write(tmp_path / "d.jsonl", jsonl))
    assert data.train_labels == [1, 0] and data.classes == ("not spam", "spam")
    data = load_labelled(_write(tmp_path / "b.csv", "text,label\na,False\nb,TRUE\n"))
    assert data.train_labels == [0, 1] and data.classes == ("negative", "positive")
    data = load_labelled(_write(tmp_path / "s.tsv", "text\tlabel\nnice\tpos\nugh\tneg\n"))
    assert data.train_labels == [1, 0] and data.classes == ("neg", "pos") and data.format == "tsv"
    data = load_labelled(_write(tmp_path / "n.csv", "headline,label\nok then,not\nsure,sarcastic\n"))
    assert data.train_labels == [0, 1] and data.classes == ("not", "sarcastic")
    data = load_labelled(_write(tmp_path / "c.json", json.dumps([{"text": "meow", "label": "cat"},
                                                                   {"text": "woof", "label": "dog"}])))
    assert data.train_labels == [0, 1] and data.classes == ("cat", "dog")


def test_explicit_columns_bom_and_multiline_fields(tmp_path):
    path = _write(tmp_path / "d.csv", '\ufeffid,Body,Stars\n1,"two\nlines",5\n2,short,1\n')
    data = load_labelled(path, "csv", text_column="body", label_column="Stars")
    assert _rows(data) == [("two\nlines", 1), ("short", 0)]
    assert (data.text_column, data.label_column) == ("Body", "Stars")


def test_labels_mapped_onto_given_classes_and_test_file(tmp_path):
    train = _write(tmp_path / "train.csv", "text,label\nnice,pos\nugh,neg\n")
    test = _write(tmp_path / "test.csv", "text,label\nmeh,NEG\n")  # one class is fine for a test file
    data = load_labelled(train, test=test)
    assert data.classes == ("neg", "pos") and data.test_texts == ["meh"] and data.test_labels == [0]
    assert load_labelled(test, classes=("neg", "pos")).train_labels == [0]
    with pytest.raises(DatasetError, match="'bad' is not one of the model's classes"):
        load_labelled(_write(tmp_path / "x.csv", "text,label\nhm,bad\n"), classes=("neg", "pos"))
    sarcasm = _write(tmp_path / "s.jsonl", '{"headline": "a", "is_sarcastic": 1}\n')
    assert load_labelled(sarcasm, classes=("not sarcastic", "sarcastic")).train_labels == [1]
    with pytest.raises(DatasetError, match="mean not sarcastic/sarcastic but the model's classes are negative"):
        load_labelled(sarcasm, classes=("negative", "positive"))


def test_held_out_split_is_seeded_and_repeatable(tmp_path):
    lines = "".join(f"text {i},{i % 2}\n" for i in range(50))
    path = _write(tmp_path / "d.csv", "text,label\n" + lines)
    data = load_labelled(path)
    split = make_split(data, val_fraction=0.2, seed=3)
    assert len(split.val) == 10 and sorted(split.train + split.val) == list(range(50))
    assert split.record == {"val_fraction": 0.2, "val_size": 10, "seed": 3, "n_rows": 50,
                            "rows_sha256": rows_sha256(data.train_texts, data.train_labels)}
    assert repeat_split(load_labelled(path), split.record).val == split.val
    assert make_split(data, val_fraction=0.2, seed=4).val != split.val
    _write(path, "text,label\n" + lines.replace("text 7,", "text 8,"))
    with pytest.raises(DatasetError, match="differs from the file the checkpoint was trained on"):
        repeat_split(load_labelled(path), split.record)
    _write(path, "text,label\n" + lines + "more,1\n")
    with pytest.raises(DatasetError, match="has 51 rows but the checkpoint was trained on 50"):
        repeat_split(load_labelled(path), split.record)


def _big_line(path):
    with open(path, "wb") as f:
        f.write(b"text,label\n")
        f.write(b"x" * (3 * MAX_ROW_BYTES) + b",1\n")
    return path


BAD_FILES = {  # name: (contents or a writer, the error's text)
    "missing.csv": (None, "data file not found"),
    "empty.csv": ("", "is empty"),
    "blank.jsonl": ("\n\n", "is empty"),
    "cols.csv": ("body,stars\na,1\nb,0\n", "no text column .*columns found: 'body', 'stars'"),
    "nolabel.tsv": ("text\tscore\na\t1\n", "no label column .*columns found: 'text', 'score'"),
    "one.csv": ("text,label\na,1\nb,1\n", "every row is labelled '1' .*: 1 class; a classifier needs 2 to 100"),
    "many.csv": ("text,label\n" + "".join(f"t{i},{i}\n" for i in range(101)),
                 "101 label values in column 'label'; a classifier takes 2 to 100 classes"),
    "latin.csv": (b"text,label\na,1\ncaf\xe9,0\n", "line 3: bytes that are not UTF-8"),
    "ragged.csv": ("text,label\na,1\nb,0,extra\n", "line 3: 3 fields, expected 2"),
    "huge.csv": (_big_line, f"line 2 is longer than {MAX_ROW_BYTES:,} bytes"),
    "header.csv": ("text,label\n", "no labelled rows"),
    "emptylabel.csv": ("text,label\na,\nb,1\n", "line 2: the label .* is empty"),
    "badjson.jsonl": ('{"text": "a", "label": 1}\n{"text": \n', "line 2: not valid JSON"),
    "field.jsonl": ('{"text": "a", "label": 1}\n{"txt": "b", "label": 0}\n', "line 2: no 'text' field"),
    "notobj.json": ('[{"text": "a", "label": 1}, 3]', "line 1: expected a JSON object"),
    "open.json": ('[{"text": "a", "label": 1},\n {"text": "b", "label": 0}', "not closed"),
    "nulllabel.jsonl": ('{"text": "a", "label": null}\n', "line 1: the label .* is null"),
}


def _bad_file(tmp_path, name):
    contents, _ = BAD_FILES[name]
    path = tmp_path / name
    if callable(contents):
        contents(path)
    elif isinstance(contents, bytes):
        path.write_bytes(contents)
    elif contents is not None:
        path.write_text(contents, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_give_one_clear_error(tmp_path, name, capsys):
    path = _bad_file(tmp_path, name)
    with pytest.raises(DatasetError, match=BAD_FILES[name][1]) as e:
        load_labelled(path)
    message = str(e.value)
    assert "\n" not in message and name in message
    assert main(["sentiment", "train", "--data", str(path), "--quiet", "--out", str(tmp_path / "s.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"charrnn sentiment: error: {message}"
    assert not any("Traceback" in line for line in err)
    assert not (tmp_path / "s.pt").exists()


def test_bad_file_from_a_subprocess_has_no_traceback(tmp_path):
    import subprocess
    import sys

    path = _bad_file(tmp_path, "many.csv")
    run = subprocess.run([sys.executable, "-m", "charrnn", "sentiment", "train", "--data", str(path), "--quiet"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.splitlines()[-1].startswith("charrnn sentiment: error: ") and "Traceback" not in run.stderr


def test_unknown_format_and_format_without_data(capsys):
    with pytest.raises(DatasetError, match="unknown dataset format 'xml'"):
        load_labelled(__file__, "xml")
    assert main(["sentiment", "evaluate", "--checkpoint", "x.pt", "--format", "csv"]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_imdb_format_keeps_its_test_split_and_the_chapters_split(tmp_path):
    archive = write_tar(tmp_path / "aclImdb_v1.tar.gz", reviews({"train": 30, "test": 4}))
    data = load_labelled(archive)
    assert data.format == "imdb" and data.has_test and len(data.test_texts) == 8 and len(data.train_texts) == 60
    assert data.classes == ("negative", "positive")
    split = make_split(data, val_size=15, seed=1)
    imdb_val = split_train_val(load_imdb(archive).train, val_size=15, seed=1)[1]
    assert [data.train_texts[i] for i in split.val] == [r.text for r in imdb_val]


def test_shared_sst2_dev_is_label_first():
    if not SST2_DEV.is_file():
        pytest.skip(f"shared SST-2 dev set not present at {SST2_DEV}")
    data = load_labelled(SST2_DEV)
    assert data.format == "glue" and len(data.train_texts) == 872 and data.text_column == "content"
    assert data.classes == ("negative", "positive") and 400 < sum(data.train_labels) < 472


def test_shared_sarcasm_headlines():
    if not SARCASM.is_file():
        pytest.skip(f"shared sarcasm headlines not present at {SARCASM}")
    data = load_labelled(SARCASM)
    assert len(data.train_texts) == 26_709 and sum(data.train_labels) == 11_724
    assert data.classes == ("not sarcastic", "sarcastic")
