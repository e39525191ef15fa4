import re
import subprocess
import sys

import pytest

from charrnn import evaluate_stream, load_char_lm
from charrnn.cli import main
from charrnn.lm.data import split_ids

from ..conftest import ROOT, shared_file
from ..helpers import REPEAT

SHIPPED = ROOT / "checkpoints" / "mysterious-island.pt"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    text = d / "book.txt"
    text.write_bytes(("header\r\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\r\n" + REPEAT.replace("\n", "\r\n")
                      + "\r\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\r\nlicense\r\n").encode("utf-8-sig"))
    out = d / "m.pt"
    code = main(["train", "--text", str(text), "--out", str(out), "--steps", "120", "--batch-size", "16",
                 "--seq-len", "20", "--embed", "16", "--hidden", "48", "--lr", "0.01", "--warmup", "0",
                 "--eval-every", "60", "--save-every", "60", "--quiet"])
    assert code == 0
    return text, out


def test_train_writes_checkpoints_and_log(trained, capsys):
    text, out = trained
    assert out.exists() and out.with_name("m.best.pt").exists() and out.with_name("m.log.jsonl").exists()
    lm = load_char_lm(out.with_name("m.best.pt"))
    assert lm.meta["preprocessing"] == {"clean": "strip", "val_fraction": 0.1}
    assert set(lm.vocab.chars) == set(REPEAT) | {"\n"}, "license header and footer must be stripped"


def test_sample_prints_prompt_and_repeats_with_seed(trained, capsys):
    _, out = trained
    args = ["sample", "--checkpoint", str(out.with_name("m.best.pt")), "--prompt", "the quick", "--length", "50",
            "--temperature", "0.5", "--seed", "7"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first
    assert first.startswith("the quick") and len(first.rstrip("\n")) == len("the quick") + 50


def test_evaluate_last_line_matches_direct_computation(trained, capsys):
    text, out = trained
    best = out.with_name("m.best.pt")
    assert main(["evaluate", "--checkpoint", str(best), "--text", str(text)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    m = re.fullmatch(r"loss_nats=(\S+) bpc=(\S+) chars=(\d+)", last)
    assert m, last
    lm = load_char_lm(best)
    _, val = split_ids(lm.vocab.encode(REPEAT.strip("\n") + "\n"), 0.1)
    direct = evaluate_stream(lm.model, val)
    assert float(m.group(1)) == pytest.approx(direct.loss_nats, abs=1e-4)
    assert int(m.group(3)) == direct.chars == len(val) - 1
    assert float(m.group(2)) == pytest.approx(float(m.group(1)) / 0.6931471805599453, abs=1e-3)


def test_resume_flag_continues(trained, tmp_path, capsys):
    text, out = trained
    copy = tmp_path / "m.pt"
    copy.write_bytes(out.read_bytes())
    assert main(["train", "--text", str(text), "--out", str(copy), "--resume", "--quiet"]) == 0
    assert "status=finished steps=120" in capsys.readouterr().out
    assert main(["train", "--text", str(text), "--out", str(copy), "--steps", "130", "--resume", "--quiet"]) == 0
    assert "status=finished steps=130" in capsys.readouterr().out


def test_errors_are_clear_and_exit_2(trained, tmp_path, capsys):
    _, out = trained
    best = str(out.with_name("m.best.pt"))
    assert main(["sample", "--checkpoint", best, "--prompt", "Ωmega"]) == 2
    assert "not in the model's vocabulary: 'Ω'" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", best, "--temperature", "-1"]) == 2
    assert "temperature" in capsys.readouterr().err
    assert main(["train", "--text", str(tmp_path / "missing.txt")]) == 2
    assert "text file not found" in capsys.readouterr().err


def test_console_script_and_module_entry_point(trained):
    _, out = trained
    cmd = [sys.executable, "-m", "charrnn", "sample", "--checkpoint", str(out.with_name("m.best.pt")),
           "--prompt", "the", "--length", "20", "--seed", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and r.stdout.startswith("the") and len(r.stdout.rstrip("\n")) == 23


@pytest.mark.skipif(not SHIPPED.exists(), reason="checkpoints/mysterious-island.pt is not in this checkout")
def test_shipped_checkpoint_meets_its_target(capsys):
    book = shared_file("corpora", "1268-0.txt")
    assert main(["evaluate", "--checkpoint", str(SHIPPED), "--text", str(book)]) == 0
    m = re.fullmatch(r"loss_nats=(\S+) bpc=(\S+) chars=(\d+)", capsys.readouterr().out.strip().splitlines()[-1])
    assert float(m.group(1)) <= 1.16
    assert int(m.group(3)) == 111_234
    args = ["sample", "--checkpoint", str(SHIPPED), "--prompt", "The island", "--length", "300",
            "--temperature", "0.5", "--seed", "7"]
    main(args)
    first = capsys.readouterr().out
    main(args)
    assert capsys.readouterr().out == first and first.startswith("The island")
    words = re.findall(r"[a-z]+", first.lower())
    common = {"the", "of", "and", "to", "a", "in", "was", "he", "that", "it", "had", "his", "which", "on", "not"}
    assert len(words) > 30 and sum(w in common for w in words) / len(words) > 0.2


SHAKESPEARE = ROOT / "checkpoints" / "tiny-shakespeare.pt"


@pytest.mark.skipif(not SHAKESPEARE.exists(), reason="checkpoints/tiny-shakespeare.pt is not in this checkout")
def test_shipped_shakespeare_beats_nanogpts_character_transformer(capsys):
    """Issue 12: below nanoGPT's 1.4697 nats on the last 10% of tiny-Shakespeare, under 25 MB, and it writes a play."""
    assert SHAKESPEARE.stat().st_size < 25 * 2**20
    text = shared_file("corpora", "tinyshakespeare.txt")
    assert main(["evaluate", "--checkpoint", str(SHAKESPEARE), "--text", str(text)]) == 0
    m = re.fullmatch(r"loss_nats=(\S+) bpc=(\S+) chars=(\d+)", capsys.readouterr().out.strip().splitlines()[-1])
    assert float(m.group(1)) < 1.4697 and int(m.group(3)) == 111_538
    main(["sample", "--checkpoint", str(SHAKESPEARE), "--prompt", "ROMEO:\n", "--length", "400", "--seed", "3",
          "--temperature", "0.7"])
    play = capsys.readouterr().out
    speakers = re.findall(r"^[A-Z][A-Z ]+:$", play, flags=re.M)  # "QUEEN ELIZABETH:" on a line of its own
    assert len(speakers) >= 3, play


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_signal_saves_before_exiting(trained, tmp_path, sig):
    import signal
    import time

    from charrnn import checkpoint as ckpt

    text, _ = trained
    out = tmp_path / "m.pt"
    cmd = [sys.executable, "-m", "charrnn", "train", "--text", str(text), "--out", str(out), "--steps", "100000",
           "--batch-size", "8", "--seq-len", "16", "--embed", "8", "--hidden", "16", "--eval-every", "100000",
           "--save-every", "100000", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = out.with_name("m.log.jsonl")
    deadline = time.monotonic() + 600
    while not (log.exists() and log.read_text().strip()):
        assert proc.poll() is None and time.monotonic() < deadline, "no step logged"
        time.sleep(0.1)
    proc.send_signal(getattr(signal, sig))
    stdout, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0
    assert "status=stopped" in stdout
    saved = ckpt.load(out)
    assert 50 <= saved["trainer"]["step"] < 100000
    assert not list(tmp_path.glob("*.tmp"))
