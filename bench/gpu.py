"""Every GPU figure in one command, for the few minutes a GPU is lent: training, sampling, the engine, a short run.

Usage: python bench/gpu.py [--out runs/gpu] [--minutes 4] [--dry-run]
On CUDA it measures, in this order (under 8 minutes with the defaults):
  1. training chars/s of the chapter's model (embed 256, 1 x LSTM 512) at batch 64 and at larger batches (the
     fastest is reported), through charrnn's trainer;
  2. single-stream sampling of checkpoints/mysterious-island.pt with the CUDA graph (the default step) and with
     the plain step;
  3. the batched engine's aggregate chars/s with 16 and 64 streams at once;
  4. a short time-budget training of the island recipe with weight drop: validation loss against time.
It writes gpu.json and gpu.md (a Markdown table ready for docs/BENCHMARKS.md, with device, torch and CUDA versions
and date) into --out. Without CUDA it says so and dry-runs every part on the CPU with tiny sizes in seconds (the
test suite runs that), so the script cannot rot between the sessions that have a GPU.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from common import ROOT, chapter_text, machine

from charrnn import CharLM, Corpus, TrainConfig, load_char_lm, stream, train
from charrnn.lm.model import make_stepper
from charrnn.serve.engine import Engine

ISLAND = ROOT / "checkpoints" / "mysterious-island.pt"


@dataclass(frozen=True)
class Plan:
    """How big each part is: the real sizes on a GPU, tiny ones for the CPU dry run."""

    device: str
    model: dict
    steps: int  # timed training steps per batch size
    batches: tuple[int, ...]
    sample_chars: int
    engine_streams: tuple[int, ...]
    engine_chars: int
    minutes: float  # the island run's budget
    island_model: dict
    text_chars: int | None  # None: the whole chapter slice


def plan_for(cuda: bool, minutes: float) -> Plan:
    if cuda:
        return Plan("cuda", dict(embed=256, hidden=512, layers=1), 40, (64, 256, 1024, 4096), 4000, (16, 64), 1000,
                    minutes, dict(embed=256, hidden=1024, layers=2, dropout=0.25, weight_drop=0.15), None)
    return Plan("cpu", dict(embed=16, hidden=32, layers=1), 3, (8, 16), 40, (2, 4), 20, 0.1,
                dict(embed=16, hidden=32, layers=1, weight_drop=0.15), 20_000)


def training_rates(text: str, plan: Plan) -> dict:
    """chars/s of the trainer at each batch size (seq_len 40), after two untimed warm-up steps."""
    corpus = Corpus(text, "1268 chapter slice", {"clean": "none"})
    rates = {}
    for batch in plan.batches:
        cfg = TrainConfig(steps=plan.steps + 2, batch_size=batch, seq_len=40, lr=0.002, warmup=0, eval_every=10**9,
                          eval_chars=1000, save_every=10**9, device=plan.device)
        with tempfile.TemporaryDirectory() as d:
            result = train(corpus, plan.model, cfg, out=f"{d}/m.pt", progress=False)
        rates[batch] = result.chars_seen / result.train_seconds
        print(f"training, batch {batch} x 40: {rates[batch]:,.0f} chars/s ({result.metrics['precision']})")
    fastest = max(rates, key=rates.get)
    first = plan.batches[0]
    return {"model": plan.model, "chars_per_s": {str(b): round(r) for b, r in rates.items()}, "first_batch": first,
            "first": round(rates[first]), "fastest_batch": fastest, "fastest": round(rates[fastest])}


def sampling_rates(lm: CharLM, plan: Plan) -> dict:
    """Single-stream chars/s with the default step (a CUDA graph on CUDA) and with the plain step, median of 3."""
    plain = CharLM(lm.model, lm.vocab, lm.meta)
    plain.stepper = make_stepper(lm.model, graphs=False)
    figures = {}
    for name, target in (("default", lm), ("plain", plain)):
        sum(1 for _ in stream(target, "The island", 20, seed=0))  # warm-up (and the graph capture)
        rates = []
        for r in range(3):
            t = time.perf_counter()
            n = sum(1 for _ in stream(target, "The island", plan.sample_chars, temperature=1.0, seed=r))
            rates.append(n / (time.perf_counter() - t))
        figures[name] = round(statistics.median(rates))
        print(f"single-stream sampling, {name} step ({type(target.stepper).__name__}): {figures[name]:,} chars/s")
    return {"stepper": type(lm.stepper).__name__, "default_chars_per_s": figures["default"],
            "plain_chars_per_s": figures["plain"]}


def engine_rates(lm: CharLM, plan: Plan) -> dict:
    """Aggregate chars/s of the batched engine with n streams submitted together."""
    figures = {}
    for n in plan.engine_streams:
        engine = Engine(lm, max_rows=max(64, n))
        t = time.perf_counter()
        streams = [engine.submit("The island", plan.engine_chars, temperature=1.0, seed=i) for i in range(n)]
        total = sum(len(step) for s in streams for step in s)
        figures[str(n)] = round(total / (time.perf_counter() - t))
        print(f"engine, {n} streams: {figures[str(n)]:,} chars/s in all")
    return {"streams_chars_per_s": figures}


def island_run(text: str, plan: Plan) -> dict:
    """A time-budget run of the island recipe with weight drop; (seconds, validation loss) at each validation."""
    corpus = Corpus(text, "1268 chapter slice", {"clean": "none"})
    cfg = TrainConfig(minutes=plan.minutes, batch_size=64, seq_len=64, batching="streams", lr=0.002,
                      device=plan.device)
    with tempfile.TemporaryDirectory() as d:
        result = train(corpus, plan.island_model, cfg, out=f"{d}/island.pt", progress=False)
    curve = [(r["seconds"], round(r["val_loss"], 4)) for r in result.history if "val_loss" in r]
    print(f"island run, {plan.minutes} min: validation loss {curve}")
    return {"model": plan.island_model, "minutes": plan.minutes, "steps": result.steps,
            "val_loss_by_seconds": curve, "val_loss": round(result.val_loss, 4)}


def markdown(report: dict) -> str:
    """The figures as a table for docs/BENCHMARKS.md."""
    t, s, e, i = report["training"], report["sampling"], report["engine"], report["island"]
    rows = [
        (f"training chars/s, {t['model']['layers']} x {t['model']['hidden']}, batch {t['first_batch']}",
         f"{t['first']:,}"),
        (f"training chars/s, fastest batch ({t['fastest_batch']})", f"{t['fastest']:,}"),
        (f"single-stream sampling, default step ({s['stepper']})", f"{s['default_chars_per_s']:,}"),
        ("single-stream sampling, plain step", f"{s['plain_chars_per_s']:,}"),
        *((f"engine, {n} streams, chars/s in all", f"{v:,}") for n, v in e["streams_chars_per_s"].items()),
        (f"island recipe with weight drop, {i['minutes']} min: validation loss", f"{i['val_loss']}"),
    ]
    head = (f"`python bench/gpu.py` on {report['device']}, torch {report['torch']}, CUDA {report['cuda']}, "
            f"{report['date']}{' (CPU dry run: not figures)' if report['dry_run'] else ''}\n\n")
    return head + "| what | figure |\n|---|---|\n" + "".join(f"| {a} | {b} |\n" for a, b in rows)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="runs/gpu", help="folder for gpu.json and gpu.md")
    p.add_argument("--minutes", type=float, default=4.0, help="the island run's budget on a GPU")
    p.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU even where CUDA is present")
    a = p.parse_args(argv)
    cuda = torch.cuda.is_available() and not a.dry_run
    if not cuda:
        print("no CUDA device" + (" used" if a.dry_run else " here") + ": dry run of every part on the CPU "
              "with tiny sizes (these are not figures)")
    plan = plan_for(cuda, a.minutes)
    text = chapter_text()[: plan.text_chars]
    print(f"machine: {machine()}")
    started = time.perf_counter()
    lm = load_char_lm(ISLAND, device=plan.device)
    report = {
        "device": torch.cuda.get_device_name() if cuda else "cpu", "torch": torch.__version__,
        "cuda": torch.version.cuda, "date": dt.date.today().isoformat(), "dry_run": not cuda, "plan": asdict(plan),
        "training": training_rates(text, plan), "sampling": sampling_rates(lm, plan),
        "engine": engine_rates(lm, plan), "island": island_run(text, plan),
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu.json").write_text(json.dumps(report, indent=1))
    (out / "gpu.md").write_text(markdown(report))
    print(markdown(report))
    print(f"wrote {out / 'gpu.json'} and {out / 'gpu.md'} in {report['seconds']} s")
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
