"""Memory of training on a large corpus (issue 11): writes ~200 MB of text (the shared corpora repeated) as
several files in a temporary folder, trains a few steps on them as one corpus, and prints the peak resident
memory (ru_maxrss), which should stay under 1.5 GB: ids are kept as uint8 and windows gathered per batch.

Usage: python bench/large_corpus.py [--mb 200] [--files 20] [--steps 3]
"""
import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine

SOURCES = ["1268-0.txt", "pg1661.txt", "tinyshakespeare.txt"]


def write_corpus(folder: Path, mb: int, files: int) -> list[Path]:
    """`files` text files of about mb/files MB each, made by repeating the shared corpora."""
    shared = ROOT.parent / "shared" / "corpora"
    pieces = [(shared / name).read_bytes() for name in SOURCES if (shared / name).exists()]
    if not pieces:
        sys.exit(f"no corpora found in {shared}")
    per_file, paths = mb * (1 << 20) // files, []
    for i in range(files):
        path, written = folder / f"part{i:03d}.txt", 0
        with open(path, "wb") as f:
            while written < per_file:
                piece = pieces[(i + written) % len(pieces)]
                f.write(piece)
                written += len(piece)
        paths.append(path)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    from charrnn import TrainConfig, load_corpus, train

    print(f"# {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_corpus(Path(tmp), args.mb, args.files)
        t = time.perf_counter()
        corpus = load_corpus(text_file=[str(p) for p in paths], clean="none")
        loaded = time.perf_counter() - t
        config = TrainConfig(steps=args.steps, batch_size=64, seq_len=100, eval_every=args.steps,
                             eval_chars=20_000, save_every=args.steps, device="cpu")
        result = train(corpus, dict(embed=64, hidden=128), config, out=Path(tmp) / "large.pt", progress=False)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"corpus_chars={corpus.chars} files={len(paths)} load_s={loaded:.1f} steps={result.steps} "
          f"val_loss={result.val_loss:.3f}")
    print(f"peak_rss_mb={peak_mb:.0f} limit_mb=1536 ok={'yes' if peak_mb < 1536 else 'no'}")


if __name__ == "__main__":
    main()
