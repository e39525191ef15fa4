"""`charrnn sentiment explain | vectors`: why the classifier answered as it did, and word vectors for training."""
from __future__ import annotations

import sys


def cmd_explain(args) -> None:
    from .explain import explain, explanation_table
    from .kind import load_sentiment

    texts = args.text
    if texts == ["-"]:
        text = sys.stdin.read()
    elif texts:
        text = " ".join(texts)
    else:
        raise ValueError("give a text to explain, or - to read it from stdin")
    sm = load_sentiment(args.checkpoint, device=args.device)
    print(explanation_table(explain(sm, text, args.limit)))


def register_tools(sub) -> None:
    """Add `explain` (and `vectors`) to the `sentiment` subcommands `sub`."""
    p = sub.add_parser("explain", help="per-word contributions (occlusion) and the running probability of a text")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("--limit", type=int, default=500, help="explain at most this many tokens (default 500)")
    p.add_argument("text", nargs="*", help="the text (words are joined with spaces), or - to read it from stdin")
    p.set_defaults(func=cmd_explain)
