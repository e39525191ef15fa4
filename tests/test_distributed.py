"""Data-parallel training under torchrun: 2 CPU processes on the gloo backend."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from charrnn import checkpoint as ckpt
from charrnn import generate, load_char_lm
from charrnn.distributed import Context, context

from .helpers import REPEAT

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
TIMEOUT = 900  # a hung run, not a slow one: each takes seconds alone, a minute or two on a busy machine


def train_args(text, out, batch_size, steps, *extra):
    return ["train", "--text", str(text), "--clean", "none", "--out", str(out), "--steps", str(steps),
            "--batch-size", str(batch_size), "--seq-len", "20", "--embed", "16", "--hidden", "48", "--lr", "0.01",
            "--warmup", "0", "--lr-decay", "none", "--eval-every", "10", "--save-every", "10", "--seed", "3",
            "--device", "cpu", "--quiet", *extra]


def start(cmd: list[str], env: dict | None = None) -> subprocess.Popen:
    """A launcher in a session of its own, so that `stop` ends its workers too, not only torchrun."""
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**ENV, **(env or {})}, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def run(cmd: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    proc = start(cmd, env)
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    finally:
        stop(proc)
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def torchrun(*args, module=("-m", "charrnn"), env=None, check=True):
    proc = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *module, *args],
               env)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two ranks with 8 windows each for 20 steps, resumed to 30; and one process with 16 windows for 30 steps.

    All in fp32: on a CPU with native bf16 (AVX-512 bf16 or AMX) precision 'auto' means bf16 autocast, whose
    rounding (8-bit mantissa) depends on the batch's shape. There one batch of 16 and the mean of its two halves of 8
    already differ by up to 9e-5 in the gradients without any DDP, and Adam's first step (lr * g / (|g| + eps))
    turns that into a 0.01 weight difference wherever a gradient is near zero. DDP's averaging is compared in fp32,
    where the two agree to float rounding (1e-8 in the gradients)."""
    d = tmp_path_factory.mktemp("ddp")
    text = d / "t.txt"
    text.write_text(REPEAT)
    fp32 = ("--precision", "fp32")
    first = torchrun(*train_args(text, d / "ddp" / "m.pt", 8, 20, *fp32))
    resumed = torchrun(*train_args(text, d / "ddp" / "m.pt", 8, 30, "--resume"))  # keeps the saved fp32
    single = run([sys.executable, "-m", "charrnn", *train_args(text, d / "one" / "m.pt", 16, 30, *fp32)])
    assert single.returncode == 0, single.stderr
    return d, first, resumed


def test_two_processes_write_one_valid_checkpoint(runs):
    d, first, resumed = runs
    assert sorted(p.name for p in (d / "ddp").iterdir()) == ["m.best.pt", "m.log.jsonl", "m.pt"]
    assert first.stdout.count("status=finished") == 1 and "steps=20" in first.stdout  # printed by rank 0 only
    assert "data-parallel on 2 process(es): 8 windows each, 16 per step" in first.stderr
    state = ckpt.load(d / "ddp" / "m.pt", kind="char-lm")
    assert state["trainer"]["step"] == 30 and state["metrics"]["world_size"] == 2
    assert state["metrics"]["chars_seen"] == 30 * 16 * 20
    assert len(state["trainer"]["rank_rng_states"]) == 2
    assert not any(k.startswith("module.") for k in state["state_dict"])
    lm = load_char_lm(d / "ddp" / "m.best.pt")
    assert generate(lm, "the quick", 40, temperature=0, seed=0)[0].startswith("the quick brown fox")


def test_log_is_written_once(runs):
    d, _, _ = runs
    records = [json.loads(line) for line in (d / "ddp" / "m.log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "val_loss" in r] == [10, 20, 30]
    assert [r["step"] for r in records if "train_loss" in r] == [20, 30]


def test_gradients_are_averaged_like_one_process_with_the_whole_batch(runs):
    """Each rank takes half of the same 16 windows and DDP averages the gradients, so two ranks of 8 (with a
    resume half-way) follow one process of 16 up to float rounding; summed gradients would double each step."""
    d, _, _ = runs
    ddp, one = ckpt.load(d / "ddp" / "m.pt"), ckpt.load(d / "one" / "m.pt")
    assert ddp["metrics"]["precision"] == one["metrics"]["precision"] == "fp32"
    for k, v in one["state_dict"].items():
        torch.testing.assert_close(ddp["state_dict"][k], v, atol=1e-4, rtol=1e-4)
    assert ddp["metrics"]["val_loss"] == pytest.approx(one["metrics"]["val_loss"], abs=1e-4)
    assert ddp["metrics"]["val_loss"] < 1.0


def test_not_distributed_without_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    from charrnn import distributed

    assert distributed.init("cpu") == Context() and context().world_size == 1 and not context().enabled


def test_sigterm_to_torchrun_stops_every_rank_at_the_same_step_and_saves(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text(REPEAT)
    out = tmp_path / "m.pt"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "charrnn",
           *train_args(text, out, 8, 100_000, "--log-every", "1")]
    cmd[cmd.index("--save-every") + 1] = cmd[cmd.index("--eval-every") + 1] = "100000"
    proc = start(cmd)
    log = out.with_name("m.log.jsonl")
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (log.exists() and log.read_text().count("\n") >= 5):
            assert proc.poll() is None, f"the run ended before 5 steps: {proc.communicate()[1][-3000:]}"
            assert time.monotonic() < deadline, "no 5 steps logged in time"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)  # torchrun passes it on to both workers
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    finally:
        stop(proc)
    assert "status=stopped" in stdout, stderr[-3000:]
    state = ckpt.load(out)
    logged = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert state["trainer"]["step"] == logged[-1] >= 5  # saved at the step every rank stopped at, nothing lost
    assert len(state["trainer"]["rank_rng_states"]) == 2
    assert not list(tmp_path.glob(".*.tmp"))


def test_resume_restores_every_ranks_dropout_stream(tmp_path):
    """With dropout and weight drop each rank draws its own masks; a run stopped and resumed on 2 ranks ends
    bit-identical to a straight one, so every rank's RNG state was saved and put back."""
    text = tmp_path / "t.txt"
    text.write_text(REPEAT)
    extra = ("--layers", "2", "--dropout", "0.3", "--weight-drop", "0.2")
    torchrun(*train_args(text, tmp_path / "straight" / "m.pt", 8, 30, *extra))
    torchrun(*train_args(text, tmp_path / "resumed" / "m.pt", 8, 20, *extra))
    torchrun(*train_args(text, tmp_path / "resumed" / "m.pt", 8, 30, *extra, "--resume"))
    a, b = ckpt.load(tmp_path / "straight" / "m.pt"), ckpt.load(tmp_path / "resumed" / "m.pt")
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k
    masks = a["trainer"]["rank_rng_states"]
    assert not torch.equal(masks[0]["cpu"], masks[1]["cpu"]), "the ranks should draw different dropout masks"


GLOO_THREADS = """
import atexit, os

def gloo_threads():
    names = []
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                names.append(f.read().strip())
        except OSError:  # the thread ended meanwhile
            pass
    return sorted(n for n in names if "gloo" in n)

# registered before charrnn's own exit handler, so it runs after it
atexit.register(lambda: print(f"rank {os.environ['RANK']} gloo threads at exit: {gloo_threads()}", flush=True))
"""

API_SCRIPT = GLOO_THREADS + """
import os, sys
from charrnn import Corpus, TrainConfig, train
text = open(sys.argv[1]).read()
if os.environ.get("OTHER_TEXT_ON_RANK_1") and os.environ["RANK"] == "1":
    text = text.replace("fox", "cat")
config = TrainConfig(steps=10, batch_size=8, seq_len=20, log_every=1, eval_every=10, save_every=10, device="cpu")
try:
    result = train(Corpus(text, "t.txt", {}), dict(embed=16, hidden=48), config, out=sys.argv[2], progress=False)
except ValueError as e:
    sys.exit(f"refused: {e}")
print(f"rank {os.environ['RANK']} world {result.world_size}")
"""


def test_python_api_under_torchrun_is_data_parallel(tmp_path):
    text, script, out = tmp_path / "t.txt", tmp_path / "api.py", tmp_path / "m.pt"
    text.write_text(REPEAT)
    script.write_text(API_SCRIPT)
    proc = torchrun(str(text), str(out), module=(str(script),))
    assert "rank 0 world 2" in proc.stdout and "rank 1 world 2" in proc.stdout
    for rank in (0, 1):  # train() joined the group itself; it is gone before the interpreter shuts down
        assert f"rank {rank} gloo threads at exit: []" in proc.stdout, proc.stdout
    steps = [json.loads(line)["step"] for line in out.with_name("m.log.jsonl").read_text().splitlines()
             if "train_loss" in line]
    assert steps == list(range(1, 11)), "one process group: each step logged once, by rank 0"

    proc = torchrun(str(text), str(tmp_path / "other.pt"), module=(str(script),), env={"OTHER_TEXT_ON_RANK_1": "1"},
                    check=False)
    assert proc.returncode != 0
    assert "refused: the processes of this run read different texts" in proc.stderr


CLI_SCRIPT = GLOO_THREADS + """
import sys
from charrnn.cli import main
import time
code = main(sys.argv[1:])
deadline = time.monotonic() + 30  # a destroyed group's threads end on their own shortly after: give them time
while gloo_threads() and time.monotonic() < deadline:
    time.sleep(0.05)
print(f"rank {os.environ['RANK']} gloo threads after main: {gloo_threads()}", flush=True)
sys.exit(code)
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="lists a process's threads through Linux's /proc")
def test_process_group_is_really_gone_before_the_interpreter_exits(tmp_path):
    """A process group kept alive past destroy_process_group() keeps gloo's worker threads running into interpreter
    shutdown; one that then takes the GIL to free a tensor aborts the rank ("terminate called without an active
    exception", SIGABRT). `charrnn train` must leave no gloo thread behind when it returns."""
    text, script = tmp_path / "t.txt", tmp_path / "cli.py"
    text.write_text(REPEAT)
    script.write_text(CLI_SCRIPT)
    proc = torchrun(*train_args(text, tmp_path / "m.pt", 8, 4), module=(str(script),))
    for rank in (0, 1):
        assert f"rank {rank} gloo threads after main: []" in proc.stdout, proc.stdout
        assert f"rank {rank} gloo threads at exit: []" in proc.stdout, proc.stdout
