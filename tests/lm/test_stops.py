"""Stop strings: a sample ends at the first stop string in its generated text, kept; the prompt is not searched."""
import subprocess
import sys

import pytest

from charrnn.serve import options, streaming
from charrnn.lm.charlm import load_char_lm
from charrnn.lm.sample import generate
from charrnn.lm.stops import stop_strings, until_stopped
from tests.conftest import ROOT

ISLAND = ROOT / "checkpoints" / "mysterious-island.pt"


def cut(text: str, prompt: str, stops) -> str:
    """`text` up to and including the first stop string that lies wholly after the prompt."""
    ends = [text.find(s, len(prompt)) + len(s) for s in stops if text.find(s, len(prompt)) >= 0]
    return text[: min(ends)] if ends else text


def test_a_stop_string_split_across_two_steps_is_found():
    steps = [["a", "x"], ["\n", "y"], ["\n", "\n"], ["b", "\n"], ["c", "z"]]
    out = list(until_stopped(iter(steps), ("\n\n",), 2))
    assert ["".join(s[0] for s in out), "".join(s[1] for s in out)] == ["a\n\n", "xy\n\n"]
    assert len(out) == 4  # ends as soon as both samples have stopped, not at the end of the steps


def test_no_stop_strings_pass_every_step_through():
    steps = [["a"], ["."], ["b"]]
    assert list(until_stopped(iter(steps), (), 1)) == steps


@pytest.mark.parametrize("bad, message", [([""], "non-empty"), (["x" * 101], "at most 100"),
                                          ([str(i) for i in range(17)], "at most 16")])
def test_bad_stop_strings_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        stop_strings(bad)
    with pytest.raises(ValueError, match="until must be one of"):
        stop_strings(None, "chapter")
    assert stop_strings(["\n\n", "."], "sentence") == ("\n\n", ".", "!", "?")


@pytest.mark.parametrize("stops", [(".",), ("\n\n",), ("Harding", "!")])
def test_generate_with_stops_is_the_unstopped_text_cut_at_the_first_stop(stops):
    lm = load_char_lm(ISLAND)
    for seed in (1, 2):
        full = generate(lm, "The island.", 300, temperature=1.0, seed=seed, num_samples=2)
        short = generate(lm, "The island.", 300, temperature=1.0, seed=seed, num_samples=2, stop=stops)
        assert short == [cut(t, "The island.", stops) for t in full]  # the prompt's own "." does not count


def test_the_engine_stops_like_single_sampling():
    lm = load_char_lm(ISLAND)
    for batched in (True, False):
        opts, _ = options.sample_options("The island", length=400, temperature=0.9, top_k=0, top_p=1.0, seed=5,
                                              num_samples=3, until="sentence", stop="")
        stopped = list(streaming.stream_text(lm, opts, batched=batched))[-1]
        opts, _ = options.sample_options("The island", length=400, temperature=0.9, top_k=0, top_p=1.0, seed=5,
                                              num_samples=3, until="length", stop="")
        full = list(streaming.stream_text(lm, opts, batched=batched))[-1]
        assert stopped == [cut(t, "The island", ".!?") for t in full]


def test_form_stop_values():
    assert options.form_stops("paragraph", "") == ("\n\n",)
    assert options.form_stops("length", "\\n") == ("\n",)
    assert options.form_stops(None, None) == ()
    with pytest.raises(ValueError, match="stop at must be one of"):
        options.form_stops("chapter", "")


def charrnn(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "charrnn", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


def test_cli_prints_the_prompt_and_text_up_to_the_first_stop_and_nothing_more():
    args = ["sample", "--checkpoint", str(ISLAND), "--prompt", "The island", "--length", "2000", "--seed", "1"]
    stopped = charrnn(*args, "--stop", ".")
    assert stopped.returncode == 0, stopped.stderr
    full = generate(load_char_lm(ISLAND), "The island", 2000, temperature=1.0, seed=1)[0]
    assert stopped.stdout == cut(full, "The island", ".")
    assert stopped.stdout.endswith(".") and stopped.stdout.count(".") == 1


def test_cli_prompt_file_and_its_limit(tmp_path):
    (tmp_path / "p.txt").write_text("The island", encoding="utf-8")
    ok = charrnn("sample", "--checkpoint", str(ISLAND), "--prompt-file", str(tmp_path / "p.txt"), "--length", "5",
                 "--seed", "1")
    assert ok.returncode == 0 and ok.stdout.startswith("The island") and len(ok.stdout) == len("The island") + 6
    (tmp_path / "long.txt").write_text("a" * 5001, encoding="utf-8")
    bad = charrnn("sample", "--checkpoint", str(ISLAND), "--prompt-file", str(tmp_path / "long.txt"))
    assert bad.returncode == 2 and "at most 5,000" in bad.stderr and "Traceback" not in bad.stderr
