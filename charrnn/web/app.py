"""The web app's entry point: build the Gradio Blocks for a folder of checkpoints and serve them
(`charrnn app`, `python app.py`; the options are in `charrnn.web.options`)."""
from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

import gradio as gr

from .. import shelf
from ..kinds import CHAR_LM, SENTIMENT
from .options import Hosting, hosting, parse_args
from .ui import build_blocks
from .webapp import WebApp

__all__ = ["blocks_for", "build", "main", "parse_args", "serve"]


def build(folder: str | os.PathLike, device: str = "auto", batched: bool = True, warm: bool = False,
          public: bool = False) -> gr.Blocks:
    """The Blocks app serving the checkpoints in `folder`; batched: generation requests share one engine;
    warm: load the default character model and start its engine in the background now; public: no training,
    stopping or uploads (the tabs hidden, the endpoints refused)."""
    return blocks_for(WebApp(folder, device, batched, public), warm)


def blocks_for(app: WebApp, warm: bool = False) -> gr.Blocks:
    """The Blocks of `app`, its default model loading in the background first when `warm`."""
    if warm:
        threading.Thread(target=app.warm, name="charrnn-warm", daemon=True).start()
    return build_blocks(app)


def empty_folder_note(app: WebApp) -> str | None:
    """How to get a model when the app's folder holds none of either kind; None when it has one."""
    if any(shelf.list_checkpoints(app.folder, kind) for kind in (CHAR_LM, SENTIMENT)):
        return None
    return f"no models in {app.folder} yet: {app.how_to_add()} (a checkout's checkpoints/ holds the shipped ones)"


def serve(args: argparse.Namespace) -> None:
    """Start the app the options describe and serve until interrupted; ValueError for a bad --auth-file."""
    who: Hosting = hosting(args)
    folder = Path(args.checkpoints).expanduser().resolve()
    app = WebApp(folder, args.device, batched=not args.no_engine, public=who.public)
    demo = blocks_for(app, warm=True)
    print(f"serving the checkpoints in {folder}", file=sys.stderr)
    for note in [*who.notes, empty_folder_note(app)]:
        if note:
            print(note, file=sys.stderr)
    demo.queue(default_concurrency_limit=2, max_size=64)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size="1gb",
                theme=gr.themes.Soft(), allowed_paths=[str(folder)], auth=who.auth or None,
                auth_message="charrnn: sign in with the user name and password you were given" if who.auth else None)


def main(argv: list[str] | None = None) -> int:
    """`python app.py [options]`: 0 when the app ends, 2 (with a one-line message) for bad options."""
    args = parse_args(argv)
    try:
        serve(args)
    except ValueError as e:
        print(f"app.py: error: {e}", file=sys.stderr)
        return 2
    return 0
