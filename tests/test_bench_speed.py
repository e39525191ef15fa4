"""The CPU speed benches keep their output contracts: bench/train_speed.py ends with ratio= then efficiency=
(each round's figures printed), bench/sample_speed.py ends with step_share=. Tiny runs: figures, not speeds."""
import re
import subprocess
import sys

from .conftest import ROOT, shared_file


def run_bench(name: str, *args: str) -> list[str]:
    shared_file("corpora", "1268-0.txt")
    out = subprocess.run([sys.executable, str(ROOT / "bench" / name), *args], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()


def test_train_speed_prints_each_round_then_ratio_and_efficiency():
    lines = run_bench("train_speed.py", "--steps", "3", "--rounds", "2", "--precision", "fp32")
    rounds = [line for line in lines if line.startswith("round ")]
    assert len(rounds) == 2
    for line in rounds:
        ours, gflops, product, eff = (float(v.replace(",", "")) for v in re.search(
            r"ours \(fp32\) ([\d,]+) chars/s = ([\d.]+) GFLOP/s .* product ([\d.]+) GFLOP/s\s+efficiency ([\d.]+)",
            line).groups())
        assert ours > 0 and abs(eff - gflops / product) < 0.002  # efficiency is ours over the product, per round
    assert re.fullmatch(r"ratio=\d+\.\d\d", lines[-2])
    effs = [float(re.search(r"efficiency ([\d.]+)$", r).group(1)) for r in rounds]
    assert abs(float(lines[-1].removeprefix("efficiency=")) - sum(effs) / 2) < 0.002  # the median of two rounds


def test_sample_speed_ends_with_the_share_of_the_bare_step():
    lines = run_bench("sample_speed.py", "--length", "60", "--rounds", "1")
    assert re.fullmatch(r"ratio=\d+\.\d\d", lines[-2])
    ours = float(re.search(r"median: .* ours ([\d,]+) chars/s", lines[-3]).group(1).replace(",", ""))
    bare = float(re.search(r"bare step ([\d,]+) steps/s", lines[-4]).group(1).replace(",", ""))
    assert abs(float(lines[-1].removeprefix("step_share=")) - ours / bare) < 0.01
