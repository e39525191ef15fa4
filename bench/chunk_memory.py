"""Peak memory of turning the text into 41-character training chunks: the chapter's list + torch.tensor vs
charrnn's CharWindows (views into one encoded copy). Measured in one process by sampling resident memory.

Usage: python bench/chunk_memory.py
Prints both peaks (MB above the baseline, encoding included) and as its last line ratio=<reference / ours>.
"""
import gc
import threading
import time

from common import chapter_text, machine

import reference as ref
from charrnn.lm.data import CharWindows, Vocab


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def peak_above_baseline(build):
    gc.collect()
    base = rss_bytes()
    peaks = [base]  # the watcher's samples
    done = threading.Event()

    def watch():
        while not done.is_set():
            peaks.append(rss_bytes())
            time.sleep(0.0005)

    t = threading.Thread(target=watch)
    t.start()
    result = build()
    peaks.append(rss_bytes())
    done.set()
    t.join()
    return result, (max(peaks) - base) / 2**20


def main():
    text = chapter_text()
    print(f"machine: {machine()}; text {len(text):,} characters, windows of 41")

    def ours():
        vocab = Vocab.from_text(text)
        return CharWindows(vocab.encode(text), seq_len=40)

    def reference():
        encoded, _, _ = ref.encode(text)
        return ref.build_chunks(encoded, 40)

    ds, ours_mb = peak_above_baseline(ours)
    n_ours = len(ds)
    del ds
    ds, ref_mb = peak_above_baseline(reference)
    assert len(ds) == n_ours, (len(ds), n_ours)
    del ds
    print(f"windows: {n_ours:,} each")
    print(f"reference peak: {ref_mb:,.1f} MB   ours peak: {ours_mb:,.1f} MB")
    print(f"ratio={ref_mb / max(ours_mb, 0.1):.1f}")


if __name__ == "__main__":
    main()
