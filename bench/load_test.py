"""Load test of the web app: concurrent gradio_client users mixing /generate and /sentiment requests.

Usage: python bench/load_test.py [--users 16] [--requests 320] [--mix 0.5] [--length 200]
                                 [--checkpoints DIR] [--train FILE] [--threads 1] [--compare] [--no-engine]

Starts app.py on a free port, gives each of `--users` threads its own Client, and has them share a fixed, seeded
list of `--requests` requests until it is empty. A request fails if it raises, times out or returns a wrong result:
a generated text must start with its prompt, have the asked length and (same prompt, same seed) equal every other
answer to the same request; a review must get the expected label, probabilities summing to 1, and the same
probability every time. With `--train FILE` a training job runs through the app's /train endpoint for the whole
load phase (on a temporary copy of the checkpoints folder) and is stopped with /stop_training at the end.
Prints per-endpoint and overall count, failures, median and p95 latency and throughput; exits 1 if any failed.
With `--compare` the same load runs twice, first with the app's batched sampling engine (the default) and then with
`app.py --no-engine` (each /generate request sampled on its own, at most 4 at a time, as before the engine), and
the last line is `ratio=<generate requests/s with the engine / without>`.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import queue
import random
import re
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from common import ROOT, machine

from tests.apphelpers import AppProcess, launch  # importable: common puts the repository root on sys.path

PROMPTS = ["The island", "Captain Nemo", "The engineer said", "At daybreak the settlers"]
REVIEWS = [
    ("A wonderful film. The acting is superb, the story moving and the photography beautiful; I loved every minute.",
     "positive"),
    ("A dull, badly acted mess. The plot makes no sense and I wanted my two hours back. Avoid it.", "negative"),
    ("One of the best movies I have seen in years: funny, warm and brilliantly written. Highly recommended.",
     "positive"),
    ("Terrible script, wooden acting and a boring story. The worst film I have seen this year.", "negative"),
]
ENDPOINTS = ("generate", "sentiment")
# gradio_client makes a new httpx client for every request, and each builds an SSL context from the certificate
# bundle (about 30 ms of CPU) unless it is given one: the clients share this one, so their CPU goes to the load,
# not to certificates the http:// connections never use.
TLS = ssl.create_default_context()


@dataclass(frozen=True)
class Request:
    endpoint: str  # "generate" or "sentiment"
    index: int  # into PROMPTS or REVIEWS


@dataclass(frozen=True)
class Result:
    endpoint: str
    latency: float  # seconds from submit to the final answer
    error: str | None = None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=16, help="concurrent clients")
    p.add_argument("--requests", type=int, default=320, help="total requests, shared by all users")
    p.add_argument("--mix", type=float, default=0.5, help="fraction of /generate requests (the rest /sentiment)")
    p.add_argument("--length", type=int, default=200, help="characters per generated text")
    p.add_argument("--seed", type=int, default=1, help="seeds the request mix and every generation")
    p.add_argument("--timeout", type=float, default=300, help="seconds before one request counts as failed")
    p.add_argument("--checkpoints", type=Path, default=ROOT / "checkpoints", help="folder the app serves")
    p.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of the app (torch threads per op)")
    p.add_argument("--train", type=Path, metavar="FILE", help="train on this text through /train during the load")
    p.add_argument("--train-hidden", type=int, default=128, help="hidden units of the training job's LSTM")
    p.add_argument("--no-engine", action="store_true", help="serve with app.py --no-engine (no batched sampling)")
    p.add_argument("--compare", action="store_true", help="run with and without the engine; last line ratio=")
    return p.parse_args(argv)


def plan(n: int, mix: float, seed: int) -> list[Request]:
    """`n` requests, each /generate with probability `mix`, else /sentiment, with a random prompt or review."""
    rng = random.Random(seed)
    return [Request("generate", rng.randrange(len(PROMPTS))) if rng.random() < mix
            else Request("sentiment", rng.randrange(len(REVIEWS))) for _ in range(n)]


class Checker:
    """Checks answers; the first answer to each request is the reference that later ones must match."""

    def __init__(self, length: int):
        self.length = length
        self.seen: dict[Request, object] = {}
        self.lock = threading.Lock()

    def same_as_before(self, req: Request, value, close) -> bool:
        with self.lock:
            first = self.seen.setdefault(req, value)
        return close(first, value)

    def generate(self, req: Request, text) -> str | None:
        prompt = PROMPTS[req.index]
        if not isinstance(text, str) or not text.startswith(prompt):
            return f"text does not start with the prompt {prompt!r}: {str(text)[:60]!r}"
        if len(text) != len(prompt) + self.length:
            return f"{len(text) - len(prompt)} characters generated, not {self.length}"
        if not self.same_as_before(req, text, str.__eq__):
            return f"same prompt and seed gave a different text for {prompt!r}"
        return None

    def sentiment(self, req: Request, label) -> str | None:
        expected = REVIEWS[req.index][1]
        try:
            p = {c["label"]: float(c["confidence"]) for c in label["confidences"]}
            got = label["label"]
        except (TypeError, KeyError, ValueError):
            return f"not a label: {str(label)[:80]!r}"
        if set(p) != {"positive", "negative"} or abs(sum(p.values()) - 1) > 1e-6:
            return f"bad probabilities {p}"
        if got != expected:
            return f"label {got!r} (P(positive) = {p['positive']:.3f}), expected {expected!r}"
        if not self.same_as_before(req, p["positive"], lambda a, b: abs(a - b) < 1e-5):
            return f"P(positive) {p['positive']:.6f} differs from an earlier answer to the same review"
        return None


def call(client, req: Request, args: argparse.Namespace, checker: Checker) -> Result:
    """Send one request and time it until its final answer; never raises."""
    t0 = time.perf_counter()
    try:
        if req.endpoint == "generate":
            job = client.submit(PROMPTS[req.index], None, args.length, 0.8, 0, 1.0, args.seed, 1,
                                api_name="/generate")
        else:
            job = client.submit(REVIEWS[req.index][0], None, api_name="/sentiment")
        out = job.result(timeout=args.timeout)
    except Exception as e:  # noqa: BLE001 - every error is a failed request, reported by its type and message
        if isinstance(e, TimeoutError):  # free its place in the app's queue
            with contextlib.suppress(Exception):
                job.cancel()
        return Result(req.endpoint, time.perf_counter() - t0, f"{type(e).__name__}: {e}"[:200])
    latency = time.perf_counter() - t0
    return Result(req.endpoint, latency, getattr(checker, req.endpoint)(req, out))


def user(url: str, work: queue.Queue, results: list[Result], checker: Checker, args: argparse.Namespace,
         ready: threading.Barrier, stop: threading.Event) -> None:
    """One user: connect, wait for the others, then take requests off `work` until it is empty or `stop` is set."""
    from gradio_client import Client

    try:
        client = Client(url, verbose=False, ssl_verify=TLS)
    except BaseException:
        ready.abort()  # the main thread's wait fails at once instead of timing out
        raise
    ready.wait()
    while not stop.is_set():
        try:
            req = work.get_nowait()
        except queue.Empty:
            return
        results.append(call(client, req, args, checker))


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def cpu_seconds(pid: int) -> tuple[float, float, float]:
    """CPU seconds used so far by all processes on the machine (since boot), by process `pid` and its children
    (the app's sampling engine runs in one), and by this one."""
    tick = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
    mine = os.times()
    return (user + nice + system + irq + softirq + steal) / tick, app_ticks(pid) / tick, mine.user + mine.system


def app_ticks(pid: int) -> int:
    """Clock ticks used by `pid` and by its live children."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # a process that ended meanwhile
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):  # fields[1]: the parent's pid
            total += int(fields[11]) + int(fields[12])
    return total


@dataclass
class Phase:
    """What the load phase gave: its results, wall-clock seconds, and CPU seconds used meanwhile."""

    results: list[Result]
    wall: float
    cpu_all: float  # by every process on the machine
    cpu_app: float
    cpu_clients: float  # this script


def run_load(url: str, args: argparse.Namespace, app_pid: int) -> Phase:
    """Run the planned requests with `args.users` threads, timing from when every user is connected."""
    work: queue.Queue = queue.Queue()
    for req in plan(args.requests, args.mix, args.seed):
        work.put(req)
    results: list[Result] = []
    checker = Checker(args.length)
    ready, stop = threading.Barrier(args.users + 1), threading.Event()
    threads = [threading.Thread(target=user, args=(url, work, results, checker, args, ready, stop), daemon=True)
               for _ in range(args.users)]
    for t in threads:
        t.start()
    try:
        ready.wait(timeout=120)
        t0, cpu0 = time.perf_counter(), cpu_seconds(app_pid)
        for t in threads:
            t.join()
    except BaseException:  # Ctrl-C: users finish the request in hand and take no more
        stop.set()
        raise
    wall, cpu1 = time.perf_counter() - t0, cpu_seconds(app_pid)
    return Phase(results, wall, *(b - a for a, b in zip(cpu0, cpu1)))


def start_training(url: str, text: Path, hidden: int):
    """Submit a long training run on `text` and wait until it has logged a step; (client, job)."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False, ssl_verify=TLS)
    job = client.submit(["1268"], [handle_file(str(text))], "loadtest", "lstm", hidden, 1, 1_000_000, 32, 100, 0.003,
                        api_name="/train")
    deadline = time.monotonic() + 120
    while trained_steps(job) < 1:  # the job logs every 50 steps
        if job.done() or time.monotonic() > deadline:
            raise RuntimeError(f"training did not start: {job.outputs()[-1:] or job.exception()}")
        time.sleep(0.5)
    print(f"training: {job.outputs()[-1][0]}", flush=True)
    return client, job


def trained_steps(job) -> int:
    """The step count in the training job's latest status line (0 before the first logged step)."""
    outputs = [o for o in job.outputs() if isinstance(o, (list, tuple))]
    found = re.search(r"step (\d+)/", str(outputs[-1][0])) if outputs else None
    return int(found.group(1)) if found else 0


def stop_training(client, job) -> str:
    """Ask the running job to stop and return its final status line."""
    client.predict(api_name="/stop_training")
    status, _ = job.result(timeout=300)
    return status


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between order statistics."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def report(results: list[Result], wall: float) -> int:
    """Print per-endpoint and overall figures and the distinct errors; the number of failed requests."""
    print(f"{'endpoint':<10} {'requests':>8} {'failed':>6} {'median s':>9} {'p95 s':>7} {'req/s':>6}")
    for name in (*ENDPOINTS, "overall"):
        rows = [r for r in results if name in (r.endpoint, "overall")]
        if not rows:
            continue
        lat = [r.latency for r in rows]
        failed = sum(r.error is not None for r in rows)
        print(f"{name:<10} {len(rows):>8} {failed:>6} {statistics.median(lat):>9.3f} {percentile(lat, 95):>7.3f} "
              f"{len(rows) / wall:>6.2f}")
    errors: dict[str, int] = {}
    for r in results:
        if r.error:
            errors[f"{r.endpoint}: {r.error}"] = errors.get(f"{r.endpoint}: {r.error}", 0) + 1
    for message, count in sorted(errors.items(), key=lambda kv: -kv[1]):
        print(f"  {count} x {message}")
    return sum(errors.values())


def serve(args: argparse.Namespace, tmp: Path) -> AppProcess:
    """Start the app on the checkpoints folder, or on a copy of its .pt files when a training job will write there."""
    folder = args.checkpoints.resolve()
    if args.train:
        copy = tmp / "checkpoints"
        copy.mkdir()
        for path in folder.glob("*.pt"):
            shutil.copyfile(path, copy / path.name)
        folder = copy
    return launch(folder, {"OMP_NUM_THREADS": str(args.threads), "GRADIO_TEMP_DIR": str(tmp / "gradio")},
                  options=("--no-engine",) if args.no_engine else ())


def load_test(args: argparse.Namespace) -> tuple[Phase, list[str]]:
    """Start the app (and a training job), run the load phase, stop them; the phase and the app's output lines."""
    with tempfile.TemporaryDirectory(prefix="load-test-") as tmp:
        app = serve(args, Path(tmp))
        try:
            print(f"app at {app.url}, serving in {app.startup_seconds:.1f} s", flush=True)
            if args.train:
                train_client, train_job = start_training(app.url, args.train, args.train_hidden)
            phase = run_load(app.url, args, app.proc.pid)
            if args.train:
                print(f"training: {stop_training(train_client, train_job)}")
        finally:  # on Ctrl-C too; a training job dies with the app, in the temporary folder
            app.stop()
    return phase, app.lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.train and not args.train.is_file():
        sys.exit(f"{args.train} not found")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the app on kill too, as on Ctrl-C
    print(f"machine: {machine()}\nload before: {uptime()}")
    print(f"{args.users} users, {args.requests} requests, {args.mix:.0%} /generate ({args.length} characters, "
          f"T=0.8, seed {args.seed}), the rest /sentiment; app OMP_NUM_THREADS={args.threads}", flush=True)
    runs = [False, True] if args.compare else [args.no_engine]
    rates, failed = [], 0
    for no_engine in runs:
        args.no_engine = no_engine
        print(f"\n== {'without the engine (app.py --no-engine)' if no_engine else 'with the batched engine'}")
        try:
            phase, app_lines = load_test(args)
        except KeyboardInterrupt:
            print("interrupted: the app was stopped", file=sys.stderr)
            return 130
        failed += summarize(phase, app_lines)
        rates.append(sum(r.endpoint == "generate" for r in phase.results) / phase.wall)
    print(f"failed={failed}")
    if args.compare:
        print(f"generate requests/s: {rates[0]:.2f} with the engine, {rates[1]:.2f} without")
        print(f"ratio={rates[0] / rates[1]:.2f}")
    return 1 if failed else 0


def summarize(phase: Phase, app_lines: list[str]) -> int:
    """Print one load phase's CPU use, table and app errors; the number of failed requests."""
    others = max(phase.cpu_all - phase.cpu_app - phase.cpu_clients, 0)
    print(f"load phase: {phase.wall:.1f} s wall-clock; CPU used meanwhile (cores of {os.cpu_count()}): "
          f"app (with its engine process) {phase.cpu_app / phase.wall:.2f}, "
          f"clients {phase.cpu_clients / phase.wall:.2f}, "
          f"other processes {others / phase.wall:.2f}; app CPU per request "
          f"{1000 * phase.cpu_app / len(phase.results):.0f} ms")
    failed = report(phase.results, phase.wall)
    print(f"load after: {uptime()}")
    app_errors = [line.rstrip() for line in app_lines if "Error" in line or "Traceback" in line]
    if app_errors:
        print(f"app printed {len(app_errors)} error lines, e.g.:", *app_errors[:10], sep="\n  ")
    return failed


if __name__ == "__main__":
    sys.exit(main())
