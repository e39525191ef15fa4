"""IMDb loading: both layouts, download with checksum from a local server, errors, and the seeded split."""
from __future__ import annotations

import hashlib

import pytest

from charrnn.sentiment import ImdbError, download_imdb, load_imdb, split_train_val
from charrnn.sentiment.data import URL_ENV

from ..sentiment_fixtures import reviews, shared_imdb, write_folder, write_tar


@pytest.fixture
def files() -> dict[str, str]:
    return reviews({"train": 6, "test": 4})


def _as_set(rs):
    return {(r.name, r.text, r.label) for r in rs}


def test_tar_layout_reads_labels_from_folders(tmp_path, files):
    imdb = load_imdb(write_tar(tmp_path / "a.tar.gz", files))
    assert len(imdb.train) == 12 and len(imdb.test) == 8 and imdb.unsup == []
    assert sum(r.label for r in imdb.train) == 6 and sum(r.label for r in imdb.test) == 4
    for r in imdb.train + imdb.test:
        assert r.label == (r.name.split("/")[1] == "pos")
        assert r.text == files[f"aclImdb/{r.name}.txt"]
    assert [r.name for r in imdb.train] == sorted(r.name for r in imdb.train)


def test_unsup_only_when_asked(tmp_path, files):
    imdb = load_imdb(write_tar(tmp_path / "a.tar.gz", files), unsup=True)
    assert len(imdb.unsup) == 3 and {r.label for r in imdb.unsup} == {-1}
    assert len(imdb.train) == 12


def test_folder_layout_matches_tar(tmp_path, files):
    from_tar = load_imdb(write_tar(tmp_path / "a.tar.gz", files), unsup=True)
    folder = write_folder(tmp_path / "x", files)
    for path in (folder, folder.parent):
        from_dir = load_imdb(path, unsup=True)
        assert [(r.name, r.label) for r in from_dir.train] == [(r.name, r.label) for r in from_tar.train]
        assert _as_set(from_dir.train) == _as_set(from_tar.train)
        assert _as_set(from_dir.test) == _as_set(from_tar.test)
        assert _as_set(from_dir.unsup) == _as_set(from_tar.unsup)


def test_missing_and_wrong_inputs_give_clear_errors(tmp_path, files):
    with pytest.raises(ImdbError, match="not found"):
        load_imdb(tmp_path / "nope.tar.gz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImdbError, match="no train reviews"):
        load_imdb(tmp_path / "empty")
    data = write_tar(tmp_path / "a.tar.gz", files).read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImdbError, match="truncated or corrupt"):
        load_imdb(tmp_path / "cut.tar.gz")
    (tmp_path / "plain.tar.gz").write_text("not an archive")
    with pytest.raises(ImdbError, match="truncated or corrupt"):
        load_imdb(tmp_path / "plain.tar.gz")
    only_train = {k: v for k, v in files.items() if "/test/" not in k}
    with pytest.raises(ImdbError, match="no test reviews"):
        load_imdb(write_tar(tmp_path / "t.tar.gz", only_train))


def test_split_is_seeded_disjoint_and_complete(tmp_path):
    imdb = load_imdb(write_tar(tmp_path / "a.tar.gz", reviews({"train": 30, "test": 1})))
    a_train, a_val = split_train_val(imdb.train, val_size=15, seed=1)
    b_train, b_val = split_train_val(imdb.train, val_size=15, seed=1)
    c_train, c_val = split_train_val(imdb.train, val_size=15, seed=2)
    assert (len(a_train), len(a_val)) == (45, 15)
    assert a_val == b_val and a_train == b_train and a_val != c_val
    assert _as_set(a_train) | _as_set(a_val) == _as_set(imdb.train)
    assert not _as_set(a_train) & _as_set(a_val)


def test_download_checks_sha256_and_caches(tmp_path, files, http_dir):
    base, root, requests = http_dir
    data = write_tar(root / "imdb.tar.gz", files).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    cache = tmp_path / "cache"
    path = download_imdb(cache, url=f"{base}/imdb.tar.gz", sha256=digest)
    assert path.read_bytes() == data and len(load_imdb(path).train) == 12
    assert download_imdb(cache, url=f"{base}/imdb.tar.gz", sha256=digest) == path
    assert requests == ["/imdb.tar.gz"]  # the second call used the cache
    assert [p.name for p in cache.iterdir()] == [path.name]


def test_download_refuses_wrong_checksum_and_caches_nothing(tmp_path, files, http_dir, monkeypatch):
    base, root, requests = http_dir
    write_tar(root / "imdb.tar.gz", files)
    monkeypatch.setenv(URL_ENV, f"{base}/imdb.tar.gz")
    cache = tmp_path / "cache"
    with pytest.raises(ImdbError, match="sha256"):
        download_imdb(cache)  # URL from the environment, checked against the official checksum
    assert requests == ["/imdb.tar.gz"] and list(cache.iterdir()) == []
    with pytest.raises(ImdbError, match="could not download"):
        download_imdb(cache, url=f"{base}/missing.tar.gz")


def test_shared_archive_counts_and_split():
    imdb = shared_imdb()
    assert len(imdb.train) == len(imdb.test) == 25_000 and imdb.unsup == []
    assert sum(r.label for r in imdb.train) == sum(r.label for r in imdb.test) == 12_500
    assert len({r.name for r in imdb.test}) == 25_000
    train, val = split_train_val(imdb.train)
    assert (len(train), len(val)) == (20_000, 5_000)
    assert [r.name for r in split_train_val(imdb.train)[1]] == [r.name for r in val]
    assert 2_300 < sum(r.label for r in val) < 2_700
