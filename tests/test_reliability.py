"""Reliability battery (issue 5): odd questions, messy folders, broken indexes, killed builds.

Cases other files already hold are referenced, not repeated: test_index.py (missing folder or
file, truncated FAISS, damaged vectors/passages/manifest, stale corpus, failed builds, a kill
between the two renames, dead temp folders), test_ingest.py (binary, empty, blank and
undecodable files, Latin-1, an outward file link, hidden files), test_cli.py (empty and
punctuation questions, stale index, empty corpus folder), test_api.py (question limits, an
index of another model or dimension), chat/test_app.py (`qa chat` on a missing FAISS file or a
stale index, concurrent uploads). The loopback load test lives in chat/test_load.py.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import qa.chat.app
import qa.chat.uploads
import qa.cli
from qa.api import check_question
from qa.build import build_index
from qa.config import Settings
from qa.index import IndexProblem, load_index
from qa.ingest import corpus_hash, file_digests, read_text

from conftest import REPO, FakeEncoder, one_error_line, write_corpus

GOOD = "How long do cast iron kettles from Morioka keep water hot?"

# (id, question, expected outcome): "error" is a one-line ValueError, "reply" an answer or abstention.
ODD_QUESTIONS = [
    ("empty", "", "error"),
    ("whitespace", " \t\n  ", "error"),
    ("one-char", "a", "reply"),
    ("100k-chars", "tea " * 25_000, "error"),
    ("punctuation", "?!.,;:'\"()[]{}…—«»", "error"),
    ("emoji", "🍵🔥😀", "error"),
    ("emoji-and-words", "🍵 What is matcha? 🍵", "reply"),
    ("japanese", "京都には茶屋がいくつありますか？", "reply"),
    ("korean", "교토에는 찻집이 몇 개 있습니까?", "reply"),
    ("sql", "'; DROP TABLE passages; -- SELECT * FROM users WHERE '1'='1", "reply"),
    ("html", "<script>alert('x')</script><img src=x onerror=alert(1)> What is matcha?", "reply"),
    ("repeated-1000", "What is matcha? " * 1000, "error"),
    # Bytes that are not UTF-8 reach argv (and JSON) as lone surrogates.
    ("undecodable-bytes", "What is matcha? \udcff\udcfe", "reply"),
]
QUESTION_IDS = [case[0] for case in ODD_QUESTIONS]


@pytest.fixture(autouse=True)
def quiet_qa_logger():
    """Start without handlers on the "qa" logger and leave none: main() adds one bound to the
    captured stderr of its test, and a handler left by another file's test writes to a closed one."""
    logger = logging.getLogger("qa")
    before = list(logger.handlers)
    logger.handlers[:] = []
    yield
    logger.handlers[:] = before


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory) -> Path:
    """The tiny corpus indexed under the bundled model's name with fake vectors, as `fake_model` expects."""
    root = tmp_path_factory.mktemp("cli")
    settings = Settings()
    build_index(write_corpus(root / "docs"), root / "index", settings=settings, encoder=FakeEncoder(settings.model))
    return root / "index"


# ---- questions ----


@pytest.mark.parametrize("case", ODD_QUESTIONS, ids=QUESTION_IDS)
def test_odd_question_through_the_cli(fake_model, cli_index, capsys, case):
    _, question, outcome = case
    assert qa.cli.main(["ask", GOOD, "--index", str(cli_index)]) == 0
    good_reply = capsys.readouterr().out
    code = qa.cli.main(["ask", question, "--json", "--index", str(cli_index)])
    if outcome == "error":
        assert code == 1
        assert "question" in one_error_line(capsys)
    else:
        out, err = capsys.readouterr()
        assert code == 0 and err == ""
        assert json.loads(out)["question"] == check_question(question)
    assert qa.cli.main(["ask", GOOD, "--index", str(cli_index)]) == 0  # still serving, same reply
    assert capsys.readouterr().out == good_reply


@pytest.fixture(scope="module")
def chat(tmp_path_factory) -> dict:
    """The chat app's own handlers (echo, reply, the /ask function) over a fake engine."""
    from qa.api import Engine

    root = tmp_path_factory.mktemp("chat")
    settings, encoder = Settings(model="fake-hash-64"), FakeEncoder()
    engine = Engine(build_index(write_corpus(root / "docs"), root / "index", settings=settings, encoder=encoder),
                    encoder, settings)
    app = qa.chat.app.build_app(qa.chat.uploads.Library(engine))
    handlers = {fn.name: fn.fn for fn in app.fns.values()}
    return {name: handlers[name] for name in ("echo", "reply", "ask")}


def chat_turn(chat: dict, question: str, history: list, asked: list) -> tuple[list, list]:
    """What one submitted message does: echo it, then reply (the two steps the textbox chains)."""
    _, history, pending = chat["echo"](question, history)
    return chat["reply"](pending, history, asked)


@pytest.mark.parametrize("case", ODD_QUESTIONS, ids=QUESTION_IDS)
def test_odd_question_through_the_chat(chat, case):
    _, question, outcome = case
    good_history, _ = chat_turn(chat, GOOD, [], [])
    history, asked = chat_turn(chat, question, [], [])
    if not question.strip():  # an empty message posts nothing and remembers nothing
        assert history == [] and asked == []
    else:
        assert [m["role"] for m in history] == ["user", "assistant"]
        reply = history[1]["content"]
        if outcome == "error":
            assert reply.startswith('<p class="qa-error">') and asked == []
        else:
            assert ('class="qa-reply"' in reply or 'class="qa-notfound"' in reply) and len(asked) == 1
        shown = "".join(m["content"] for m in history)
        assert "<script" not in shown and "<img" not in shown  # the user's markup is shown, not run
    history, asked = chat_turn(chat, GOOD, history, asked)
    assert history[-1] == good_history[-1]
    json.dumps(history, ensure_ascii=False).encode()  # what Gradio must send back: valid UTF-8


@pytest.mark.parametrize("case", ODD_QUESTIONS, ids=QUESTION_IDS)
def test_odd_question_through_the_ask_endpoint_function(chat, case):
    from gradio.exceptions import Error

    _, question, outcome = case
    if outcome == "error":
        with pytest.raises(Error) as info:
            chat["ask"](question)
        assert "question" in str(info.value) and "\n" not in str(info.value)
    else:
        data = chat["ask"](question)
        assert isinstance(data["text"], str) and data["abstained"] is (data["citations"] == [])
        json.dumps(data, ensure_ascii=False).encode()  # serialisable and printable: no lone surrogates
    assert chat["ask"](GOOD)["abstained"] is False


def test_the_same_question_asked_1000_times_in_a_row(fake_engine):
    first = fake_engine.ask(GOOD).to_dict()
    assert first["citations"]
    for _ in range(999):
        assert fake_engine.ask(GOOD).to_dict() == first


@pytest.mark.model
def test_undecodable_bytes_reach_the_real_model_safely(real_engine):
    """The Hugging Face tokenizer raises TypeError on lone surrogates, in the question or the search."""
    question = "Which SNS ranks first among Japanese users? \udcff"
    answer = real_engine.ask(question, searched_for=f"Japanese SNS {question}")
    assert "\ufffd" in answer.question and "\udcff" not in answer.question
    assert not answer.abstained and "Facebook" in answer.text


# ---- messy corpus folders ----

SJIS_TEXT = "宇治の茶師は、良い煎茶には七十度のお湯が必要だと言いました。\n\n京都には二百以上の茶屋があります。\n"
SJIS_SENTENCE = "京都には二百以上の茶屋があります。"
NO_PUNCTUATION = "\n".join(
    f"the zorblax lantern number {i} glows over quillby harbour while ferries wait" for i in range(40)
) + "\n"
DUPLICATE = "# Hojicha\n\nHojicha is green tea roasted over charcoal until the leaves turn reddish brown.\n"
SECRET = "PLUGHSECRET"

# Skipped file -> a word its reason must contain. The size cap is Settings.max_file_mb (20 MB),
# not load_corpus's own default (64 MB): a 50 MB file shows build_index passes it on.
MESSY_SKIPPED = {
    "empty.txt": "no text",
    "binary.txt": "binary",
    "huge.txt": "larger than 20 MB",
    "link-file.txt": "outside",
    "link-dir.txt": "outside",
    "loop.txt": "looping",
    "dangling.md": "broken",
}
MESSY_INDEXED = [
    "dup-a.txt", "dup-b.txt", "folder.txt/inner.md", "latin1.txt", "no-punctuation.txt",
    "notes.md", "page.html", "post.txt", "shift-jis.txt",
]


def make_messy(corpus: Path, outside: Path) -> None:
    """Add every kind of trouble a real folder holds to the tiny corpus (which has Latin-1 already)."""
    outside.mkdir()
    (outside / "secret.txt").write_text(f"{SECRET} lives outside the corpus folder.\n")
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50)
    (corpus / "shift-jis.txt").write_bytes(SJIS_TEXT.encode("shift_jis"))
    with (corpus / "huge.txt").open("wb") as out:
        out.write(b"Green tea grows on the hills of Shizuoka. " * (50 * 2**20 // 42 + 1))
    (corpus / "no-punctuation.txt").write_text(NO_PUNCTUATION)
    (corpus / "dup-a.txt").write_text(DUPLICATE)
    (corpus / "dup-b.txt").write_text(DUPLICATE)
    (corpus / "link-file.txt").symlink_to(outside / "secret.txt")
    (corpus / "link-dir.txt").symlink_to(outside, target_is_directory=True)
    (corpus / "link-dir").symlink_to(outside, target_is_directory=True)  # no suffix: not even listed
    (corpus / "loop.txt").symlink_to(corpus / "loop.txt")
    (corpus / "dangling.md").symlink_to(outside / "gone.md")
    (corpus / "folder.txt").mkdir()  # a folder with a document's name is a folder
    (corpus / "folder.txt" / "inner.md").write_text("Genmaicha mixes green tea with roasted brown rice.\n")


@pytest.fixture(scope="session")
def open_log():
    """Every path the process opens while ``on`` is set (an audit hook sees C-level opens too)."""
    log = {"on": False, "paths": []}

    def hook(event, args):
        if event == "open" and log["on"] and isinstance(args[0], (str, bytes, os.PathLike)):
            log["paths"].append(os.fsdecode(args[0]))

    sys.addaudithook(hook)  # hooks cannot be removed, so one per session, switched by the flag
    return log


@pytest.fixture
def messy_build(fake_model, corpus, tmp_path, capsys, open_log):
    """`qa build` over the messy folder: (index folder, stdout, stderr, paths opened)."""
    make_messy(corpus, tmp_path / "outside")
    index = tmp_path / "index"
    open_log.update(on=True, paths=[])
    try:
        code = qa.cli.main(["build", "--docs", str(corpus), "--index", str(index)])
    finally:
        open_log["on"] = False
    out, err = capsys.readouterr()
    assert code == 0, err
    return index, out, err, list(open_log["paths"])


def test_messy_folder_builds_and_names_every_skipped_file(messy_build, tmp_path):
    index, out, err, opened = messy_build
    manifest = load_index(index).manifest  # fresh, although files were skipped
    assert manifest["files"] == MESSY_INDEXED
    assert len(manifest["skipped"]) == len(MESSY_SKIPPED)
    for name, reason in MESSY_SKIPPED.items():
        lines = [line for line in manifest["skipped"] if line.startswith(f"{name}: ")]
        assert len(lines) == 1 and reason in lines[0], (name, manifest["skipped"])
        assert f"skipped {lines[0]}\n" in out
        assert err.count(f"skipped {name}:") == 1, err  # one warning each, not one per scan
    assert out.startswith(f"indexed {len(MESSY_INDEXED)} documents of ")
    # Nothing outside the corpus folder was opened or indexed.
    outside = (tmp_path / "outside").resolve()
    assert not [p for p in opened if Path(p).resolve().is_relative_to(outside)]
    assert any(Path(p).name == "post.txt" for p in opened)  # the spy saw the corpus being read
    for name in os.listdir(index):
        if (index / name).is_file():
            assert SECRET.encode() not in (index / name).read_bytes(), name


def ask_json(index: Path, question: str, capsys) -> dict:
    assert qa.cli.main(["ask", question, "--json", "--index", str(index)]) == 0
    out, err = capsys.readouterr()
    assert err == ""  # skipped files were reported by the build, not on every question
    data = json.loads(out)
    for c in data["citations"]:
        assert read_text(c["path"])[c["start"]:c["end"]] == c["quote"]
    return data


def test_messy_folder_answers_from_its_good_files(messy_build, corpus, capsys):
    index = messy_build[0]
    dup = ask_json(index, "What is hojicha roasted over until the leaves turn reddish brown?", capsys)
    assert not dup["abstained"]
    assert {"dup-a.txt", "dup-b.txt"} <= {c["source"] for c in dup["citations"]}  # both copies cited
    flat = ask_json(index, "Which zorblax lantern glows over quillby harbour?", capsys)
    assert flat["citations"] and {c["source"] for c in flat["citations"]} == {"no-punctuation.txt"}
    japanese = ask_json(index, SJIS_SENTENCE, capsys)
    assert [c["quote"] for c in japanese["citations"] if c["source"] == "shift-jis.txt"] == [SJIS_SENTENCE]
    inner = ask_json(index, "What does genmaicha mix green tea with?", capsys)
    assert inner["citations"][0]["source"] == "folder.txt/inner.md"
    # A later change is reported by name; skipped files and links are not "removed".
    (corpus / "new.txt").write_text("Kukicha is made from the stems of the tea plant.\n")
    with pytest.raises(IndexProblem, match="qa build") as info:
        load_index(index)
    assert "stale (added new.txt in" in str(info.value) and "removed" not in str(info.value)


def drop_file_permission_override() -> None:
    """In a child process: give up root's power to read any file (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH).

    Dropping them from the bounding set makes the exec'd program start without them.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


HELPER = '''\
"""Run `qa` with the fake encoder. QA_FAKE_PAUSE slows every encoder batch and the index write."""
import os
import sys
import time

sys.path.insert(0, {tests!r})
import faiss

import qa.api
import qa.embed
from conftest import FakeEncoder

PAUSE = float(os.environ.get("QA_FAKE_PAUSE", "0"))


class SlowEncoder(FakeEncoder):
    def encode(self, texts, *, progress=False):
        time.sleep(PAUSE)
        return super().encode(texts, progress=progress)


write_index = faiss.write_index


def announced_write_index(*args):
    print("writing", flush=True)  # passages.jsonl is in the temp folder already, the rest is not
    time.sleep(PAUSE)
    write_index(*args)
    time.sleep(PAUSE)


faiss.write_index = announced_write_index
qa.embed.Encoder = qa.api.Encoder = SlowEncoder
print("started", flush=True)
from qa.cli import main

sys.exit(main(sys.argv[1:]))
'''


@pytest.fixture
def helper(tmp_path) -> Path:
    path = tmp_path / "fake_qa.py"
    path.write_text(HELPER.format(tests=str(REPO / "tests")))
    return path


def helper_env(pause: float = 0.0) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "QA_MODEL"}
    env["QA_FAKE_PAUSE"] = str(pause)
    return env


def build_without_root_powers(helper: Path, corpus: Path, index: Path, probe: str) -> subprocess.CompletedProcess:
    """Build with the fake encoder as a user for whom chmod 000 counts.

    chmod 000 does not stop root, so as root the build runs without the capabilities that
    let it read anyway; ``probe`` (Python code) must hit a PermissionError once they are gone.
    """
    as_root = os.geteuid() == 0
    if as_root:
        check = subprocess.run([sys.executable, "-c", probe], preexec_fn=drop_file_permission_override,
                               capture_output=True, text=True)
        if "PermissionError" not in check.stderr:
            pytest.skip(f"running as root and cannot drop CAP_DAC_OVERRIDE here: {check.stderr.strip()[-200:]}")
    return subprocess.run(
        [sys.executable, str(helper), "build", "--docs", str(corpus), "--index", str(index)],
        preexec_fn=drop_file_permission_override if as_root else None,
        env=helper_env(), capture_output=True, text=True, timeout=120,
    )


def test_unreadable_file_is_skipped_and_named(helper, corpus, tmp_path):
    locked = corpus / "locked.txt"
    locked.write_text("A locked note about oolong.\n")
    locked.chmod(0)
    run = build_without_root_powers(helper, corpus, tmp_path / "index", f"open({str(locked)!r}).close()")
    assert run.returncode == 0, run.stderr
    assert "skipped locked.txt: Permission denied\n" in run.stdout
    assert run.stderr.count("locked.txt") == 1
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert manifest["skipped"] == ["locked.txt: Permission denied"]
    assert manifest["files"] == ["latin1.txt", "notes.md", "page.html", "post.txt"]


def test_unlistable_subfolder_is_skipped_and_named(helper, corpus, tmp_path):
    locked = corpus / "private"
    locked.mkdir()
    (locked / "diary.txt").write_text("A note nobody may read.\n")
    locked.chmod(0)
    try:
        run = build_without_root_powers(helper, corpus, tmp_path / "index", f"import os; os.listdir({str(locked)!r})")
    finally:
        locked.chmod(0o755)  # so that tmp_path can be cleaned up
    assert run.returncode == 0, run.stderr
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert manifest["skipped"] == ["private/: Permission denied"]
    assert run.stderr.count("private/: Permission denied") == 1
    assert manifest["files"] == ["latin1.txt", "notes.md", "page.html", "post.txt"]


# ---- broken indexes ----

BM25_FILES = ["data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy",
              "params.index.json", "vocab.index.json"]


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def edit_manifest(index: Path, **changes) -> None:
    manifest = json.loads((index / "manifest.json").read_text())
    manifest.update(changes)
    (index / "manifest.json").write_text(json.dumps(manifest))


def from_other(name: str):
    """Replace one file (or folder) with its namesake from a smaller, valid index."""
    def damage(index: Path, other: Path) -> None:
        target = index / name
        if target.is_dir():
            shutil.rmtree(target)
            shutil.copytree(other / name, target)
        else:
            shutil.copy(other / name, target)
    return damage


BROKEN = {
    **{f"bm25-{n}-truncated": (lambda i, o, n=n: truncate(i / "bm25" / n)) for n in BM25_FILES},
    **{f"bm25-{n}-from-another-index": from_other(f"bm25/{n}") for n in BM25_FILES},
    "bm25-folder-from-another-index": from_other("bm25"),
    "idf-truncated": lambda i, o: truncate(i / "idf.json"),
    "idf-from-another-index": from_other("idf.json"),
    "idf-without-terms": lambda i, o: (i / "idf.json").write_text(json.dumps({"n_docs": 7})),
    "manifest-of-another-model": lambda i, o: edit_manifest(
        i, model="other-model", settings={"model": "other-model", "passage_words": 120}),
    "manifest-of-another-dimension": lambda i, o: edit_manifest(i, dimension=32),
}


@pytest.fixture
def broken_index(request, cli_index, tmp_path) -> Path:
    """A private copy of the CLI index (same corpus), damaged the way ``request.param`` says."""
    index = tmp_path / "index"
    shutil.copytree(cli_index, index)
    assert sorted(p.name for p in (index / "bm25").iterdir()) == BM25_FILES  # every bm25s file is damaged below
    edit_manifest(index, docs_dir=os.path.relpath(cli_index.parent / "docs", index))
    other_docs = tmp_path / "other-docs"
    other_docs.mkdir()
    (other_docs / "kites.txt").write_text("Kites fly over the dunes of Hamamatsu every May.\n")
    settings = Settings()
    build_index(other_docs, tmp_path / "other", settings=settings, encoder=FakeEncoder(settings.model))
    BROKEN[request.param](index, tmp_path / "other")
    return index


@pytest.fixture
def index_of_another_dimension(tmp_path) -> Path:
    """An index whose manifest and files agree on 32 dimensions; the configured encoder gives 64."""
    settings = Settings()
    build_index(write_corpus(tmp_path / "docs"), tmp_path / "index", settings=settings,
                encoder=FakeEncoder(settings.model, dim=32))
    return tmp_path / "index"


@pytest.mark.parametrize("broken_index", list(BROKEN), indirect=True)
def test_ask_on_a_broken_index_says_how_to_fix_it(fake_model, broken_index, capsys):
    assert qa.cli.main(["ask", GOOD, "--index", str(broken_index)]) == 1
    assert "qa build" in one_error_line(capsys)


def test_ask_with_an_encoder_of_another_dimension(fake_model, index_of_another_dimension, capsys):
    assert qa.cli.main(["ask", GOOD, "--index", str(index_of_another_dimension)]) == 1
    line = one_error_line(capsys)
    assert "64-dimensional" in line and "qa build" in line


@pytest.fixture
def no_server(monkeypatch):
    """Fail the test if anything tries to start the web server."""
    def launch(*args, **kwargs):
        raise AssertionError("qa chat started a server on a broken index")

    monkeypatch.setattr(qa.chat.app, "launch", launch)


def refused_quickly(index: Path, capsys) -> str:
    started = time.perf_counter()
    assert qa.cli.main(["chat", "--index", str(index), "--port", "0"]) == 1
    assert time.perf_counter() - started < 10
    return one_error_line(capsys)


@pytest.mark.parametrize("broken_index", list(BROKEN), indirect=True)
def test_chat_refuses_a_broken_index_without_serving(fake_model, no_server, broken_index, capsys):
    assert "qa build" in refused_quickly(broken_index, capsys)


def test_chat_refuses_an_encoder_of_another_dimension(fake_model, no_server, index_of_another_dimension, capsys):
    assert "qa build" in refused_quickly(index_of_another_dimension, capsys)  # found by the warm-up question


def test_an_index_older_than_its_unchanged_files_is_still_fresh(fake_index, corpus):
    """Freshness goes by content, so touching or copying files back does not force a rebuild."""
    future = time.time() + 86_400
    for path in corpus.iterdir():
        os.utime(path, (future, future))
    load_index(fake_index.root)
    # (A content change is reported as stale: test_index.py::test_stale_index_is_refused.)


# ---- builds killed at random moments ----


class Child:
    """A subprocess whose stdout lines are read as they come, with a deadline."""

    def __init__(self, args: list[str], *, env: dict, stderr_path: Path):
        self.stderr_path = stderr_path
        with stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, env=env)
        self.lines: list[str] = []
        self._buffer = b""

    def wait_for(self, line: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while line not in self.lines:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {line!r} within {timeout} s: {self.stderr_path.read_text()[-500:]}")
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.05)
            if not ready:
                continue
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise AssertionError(f"exited before {line!r}: {self.stderr_path.read_text()[-500:]}")
            *done, self._buffer = (self._buffer + chunk).split(b"\n")
            self.lines += [d.decode() for d in done]


def leftovers(index: Path) -> list[str]:
    return sorted(p.name for p in index.parent.iterdir() if p.name.startswith(f".{index.name}."))


@pytest.mark.stress
def test_builds_killed_at_random_moments_leave_the_previous_index(helper, corpus, tmp_path):
    index = tmp_path / "index"
    build = [sys.executable, str(helper), "build", "--docs", str(corpus), "--index", str(index)]
    assert subprocess.run(build, env=helper_env(), capture_output=True, timeout=120).returncode == 0
    before = load_index(index)
    # About 3,300 new texts: 13 encoder batches, each paused, so every killed build is mid-way.
    (corpus / "big.txt").write_text("\n\n".join(
        " ".join(f"Garden {p}-{s} on hill {p * 7 + s} grows tea picked in week {s + 1}." for s in range(10))
        for p in range(300)
    ))
    rng = random.Random(20240905)
    kills = []
    for attempt in range(6):
        child = Child(build, env=helper_env(pause=0.15), stderr_path=tmp_path / f"kill-{attempt}.err")
        try:
            child.wait_for("started")
            if attempt % 2:  # while the temp folder is half written
                child.wait_for("writing")
                delay = rng.uniform(0, 0.1)
            else:  # anywhere from reading the folder to embedding
                delay = rng.uniform(0, 1.5)
            time.sleep(delay)
        finally:
            child.proc.kill()  # SIGKILL
            child.proc.wait(timeout=30)
            child.proc.stdout.close()
        kills.append(("writing" if attempt % 2 else "started", round(delay, 3)))
        assert child.proc.returncode == -signal.SIGKILL, f"finished before the kill: {kills}"
        survivor = load_index(index, check_corpus=False)
        assert survivor.manifest["corpus_hash"] == before.manifest["corpus_hash"], kills
        assert survivor.passages == before.passages
    assert any(".building-" in name for name in leftovers(index)), "no kill hit the write; the test proved little"
    done = subprocess.run(build, env=helper_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    after = load_index(index)
    assert after.manifest["corpus_hash"] == corpus_hash(file_digests(corpus))
    assert "big.txt" in after.manifest["files"]
    assert leftovers(index) == []
    print(f"killed at (phase, seconds after it): {kills}")
