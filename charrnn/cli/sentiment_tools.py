"""`charrnn sentiment explain | vectors | pretrain | ensemble | blend`: why the classifier answered as it did,
word vectors and a word LM to train from, and classifiers combined into one."""
from __future__ import annotations

import sys
from pathlib import Path
from ..sentiment.explain import NO_KNOWN_WORDS, explain, explanation_table
from ..sentiment.kind import default_sentiment_checkpoint, load_sentiment
from ..sentiment.data import load_imdb
from ..sentiment.text import tokenize_words
from ..sentiment.vectors import learn_vectors, save_word2vec_text
from ..sentiment.wordlm import pretrain_word_lm, PretrainConfig
from ..sentiment.blend import SPLIT_AT, blend_classifiers
from ..sentiment.ensemble import combine_classifiers


def cmd_explain(args) -> None:
    texts = args.text
    if texts == ["-"]:
        text = sys.stdin.read()
    elif texts:
        text = " ".join(texts)
    else:
        raise ValueError("give a text to explain, or - to read it from stdin")
    sm = load_sentiment(args.checkpoint or default_sentiment_checkpoint(args.checkpoints), device=args.device)
    exp = explain(sm, text, args.limit, target=args.target)
    if not exp.known_words:  # no pretend answer: the classifier has nothing to go on
        raise ValueError(f"{NO_KNOWN_WORDS}: none of the words is in its vocabulary")
    print(explanation_table(exp))


def _texts(args):
    """Unlabelled texts: each line of each --text file, then the IMDb archive's train and unsup reviews."""
    for name in args.text or []:
        with open(name, encoding="utf-8", errors="replace") as f:
            yield from f
    if args.imdb_unsup:
        imdb = load_imdb(args.imdb_unsup, unsup=True)
        for review in imdb.train + imdb.unsup:
            yield review.text


def _check_sources(args) -> None:
    if not args.text and not args.imdb_unsup:
        raise ValueError("give --text files (one document per line) and/or --imdb-unsup ARCHIVE")
    for name in args.text or []:
        if not Path(name).is_file():
            raise FileNotFoundError(f"text file not found: {name}")


def cmd_vectors(args) -> None:
    import time

    _check_sources(args)
    t0 = time.perf_counter()
    wv = learn_vectors(map(tokenize_words, _texts(args)), args.dim, args.window, args.min_count, args.max_words,
                       progress=not args.quiet)
    save_word2vec_text(wv, args.out)
    print(f"wrote {len(wv.words):,} words x {args.dim} dims from {wv.n_tokens:,} tokens to {args.out} "
          f"in {time.perf_counter() - t0:.1f} s")


def cmd_pretrain(args) -> None:
    _check_sources(args)
    config = PretrainConfig(minutes=args.minutes, epochs=args.epochs, batch_size=args.batch_size, bptt=args.bptt,
                            lr=args.lr, max_vocab=args.max_vocab, min_freq=args.min_freq, glove=args.glove or "",
                            init=args.init or "", seed=args.seed, device=args.device)
    r = pretrain_word_lm(_texts(args), args.out, config, args.embed, args.hidden, progress=not args.quiet)
    if r["stopped"]:
        print(f"stopped early: kept the LM after {r['steps']} steps", file=sys.stderr)
    print(f"out={r['out']} words={r['words']} vocab={r['vocab_size']} steps={r['steps']} epochs={r['epochs']} "
          f"train_seconds={r['train_seconds']:.0f} val_loss={r['val_loss']:.4f} val_perplexity={r['val_perplexity']}")


def cmd_ensemble(args) -> None:
    precision = "float32" if args.full_precision else "int8" if args.int8 else "float16"
    r = combine_classifiers(args.checkpoints, args.out, args.max_tokens, precision)
    print(f"out={r['out']} members={r['members']} max_tokens={r['max_tokens']} mb={r['bytes'] / 1e6:.1f}")


def cmd_blend(args) -> None:
    precision = "float32" if args.full_precision else "float16" if args.float16 else "int8"
    r = blend_classifiers(args.short, args.long, args.out, args.split_at, precision)
    print(f"out={r['out']} parts={r['parts']} members={r['members']} words={r['words']} mb={r['bytes'] / 1e6:.1f}")


def register_tools(sub) -> None:
    """Add `explain`, `vectors`, `pretrain`, `ensemble` and `blend` to the `sentiment` subcommands `sub`."""
    p = sub.add_parser("explain", help="per-word contributions (occlusion) and the running probability of a text")
    p.add_argument("--checkpoint", help="a sentiment checkpoint (default: the app's default classifier)")
    p.add_argument("--checkpoints", default="checkpoints", help="where to find the default classifier")
    p.add_argument("--device", default="auto", help="auto (default: cuda, then mps, then cpu), cpu, cuda, cuda:N, mps")
    p.add_argument("--limit", type=int, default=500, help="explain at most this many tokens (default 500)")
    p.add_argument("--class", dest="target", metavar="NAME",
                   help="explain the pull towards this class (default: the second of two classes, else the "
                        "predicted one)")
    p.add_argument("text", nargs="*", help="the text (words are joined with spaces), or - to read it from stdin")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("vectors", help="learn word vectors from unlabeled text (PPMI + SVD), word2vec text format")
    p.add_argument("--text", nargs="+", help="plain text files, one document per line")
    p.add_argument("--imdb-unsup", metavar="ARCHIVE",
                   help="aclImdb_v1.tar.gz or the aclImdb folder: its train and unsup reviews (never test)")
    p.add_argument("--out", required=True, help="vectors file to write (give it to `sentiment train --glove`)")
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--window", type=int, default=5, help="words on each side counted as context")
    p.add_argument("--min-count", type=int, default=5, help="keep words seen at least this often")
    p.add_argument("--max-words", type=int, default=50000, help="keep at most this many (most frequent) words")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_vectors)

    p = sub.add_parser("pretrain", help="pre-train a forward + backward word LM on unlabelled text, for "
                                        "`sentiment train --pretrained` (ULMFiT)")
    p.add_argument("--text", nargs="+", help="plain text files, one document per line")
    p.add_argument("--imdb-unsup", metavar="ARCHIVE",
                   help="aclImdb_v1.tar.gz or the aclImdb folder: its train and unsup reviews (never test)")
    p.add_argument("--out", required=True, help="the word LM checkpoint to write")
    p.add_argument("--glove", help="word vectors to start the embedding from (their size sets --embed)")
    p.add_argument("--init", metavar="LM", help="continue training this word LM (its vocabulary, tokenizer, sizes "
                                                "and weights) on the text, e.g. for a second pass")
    p.add_argument("--embed", type=int, default=100, help="embedding size (the classifier's)")
    p.add_argument("--hidden", type=int, default=128, help="LSTM size of each direction (the classifier's)")
    p.add_argument("--minutes", type=float, help="train for this long (default: --epochs passes)")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--bptt", type=int, default=64, help="words per step of each stream")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--min-freq", type=int, default=2)
    p.add_argument("--max-vocab", type=int, default=30000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("ensemble", help="combine classifiers that share a vocabulary (e.g. seeds fine-tuned from one "
                                        "pre-trained LM) into one checkpoint that averages their probabilities")
    p.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT", help="two or more sentiment checkpoints")
    p.add_argument("--out", required=True, help="the combined checkpoint to write")
    p.add_argument("--max-tokens", type=int, help="tokens read per text (default: the members' largest)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--full-precision", action="store_true", help="store float32 weights (default: float16, half "
                                                                    "the size)")
    size.add_argument("--int8", action="store_true", help="store each matrix as int8 rows with a scale each (a "
                                                          "quarter of float32: room for five or more members)")
    p.set_defaults(func=cmd_ensemble)

    p = sub.add_parser("blend", help="join classifiers of any vocabularies into one: short texts get the mean of "
                                     "--short, longer ones the mean of --long")
    p.add_argument("--short", nargs="+", required=True, metavar="CHECKPOINT",
                   help="the classifiers (single or ensembles) for texts of at most --split-at tokens")
    p.add_argument("--long", nargs="+", required=True, metavar="CHECKPOINT",
                   help="the classifiers for longer texts (a file in both lists reads both)")
    p.add_argument("--split-at", type=int, default=SPLIT_AT,
                   help=f"a text of at most this many tokens is short (default {SPLIT_AT})")
    p.add_argument("--out", required=True, help="the blend checkpoint to write")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--full-precision", action="store_true", help="store float32 weights (default: int8 rows "
                                                                    "with a scale each, a quarter of the size)")
    size.add_argument("--float16", action="store_true", help="store float16 weights")
    p.set_defaults(func=cmd_blend)
