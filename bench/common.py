"""Shared bits for the bench scripts: locating the shared corpus and printing results."""
import platform
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BOOK = ROOT.parent / "shared" / "corpora" / "1268-0.txt"


def chapter_text(path: Path = BOOK) -> str:
    from charrnn.lm.gutenberg import chapter_slice
    from charrnn.lm.textfile import read_text

    if not path.exists():
        sys.exit(f"{path} not found: the benchmarks read The Mysterious Island from ../shared/corpora")
    return chapter_slice(read_text(path))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}{gpu}"


def report_rounds(refs: list[float], ours: list[float], unit: str) -> None:
    """Print the medians of interleaved rounds and, as the last line, ratio=<ours / reference>."""
    import statistics

    rm, om = statistics.median(refs), statistics.median(ours)
    print(f"median: reference {rm:,.0f} {unit}   ours {om:,.0f} {unit}")
    print(f"ratio={om / rm:.2f}")
