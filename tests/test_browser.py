"""The app in a real browser: headless Chromium driven by Playwright.

Needs Chromium (`apt-get install chromium`; path from CHARRNN_CHROMIUM, default /usr/bin/chromium) and the
`playwright` Python package (its own browser download is not used). Set CHARRNN_SCREENSHOT=docs/screenshot.png
to also save the Generate tab's screenshot there.
"""
import os
import time
from pathlib import Path

import pytest

from .apphelpers import SHIPPED, checkpoint_folder, serving

CHROMIUM = Path(os.environ.get("CHARRNN_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PROMPT = "The island" if (SHIPPED / "mysterious-island.pt").is_file() else "the island"  # the tiny model has no "T"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
if not CHROMIUM.is_file():
    pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set CHARRNN_CHROMIUM)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    base = tmp_path_factory.mktemp("browser")
    folder = checkpoint_folder(base, [SHIPPED / "mysterious-island.pt", SHIPPED / "imdb-sentiment.pt"])
    with serving(folder, base) as proc:
        yield proc


@pytest.fixture(scope="module")
def page(app):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 960})
        page.set_default_timeout(120_000)
        page.goto(app.url)
        page.locator("#generate").wait_for()
        yield page
        browser.close()


def wait_for(condition, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def settled(locator, quiet: float = 2.0, timeout: float = 120.0) -> str:
    """The field's value once it has not changed for `quiet` seconds (however long a busy machine takes)."""
    deadline = time.monotonic() + timeout
    value = locator.input_value()
    while True:
        time.sleep(quiet)
        now = locator.input_value()
        if now == value:
            return now
        assert time.monotonic() < deadline, "still changing"
        value = now


def test_generate_in_the_browser(page, tmp_path):
    assert "val loss" in page.get_by_role("combobox", name="Checkpoint").input_value()
    page.get_by_label("Prompt").fill(PROMPT)
    page.get_by_label("Length (characters)").fill("400")
    page.locator("#generate").click()
    output = page.locator("#generated textarea")
    wait_for(lambda: len(output.input_value()) == len(PROMPT) + 400)
    assert output.input_value().startswith(PROMPT)
    page.wait_for_timeout(2000)
    shot = page.screenshot(path=str(tmp_path / "screenshot.png"))
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("CHARRNN_SCREENSHOT"):
        Path(os.environ["CHARRNN_SCREENSHOT"]).write_bytes(shot)


def test_bad_prompt_shows_a_short_message(page):
    page.get_by_label("Prompt").fill(PROMPT + " €")
    page.locator("#generate").click()
    toast = page.get_by_text("the prompt has characters this model does not know: '€'")
    toast.wait_for()
    assert "Traceback" not in page.content()


def test_sentiment_in_the_browser(page):
    page.get_by_role("tab", name="Sentiment").click()
    page.get_by_label("Text to classify").fill("A good great film, I loved it: wonderful and brilliant.")
    page.locator("#classify").click()
    verdict = page.locator("#verdict")
    wait_for(lambda: "positive" in verdict.inner_text() and "%" in verdict.inner_text())
    assert "negative" in verdict.inner_text()


def test_explain_highlights_the_words_and_plots_the_running_probability(page):
    page.get_by_role("tab", name="Sentiment").click()
    page.get_by_label("Text to classify").fill("Not GOOD")
    page.locator("#explain").click()
    words = page.locator("#explanation .token.highlighted")  # the spaces between words are not highlighted
    wait_for(lambda: words.count() == 2)
    assert [w.inner_text().strip() for w in words.all()] == ["Not", "GOOD"]  # as written, not as the model reads
    colours = [w.evaluate("e => getComputedStyle(e).backgroundColor") for w in words.all()]
    assert all(c.startswith("rgb") and c != "rgba(0, 0, 0, 0)" for c in colours), colours
    assert "towards" in page.locator("#explanation").inner_text()
    page.locator("#running svg.marks").wait_for()
    axis = page.locator("#running svg").first  # a short text is plotted along its words, in reading order
    wait_for(lambda: "1 Not" in (axis.text_content() or "") and "2 GOOD" in (axis.text_content() or ""))
    wait_for(lambda: "%" in page.locator("#verdict").inner_text())  # the explained answer is shown too
    page.get_by_label("Text to classify").fill("zzzq qqqz")
    page.locator("#classify").click()
    page.get_by_text("no known words: the classifier has nothing to go on").first.wait_for()
    wait_for(lambda: "%" not in page.locator("#verdict").inner_text())


def test_long_request_is_clamped_with_a_notice_and_stop_ends_it(page):
    page.get_by_role("tab", name="Generate").click()
    page.get_by_label("Prompt").fill(PROMPT)
    page.get_by_label("Length (characters)").fill("20000")
    page.locator("#generate").click()
    page.get_by_text("length 20,000 is more than the maximum 10,000").wait_for()
    output = page.locator("#generated textarea")
    wait_for(lambda: len(output.input_value()) > len(PROMPT) + 50)
    page.locator("#generate-stop").click()
    stopped = settled(output)
    assert len(stopped) < len(PROMPT) + 10_000


def test_train_tab_takes_several_uploads_and_a_budget_in_minutes(page, tmp_path):
    texts = []
    for name, line in (("fox.txt", "the quick brown fox jumps over the lazy dog. "),
                       ("cat.txt", "a curious cat sat on the warm mat in the sun. ")):
        texts.append(tmp_path / name)
        texts[-1].write_text(line * 80)
    page.get_by_role("tab", name="Train", exact=True).click()
    assert "1268" in page.locator("#train-books").inner_text()  # the default book, as a chip
    page.locator("#train-uploads input[type=file]").set_input_files([str(t) for t in texts])
    wait_for(lambda: "cat" in page.locator("#train-uploads").inner_text())  # both listed once uploaded
    page.get_by_label("Checkpoint name").fill("two-files")
    page.locator("#train-minutes input").fill("0.15")
    page.locator("#train-start").click()
    status = page.locator("#train-status")
    status.get_by_text("Finished two-files on fox.txt, cat.txt").wait_for(timeout=240_000)
    assert "Saved as two-files.pt" in status.inner_text()
