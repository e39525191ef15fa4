import socket

import pytest

from charrnn.lm import gutenberg
from charrnn.lm.gutenberg import GutenbergError, chapter_slice, download, strip_gutenberg
from charrnn.lm.textfile import decode

from ..conftest import shared_file

BODY = "CHAPTER I\n\nIt was a dark and stormy night.\nThe end.\n"


@pytest.mark.parametrize(
    "header, footer",
    [
        ("*** START OF THE PROJECT GUTENBERG EBOOK SOME BOOK ***",
         "*** END OF THE PROJECT GUTENBERG EBOOK SOME BOOK ***"),
        ("*** START OF THIS PROJECT GUTENBERG EBOOK SOME BOOK ***",
         "*** END OF THIS PROJECT GUTENBERG EBOOK SOME BOOK ***"),
        ("*** START OF THIS PROJECT GUTENBERG EBOOK THE ADVENTURES OF\nSHERLOCK HOLMES ***",
         "*** END OF THIS PROJECT GUTENBERG EBOOK ***"),
        ("***START OF THE PROJECT GUTENBERG EBOOK X***", "End of Project Gutenberg's Some Book, by Someone"),
        ("*** START OF THE PROJECT GUTENBERG EBOOK X ***",
         "End of the Project Gutenberg EBook of Some Book, by Someone"),
        ("*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*",
         "End of The Project Gutenberg Etext of Some Book"),
        ("*** START OF THE PROJECT GUTENBERG EBOOK X ***", "End of this Project Gutenberg eBook"),
        ("*** START OF THE PROJECT GUTENBERG EBOOK X ***", "End of the Project Gutenberg"),
    ],
)
def test_strip_marker_styles(header, footer):
    text = (f"The Project Gutenberg EBook of Some Book\nlicense blah\n{header}\n\n\n{BODY}\n\n{footer}\n\n"
            "More license text\n")
    assert strip_gutenberg(text) == BODY


def test_strip_removes_credits_after_start_marker():
    text = ("header\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\n\nProduced by Jane Doe and the Online\n"
            "Distributed Proofreading Team\n\n\n" + BODY + "*** END OF THE PROJECT GUTENBERG EBOOK X ***\nfooter\n")
    assert strip_gutenberg(text) == BODY


def test_strip_leaves_unmarked_text_unchanged():
    text = "Just some text.\nProduced by nobody in particular.\n"
    assert strip_gutenberg(text) == text


def test_strip_shared_corpora():
    island = strip_gutenberg(decode(shared_file("corpora", "1268-0.txt").read_bytes()))
    assert island.startswith("THE MYSTERIOUS ISLAND\n\nby Jules Verne")
    assert island.rstrip().endswith("who had borne the name of Captain Nemo.")
    assert "Gutenberg" not in island and "Produced by" not in island
    holmes = strip_gutenberg(decode(shared_file("corpora", "pg1661.txt").read_bytes()))
    assert holmes.lstrip().startswith("The Adventures of Sherlock Holmes")
    assert "HOLMES ***" not in holmes and "PROJECT GUTENBERG" not in holmes.upper()
    assert 550_000 < len(holmes) < 580_000
    shakespeare = decode(shared_file("corpora", "tinyshakespeare.txt").read_bytes())
    assert strip_gutenberg(shakespeare) == shakespeare


def test_chapter_slice_reproduces_textbook_corpus():
    text = decode(shared_file("corpora", "1268-0.txt").read_bytes())
    sliced = chapter_slice(text)
    assert len(sliced) == 1_112_350
    assert len(set(sliced)) == 80
    assert sliced.startswith("THE MYSTERIOUS ISLAND")


def test_chapter_slice_missing_marker_is_clear():
    with pytest.raises(ValueError, match="start string 'THE MYSTERIOUS ISLAND' not found") as e:
        chapter_slice("no markers here")
    assert not isinstance(e.value, GutenbergError), "a text without the markers is no download problem"
    with pytest.raises(ValueError, match="end string 'Z' not found after 'no'"):
        chapter_slice("no markers here", "no", "Z")


def test_download_falls_back_and_caches(http_dir, tmp_path):
    base, root, requests = http_dir
    (root / "files" / "1268").mkdir(parents=True)
    (root / "files" / "1268" / "1268-0.txt").write_bytes(b"\xef\xbb\xbfbook text\r\n")
    cache = tmp_path / "cache"
    path = download(1268, cache_dir=cache, base_url=base, retries=0)
    assert path.read_bytes() == b"\xef\xbb\xbfbook text\r\n"
    assert requests == ["/cache/epub/1268/pg1268.txt", "/files/1268/1268-0.txt"]
    assert download(1268, cache_dir=cache, base_url=base) == path
    assert len(requests) == 2, "a cached book must not be requested again"
    assert not list(cache.glob("*.tmp"))


def test_download_uses_environment_base_url(http_dir, tmp_path, monkeypatch):
    base, root, requests = http_dir
    (root / "cache" / "epub" / "84").mkdir(parents=True)
    (root / "cache" / "epub" / "84" / "pg84.txt").write_text("Frankenstein")
    monkeypatch.setenv(gutenberg.BASE_URL_ENV, base)
    assert download(84, cache_dir=tmp_path).read_text() == "Frankenstein"
    assert requests == ["/cache/epub/84/pg84.txt"]


def test_download_404_names_book_and_urls(http_dir, tmp_path):
    base, _, _ = http_dir
    with pytest.raises(GutenbergError, match=r"book 999.*404") as e:
        download(999, cache_dir=tmp_path, base_url=base, retries=0)
    assert f"{base}/files/999/999.txt" in str(e.value)
    assert not (tmp_path / "pg999.txt").exists()


def test_download_html_page_is_refused(http_dir, tmp_path):
    base, root, _ = http_dir
    for rel in ("cache/epub/5/pg5.txt", "files/5/5-0.txt", "files/5/5.txt"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("<!DOCTYPE html><html><body>Robot check</body></html>")
    with pytest.raises(GutenbergError, match="HTML page"):
        download(5, cache_dir=tmp_path, base_url=base, retries=0)
    assert not (tmp_path / "pg5.txt").exists()


def test_download_offline_is_clear(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    expected = rf"could not download Gutenberg book 1268: http://127.0.0.1:{port}/cache"
    with pytest.raises(GutenbergError, match=expected) as e:
        download(1268, cache_dir=tmp_path, base_url=f"http://127.0.0.1:{port}", retries=1, backoff=0.01, timeout=2)
    assert "refused" in str(e.value) and len(str(e.value)) < 200, "one unreachable host: one short reason"


def test_download_rejects_bad_ids(tmp_path):
    assert issubclass(GutenbergError, ValueError)  # like the package's other input errors
    with pytest.raises(GutenbergError, match="must be a number"):
        download("abc", cache_dir=tmp_path)
    with pytest.raises(GutenbergError, match="positive"):
        download(0, cache_dir=tmp_path)
