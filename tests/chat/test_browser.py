"""The chat in a real browser: `qa chat` in a subprocess, driven by Playwright and Debian's chromium."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
START_SECONDS = 120
REPLY_MS = 60_000
INJECTION = '<img src=x onerror="window.__pwned=1">'
UPLOADED = (
    "Lantern makers of Quillby\n\n"
    "The Zorblax lantern festival is held every March in the village of Quillby. "
    "Each lantern is blown from green glass by the Fennimore family.\n\n"
    f"The Glimmerwick prize {INJECTION} is awarded to the brightest lantern of the year.\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"qa chat exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"qa chat did not answer within {START_SECONDS} s:\n{log.read_text()[-3000:]}")


def _rebuild_if_stale(index_dir: Path) -> None:
    """A committed index that the current code no longer accepts is rebuilt in the copy,
    so this test checks the UI; test_index is the one that fails for the stale index."""
    from qa.index import IndexProblem, load_index

    try:
        load_index(index_dir)
    except IndexProblem:
        subprocess.run([sys.executable, "-m", "qa", "build", "--docs", str(index_dir.parent / "seeds"),
                        "--index", str(index_dir)], check=True, timeout=600)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("chat")
    shutil.copytree(REPO / "seeds", root / "seeds")
    shutil.copytree(REPO / "embeddings", root / "embeddings")
    _rebuild_if_stale(root / "embeddings")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    log = root / "server.log"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qa", "chat", "--index", str(root / "embeddings"), "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root,
        )
    try:
        _wait_until_up(url, proc, log)
        yield url, root
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, f"qa chat did not stop cleanly:\n{log.read_text()[-3000:]}"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: CI must `apt-get install -y chromium`")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(server[0])
    page.locator("#qa-question textarea").wait_for()
    yield page
    page.close()


def ask(page, question: str):
    """Type ``question``, press Enter, wait for the reply; returns (reply locator, seconds)."""
    replies = page.locator("#qa-chat [data-testid=bot]")
    before = replies.count()
    box = page.locator("#qa-question textarea")
    box.fill(question)
    started = time.perf_counter()
    box.press("Enter")
    page.wait_for_function(
        f"document.querySelectorAll('#qa-chat [data-testid=bot]').length > {before}", timeout=REPLY_MS
    )
    return replies.nth(before), time.perf_counter() - started


def test_answers_with_citation_sources_and_follow_up(page, capsys):
    ask(page, "What is KISA responsible for?")  # warm-up: the reply time below is a warm server's
    reply, seconds = ask(page, "Which SNS ranks first among Japanese users?")
    with capsys.disabled():
        print(f"\nreply time, Enter to answer on a warm server: {seconds:.2f} s")
    text = reply.inner_text()
    assert "Facebook ranks first" in text and "[1]" in text
    sources = reply.locator("details.qa-sources")
    assert sources.locator("summary").inner_text().startswith("Sources")
    sources.locator("summary").click()
    assert "004_b0c289f81b5cfdb1.txt" in sources.inner_text()
    assert sources.locator("mark", has_text="Facebook ranks first").count() == 1

    ask(page, "What share of Japanese firms won new customers through social networking in 2010?")
    follow_up, _ = ask(page, "what about China?")
    text = follow_up.inner_text()
    assert "Searched for:" in text and "Japanese" in text.split("Searched for:")[1]
    assert "China" in text.split("Searched for:")[1]  # the quoted answer speaks of China
    follow_up.locator("details.qa-sources summary").click()
    mark = follow_up.locator("details.qa-sources mark").first
    mark.scroll_into_view_if_needed()
    assert mark.is_visible()

    (REPO / "artifacts").mkdir(exist_ok=True)
    page.screenshot(path=str(REPO / "artifacts" / "chat.png"), full_page=True)


def test_clicking_an_example_asks_it(page):
    # The examples are the committed index's titles: this one is 003's.
    example = "What does “Japan trails international peers in social media-based marketing” say?"
    page.locator("#qa-chat button.example", has_text=example).click()
    page.locator("#qa-chat [data-testid=bot]").first.wait_for(timeout=REPLY_MS)
    assert page.locator("#qa-chat [data-testid=user]").first.inner_text() == example
    reply = page.locator("#qa-chat [data-testid=bot]").first
    assert "[1]" in reply.inner_text() and "Not in the documents" not in reply.inner_text()
    sources = reply.locator("details.qa-sources")
    sources.locator("summary").click()
    assert "003_2dc025287ed7a574.txt" in sources.inner_text()  # quoted from the titled document


def test_unanswerable_question_says_not_found_with_nearest_passages(page):
    reply, _ = ask(page, "Who won the 2010 FIFA World Cup?")
    text = reply.inner_text()
    assert "Not in the documents" in text
    assert reply.locator("details.qa-sources summary").inner_text().startswith("Nearest passages")
    assert "[1]" not in text


def test_injected_html_in_a_question_shows_as_text(page):
    reply, _ = ask(page, f"What is {INJECTION} KISA?")
    question = page.locator("#qa-chat [data-testid=user]").last
    assert INJECTION in question.inner_text()
    assert page.locator("#qa-chat img[src=x]").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert reply.inner_text()


def test_uploaded_document_is_askable_at_once_and_escaped(page, server):
    with page.expect_file_chooser() as chooser:
        page.locator("#qa-upload").click()
    chooser.value.set_files([
        {"name": "quillby.txt", "mimeType": "text/plain", "buffer": UPLOADED.encode()},
        {"name": "notes.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4"},
    ])
    status = page.locator("#qa-upload-status")
    status.get_by_text("quillby.txt").first.wait_for(timeout=REPLY_MS)
    assert "Added" in status.inner_text() and "passage" in status.inner_text()
    assert "Refused notes.pdf" in status.inner_text()
    assert (server[1] / "seeds" / "quillby.txt").read_text() == UPLOADED

    reply, _ = ask(page, "When is the Zorblax lantern festival held?")
    text = reply.inner_text()
    assert "every March" in text and "[1]" in text
    reply.locator("details.qa-sources summary").click()
    assert "quillby.txt" in reply.locator("details.qa-sources").inner_text()

    reply, _ = ask(page, "What is the Glimmerwick prize awarded to?")
    reply.locator("details.qa-sources summary").click()
    assert INJECTION in reply.inner_text()
    assert page.locator("#qa-chat img[src=x]").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert "quillby.txt" in page.locator("#qa-about").text_content()
