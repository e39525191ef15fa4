"""Command line: `charrnn download | train | sample | evaluate | export | push | sentiment ...`."""
from __future__ import annotations

import argparse
import itertools
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from .. import distributed
from ..lm import gutenberg
from ..checkpoint import CheckpointError
from ..files import OutputLockedError, describe_os_error
from ..kinds import CHAR_LM, SENTIMENT
from ..tensorboard_log import TensorBoardMissing, open_log
from ..lm.data import VocabError, split_ids
from ..lm.gutenberg import GutenbergError
from ..lm.stops import stop_strings, unescape, UNTIL
from ..lm.corpus import apply_preprocessing, expand_text_files, load_corpus
from ..lm.budget import BUDGET_RECIPE, FINETUNE_RECIPE
from ..lm.finetune import REGULARISERS
from ..lm.model import ModelConfig
from ..lm.train import train, TrainConfig
from ..lm.charlm import load_char_lm
from ..lm.sample import generate, MAX_PROMPT, stream
from ..lm.textfile import read_text
from ..lm.evaluate import evaluate_parts
from ..lm.dynamic import DynamicConfig, evaluate_dynamic, METHODS
from .sentiment import register
from .share import register as register_share
from ..web.options import add_options as add_app_options, hosting
from .config import add_config_option, apply_config, recorded_options, subcommand
from .show import add_show

KNOWN_ERRORS = (GutenbergError, CheckpointError, VocabError, ValueError, FileNotFoundError, OutputLockedError,
                TensorBoardMissing)


def _add_source(p: argparse.ArgumentParser, required: bool = True) -> None:
    src = p.add_mutually_exclusive_group(required=required)
    src.add_argument("--book", type=int, action="append",
                     help="Project Gutenberg book ID (downloaded once, cached under --cache); repeat for several")
    src.add_argument("--text", action="append",
                     help="a local text file, or a folder (its *.txt); repeat for several: one corpus, each file "
                          "cleaned on its own and its last --val-fraction held out")
    p.add_argument("--clean", choices=["strip", "slice", "none"], default="strip",
                   help="strip: remove the Gutenberg license text (default); slice: keep --start..--end; none")
    p.add_argument("--start", help="with --clean slice: first string kept (default 'THE MYSTERIOUS ISLAND')")
    p.add_argument("--end",
                   help="with --clean slice: string the text stops before (default 'End of the Project Gutenberg')")
    p.add_argument("--chapter", action="store_true",
                   help="the textbook's slicing of The Mysterious Island (same as --clean slice)")
    p.add_argument("--cache", default=None, help="folder for downloaded books (default: corpora/)")


def cmd_download(args) -> None:
    path = gutenberg.download(args.book, cache_dir=args.cache)
    print(path)


def cmd_train(args) -> None:

    ctx = distributed.init(args.device)
    board = open_log(args.tensorboard) if ctx.is_main else None  # before the corpus: a missing package fails first
    try:
        _train(args, ctx, board)
    finally:
        if board is not None:
            board.close()
        distributed.shutdown()


def _train(args, ctx, board=None) -> None:
    if not args.book and not args.text:
        raise ValueError("give --book or --text (on the command line, or as book or text in --config)")
    clean = "slice" if args.chapter else args.clean
    if not ctx.is_main:
        distributed.barrier()  # rank 0 downloads the book once; the others then read the cache
    corpus = load_corpus(args.book, args.text, clean, args.start, args.end, cache_dir=args.cache)
    if ctx.is_main and ctx.enabled:
        distributed.barrier()
    model = dict(embed=args.embed, hidden=args.hidden, layers=args.layers, dropout=args.dropout,
                 weight_drop=args.weight_drop, cell=args.cell)
    given = dict(  # None: the default, TrainConfig's or (with --minutes) the time-budget recipe's
        steps=args.steps, seq_len=args.seq_len, batch_size=args.batch_size, batching=args.batching, lr=args.lr,
        lr_decay=args.lr_decay, warmup=args.warmup, grad_clip=args.grad_clip, val_fraction=args.val_fraction,
        eval_every=args.eval_every, eval_chars=args.eval_chars, max_passes=args.max_passes, save_every=args.save_every,
        log_every=args.log_every, seed=args.seed, device=args.device, amp=not args.no_amp, precision=args.precision,
        options=recorded_options(args),
    )
    given["init_from"] = args.init_from
    if args.init_from:
        config = FINETUNE_RECIPE.train_config(args.minutes, **given)
    elif args.minutes is not None:
        config = BUDGET_RECIPE.train_config(args.minutes, **given)
    else:
        config = TrainConfig(**{k: v for k, v in given.items() if v is not None})
    if ctx.is_main:
        distinct = len(set().union(*(set(t) for t in corpus.texts)))
        files = f" in {len(corpus.texts)} files" if len(corpus.texts) > 1 else ""
        print(f"corpus {corpus.name}: {corpus.chars:,} characters{files}, {distinct} distinct", file=sys.stderr)
        if ctx.enabled and config.batch_size is not None:  # None (sized): train() refuses minutes under torchrun
            print(f"data-parallel on {ctx.world_size} process(es): {config.batch_size} windows each, "
                  f"{config.batch_size * ctx.world_size} per step", file=sys.stderr)
    result = train(corpus, model, config, out=args.out, resume=args.resume, progress=not args.quiet,
                   on_log=board.lm_record if board else None)
    if not ctx.is_main:
        return
    summary = f"status={result.status} steps={result.steps} out={result.out} best={result.best}"
    if "init_from" in result.metrics:
        summary += f" chars_added={result.metrics['init_from']['chars_added']}"
    if "sizing" in result.metrics:
        sized = result.metrics["sizing"]
        summary += f" hidden={sized['hidden']} batch_size={sized['batch_size']}"
    if result.metrics.get("ended_by") == "max_passes":
        summary += f" ended_by=max_passes passes={result.metrics['passes']:g}"
    if result.val_loss is not None:
        summary += f" val_loss_nats={result.val_loss:.4f} val_bpc={result.val_bpc:.4f}"
    print(summary)


def cmd_sample(args) -> None:
    prompt = _prompt(args)
    stop = stop_strings([unescape(s) for s in args.stop or []], args.until)
    lm = load_char_lm(args.checkpoint, device=args.device)
    top_k = args.top_k or None
    if args.num_samples == 1:
        steps = stream(lm, prompt, args.length, temperature=args.temperature, top_k=top_k, top_p=args.top_p,
                       seed=args.seed, stop=stop)
        first = next(steps, None)  # the options and the prompt are checked here, before anything is printed
        out = sys.stdout
        out.write(prompt)
        text = ""
        for chars in itertools.chain([first] if first is not None else [], steps):
            text = text[-100:] + chars[0]
            out.write(chars[0])
            out.flush()
        if not any(text.endswith(s) for s in stop):  # a sample cut at a stop string ends exactly there
            out.write("\n")
        return
    texts = generate(lm, prompt, args.length, temperature=args.temperature, top_k=top_k, top_p=args.top_p,
                     seed=args.seed, num_samples=args.num_samples, stop=stop)
    for i, t in enumerate(texts):
        print(f"--- sample {i + 1}")
        print(t)


def _prompt(args) -> str:
    """The --prompt text, or the text of --prompt-file (decoded like any text file), within the prompt limit."""
    if args.prompt_file is None:
        return args.prompt
    return read_text(args.prompt_file, max_chars=MAX_PROMPT)


def cmd_evaluate(args) -> None:
    lm = load_char_lm(args.checkpoint, device=args.device)
    files = expand_text_files(args.text)
    prep, val_fraction = _evaluation_preprocessing(args, lm)
    split = args.split = "all" if args.all else args.split
    if args.dynamic:
        if len(files) > 1:
            raise ValueError("--dynamic evaluates one text file at a time")
        ids = lm.vocab.encode(apply_preprocessing(read_text(files[0]), prep))
        train, val = split_ids(ids, val_fraction)
        _evaluate_dynamic(args, lm, train, ids if split == "all" else val)
        return
    parts, masks, unknown = [], [], Counter()
    for f in files:  # each file cleaned and split on its own, as training did
        text = _clean(read_text(f), prep, args.clean is None)
        ids, known = lm.vocab.encode_known(text, dtype=lm.vocab.dtype)
        start = 0 if split == "all" else len(split_ids(ids, val_fraction)[0])
        parts.append(ids[start:])
        masks.append(None if known is None else known[start:])
        if known is not None:
            unknown.update(text[start + i] for i in np.flatnonzero(~known[start:]))
    name = files[0].name if len(files) == 1 else f"{len(files)} files"
    how = f"clean {prep.get('clean', 'strip')}" + ("" if split == "all" else f", last {val_fraction:g} held out")
    print(f"evaluating {split} split of {name} ({how}): {sum(len(p) for p in parts):,} characters "
          f"({args.streams} streams)", file=sys.stderr)
    result = evaluate_parts(lm.model, parts, streams=args.streams, scored=masks)
    if unknown:
        print(_unknown_line(unknown, lm.vocab.stand_in))
    print(result.line())


def _evaluation_preprocessing(args, lm) -> tuple[dict, float]:
    """The checkpoint's recorded cleaning and held-out fraction, with what --clean/--start/--end and
    --val-fraction override (to score a model on a text it was not trained on)."""
    prep = dict(lm.preprocessing)
    if args.clean is not None:
        prep = {"clean": args.clean}
        if args.clean == "slice":
            prep.update(start=args.start or gutenberg.CHAPTER_START,
                        end=args.end if args.end is not None else gutenberg.CHAPTER_END)
    elif args.start is not None or args.end is not None:
        raise ValueError("--start and --end go with --clean slice")
    return prep, (lm.val_fraction if args.val_fraction is None else args.val_fraction)


def _clean(raw: str, prep: dict, recorded: bool) -> str:
    """`raw` cleaned as `prep` says; when that is the checkpoint's recorded cleaning and it does not fit this text
    (another book has no 'THE MYSTERIOUS ISLAND'), the error says how to score it anyway."""
    try:
        return apply_preprocessing(raw, prep)
    except (ValueError, GutenbergError) as e:
        if not recorded:
            raise
        raise ValueError(f"{e} (the checkpoint's own preprocessing, clean {prep.get('clean')}; to score another "
                         f"text, give --clean strip or --clean none)") from None


def _unknown_line(unknown: Counter, stand_in: str) -> str:
    """The report of characters outside the model's vocabulary: how many, which, and how they were scored."""
    shown = ", ".join(f"{c!r} x{n}" for c, n in unknown.most_common(10))
    more = f", and {len(unknown) - 10} more" if len(unknown) > 10 else ""
    return (f"unknown_chars={sum(unknown.values())} distinct={len(unknown)} ({shown}{more}): not in the model's "
            f"vocabulary, read as {stand_in!r} and left out of the loss and chars")


def _evaluate_dynamic(args, lm, train, scored) -> None:
    config = DynamicConfig(method=args.dynamic_method, lr=args.dynamic_lr, decay=args.dynamic_decay,
                           segment=args.dynamic_segment, stats_chars=args.dynamic_stats)
    if args.split == "all" and config.method == "rms":
        raise ValueError("--dynamic-method rms takes its gradient statistics from the training part, which "
                         "--split all also scores; use --split val or --dynamic-method sgd")
    print(f"evaluating {args.split} split of {Path(args.text[0]).name}: {len(scored):,} characters, dynamic "
          f"({config.method}, lr {config.lr:g}, decay {config.decay:g}, segments of {config.segment}, one stream)",
          file=sys.stderr)
    print(evaluate_dynamic(lm.model, scored, config, stats_ids=train).line())


def _add_dynamic(p: argparse.ArgumentParser) -> None:
    d = DynamicConfig()
    g = p.add_argument_group("dynamic evaluation (Krause et al., 2018)")
    g.add_argument("--dynamic", action="store_true",
                   help="adapt the model to the text as it reads it: score each segment, then one gradient step on it")
    g.add_argument("--dynamic-method", choices=METHODS, default=d.method,
                   help=f"rms: gradient / its RMS on training text, RMS-scaled decay; sgd: plain step "
                        f"(default {d.method})")
    g.add_argument("--dynamic-lr", type=float, default=d.lr, help=f"step size (default {d.lr:g})")
    g.add_argument("--dynamic-decay", type=float, default=d.decay,
                   help=f"pull towards the trained weights per step, 0..1 (default {d.decay:g})")
    g.add_argument("--dynamic-segment", type=int, default=d.segment,
                   help=f"characters per step (default {d.segment})")
    g.add_argument("--dynamic-stats", type=int, default=d.stats_chars,
                   help=f"rms: training characters (just before the held-out split) for the RMS "
                        f"(default {d.stats_chars})")


def _add_train(sub) -> None:
    """The train command's options."""
    p = sub.add_parser("train", help="train (or --resume) a character model")
    _add_source(p, required=False)  # --book or --text: on the command line or in --config (checked in cmd_train)
    add_config_option(p)
    p.add_argument("--out", default="checkpoints/model.pt", help="checkpoint path (best: <stem>.best.pt)")
    p.add_argument("--resume", action="store_true",
                   help="continue exactly from --out (a fine-tuning run too; --init-from, if given, must name the "
                        "file it started from)")
    p.add_argument("--init-from", metavar="CKPT",
                   help="fine-tune: start from this character model (its sizes; its vocabulary extended by the "
                        "text's new characters; a fresh optimizer and schedule; default lr "
                        f"{FINETUNE_RECIPE.lr:g}); --embed/--hidden/--layers/--cell must be left out or match it")
    how_long = p.add_mutually_exclusive_group()
    how_long.add_argument("--steps", type=int, default=None,
                          help="total steps (default 5000; with --resume, the saved run's)")
    how_long.add_argument("--minutes", type=float, default=None,
                          help="train to this wall-clock budget (loading, validation and saving included): warm-up "
                               "and decay run over the time, validation at 50%%, 80%% and the end")
    p.add_argument("--batch-size", type=int, default=None,
                   help="windows per step (per process under torchrun); default 64, with --minutes sized for the "
                        f"device, with --init-from {FINETUNE_RECIPE.batch_size}")
    budget_seq = "" if BUDGET_RECIPE.seq_len == TrainConfig.seq_len else f"; with --minutes {BUDGET_RECIPE.seq_len}"
    p.add_argument("--seq-len", type=int, default=None,
                   help=f"characters per window or chunk (default {TrainConfig.seq_len}{budget_seq})")
    p.add_argument("--batching", choices=["windows", "streams"], default=None,
                   help="windows: random stride-1 windows (the chapter's; default); streams: contiguous streams "
                        "carrying their state (truncated BPTT; the default with --minutes or --init-from)")
    p.add_argument("--embed", type=int, default=None, help="default 256 (with --minutes and no --hidden: sized)")
    p.add_argument("--hidden", type=int, default=None,
                   help="default 512; with --minutes, sized from the measured throughput unless given")
    p.add_argument("--layers", type=int, default=None, help="default 1")
    p.add_argument("--dropout", type=float, default=None,
                   help=f"default {ModelConfig.dropout:g}; with --init-from {REGULARISERS['dropout']:g}, whatever "
                        "the checkpoint trained with")
    p.add_argument("--weight-drop", type=float, default=None,
                   help="AWD-LSTM DropConnect: drop this fraction of the hidden-to-hidden weights, one mask per "
                        "batch (training only; 0.2-0.5 regularises small corpora; "
                        f"default {ModelConfig.weight_drop:g}, with --init-from {REGULARISERS['weight_drop']:g})")
    p.add_argument("--cell", choices=["lstm", "gru", "rnn"], default=None, help="default lstm")
    p.add_argument("--lr", type=float, default=None,
                   help=f"default {TrainConfig.lr:g} (with --minutes {BUDGET_RECIPE.lr:g}, with --init-from "
                        f"{FINETUNE_RECIPE.lr:g})")
    p.add_argument("--lr-decay", choices=["cosine", "none"], default="cosine")
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--eval-chars", type=int, default=None,
                   help=f"validate on this many characters (default 0: all; with --init-from "
                        f"{FINETUNE_RECIPE.eval_chars:,})")
    p.add_argument("--max-passes", type=float, default=None, metavar="N",
                   help="with --minutes: end sooner, once the training text has been read N times (default: no "
                        f"limit; with --init-from {FINETUNE_RECIPE.max_passes:g}: a fine-tune over-fits beyond it)")
    p.add_argument("--save-every", type=int, default=500)
    p.add_argument("--log-every", type=int, default=50, help="steps between train-loss records in the log")
    p.add_argument("--seed", type=int, default=1,
                   help="seeds the initial weights, batch order and dropout masks (default 1)")
    p.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda, cuda:N, mps")
    p.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                   help="auto: fp16 autocast on CUDA, bf16 on CPUs with native bf16 (AVX-512 bf16/AMX), "
                        "else fp32; checkpoints stay fp32")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--tensorboard", metavar="DIR",
                   help="also write the log's scalars (loss, bits per character, learning rate, characters/s) as "
                        "TensorBoard event files in DIR (pip install 'charrnn-studio[tensorboard]')")
    p.set_defaults(func=cmd_train)

def cmd_app(args) -> None:
    hosting(args)  # a bad --auth or --auth-file fails here, before seconds of importing Gradio
    # the app imports Gradio (seconds): only when it is started
    from ..web.app import serve

    serve(args)


def _add_app(sub) -> None:
    """The app command: the options of `python app.py`."""
    p = sub.add_parser("app", help="serve the web app (generate, classify, train, share checkpoints)",
                       description="Serve the web app: --checkpoints DIR, or the checkout's checkpoints/, else the "
                                   "per-user folder ~/.local/share/charrnn/checkpoints ($XDG_DATA_HOME).")
    add_app_options(p)
    p.set_defaults(func=cmd_app)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="charrnn", description="Character-level recurrent language models.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("download", help="fetch a Project Gutenberg book into the cache")
    p.add_argument("--book", type=int, required=True)
    p.add_argument("--cache", default=None)
    p.set_defaults(func=cmd_download)

    _add_train(sub)

    p = sub.add_parser("sample", help="generate text from a checkpoint")
    p.add_argument("--checkpoint", required=True)
    primer = p.add_mutually_exclusive_group()
    primer.add_argument("--prompt", default="")
    primer.add_argument("--prompt-file", help="read the prompt from this text file (at most 5,000 characters)")
    p.add_argument("--length", type=int, default=300, help="most characters to generate")
    p.add_argument("--stop", action="append", metavar="STRING",
                   help="end each sample at the first STRING it generates, kept in the output (repeatable; "
                        "\\n is a newline, e.g. --stop '\\n\\n')")
    p.add_argument("--until", choices=sorted(UNTIL), help="sentence: stop at . ! or ?; paragraph: at a blank line")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="divides the logits; 0 = greedy (textbook alpha = 1/T)")
    p.add_argument("--top-k", type=int, default=0, help="keep the k most likely characters (0 = off)")
    p.add_argument("--top-p", type=float, default=None, help="keep the smallest set with this probability mass")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--num-samples", type=int, default=1)
    p.add_argument("--device", default="auto", help="auto (default: cuda, then mps, then cpu), cpu, cuda, cuda:N, mps")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("evaluate", help="loss on a text's held-out split, run as continuous streams")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--text", required=True, action="append",
                   help="the text file (or folder of *.txt); repeat for a corpus of several files")
    p.add_argument("--split", choices=["val", "all"], default="val",
                   help="val: the last --val-fraction of each file (default); all: the whole text")
    p.add_argument("--all", action="store_true", help="score the whole text (same as --split all)")
    p.add_argument("--clean", choices=["strip", "slice", "none"], default=None,
                   help="how to clean the text (default: as the checkpoint's training text was); strip: remove "
                        "Gutenberg license text; slice: keep --start..--end; none: as it is")
    p.add_argument("--start", help="with --clean slice: first string kept (default 'THE MYSTERIOUS ISLAND')")
    p.add_argument("--end", help="with --clean slice: string the text stops before")
    p.add_argument("--val-fraction", type=float, default=None,
                   help="held-out fraction at the end of each file (default: the checkpoint's, usually 0.1)")
    p.add_argument("--streams", type=int, default=8)
    p.add_argument("--device", default="auto", help="auto (default: cuda, then mps, then cpu), cpu, cuda, cuda:N, mps")
    _add_dynamic(p)
    p.set_defaults(func=cmd_evaluate)
    register_share(sub)
    register(sub)
    add_show(sub, {CHAR_LM: subcommand(parser, ["train"]), SENTIMENT: subcommand(parser, ["sentiment", "train"])})
    _add_app(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    infinite = next((d for d, v in vars(args).items() if isinstance(v, float) and not math.isfinite(v)), None)
    if infinite:  # argparse's float() takes "inf" and "nan": no option means either
        print(f"charrnn {args.command}: error: argument --{infinite.replace('_', '-')}: must be a finite number, "
              f"got {getattr(args, infinite)}", file=sys.stderr)
        return 2
    try:
        if getattr(args, "config", None):
            path = [args.command] + ([args.sentiment_command] if args.command == "sentiment" else [])
            args = apply_config(parser, subcommand(parser, path), argv, args)
        args.func(args)
    except KNOWN_ERRORS as e:
        print(f"charrnn {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except OSError as e:  # a full disk, a file that cannot be written: one line, the last good files kept
        print(f"charrnn {args.command}: error: {describe_os_error(e)}", file=sys.stderr)
        return 2
    return 0
