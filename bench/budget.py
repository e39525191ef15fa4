"""Issue 11's time-budget targets: `charrnn train --chapter --minutes M` then `charrnn evaluate` on its best
checkpoint, for each budget, with the command's wall time (import, loading, validation and saving included).

Usage: python bench/budget.py [--minutes 5 3] [--corpus island shakespeare holmes] [--keep DIR]
Prints one line per corpus and budget: corpus=... minutes=M wall_s=... loss_nats=... target=... ok=yes|no.
The targets are the island's (the chapter's slice, `--chapter`); the other two books (license text stripped)
check that the recipe is not tuned to one text and have no target.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import BOOK, ROOT, machine

TARGETS = {5.0: 1.28, 3.0: 1.33}  # The Mysterious Island, --chapter
CORPORA = {"island": (BOOK, ["--chapter"]),
           "shakespeare": (BOOK.with_name("tinyshakespeare.txt"), []),
           "holmes": (BOOK.with_name("pg1661.txt"), [])}


def charrnn(*args: str) -> tuple[str, float]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "charrnn", *args], capture_output=True, text=True, env=env)
    if r.returncode:
        sys.exit(f"charrnn {args[0]} failed:\n{r.stderr[-2000:]}")
    return r.stdout.strip().splitlines()[-1], time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, nargs="+", default=[5.0, 3.0])
    ap.add_argument("--corpus", nargs="+", choices=list(CORPORA), default=["island"])
    ap.add_argument("--keep", default=None, help="folder for the checkpoints (default: a temporary one)")
    args = ap.parse_args()
    print(f"# {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for name in args.corpus:
            text, flags = CORPORA[name]
            if not text.is_file():
                sys.exit(f"{text} not found: the benchmark reads ../shared/corpora")
            for minutes in args.minutes:
                out = folder / f"{name}-b{minutes:g}.pt"
                summary, wall = charrnn("train", "--text", str(text), *flags, "--minutes", f"{minutes:g}",
                                        "--out", str(out), "--quiet")
                line, _ = charrnn("evaluate", "--checkpoint", str(out.with_name(out.stem + ".best.pt")),
                                  "--text", str(text))  # the checkpoint says how to clean and split
                loss = float(line.split()[0].split("=")[1])
                target = TARGETS.get(minutes) if name == "island" else None
                verdict = "" if target is None else f" target={target} ok={'yes' if loss <= target else 'no'}"
                print(f"# {summary}")
                print(f"corpus={name} minutes={minutes:g} wall_s={wall:.1f} budget_s={minutes * 60 + 30:.0f} "
                      f"{line}{verdict}", flush=True)


if __name__ == "__main__":
    main()
