import pytest

from charrnn import GutenbergError, TextFileError, load_corpus
from charrnn.lm.textfile import decode, read_text


def test_decode_utf8_with_bom_and_crlf():
    assert decode("\ufeffHello\r\nworld\rend\n".encode("utf-8")) == "Hello\nworld\nend\n"
    assert decode("caf\u00e9\r\n".encode("utf-8")) == "caf\u00e9\n"


def test_decode_cp1252_warns():
    raw = "\u201cQuoted\u201d caf\u00e9\r\n".encode("cp1252")
    with pytest.warns(UnicodeWarning, match="cp1252"):
        assert decode(raw) == "\u201cQuoted\u201d caf\u00e9\n"


def test_decode_latin1_fallback_for_bytes_cp1252_lacks():
    raw = b"a\x81b\xe9"
    with pytest.warns(UnicodeWarning, match="latin-1"):
        assert decode(raw) == "a\x81b\u00e9"


def test_read_text_decodes_a_local_file(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"\xef\xbb\xbfone\r\ntwo\r\n")
    assert read_text(path) == "one\ntwo\n"


def test_unreadable_local_files_raise_a_text_file_error_not_a_gutenberg_one(tmp_path):
    assert issubclass(TextFileError, ValueError)
    with pytest.raises(TextFileError, match="text file not found: .*missing.txt") as e:
        read_text(tmp_path / "missing.txt")
    assert not isinstance(e.value, GutenbergError)
    with pytest.raises(TextFileError, match="expected a text file, got a directory"):
        read_text(tmp_path)
    with pytest.raises(TextFileError, match="text file not found"):
        load_corpus(text_file=tmp_path / "missing.txt")
