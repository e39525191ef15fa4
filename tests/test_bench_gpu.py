"""bench/gpu.py, the one command for a lent GPU, dry-runs every part on the CPU (so it cannot rot unseen)."""
import json
import subprocess
import sys

from .conftest import ROOT, shared_file


def test_gpu_bench_dry_runs_every_part_on_the_cpu(tmp_path):
    shared_file("corpora", "1268-0.txt")
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--dry-run", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "dry run of every part on the CPU" in out.stdout
    report = json.loads((tmp_path / "gpu.json").read_text())
    assert report["dry_run"] is True and report["device"] == "cpu"
    training = report["training"]
    assert set(training["chars_per_s"]) == {"8", "16"} and training["fastest"] == max(training["chars_per_s"].values())
    assert report["sampling"]["default_chars_per_s"] > 0 and report["sampling"]["plain_chars_per_s"] > 0
    assert set(report["engine"]["streams_chars_per_s"]) == {"2", "4"}
    island = report["island"]
    assert island["model"]["weight_drop"] == 0.15 and len(island["val_loss_by_seconds"]) >= 2
    assert [s for s, _ in island["val_loss_by_seconds"]] == sorted(s for s, _ in island["val_loss_by_seconds"])
    table = (tmp_path / "gpu.md").read_text()
    assert "(CPU dry run: not figures)" in table and table.count("\n| ") == 8
