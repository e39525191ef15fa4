"""charrnn web app: generate text, classify reviews, train a model on a book, manage checkpoints.

    python app.py [--host 127.0.0.1] [--port 7860] [--checkpoints checkpoints] [--share] [--no-engine]
                  [--auth USER:PASSWORD] [--auth-file FILE] [--public | --allow-training]

The same as `charrnn app` (the installed command): the app lives in `charrnn.web.app`, its options in
`charrnn.web.options`, its actions in `charrnn.web.webapp` (plain Python) and its tabs in `charrnn.web.ui` (Gradio).
"""
from __future__ import annotations

import sys

from charrnn.web.app import build, main, parse_args

__all__ = ["build", "main", "parse_args"]

if __name__ == "__main__":
    sys.exit(main())
