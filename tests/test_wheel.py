"""The package as users get it: build the wheel, install it into a fresh virtual environment (its dependencies are
this environment's, seen through a .pth file: nothing is downloaded), and start `charrnn app` from an empty folder.

Out of a checkout the app serves the per-user folder ($XDG_DATA_HOME/charrnn/checkpoints), which starts empty: it
must start anyway, say how to get a model, and answer an API call with that message.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from .apphelpers import ROOT, free_port, start_app  # noqa: E402



def _run(command: list, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=120, **kw)


def build_wheel(out: Path) -> Path:
    """The wheel of a copy of the sources (so the checkout gets no build/ or egg-info), built offline with this
    environment's setuptools."""
    src = out / "src"
    shutil.copytree(ROOT / "charrnn", src / "charrnn", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    done = _run([sys.executable, "-m", "pip", "wheel", src, "--no-deps", "--no-build-isolation", "--no-index",
                 "-q", "-w", out / "dist"])
    if done.returncode:
        pytest.skip(f"cannot build the wheel offline here: {done.stderr.strip()[-300:]}")
    return next((out / "dist").glob("charrnn_studio-*.whl"))


def fresh_venv(path: Path) -> Path:
    """A new virtual environment whose packages are its own first, then this environment's (for torch, gradio,
    pip); its python. Skips the test when no venv can be made here."""
    done = _run([sys.executable, "-m", "venv", "--without-pip", path])
    if done.returncode:
        pytest.skip(f"cannot create a virtual environment: {done.stderr.strip()[-300:]}")
    python = path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    own = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    Path(own).mkdir(parents=True, exist_ok=True)
    shared = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(own) / "main-venv.pth").write_text("\n".join(shared) + "\n")
    return python


def test_the_wheel_installs_and_serves_an_empty_data_folder(tmp_path):
    wheel = build_wheel(tmp_path)
    assert wheel.name.startswith("charrnn_studio-")
    python = fresh_venv(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}  # not this checkout
    done = _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel], env=env)
    assert done.returncode == 0, done.stderr
    where = _run([python, "-c", "import charrnn; print(charrnn.__file__)"], env=env, cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(tmp_path / "venv"), where.stdout + where.stderr

    empty, data = tmp_path / "empty", tmp_path / "data"
    empty.mkdir()
    script = python.parent / ("charrnn.exe" if os.name == "nt" else "charrnn")
    folder = data / "charrnn" / "checkpoints"
    app = start_app([str(script), "app", "--port", str(free_port()), "--device", "cpu"], folder, base_env=env,
                    env={"XDG_DATA_HOME": str(data), "HOME": str(tmp_path / "home"),
                         "GRADIO_TEMP_DIR": str(tmp_path / "gradio")}, timeout=90, cwd=empty)
    try:
        output = "".join(app.lines)
        assert f"serving the checkpoints in {folder}" in output
        assert f"no models in {folder} yet: train one in the Train tab" in output
        assert folder.is_dir() and list(empty.iterdir()) == []
        client = Client(app.url, verbose=False, download_files=str(tmp_path / "downloads"))
        with pytest.raises(AppError, match="no char-lm checkpoint in checkpoints/: train one in the Train tab"):
            client.predict("the", None, 20, 1.0, 0, 1.0, 1, 1, api_name="/generate")
    finally:
        app.stop()
