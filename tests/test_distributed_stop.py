"""Under torchrun the ranks agree on stopping only at log steps (one collective per log interval, not per step):
a SIGTERM stops every rank at the same log step, with the state saved there and no rank left waiting."""
import json
import signal
import subprocess
import sys
import time

from charrnn import checkpoint as ckpt

from .helpers import REPEAT
from .test_distributed import ENV, train_args

LOG_EVERY = 7


def test_sigterm_under_torchrun_stops_every_rank_at_the_next_log_step(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text(REPEAT)
    out = tmp_path / "m.pt"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "charrnn",
           *train_args(text, out, 8, 100_000, "--log-every", str(LOG_EVERY))]
    cmd[cmd.index("--save-every") + 1] = cmd[cmd.index("--eval-every") + 1] = "100000"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    log = out.with_name("m.log.jsonl")
    deadline = time.monotonic() + 120
    while not (log.exists() and log.read_text().count("\n") >= 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)  # torchrun passes it on to both workers
    stdout, stderr = proc.communicate(timeout=120)
    assert "status=stopped" in stdout, stderr[-3000:]  # torchrun itself exits 1 after passing SIGTERM on
    state = ckpt.load(out)
    logged = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert logged == [LOG_EVERY * (i + 1) for i in range(len(logged))]
    assert state["trainer"]["step"] == logged[-1], "stopped and saved at the log step the ranks agreed on"
    assert len(state["trainer"]["rank_rng_states"]) == 2
