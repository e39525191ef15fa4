"""bench/sentiment_table.py --vader: VADER's ground-truth files become labelled columns, clearly polar texts only."""
import importlib
import re
import subprocess
import sys

from .conftest import ROOT

LINES = {  # id, mean rating on -4..4, text: two count (|rating| >= 1), one is too mild, one malformed
    "tweets_GroundTruth.txt": ["1\t2.5\tWhat a wonderful, brilliant day &amp; a great film.",
                               "2\t-3.1\tAwful, boring and terrible: the worst thing I ever saw.",
                               "3\t0.4\tIt is Tuesday.", "no tabs here"],
    "amazonReviewSnippets_GroundTruth.txt": ["1_1\t-1.0\tA dreadful, dull and awful product.",
                                             "1_2\t-0.99\tit came in a box."],
}


def test_vader_columns_count_the_clearly_polar_texts(tmp_path):
    for name, lines in LINES.items():
        (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "sentiment_table.py"),
                          str(ROOT / "checkpoints" / "sst2-sentences.pt"), "--skip-imdb", "--vader", str(tmp_path),
                          "--only", "tweets,amazon"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    header, _, row = out.stdout.strip().splitlines()
    assert header == "| checkpoint | classes | tweets | amazon |"
    cells = re.findall(r"([\d.]+) \(n=(\d+), \d+ s\)", row)
    assert [n for _, n in cells] == ["2", "1"]  # 0.4 and -0.99 are left out, and the line without tabs
    assert [float(a) for a, _ in cells] == [1.0, 1.0]  # plain sentiment words: the shipped classifier gets them


def test_vader_rows_unescape_html_and_leave_out_what_is_not_a_rating(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    table = importlib.import_module("sentiment_table")
    (tmp_path / "t.txt").write_text("1\t1.5\tfish &amp; chips\n2\tn/a\tno rating\n3\t-1\tbad\n", encoding="utf-8")
    assert table.vader_rows(tmp_path / "t.txt") == (["fish & chips", "bad"], [1, 0])


def test_an_unknown_column_is_refused():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "sentiment_table.py"),
                          str(ROOT / "checkpoints" / "sst2-sentences.pt"), "--skip-imdb", "--only", "tweets"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "--only: no column tweets; the columns are sst2, sarcasm, probe" in out.stderr
