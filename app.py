"""charrnn web app: generate text, classify reviews, train a model on a book, manage checkpoints.

    python app.py [--host 127.0.0.1] [--port 7860] [--checkpoints checkpoints] [--share] [--no-engine]

The app's actions live in `charrnn.web.webapp` (plain Python), its tabs in `charrnn.web.ui` (Gradio).
"""
from __future__ import annotations

import argparse
import os
import threading
from pathlib import Path

import gradio as gr

from charrnn.web.ui import build_blocks
from charrnn.web.webapp import WebApp

HERE = Path(__file__).resolve().parent


def build(folder: str | os.PathLike, device: str = "auto", batched: bool = True, warm: bool = False) -> gr.Blocks:
    """The Blocks app serving the checkpoints in `folder`; batched: generation requests share one engine;
    warm: load the default character model and start its engine in the background now."""
    app = WebApp(folder, device, batched)
    if warm:
        threading.Thread(target=app.warm, name="charrnn-warm", daemon=True).start()
    return build_blocks(app)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="charrnn web app")
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                   help="address to listen on (0.0.0.0 for the local network)")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    p.add_argument("--checkpoints", default=str(HERE / "checkpoints"), help="folder of .pt checkpoints")
    p.add_argument("--device", default="auto", help="device for sampling and training: auto, cpu, cuda, mps")
    p.add_argument("--share", action="store_true", help="also serve on a public gradio.live link")
    p.add_argument("--no-engine", action="store_true",
                   help="sample each /generate request on its own instead of batching them (for comparisons)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    demo = build(args.checkpoints, args.device, batched=not args.no_engine, warm=True)
    demo.queue(default_concurrency_limit=2, max_size=64)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size="1gb",
                theme=gr.themes.Soft(), allowed_paths=[str(Path(args.checkpoints).resolve())])


if __name__ == "__main__":
    main()
