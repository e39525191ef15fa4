"""`charrnn sentiment train | evaluate | predict`: a text classifier (2 to 100 classes) on IMDb or any labelled
file."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import checkpoint as ckpt
from .. import hub
from ..kinds import SENTIMENT
from ..tensorboard_log import open_log
from .config import add_config_option, recorded_options
from .sentiment_tools import register_tools
from ..sentiment.distill import check_transfer, load_teacher
from ..sentiment.data import download_imdb
from ..sentiment.datasets import combine, load_labelled, Preferred, repeat_split, same_rows
from ..sentiment.formats import FORMATS
from ..sentiment.metrics import accuracy_of, confusion_matrix, confusion_table, macro_f1
from ..sentiment.train import predictions, preset, PRESETS, train_sentiment
from ..sentiment.kind import default_sentiment_checkpoint, load_sentiment
from ..sentiment.text import encode
from ..sentiment.predict import predict, predict_proba

FORMAT_HELP = ("auto (default: by extension and contents), imdb (archive or folder), imdb-stars (the same reviews in "
               "four classes by their star rating: 1-2, 3-4, 7-8, 9-10), glue (SST-2 TSV), sarcasm "
               "(headline/is_sarcastic JSON lines or list), sentiment140 (CSV without header), csv, tsv, jsonl, json")


def _data(args, classes: tuple[str, ...] | None = None, test: str | None = None, record: dict | None = None):
    """The dataset named by --data/--format/--text-column/--label-column (IMDb, downloaded, without --data);
    `test`: a test file read alongside; `classes`: a model's, which the labels must match; `record`: the
    checkpoint's data record, whose columns (and format imdb-stars, for --format auto) are the defaults."""
    record = record or {}
    fmt = "imdb-stars" if args.format == "auto" and record.get("format") == "imdb-stars" else args.format
    if args.data:
        sources = [Path(d) for d in args.data]
    elif fmt in ("auto", "imdb", "imdb-stars"):
        sources, fmt = [download_imdb()], "imdb" if fmt == "auto" else fmt
    else:
        raise ValueError(f"--format {args.format} needs --data FILE")
    text_column, label_column = _columns(args, record)
    print(f"reading {', '.join(map(str, sources))}" + (f" and {test}" if test else ""), file=sys.stderr)
    first = load_labelled(sources[0], fmt, text_column, label_column, test=test, classes=classes)
    more = [load_labelled(s, "auto" if fmt in ("imdb", "imdb-stars") else fmt, text_column, label_column,
                          classes=first.classes)
            for s in sources[1:]]
    return combine(first, *more)


def _columns(args, record: dict) -> tuple[str | None, str | None]:
    """The columns the user named, else the ones the checkpoint recorded (used where the file has them)."""
    recorded = [Preferred(v) if isinstance(v, str) and v else None
                for v in (record.get("text_column"), record.get("label_column"))]
    return args.text_column or recorded[0], args.label_column or recorded[1]


def cmd_train(args) -> None:
    model, config = preset(
        args.preset,
        dict(embed=args.embed, hidden=args.hidden, layers=args.layers, fc=args.fc, dropout=args.dropout,
             pooling=args.pooling, bidirectional=args.bidirectional),
        dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lr_decay=args.lr_decay,
             max_tokens=args.max_tokens, min_freq=args.min_freq, max_vocab=args.max_vocab, patience=args.patience,
             seed=args.seed, device=args.device, glove=args.glove, freeze=args.freeze or None,
             grad_clip=args.grad_clip, val_fraction=args.val_fraction, augment=args.augment,
             lexicon=args.lexicon, pretrained=args.pretrained,
             pretrained_lr=args.pretrained_lr,
             pretrained_member=args.pretrained_member, teacher=args.teacher, transfer=args.transfer,
             options=recorded_options(args)),
    )
    if config.teacher:  # before the data is read (minutes for IMDb): a wrong file fails first
        check_transfer(config.transfer)
        load_teacher(config.teacher, device="cpu")
    board = open_log(args.tensorboard)  # before the data is read: a missing package fails first
    try:
        result = _train(args, model, config, board)
    finally:
        if board is not None:
            board.close()
    _print_result(result)


def _train(args, model: dict, config, board) -> dict:
    """Read the data and train, each epoch's record also going to TensorBoard when `board` is given."""
    data = _data(args, test=args.test or None)
    shown = ", ".join(f"class {i} = {c!r}" for i, c in enumerate(data.classes[:10]))
    more = f", ... ({len(data.classes)} classes)" if len(data.classes) > 10 else ""
    print(f"{len(data.train_texts):,} labelled texts ({data.format}); {shown}{more}", file=sys.stderr)
    return train_sentiment(data, model, config, out=args.out, test=args.test is not None, progress=not args.quiet,
                           on_epoch=board.epoch_record if board else None)


def _print_result(result: dict) -> None:
    """The summary line of a classifier's training."""
    line = (f"out={result['out']} epochs={result['epochs']} best_epoch={result['best_epoch']} "
            f"val_accuracy={result['val_accuracy']:.4f} train_seconds={result['train_seconds']:.0f} "
            f"vocab={result['vocab_size']}")
    if "glove_coverage" in result:
        line += f" glove_coverage={result['glove_coverage']:.4f}"
    if "test_accuracy" in result:
        line += f" test_accuracy={result['test_accuracy']:.4f} n={result['n_test']}"
    if "test_macro_f1" in result:
        line += f" test_macro_f1={result['test_macro_f1']:.4f}"
    print(line)


def _evaluation_rows(args, classes: tuple[str, ...], record: dict) -> tuple[list[str], list[int], str]:
    """The texts and labels evaluate measures, and what they are: the --test file, the dataset's test split, or
    the held-out rows the checkpoint recorded (the same rows as in training)."""
    if args.test and not args.data:
        text_column, label_column = _columns(args, record)
        print(f"reading {args.test}", file=sys.stderr)
        data = load_labelled(args.test, args.format, text_column, label_column, classes=classes)
        return data.train_texts, data.train_labels, "test"
    data = _data(args, classes=classes, test=args.test, record=record)
    if data.has_test:
        return data.test_texts, data.test_labels, "test"
    split_record = record.get("split") if isinstance(record.get("split"), dict) else {}
    if not same_rows(data, split_record):  # another file than the training one: all of it is unseen
        print(f"{data.source} is not the file the checkpoint was trained on: measuring all its rows", file=sys.stderr)
        return data.train_texts, data.train_labels, "test"
    split = repeat_split(data, split_record)
    return [data.train_texts[i] for i in split.val], [data.train_labels[i] for i in split.val], "held-out"


def cmd_evaluate(args) -> None:
    import time

    if not args.checkpoint:
        if args.record:
            raise ValueError("--record writes into the checkpoint: name it with --checkpoint")
        args.checkpoint = str(default_sentiment_checkpoint(args.checkpoints))
        print(f"using {args.checkpoint}, the default classifier", file=sys.stderr)
    if args.record and (hub.is_hub_name(args.checkpoint) or not Path(args.checkpoint).is_file()):
        raise ValueError(f"--record writes the accuracy into a .pt checkpoint; {args.checkpoint} is not one (export "
                         f"again from the .pt once it is recorded)")
    sm = load_sentiment(args.checkpoint, device=args.device)
    record = ckpt.load(args.checkpoint, kind=SENTIMENT).get("data")
    texts, labels, what = _evaluation_rows(args, sm.classes, record if isinstance(record, dict) else {})
    t0 = time.perf_counter()
    seqs = encode(sm.vocab, texts, sm.max_tokens, sm.tokenizer)
    matrix = confusion_matrix(labels, predictions(sm.model, seqs, sm.device, args.batch_size), len(sm.classes))
    acc = accuracy_of(matrix)
    dt = max(time.perf_counter() - t0, 1e-9)
    n = len(texts)
    print(f"evaluated {n:,} {what} texts in {dt:.1f} s ({n / dt:,.0f} texts/s)", file=sys.stderr)
    found = {"test_accuracy": round(acc, 4), "n_test": n}
    if len(sm.classes) > 2:
        found["test_macro_f1"] = round(macro_f1(matrix), 4)
        print(confusion_table(matrix, sm.classes))
        print(f"macro_f1={macro_f1(matrix):.4f}")
    if args.record and what == "test":
        state = ckpt.load(args.checkpoint, kind=SENTIMENT)
        state["metrics"] = {**state.get("metrics", {}), **found}
        ckpt.save(state, args.checkpoint)
        print(f"recorded test_accuracy in {args.checkpoint}", file=sys.stderr)
    elif args.record:
        print("nothing recorded: the held-out rows are the checkpoint's validation split (its val_accuracy)",
              file=sys.stderr)
    print(f"accuracy={acc:.4f} n={n}")


def cmd_predict(args) -> None:
    texts = args.texts
    if texts == ["-"]:
        texts = [line.rstrip("\n") for line in sys.stdin]
    elif not texts:
        raise ValueError("give texts to score, or - to read one text per line from stdin")
    path = args.checkpoint or default_sentiment_checkpoint(args.checkpoints)
    sm = load_sentiment(path, device=args.device)
    if len(sm.classes) > 2:
        _print_classes(sm, texts, path if not args.checkpoint else None)
        return
    if not args.checkpoint:
        print(f"using {path}: P({sm.classes[1]}) per text", file=sys.stderr)
    for p, t in zip(predict(sm, texts), texts):
        print(f"{p:.4f}\t{t}")


def _print_classes(sm, texts: list[str], default: Path | None) -> None:
    """A classifier of more than two classes: a header line (the classes, `label`, `text`), then per text each
    class's probability, the predicted class and the text, tab-separated."""
    if default is not None:
        print(f"using {default}: each class's probability per text", file=sys.stderr)
    print("\t".join([*sm.classes, "label", "text"]))
    for row, t in zip(predict_proba(sm, texts), texts):
        best = max(range(len(row)), key=row.__getitem__)
        print("\t".join([*(f"{p:.4f}" for p in row), sm.classes[best], t]))


def _add_data_options(p: argparse.ArgumentParser, test_help: str, test_nargs: str | None = None) -> None:
    p.add_argument("--data", action="append", help="the labelled data: aclImdb_v1.tar.gz or the aclImdb folder, or a "
                                                   "CSV, TSV, JSON lines or JSON file (default: download IMDb); "
                                                   "repeat it to train on several (same classes; the first one's "
                                                   "test split is the test split)")
    p.add_argument("--format", choices=list(FORMATS), default="auto", help=FORMAT_HELP)
    p.add_argument("--text-column", help="the text column or field (default: text, sentence, content, review or "
                                         "headline)")
    p.add_argument("--label-column", help="the label column or field (default: label, sentiment, is_sarcastic or "
                                          "polarity); 2 to 100 distinct values: 0/1, -1/1, 0/4, true/false, names, "
                                          "star ratings (more than two: numbers in numeric order, else names in "
                                          "alphabetical order)")
    if test_nargs:
        p.add_argument("--test", nargs=test_nargs, const="", metavar="FILE", help=test_help)
    else:
        p.add_argument("--test", metavar="FILE", help=test_help)


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train on labelled texts (IMDb: 20,000 train / 5,000 validation reviews)")
    _add_data_options(p, "also measure and record the test accuracy: on the dataset's own test split (IMDb), or "
                         "on FILE (same format as --data)", test_nargs="?")
    p.add_argument("--val-fraction", type=float,
                   help="share of the rows held out for validation, seeded by --seed (default: 0.1; IMDb: 5,000)")
    p.add_argument("--augment", type=float,
                   help="add negation, contrast and intensifier examples made from the short training phrases, "
                        "as a share of the training rows (e.g. 0.5; needs short texts such as SST-2's phrases)")
    p.add_argument("--lexicon", type=float,
                   help="add sentences built from a small English sentiment lexicon, each word negated, compared "
                        "or kept by a template (\"I didn't hate it\", \"no complaints\"), as a share of the "
                        "training rows (e.g. 0.3); only for classes negative/positive (neg/pos, bad/good)")
    p.add_argument("--preset", choices=list(PRESETS), default="best",
                   help="book: the chapter's IMDb model; best: BiLSTM, max pooling; moroney: his sarcasm LSTM; "
                        "lecture: BiLSTM for SST-2; sentence, sarcasm, mixed: our recipes (docs/BENCHMARKS.md)")
    p.add_argument("--out", default="checkpoints/sentiment.pt",
                   help="checkpoint path (the shipped ones are in checkpoints/; do not overwrite them)")
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
    p.add_argument("--max-tokens", type=int, help="cut texts to their first N tokens")
    p.add_argument("--min-freq", type=int, help="keep words seen at least this often in the training split")
    p.add_argument("--max-vocab", type=int, help="at most this many vocabulary entries (0: no limit)")
    p.add_argument("--grad-clip", type=float)
    p.add_argument("--patience", type=int, help="early stopping: epochs without a better validation accuracy")
    p.add_argument("--glove",
                   help="pretrained word vectors, GloVe text format (`word v1 v2 ...`); set --embed to their size")
    p.add_argument("--freeze", action="store_true", help="keep the pretrained vectors fixed")
    p.add_argument("--pretrained", metavar="LM",
                   help="a word LM from `charrnn sentiment pretrain`, or a sentiment classifier: the classifier takes "
                        "its vocabulary, tokenizer, embedding and (first-layer) LSTMs (and its embed/hidden sizes) as "
                        "its starting point")
    p.add_argument("--pretrained-member", type=int, metavar="N",
                   help="with --pretrained an ensemble classifier: the member whose encoder to start from (default 0)")
    p.add_argument("--pretrained-lr", type=float,
                   help="with --pretrained: the LM's layers learn at this times --lr (e.g. 0.3; default 1)")
    p.add_argument("--teacher", metavar="CKPT",
                   help="distillation: a classifier of the data's two class names (an ensemble or blend, say) labels "
                        "the --transfer texts with its probabilities, and the new classifier learns them beside the "
                        "labelled rows")
    p.add_argument("--transfer", metavar="FILE", help="with --teacher: unlabelled texts, one per line (UTF-8)")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N, mps")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--tensorboard", metavar="DIR",
                   help="also write each epoch's train loss, validation accuracy, learning rate and examples/s as "
                        "TensorBoard event files in DIR (pip install 'charrnn-studio[tensorboard]')")
    add_config_option(p)
    p.set_defaults(func=cmd_train)


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="accuracy on the test split (IMDb's 25,000 reviews, or --test FILE), else "
                                        "on the held-out rows recorded in the checkpoint; for more than two "
                                        "classes also the confusion matrix and macro-F1")
    p.add_argument("--checkpoint", help="the classifier (default: the app's, in --checkpoints)")
    p.add_argument("--checkpoints", default="checkpoints", help="the folder the default classifier is taken from")
    _add_data_options(p, "measure on FILE (same format as --data; alone, without --data, it is read by itself)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--record", action="store_true", help="store the test accuracy (and macro-F1) in the checkpoint's "
                                                         "metrics")
    p.add_argument("--device", default="auto", help="auto (default: cuda, then mps, then cpu), cpu, cuda, cuda:N, mps")
    p.set_defaults(func=cmd_evaluate)


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help="P(second class) for each text, e.g. P(positive): `<probability>\\t<text>` "
                                       "per line; more than two classes: a header line of the classes, then each "
                                       "class's probability, the predicted class and the text")
    p.add_argument("--checkpoint", help="the classifier (default: the app's, sentiment-blend.pt in --checkpoints, "
                                        "else the newest sentiment checkpoint there)")
    p.add_argument("--checkpoints", default="checkpoints", help="the folder the default classifier is taken from")
    p.add_argument("--device", default="auto", help="auto (default: cuda, then mps, then cpu), cpu, cuda, cuda:N, mps")
    p.add_argument("texts", nargs="*", help="texts to score, or - for one text per line from stdin")
    p.set_defaults(func=cmd_predict)


def register(subparsers) -> None:
    """Add the `sentiment` command and its subcommands to charrnn's parser (one `_add_*(sub)` line each)."""
    s = subparsers.add_parser("sentiment", help="text classifier (2 to 100 classes): IMDb reviews and star "
                                                "ratings, SST-2, sarcasm, your files")
    sub = s.add_subparsers(dest="sentiment_command", required=True)
    _add_train(sub)
    _add_evaluate(sub)
    _add_predict(sub)
    register_tools(sub)
