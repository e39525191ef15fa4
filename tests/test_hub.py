"""hf://user/name[@revision] checkpoints and `charrnn push`, without the network: huggingface_hub's own offline mode
over a prepared cache, a stand-in Hub on 127.0.0.1 that answers "no such repository", and monkeypatched
`snapshot_download` / `HfApi` methods whose calls are checked."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import huggingface_hub
from huggingface_hub import errors as hf_errors
import pytest

from charrnn import CheckpointError, hub, load_char_lm
from charrnn import checkpoint as ckpt
from charrnn.cli.main import main
from charrnn.export import export
from charrnn.sentiment import load_sentiment

from .helpers import train_tiny

ROOT = Path(__file__).resolve().parents[1]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A tiny char model exported as a model folder."""
    base = tmp_path_factory.mktemp("tiny")
    train_tiny(base / "tiny.pt", steps=10, eval_every=10, save_every=10)
    return export(base / "tiny.pt", base / "tiny")


def run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    """`python -m charrnn ARGS` with `env` added; huggingface_hub never reaches beyond 127.0.0.1."""
    full = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_DISABLE_TELEMETRY": "1", "NO_PROXY": "127.0.0.1",
            "no_proxy": "127.0.0.1", "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1", **env}
    full.pop("HF_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "charrnn", *args], capture_output=True, text=True, timeout=300,
                          env=full)


# ------------------------------------------------------------------------------------- names


@pytest.mark.parametrize("spec, expected", [
    ("hf://user/name", ("user/name", None)),
    ("hf://user/name@v1.0", ("user/name", "v1.0")),
    ("hf://org-x/my_model.v2@" + COMMIT, ("org-x/my_model.v2", COMMIT)),
])
def test_names_are_parsed(spec, expected):
    assert hub.is_hub_name(spec) and hub.parse(spec) == expected


@pytest.mark.parametrize("spec", ["hf://name", "hf://user/name@", "hf://user/../x", "hf:///name", "hf://a/b/c",
                                  "hf://user/na me"])
def test_malformed_names_are_refused(spec):
    with pytest.raises(CheckpointError, match="is not a Hub model name"):
        ckpt.load(spec)


def test_local_paths_are_not_hub_names(tiny):
    assert not hub.is_hub_name(tiny) and not hub.is_hub_name(str(tiny)) and not hub.is_hub_name("hf:/x/y")


# ------------------------------------------------------------------------------------- resolving (monkeypatched)


def test_loaders_download_through_snapshot_download(tiny, monkeypatch):
    calls = []

    def fake(repo_id, **kwargs):
        calls.append((repo_id, kwargs))
        return str(tiny)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    lm = load_char_lm("hf://someone/tiny@v2")
    assert lm.vocab == load_char_lm(tiny).vocab
    assert calls == [("someone/tiny", {"revision": "v2", "allow_patterns": ["config.json", "model.safetensors",
                                                                           "README.md"], "library_name": "charrnn"})]
    with pytest.raises(CheckpointError, match=r"^hf://someone/tiny is a 'char-lm' checkpoint, expected 'sentiment'$"):
        load_sentiment("hf://someone/tiny")


def test_a_repository_without_a_model_is_refused(tmp_path, monkeypatch):
    (tmp_path / "README.md").write_text("# not a model")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, **kw: str(tmp_path))
    with pytest.raises(CheckpointError, match=r"hf://a/b is not a charrnn model: the repository has no config\.json "
                                              r"or model\.safetensors"):
        ckpt.load("hf://a/b")


@pytest.mark.parametrize("error, message", [
    (hf_errors.LocalEntryNotFoundError("Cannot find an appropriate cached snapshot\nfolder"),
     r"is not in the local Hugging Face cache and the Hub cannot be reached"),
    (hf_errors.OfflineModeIsEnabled("offline"), r"the Hub cannot be reached"),
    (ConnectionError("name resolution failed"), r"the Hub cannot be reached"),
    (RuntimeError("something\nelse"), r"the Hub refused or failed: something else"),
])
def test_download_failures_are_one_line(monkeypatch, error, message):
    def fail(repo_id, **kwargs):
        raise error

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fail)
    with pytest.raises(hub.HubError, match=message) as e:
        load_char_lm("hf://user/model")
    assert "\n" not in str(e.value) and str(e.value).startswith("hf://user/model")


# ------------------------------------------------------------------------------------- offline, a prepared cache


def prepared_cache(base: Path, folder: Path, repo: str = "user/tiny") -> Path:
    """The Hugging Face cache layout holding `folder` as `repo`'s main revision (refs/main -> a snapshot)."""
    cache = base / "hf-cache"
    storage = cache / ("models--" + repo.replace("/", "--"))
    (storage / "refs").mkdir(parents=True)
    (storage / "refs" / "main").write_text(COMMIT)
    shutil.copytree(folder, storage / "snapshots" / COMMIT)
    return cache


def test_offline_the_cached_model_samples_like_the_folder(tiny, tmp_path):
    cache = prepared_cache(tmp_path, tiny)
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    args = ["--prompt", "the quick", "--length", "40", "--seed", "3"]
    cached = run(["sample", "--checkpoint", "hf://user/tiny", *args], env)
    local = run(["sample", "--checkpoint", str(tiny), *args], env)
    assert cached.returncode == 0, cached.stderr
    assert cached.stdout == local.stdout and cached.stdout.startswith("the quick")
    missing = run(["sample", "--checkpoint", "hf://user/elsewhere", *args], env)
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr == ("charrnn sample: error: hf://user/elsewhere is not in the local Hugging Face cache and "
                              "the Hub cannot be reached (HF_HUB_OFFLINE is set): connect once to download it\n")


# ------------------------------------------------------------------------------------- a stand-in Hub on 127.0.0.1


class _NotFound(BaseHTTPRequestHandler):
    """Answers every request as the Hub does for a missing repository (or, for revision "gone", a missing
    revision)."""

    seen: list[str] = []

    def _answer(self) -> None:
        self.seen.append(self.path)
        code = "RevisionNotFound" if "/revision/gone" in self.path else "RepoNotFound"
        self.send_response(404)
        self.send_header("X-Error-Code", code)
        self.send_header("Content-Type", "application/json")
        body = b'{"error": "not found"}'
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def fake_hub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _NotFound.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_missing_repository_and_revision_are_one_line(fake_hub, tmp_path):
    env = {"HF_ENDPOINT": fake_hub, "HF_HUB_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "0"}
    r = run(["sentiment", "predict", "--checkpoint", "hf://nobody/nothing", "a fine film"], env)
    assert r.returncode == 2 and r.stdout == ""
    assert re.fullmatch(r"charrnn sentiment: error: hf://nobody/nothing: no such model repository on the Hub \(or it "
                        r"is private: .*\)\n", r.stderr), r.stderr
    assert any("/api/models/nobody/nothing" in p for p in _NotFound.seen)
    r = run(["evaluate", "--checkpoint", "hf://nobody/nothing@gone", "--text", __file__], env)
    assert r.returncode == 2
    assert r.stderr == "charrnn evaluate: error: hf://nobody/nothing@gone: the repository has no such revision\n"


# ------------------------------------------------------------------------------------- push (monkeypatched)


@pytest.fixture
def hf_api(monkeypatch):
    """HfApi.create_repo and upload_folder replaced: their calls are recorded, nothing is sent."""
    calls = []

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", repo_id, kwargs))
        return huggingface_hub.RepoUrl(f"https://huggingface.co/{repo_id}")

    def upload_folder(self, **kwargs):
        calls.append(("upload_folder", kwargs))
        return None

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    return calls


def test_push_creates_the_repository_and_uploads_the_folder(tiny, hf_api, capsys):
    assert main(["push", str(tiny), "--repo", "me/tiny-model", "--private"]) == 0
    assert capsys.readouterr().out == "https://huggingface.co/me/tiny-model\n"
    assert hf_api == [
        ("create_repo", "me/tiny-model", {"private": True, "exist_ok": True, "repo_type": "model"}),
        ("upload_folder", {"repo_id": "me/tiny-model", "folder_path": tiny, "repo_type": "model",
                           "allow_patterns": ["config.json", "model.safetensors", "README.md"],
                           "commit_message": "Upload tiny with charrnn push"}),
    ]


def test_push_refuses_what_would_not_load(tiny, tmp_path, hf_api, capsys):
    bad = shutil.copytree(tiny, tmp_path / "bad")
    (bad / "config.json").write_text((bad / "config.json").read_text().replace('"hidden": 48', '"hidden": 4096'))
    cases = [([str(bad), "--repo", "me/x"], r"weights do not fit the model described by the config"),
             ([str(tmp_path), "--repo", "me/x"], r"is not a model folder \(config.json \+ model.safetensors\)"),
             ([str(tiny), "--repo", "not a repo"], r"'not a repo' is not a Hub repository id")]
    for args, message in cases:
        assert main(["push", *args]) == 2
        err = capsys.readouterr().err
        assert re.fullmatch(rf"charrnn push: error: .*{message}.*\n", err), err
    assert hf_api == []  # nothing was sent


def test_push_failures_are_one_line(tiny, monkeypatch, capsys):
    def no_token(self, repo_id, **kwargs):
        raise hf_errors.LocalTokenNotFoundError("Token is required\n(`token=True`), but none found")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", no_token)
    assert main(["push", str(tiny), "--repo", "me/tiny"]) == 2
    assert capsys.readouterr().err == ("charrnn push: error: hf://me/tiny: not logged in to the Hub: run "
                                       "`hf auth login` or set HF_TOKEN\n")
