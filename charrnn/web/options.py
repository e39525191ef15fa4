"""The app's command-line options (`charrnn app`, `python app.py`), where it keeps its checkpoints, and who may use
it (passwords; --public). Plain argparse, no Gradio: `charrnn --help` and the other commands stay quick."""
from __future__ import annotations

import argparse
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


def checkout_checkpoints() -> Path | None:
    """`checkpoints/` beside the package when it runs from a checkout of the repository (pyproject.toml beside it
    too); None when the package is installed (a wheel in site-packages has neither)."""
    root = Path(__file__).resolve().parents[2]
    folder = root / "checkpoints"
    return folder if (root / "pyproject.toml").is_file() and folder.is_dir() else None


def user_data_dir() -> Path:
    """The per-user data folder: `$XDG_DATA_HOME/charrnn` (default `~/.local/share/charrnn`); on Windows
    `%LOCALAPPDATA%\\charrnn`."""
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
    else:
        base = os.environ.get("XDG_DATA_HOME", "")
        if not os.path.isabs(base):  # the XDG rule: unset, empty or relative means the default
            base = str(Path.home() / ".local" / "share")
    return Path(base) / "charrnn"


def default_checkpoints() -> Path:
    """The folder the app serves without --checkpoints: the checkout's shipped models, else the user's own folder."""
    return checkout_checkpoints() or user_data_dir() / "checkpoints"


def auth_pair(value: str, where: str = "--auth") -> tuple[str, str]:
    """USER:PASSWORD as a pair (the password may hold colons); ValueError naming `where` otherwise."""
    user, sep, password = value.strip().partition(":")
    if not sep or not user or not password:
        raise ValueError(f"{where}: expected USER:PASSWORD, got {value.strip()!r}")
    return user, password


def read_auth_file(path: str | os.PathLike) -> list[tuple[str, str]]:
    """The USER:PASSWORD lines of `path` (blank lines and # comments skipped); ValueError naming file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"--auth-file {path}: cannot read it ({e.__class__.__name__}: {e})") from None
    pairs = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            pairs.append(auth_pair(line, f"{path} line {number}"))
    if not pairs:
        raise ValueError(f"--auth-file {path}: no USER:PASSWORD line in it")
    return pairs


def _auth_argument(value: str) -> str:
    try:
        auth_pair(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--auth: ")) from None
    return value


def is_loopback(host: str) -> bool:
    """Whether `host` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Hosting:
    """Who may use the app and what they may do: `public` turns training, stopping and uploads off on the server;
    `auth` lists the (user, password) pairs, empty for none; `notes` says why, for the start-up lines."""

    public: bool = False
    auth: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def hosting(args: argparse.Namespace) -> Hosting:
    """The Hosting the options ask for: --public, or implied by --share or a non-loopback --host unless
    --allow-training; the --auth pairs and those of --auth-file (ValueError for a bad one)."""
    pairs = [auth_pair(a) for a in args.auth or []]
    for path in args.auth_file or []:
        pairs += read_auth_file(path)
    notes = []
    public = args.public
    exposed = [why for why, on in (("--share", args.share), (f"--host {args.host}", not is_loopback(args.host)))
               if on]
    if not public and exposed and not args.allow_training:
        public = True
        notes.append(f"public mode ({' and '.join(exposed)}): training, stopping and uploads are turned off; "
                     "start with --allow-training to keep them")
    elif public:
        notes.append("public mode: training, stopping and uploads are turned off")
    elif exposed:
        notes.append(f"--allow-training: training and uploads are open to everyone who reaches {' and '.join(exposed)}")
    if pairs:
        notes.append(f"password protected: {len(pairs)} user(s)")
    return Hosting(public, pairs, notes)


def add_options(p: argparse.ArgumentParser) -> None:
    """The app's options, for `charrnn app` and `python app.py` alike."""
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                   help="address to listen on (0.0.0.0 for the local network: implies --public)")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    p.add_argument("--checkpoints", default=str(default_checkpoints()),
                   help="folder of .pt checkpoints (default: checkpoints/ of the checkout the package runs from, "
                        "else $XDG_DATA_HOME/charrnn/checkpoints, i.e. ~/.local/share/charrnn/checkpoints)")
    p.add_argument("--device", default="auto", help="device for sampling and training: auto, cpu, cuda, mps")
    p.add_argument("--share", action="store_true",
                   help="also serve on a public gradio.live link (implies --public)")
    p.add_argument("--no-engine", action="store_true",
                   help="sample each /generate request on its own instead of batching them (for comparisons)")
    who = p.add_argument_group("hosting")
    who.add_argument("--auth", action="append", type=_auth_argument, metavar="USER:PASSWORD",
                     help="ask for this user name and password (repeatable)")
    who.add_argument("--auth-file", action="append", metavar="FILE",
                     help="read USER:PASSWORD pairs from FILE, one a line (# comments and blank lines skipped)")
    mode = who.add_mutually_exclusive_group()
    mode.add_argument("--public", action="store_true",
                      help="serve Generate, Sentiment and the checkpoint list and downloads only: training, "
                           "stopping and uploads are refused on the server")
    mode.add_argument("--allow-training", action="store_true",
                      help="keep training and uploads on with --share or a non-loopback --host")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options of `python app.py` (those of `charrnn app`)."""
    p = argparse.ArgumentParser(prog="app.py", description="charrnn web app")
    add_options(p)
    return p.parse_args(argv)
