"""Run app.py as a subprocess on a free port, for end-to-end tests."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "checkpoints"
URL_LINE = "Running on local URL:"


@dataclass
class AppProcess:
    proc: subprocess.Popen
    url: str
    folder: Path
    startup_seconds: float
    lines: list[str] = field(default_factory=list)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def client(self, downloads: Path):
        """A gradio_client for this app, quiet, its downloaded files under `downloads`."""
        from gradio_client import Client  # only the end-to-end tests need it; they skip without it

        return Client(self.url, verbose=False, download_files=str(downloads))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(folder: Path, env: dict | None = None, timeout: float = 300, options: tuple[str, ...] = ()) -> AppProcess:
    """Start `python app.py` serving `folder` and wait until it prints its URL; its output is drained in a thread."""
    port = free_port()
    command = [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--checkpoints", str(folder), "--device",
               "cpu", *options]
    return start_app(command, folder, env, timeout, cwd=folder.parent)


@contextlib.contextmanager
def serving(folder: Path, base: Path, env: dict | None = None, options: tuple[str, ...] = ()) -> Iterator[AppProcess]:
    """`launch` on `folder`, Gradio's temporary files under `base`/gradio, stopped when the block ends."""
    proc = launch(folder, {"GRADIO_TEMP_DIR": str(base / "gradio"), **(env or {})}, options=options)
    try:
        yield proc
    finally:
        proc.stop()


def start_app(command: list[str], folder: Path, env: dict | None = None, timeout: float = 300,
              cwd: Path | None = None, base_env: dict | None = None) -> AppProcess:
    """Run `command` (an app on a port it names) and wait until it prints its URL; its output is drained in a
    thread. The environment is `base_env` (default: this process's) with quiet Gradio settings and `env` on top."""
    full_env = {**(os.environ if base_env is None else base_env), "OMP_NUM_THREADS": "1",
                "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1", **(env or {})}
    t0 = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=full_env,
                            cwd=cwd)
    lines: list[str] = []
    started = threading.Event()

    def drain():
        for line in proc.stdout:
            lines.append(line)
            if URL_LINE in line:
                started.set()

    threading.Thread(target=drain, daemon=True).start()
    while not started.wait(0.1):
        if proc.poll() is not None or time.monotonic() - t0 > timeout:
            proc.kill()
            raise RuntimeError(f"{' '.join(command[:3])} did not start:\n" + "".join(lines[-40:]))
    url_line = next(line for line in lines if URL_LINE in line)
    return AppProcess(proc, url_line.split(URL_LINE)[1].strip(), folder, time.monotonic() - t0, lines)


def tiny_sentiment(out: Path) -> Path | None:
    """A sentiment checkpoint trained in a second on a toy review set (good/bad words), or None if that fails."""
    import random

    try:
        from charrnn.sentiment import Imdb, Review, preset, train_sentiment
    except ImportError:
        return None
    rng = random.Random(0)
    words = {1: "good great wonderful loved brilliant".split(), 0: "bad awful boring terrible worst".split()}
    filler = "the movie a plot actor film was".split()

    def reviews(split: str, n: int) -> list:
        return [Review(" ".join(rng.choices(words[y], k=2) + rng.choices(filler, k=4)), y, f"{split}/{i}_{y}")
                for i in range(n) for y in (0, 1)]

    model, config = preset("book", dict(embed=8, hidden=8, fc=8), dict(epochs=8, batch_size=8, lr=0.02, device="cpu",
                                                                        val_size=10, max_tokens=50))
    try:
        train_sentiment(Imdb(reviews("train", 40), reviews("test", 5)), model, config, out=out, progress=False)
    except (TypeError, ValueError):
        return None
    return out


def checkpoint_folder(base: Path, extra: list[Path] = ()) -> Path:
    """A checkpoints folder for app tests: a tiny char model, a toy classifier, and copies of `extra` files present."""
    import shutil

    from .helpers import train_tiny

    folder = base / "checkpoints"
    folder.mkdir()
    train_tiny(base / "run" / "tiny.pt", steps=30, eval_every=30, save_every=30)
    shutil.copyfile(base / "run" / "tiny.best.pt", folder / "tiny.pt")
    tiny_sentiment(folder / "toy-sentiment.pt")
    for path in extra:
        if path.is_file():
            shutil.copyfile(path, folder / path.name)
    return folder


def labelled_csv(path: Path, n: int = 200, seed: int = 0) -> Path:
    """A small two-class CSV (text, label: "dull" or "fun") a tiny classifier learns in a second, with an extra
    column `id` so that the preview has columns to choose from."""
    import csv
    import random

    rng = random.Random(seed)
    words = {"fun": "good great wonderful loved brilliant".split(), "dull": "bad awful boring terrible worst".split()}
    filler = "the movie a plot actor film was".split()
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["id", "text", "label"])
        for i in range(n):
            label = "fun" if i % 2 else "dull"
            out.writerow([i, " ".join(rng.choices(words[label], k=2) + rng.choices(filler, k=4)), label])
    return path
