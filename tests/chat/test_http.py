"""The JSON API beside the chat, over loopback with a real HTTP client: answers, refusals, read-only, login."""

from __future__ import annotations

import contextlib
import json
import socket
import time

import httpx
import pytest

from qa.api import Engine
from qa.build import build_index
from qa.chat.app import exposure_warning, is_loopback
from qa.chat.http import read_accounts
from qa.chat.uploads import Library

from conftest import FAKE_MODEL, FakeEncoder, make_docx, write_corpus

QUESTION = "What temperature does sencha need?"
LOGIN = ("ann", "tea for two")
TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(root, **options):
    """A chat server on a loopback port over a fake-encoder index of the test corpus, in ``root``."""
    from qa.chat.app import launch
    from qa.config import Settings

    encoder, settings = FakeEncoder(), Settings(model=FAKE_MODEL)
    index = build_index(write_corpus(root / "docs"), root / "index", settings=settings, encoder=encoder)
    library = Library(Engine(index, encoder, settings))
    port = free_port()
    app = launch(library, host="127.0.0.1", port=port, **options)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=TIMEOUT) as client:
            yield client, library
    finally:
        app.close(verbose=False)


@pytest.fixture(scope="module")
def open_server(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("open")) as server:
        yield server


@pytest.fixture(scope="module")
def read_only_server(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("read-only"), read_only=True) as server:
        yield server


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("auth"), accounts=[LOGIN]) as server:
        yield server


def test_ask_returns_the_same_json_as_qa_ask_json(open_server):
    client, library = open_server
    response = client.post("/api/ask", json={"question": QUESTION, "k": 2})
    assert response.status_code == 200
    assert response.json() == json.loads(json.dumps(library.engine.ask(QUESTION, k=2).to_dict()))
    data = response.json()
    assert not data["abstained"] and len(data["passages"]) == 2
    assert {"source", "path", "start", "end", "quote", "page"} <= data["citations"][0].keys()


def test_health_summarises_the_manifest(open_server):
    client, library = open_server
    data = client.get("/api/health").json()
    manifest = library.engine.index.manifest
    assert data["status"] == "ok" and data["read_only"] is False
    assert (data["documents"], data["passages"], data["model"]) == (
        manifest["documents"], manifest["passages"], manifest["model"])


@pytest.mark.parametrize("body, says", [
    (b"{not json", "must be JSON"),
    (b"[1, 2]", "JSON object with a \"question\""),
    (b'{"k": 3}', "JSON object with a \"question\""),
    (b'{"question": "   "}', "question is empty"),
    (b'{"question": 42}', "must be text"),
    (b'{"question": "' + b"why " * 600 + b'"}', "the limit is 2,000"),
    (b'{"question": "What is sencha?", "k": 0}', "whole number of at least 1"),
    (b'{"question": "What is sencha?", "k": "5"}', "whole number of at least 1"),
    (b'{"question": "What is sencha?", "k": true}', "whole number of at least 1"),
    (b'{"question": "What is sencha?", "top": 3}', "unknown field(s) top"),
    (b'{"question": "' + b"x" * 70_000 + b'"}', "the limit is 65,536"),
])
def test_bad_requests_get_422_with_one_line(open_server, body, says):
    client, _ = open_server
    response = client.post("/api/ask", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert says in error and "\n" not in error


def test_a_missing_index_gets_503_with_the_build_hint(open_server):
    client, library = open_server
    faiss_file = library.engine.index.root / "passages.faiss"
    aside = faiss_file.with_name("aside.faiss")
    faiss_file.rename(aside)
    try:
        for response in (client.get("/api/health"), client.post("/api/ask", json={"question": QUESTION})):
            assert response.status_code == 503
            assert "qa build" in response.json()["error"] and "passages.faiss missing" in response.json()["error"]
    finally:
        aside.rename(faiss_file)
    assert client.get("/api/health").status_code == 200


def test_openapi_page_documents_the_api(open_server):
    client, _ = open_server
    schema = client.get("/api/openapi.json").json()
    assert sorted(schema["paths"]) == ["/api/ask", "/api/documents", "/api/health"]
    assert "question" in json.dumps(schema["paths"]["/api/ask"]["post"]["requestBody"])
    assert client.get("/api/docs").status_code == 200
    # What the read-only test looks for is there when uploads are on.
    config = client.get("/config").json()
    assert "uploadbutton" in {c["type"] for c in config["components"]}
    assert any(d.get("api_name") == "upload" for d in config["dependencies"])


def test_documents_can_be_added_through_the_api(open_server, tmp_path):
    client, library = open_server
    word = make_docx(tmp_path / "ferries.docx", ["The night ferry from Pellmouth to Darrowgate leaves at eleven."])
    with word.open("rb") as data:
        response = client.post("/api/documents", files=[("files", ("ferries.docx", data)),
                                                        ("files", ("notes.exe", b"MZ"))])
    assert response.status_code == 200
    uploads = {u["name"]: u for u in response.json()["uploads"]}
    assert uploads["ferries.docx"]["status"] == "added" and uploads["notes.exe"]["status"] == "refused"
    answer = client.post("/api/ask", json={"question": "When does the night ferry from Pellmouth leave?"}).json()
    assert answer["citations"][0]["source"] == "ferries.docx" and answer["citations"][0]["page"] is None
    assert "ferries.docx" in library.engine.index.manifest["files"]
    assert client.post("/api/documents", content=b"x").status_code == 422


def test_a_read_only_server_refuses_uploads_and_has_no_upload_panel(read_only_server, tmp_path):
    client, library = read_only_server
    before = sorted(p.name for p in library.engine.index.docs_dir.iterdir())
    response = client.post("/api/documents", files={"files": ("new.txt", b"The Zorblax festival is in March.\n")})
    assert response.status_code == 403 and "read-only" in response.json()["error"]
    assert sorted(p.name for p in library.engine.index.docs_dir.iterdir()) == before
    config = client.get("/config").json()
    assert "uploadbutton" not in {c["type"] for c in config["components"]}
    assert not any(d.get("api_name") == "upload" for d in config["dependencies"])
    assert client.get("/api/health").json()["read_only"] is True
    assert client.post("/api/ask", json={"question": QUESTION}).status_code == 200  # asking is still open


def test_with_auth_the_api_and_the_chat_need_a_login(auth_server):
    client, _ = auth_server
    refused = client.post("/api/ask", json={"question": QUESTION})
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
    assert "log in" in refused.json()["error"]
    assert client.get("/api/health").status_code == 401
    assert client.post("/api/ask", json={"question": QUESTION}, auth=("ann", "wrong")).status_code == 401
    assert client.post("/api/documents", files={"files": ("a.txt", b"Text.\n")}).status_code == 401
    assert client.get("/gradio_api/info").status_code == 401  # the chat's own API is behind the login too
    answered = client.post("/api/ask", json={"question": QUESTION}, auth=LOGIN)
    assert answered.status_code == 200 and not answered.json()["abstained"]


def test_with_auth_the_chat_login_cookie_opens_the_api(auth_server):
    client, _ = auth_server
    with httpx.Client(base_url=client.base_url, timeout=TIMEOUT) as browser:
        assert browser.post("/login", data={"username": LOGIN[0], "password": LOGIN[1]}).status_code == 200
        assert browser.post("/api/ask", json={"question": QUESTION}).status_code == 200


def test_concurrent_questions_all_get_answers(open_server):
    from concurrent.futures import ThreadPoolExecutor

    client, _ = open_server
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: client.post("/api/ask", json={"question": QUESTION}).status_code, range(16)))
    assert codes == [200] * 16 and time.monotonic() - started < TIMEOUT


def test_read_accounts_from_a_file_or_an_environment_variable(tmp_path):
    logins = tmp_path / "logins"
    logins.write_text("# team\nann:tea for two\n\nbo: x:y\n", encoding="utf-8")
    assert read_accounts(str(logins), {}) == [("ann", "tea for two"), ("bo", " x:y")]
    assert read_accounts("env:QA_LOGINS", {"QA_LOGINS": "ann:one,bo:two"}) == [("ann", "one"), ("bo", "two")]
    for spec, environ, says in [("env:QA_LOGINS", {}, "is not set"), (str(tmp_path / "none"), {}, "cannot read"),
                                ("env:X", {"X": "no-colon"}, "user:password")]:
        with pytest.raises(ValueError, match=says):
            read_accounts(spec, environ)


def test_qa_chat_with_an_unreadable_auth_file_is_one_line(capsys, tmp_path):
    from qa.cli import main

    assert main(["chat", "--auth", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("qa: error: --auth") and err.count("\n") == 1


def test_serving_beyond_loopback_with_open_uploads_warns():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")
    warning = exposure_warning("0.0.0.0", 7860, read_only=False, auth=False)
    assert warning.startswith("qa: warning:") and "\n" not in warning and "--read-only" in warning
    assert exposure_warning("0.0.0.0", 7860, read_only=True, auth=False) is None
    assert exposure_warning("0.0.0.0", 7860, read_only=False, auth=True) is None
    assert exposure_warning("127.0.0.1", 7860, read_only=False, auth=False) is None
