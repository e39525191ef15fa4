"""`charrnn sentiment train | evaluate | predict`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import checkpoint as ckpt
from ..kinds import SENTIMENT


def _data(path: str | None):
    from .data import download_imdb, load_imdb

    source = Path(path) if path else download_imdb()
    print(f"reading IMDb reviews from {source}", file=sys.stderr)
    return load_imdb(source)


def cmd_train(args) -> None:
    from .train import preset, train_sentiment

    model, config = preset(
        args.preset,
        dict(embed=args.embed, hidden=args.hidden, layers=args.layers, fc=args.fc, dropout=args.dropout,
             pooling=args.pooling, bidirectional=args.bidirectional),
        dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lr_decay=args.lr_decay,
             max_tokens=args.max_tokens, min_freq=args.min_freq, max_vocab=args.max_vocab, patience=args.patience,
             seed=args.seed, device=args.device, glove=args.glove, freeze=args.freeze or None,
             grad_clip=args.grad_clip),
    )
    imdb = _data(args.data)
    result = train_sentiment(imdb, model, config, out=args.out, test=args.test, progress=not args.quiet)
    line = (f"out={result['out']} epochs={result['epochs']} best_epoch={result['best_epoch']} "
            f"val_accuracy={result['val_accuracy']:.4f} train_seconds={result['train_seconds']:.0f} "
            f"vocab={result['vocab_size']}")
    if "glove_coverage" in result:
        line += f" glove_coverage={result['glove_coverage']:.4f}"
    if "test_accuracy" in result:
        line += f" test_accuracy={result['test_accuracy']:.4f} n={result['n_test']}"
    print(line)


def cmd_evaluate(args) -> None:
    import time

    from .kind import load_sentiment
    from .text import encode
    from .train import accuracy

    sm = load_sentiment(args.checkpoint, device=args.device)
    imdb = _data(args.data)
    t0 = time.perf_counter()
    seqs = encode(sm.vocab, [r.text for r in imdb.test], sm.max_tokens, sm.tokenizer)
    acc = accuracy(sm.model, seqs, [r.label for r in imdb.test], sm.device, args.batch_size)
    dt = time.perf_counter() - t0
    n = len(imdb.test)
    print(f"evaluated {n:,} test reviews in {dt:.1f} s ({n / dt:,.0f} reviews/s)", file=sys.stderr)
    if args.record:
        state = ckpt.load(args.checkpoint, kind=SENTIMENT)
        state["metrics"] = {**state.get("metrics", {}), "test_accuracy": round(acc, 4), "n_test": n}
        ckpt.save(state, args.checkpoint)
        print(f"recorded test_accuracy in {args.checkpoint}", file=sys.stderr)
    print(f"accuracy={acc:.4f} n={n}")


def cmd_predict(args) -> None:
    from .kind import load_sentiment
    from .predict import predict

    sm = load_sentiment(args.checkpoint, device=args.device)
    texts = args.texts
    if texts == ["-"]:
        texts = [line.rstrip("\n") for line in sys.stdin]
    elif not texts:
        raise ValueError("give texts to score, or - to read one text per line from stdin")
    for p, t in zip(predict(sm, texts), texts):
        print(f"{p:.4f}\t{t}")


def register(subparsers) -> None:
    """Add the `sentiment` command and its train/evaluate/predict subcommands to charrnn's parser."""
    s = subparsers.add_parser("sentiment", help="IMDb movie-review sentiment classifier")
    sub = s.add_subparsers(dest="sentiment_command", required=True)
    __import__("charrnn.sentiment.tools_cli", fromlist=["register_tools"]).register_tools(sub)

    p = sub.add_parser("train", help="train on the IMDb training reviews (20,000 train / 5,000 validation)")
    p.add_argument("--data", help="aclImdb_v1.tar.gz or the extracted aclImdb folder (default: download it)")
    p.add_argument("--preset", choices=["book", "best"], default="best",
                   help="book: the chapter's model (embed 20, LSTM 64, 10 epochs); best: BiLSTM, max pooling")
    p.add_argument("--out", default="checkpoints/sentiment.pt",
                   help="checkpoint path (the shipped model is checkpoints/imdb-sentiment.pt)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--lr-decay", choices=["none", "linear"])
    p.add_argument("--embed", type=int)
    p.add_argument("--hidden", type=int)
    p.add_argument("--layers", type=int)
    p.add_argument("--fc", type=int, help="size of the hidden fully connected layer")
    p.add_argument("--dropout", type=float)
    p.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--pooling", choices=["last", "mean", "max", "meanmax"])
    p.add_argument("--max-tokens", type=int, help="cut reviews to their first N tokens")
    p.add_argument("--min-freq", type=int, help="keep words seen at least this often in the training split")
    p.add_argument("--max-vocab", type=int, help="at most this many vocabulary entries (0: no limit)")
    p.add_argument("--grad-clip", type=float)
    p.add_argument("--patience", type=int, help="early stopping: epochs without a better validation accuracy")
    p.add_argument("--glove",
                   help="pretrained word vectors, GloVe text format (`word v1 v2 ...`); set --embed to their size")
    p.add_argument("--freeze", action="store_true", help="keep the pretrained vectors fixed")
    p.add_argument("--test", action="store_true", help="also measure and record the test accuracy")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N, mps")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="accuracy on the 25,000 IMDb test reviews")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", help="aclImdb_v1.tar.gz or the extracted aclImdb folder (default: download it)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--record", action="store_true", help="store the test accuracy in the checkpoint's metrics")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="P(positive) for each text: `<probability>\\t<text>` per line")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("texts", nargs="*", help="texts to score, or - for one text per line from stdin")
    p.set_defaults(func=cmd_predict)
