"""Model folders on the Hugging Face Hub: `hf://user/name[@revision]` names, downloaded into huggingface_hub's
cache (and read from it offline, HF_HUB_OFFLINE=1), and `push`, which uploads a model folder to a repository.

Every failure (offline and not cached, no such repository or revision, not logged in, a network error) is a
`HubError`, a CheckpointError with one line saying what happened, so the loaders and the CLI report it like any
unusable checkpoint.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import CheckpointError, short
from .modelfolder import CONFIG, FILES, WEIGHTS

PREFIX = "hf://"
_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")


class HubError(CheckpointError):
    """A model could not be fetched from, or sent to, the Hugging Face Hub."""


def is_hub_name(path: object) -> bool:
    """Whether `path` is an hf:// name (rather than a local file or folder)."""
    return isinstance(path, str) and path.startswith(PREFIX)


def parse(spec: str) -> tuple[str, str | None]:
    """("user/name", revision or None) of "hf://user/name[@revision]"; HubError when it is not one."""
    body = spec[len(PREFIX):] if spec.startswith(PREFIX) else spec
    repo, at, revision = body.partition("@")
    if not check_repo_id(repo) or (at and not revision):
        raise HubError(f"{spec!r} is not a Hub model name: write hf://user/name or hf://user/name@revision")
    return repo, revision or None


def check_repo_id(repo: str) -> bool:
    """Whether `repo` looks like a Hub repository id, user/name."""
    return bool(_REPO.fullmatch(repo)) and ".." not in repo and len(repo) <= 96


def resolve(spec: str) -> Path:
    """The local folder holding the model `spec` names: downloaded (config.json, model.safetensors, README.md
    only) into the Hugging Face cache, or found there when offline."""
    repo, revision = parse(spec)
    # huggingface_hub is imported here, not at the top: it takes a while to import and only hf:// names need it
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(repo, revision=revision, allow_patterns=list(FILES), library_name="charrnn")
    except Exception as e:  # many types (HTTP, connection, cache, validation): all reported in one line
        raise HubError(explain(e, spec)) from None
    folder = Path(folder)
    missing = [f for f in (CONFIG, WEIGHTS) if not (folder / f).is_file()]
    if missing:
        raise HubError(f"{spec} is not a charrnn model: the repository has no {' or '.join(missing)} (make one with "
                       f"`charrnn export` and `charrnn push`)")
    return folder


def explain(error: Exception, spec: str) -> str:
    """One line for a huggingface_hub failure (told apart by class name: the classes moved between releases)."""
    names = {c.__name__ for c in type(error).__mro__}
    if "RevisionNotFoundError" in names:
        return f"{spec}: the repository has no such revision"
    if "GatedRepoError" in names:
        return f"{spec} is gated: accept its terms on the Hub and log in (`hf auth login`, or set HF_TOKEN)"
    if "RepositoryNotFoundError" in names:
        return (f"{spec}: no such model repository on the Hub (or it is private: log in with `hf auth login` or "
                f"set HF_TOKEN)")
    if "LocalTokenNotFoundError" in names:
        return f"{spec}: not logged in to the Hub: run `hf auth login` or set HF_TOKEN"
    if names & {"LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectError", "ConnectionError",
                "TimeoutException", "TimeoutError"}:
        offline = " (HF_HUB_OFFLINE is set)" if _offline() else ""
        return (f"{spec} is not in the local Hugging Face cache and the Hub cannot be reached{offline}: connect "
                f"once to download it")
    return f"{spec}: the Hub refused or failed: {short(error, 160)}"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def push(folder: str | os.PathLike, repo: str, private: bool = False, message: str | None = None) -> str:
    """Upload the model folder `folder` (its config.json, model.safetensors and README.md) to the Hub model
    repository `repo` (user/name), creating it when needed (private with `private`); returns its URL.

    Logs in as huggingface_hub does: HF_TOKEN, or the token `hf auth login` saved.
    """
    if not check_repo_id(repo):
        raise HubError(f"{repo!r} is not a Hub repository id: write user/name")
    folder = Path(folder)
    # imported here, not at the top: huggingface_hub is slow to import and only sharing needs it
    from huggingface_hub import HfApi

    api = HfApi(library_name="charrnn")
    try:
        url = api.create_repo(repo, private=private, exist_ok=True, repo_type="model")
        api.upload_folder(repo_id=repo, folder_path=folder, repo_type="model", allow_patterns=list(FILES),
                          commit_message=message or f"Upload {folder.name} with charrnn push")
    except Exception as e:  # as in `resolve`: one line, whatever huggingface_hub raised
        raise HubError(explain(e, f"hf://{repo}")) from None
    return str(url)
