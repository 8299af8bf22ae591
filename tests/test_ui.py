"""Chat UI: rendering and escaping, follow-up searches, uploads; the /ask endpoint (slow)."""

import re
import socket
import threading

import pytest

from qa.api import Engine
from qa.chat.app import api_answer
from qa.chat.followups import is_follow_up, key_terms, search_query
from qa.chat.render import highlight, render_about, render_answer, render_question, render_uploads, sentence_markers
from qa.chat.uploads import MAX_UPLOAD_FILES, MAX_UPLOAD_MB, Library, safe_name, save_upload
from qa.index import build_index
from qa.schema import Answer, Citation, Hit, Passage, Span

EVIL = '<img src=x onerror="window.__pwned=1">'


# ---- hand-made answers ----

def passage(pid: int, text: str, *, source="a.txt", title="Doc A") -> Passage:
    return Passage(id=pid, source=source, title=title, start=0, end=len(text), sentences=(Span(0, len(text)),),
                   texts=(text,), quotes=(text,))


def hit(p: Passage, score: float = 0.5) -> Hit:
    return Hit(passage=p, score=score, dense=score, lexical=score)


def citation(n: int, p: Passage, quote: str) -> Citation:
    start = p.text.index(quote)
    return Citation(n=n, source=p.source, path=f"/docs/{p.source}", title=p.title, start=start,
                    end=start + len(quote), quote=quote, text=quote, score=0.8, passage_id=p.id)


def answered(question="Who ranks first?", searched_for="") -> Answer:
    p1 = passage(1, "Some context. Facebook ranks first. More context.")
    p2 = passage(2, "LINE is second.", source="b <i>.txt", title=f"Title {EVIL}")
    c1, c2 = citation(1, p1, "Facebook ranks first."), citation(2, p2, "LINE is second.")
    return Answer(question=question, text="(composer text)", abstained=False,
                  sentences=("Facebook ranks first.", "LINE is second."), citations=(c1, c2),
                  passages=(hit(p1), hit(p2)), searched_for=searched_for or question, confidence=0.8)


def test_question_is_escaped():
    html = render_question(f"What is {EVIL} <script>alert(1)</script>?")
    assert "<img" not in html and "<script" not in html
    assert "&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;" in html


def test_answer_shows_sentences_with_markers_and_a_sources_block():
    html = render_answer(answered())
    reply = html.split("<details")[0]
    assert re.search(r"Facebook ranks first\.\s*(&nbsp;)?<span class=\"qa-cite\">\[1\]</span>", reply)
    assert "LINE is second." in reply and "[2]" in reply
    assert '<details class="qa-sources"><summary>Sources [1] [2]</summary>' in html
    assert "Some context. <mark>Facebook ranks first.</mark> More context." in html
    assert "<code>a.txt</code>" in html and "Doc A" in html
    assert "Searched for" not in html and "Not in the documents" not in html


def test_sources_name_the_page_or_slide_of_their_quotes():
    from dataclasses import replace

    pdf = passage(1, "Orchids bloom rarely. They bloom in March.", source="survey.pdf", title="Survey")
    deck = passage(2, "Ferries leave at eleven.", source="deck.pptx", title="Deck")
    cites = (replace(citation(1, pdf, "Orchids bloom rarely."), page=3),
             replace(citation(2, pdf, "They bloom in March."), page=4),
             replace(citation(3, deck, "Ferries leave at eleven."), page=2))
    answer = Answer(question="When?", text="", abstained=False, sentences=tuple(c.text for c in cites),
                    citations=cites, passages=(hit(pdf), hit(deck)), confidence=0.9)
    html = render_answer(answer)
    assert '<code>survey.pdf</code> <span class="qa-page">p. 3, p. 4</span>' in html
    assert '<code>deck.pptx</code> <span class="qa-page">slide 2</span>' in html
    assert "qa-page" not in render_answer(answered())


def test_titles_and_file_names_in_sources_are_escaped():
    html = render_answer(answered())
    assert "<img" not in html and "<i>" not in html
    assert "Title &lt;img src=x" in html and "b &lt;i&gt;.txt" in html


def test_searched_for_is_shown_only_when_it_differs_from_the_question():
    html = render_answer(answered(question="and in <b>Korea</b>?", searched_for="SNS ranks and in <b>Korea</b>?"))
    assert "Searched for: SNS ranks and in &lt;b&gt;Korea&lt;/b&gt;?" in html


def test_abstention_says_not_found_and_shows_the_nearest_passages():
    near = [hit(passage(i, f"Passage {i} {EVIL}", source=f"{i}.txt")) for i in range(5)]
    answer = Answer(question="Who won the cup?", text="", abstained=True, passages=tuple(near))
    html = render_answer(answer)
    assert "Not in the documents" in html
    assert "Nearest passages (3)" in html and "<code>2.txt</code>" in html and "3.txt" not in html
    assert "[1]" not in html and "<mark>" not in html and "<img" not in html


def test_abstention_says_why_when_the_answer_knows():
    note = f"The closest sentence names {EVIL}; its source never mentions X."
    answer = Answer(question="q", text="", abstained=True, note=note)
    html = render_answer(answer)
    assert "Not in the documents.</strong> The closest sentence names &lt;img" in html
    assert "well enough to quote" not in html and "<img" not in html


def test_a_quote_found_in_two_files_gets_both_markers_on_one_sentence():
    p1, p2 = passage(1, "Same words."), passage(2, "Same words.", source="b.txt")
    answer = Answer(question="q", text="", abstained=False, sentences=("Same words.", "Other."),
                    citations=(citation(1, p1, "Same words."), citation(2, p2, "Same words."),
                               citation(3, passage(3, "Other."), "Other.")),
                    passages=(hit(p1), hit(p2)))
    assert sentence_markers(answer) == [[1, 2], [3]]
    assert "Same words.&nbsp;<span class=\"qa-cite\">[1][2]</span>" in render_answer(answer)


def test_highlight_marks_each_quote_once_and_escapes_everything():
    text = "a <b> first. second & third. first."
    html = highlight(text, ["first.", "second & third.", "missing", "first. second"])
    assert html == "a &lt;b&gt; <mark>first.</mark> <mark>second &amp; third.</mark> first."
    assert highlight("plain", []) == "plain"


def test_about_lists_documents_escaped_with_counts_and_model():
    manifest = {"documents": 2, "passages": 7, "sentences": 30, "model": "all-MiniLM-L6-v2",
                "built_at": "2026-01-02T03:04:05Z", "titles": {"a.txt": "Alpha", "x.html": EVIL},
                "skipped": [f"{EVIL}.txt: no text"]}
    html = render_about(manifest)
    assert "<strong>2</strong> documents" in html and "<strong>7</strong> passages" in html
    assert "<strong>30</strong> sentences" in html and "all-MiniLM-L6-v2" in html
    assert "2026-01-02 03:04:05 UTC" in html and "Alpha <code>a.txt</code>" in html
    assert "Skipped" in html and "&lt;img src=x" in html and "<img" not in html


def test_api_answer_is_the_json_answer_without_server_paths():
    data = api_answer(answered())
    assert data["citations"][0]["quote"] == "Facebook ranks first." and data["citations"][0]["source"] == "a.txt"
    assert all("path" not in c for c in data["citations"])
    assert data["text"] == "(composer text)"


# ---- follow-up questions ----

@pytest.mark.parametrize("question", [
    "and in Korea?", "But why?", "What about China?", "how about Mixi", "Why is that?",
    "How many users does it have?", "Korea?", "Is this true there?", "What's that?", "In Korea?",
])
def test_follow_ups_are_recognised(question):
    assert is_follow_up(question)


@pytest.mark.parametrize("question", [
    "What is KISA responsible for?",
    "Which SNS ranks first among Japanese users?",
    "Did Japanese companies that used social media see higher profits?",  # a relative "that"
    "Who won the 2010 FIFA World Cup?",
    "What's Mixi?", "Who’s Josh?", "What is Mixi?",  # short, but whole questions
    "",
])
def test_questions_that_stand_alone_are_not_follow_ups(question):
    assert not is_follow_up(question)


def test_a_follow_up_searches_with_the_previous_subject():
    # A name in the follow-up takes the place of the earlier one's; an acronym ("SNS") is a term.
    assert search_query("and in Korea?", ["Which SNS ranks first among Japanese users?"]) == \
        "SNS ranks first users and in Korea?"
    assert search_query("and why?", ["Which SNS ranks first among Japanese users?"]) == \
        "SNS ranks first Japanese users and why?"
    assert search_query("  why is that? ", ["x", "Why are Japanese companies behind?"]) == \
        "Japanese companies behind why is that?"


def test_a_standalone_question_or_a_first_question_is_searched_as_asked():
    assert search_query("What is KISA responsible for?", ["What is Mixi?"]) == "What is KISA responsible for?"
    assert search_query("and in Korea?", []) == "and in Korea?"


def test_terms_the_follow_up_already_has_are_not_repeated():
    assert search_query("what about Mixi users?", ["How many users does Mixi have?"]) == "what about Mixi users?"


def test_key_terms_drop_fillers_and_duplicates_and_are_capped():
    assert key_terms("What did the Regus survey say about the survey of managers?") == ["Regus", "survey", "managers"]
    assert len(key_terms(" ".join(f"word{i}" for i in range(30)))) == 8


def test_a_chain_of_follow_ups_keeps_the_first_subject():
    first = "What is KISA responsible for?"
    second = search_query("and when was it founded?", [first])
    third = search_query("why?", [first, second])
    assert "KISA" in second and "KISA" in third and third.endswith("why?")


# ---- uploads ----

@pytest.mark.parametrize("name, expected", [
    ("notes.txt", "notes.txt"),
    ("../../etc/.bashrc.md", "bashrc.md"),
    ("C:\\Users\\me\\Report.HTML", "Report.html"),
    ("a<b>c.txt", "a_b_c.txt"),
])
def test_safe_name_keeps_a_plain_basename(name, expected):
    assert safe_name(name) == expected


@pytest.mark.parametrize("name", ["photo.png", "script.py", ".txt", "<>.txt", "noext"])
def test_safe_name_refuses_unsupported_or_empty_names(name):
    with pytest.raises(ValueError):
        safe_name(name)


def test_save_upload_adds_refuses_and_never_overwrites(tmp_path):
    docs, up = tmp_path / "docs", tmp_path / "up"
    docs.mkdir(), up.mkdir()
    (docs / "old.txt").write_text("Original text that is already indexed.\n")

    def upload(name: str, data: bytes):
        path = up / name
        path.write_bytes(data)
        return save_upload(path, docs)

    assert upload("new.txt", b"A fresh document about lanterns.\n").status == "added"
    assert (docs / "new.txt").read_bytes() == b"A fresh document about lanterns.\n"
    written = tmp_path / "written.txt"
    written.write_text("x")  # an upload's permissions are those of any file saved there
    assert (docs / "new.txt").stat().st_mode & 0o777 == written.stat().st_mode & 0o777
    assert upload("old.txt", b"Original text that is already indexed.\n").status == "unchanged"
    clash = upload("old.txt", b"Something else entirely.\n")
    assert clash.status == "refused" and "already in the documents" in clash.detail
    assert (docs / "old.txt").read_text() == "Original text that is already indexed.\n"
    assert "larger than" in upload("big.txt", b"x" * (MAX_UPLOAD_MB * 2**20 + 1)).detail
    assert upload("blob.txt", b"\x00\x01binary").status == "refused"
    assert upload("empty.md", b"\n\n   \n").status == "refused"
    assert upload("pic.png", b"png").status == "refused"
    assert sorted(p.name for p in docs.iterdir()) == ["new.txt", "old.txt"]  # no temp files left


@pytest.fixture
def library(tmp_path, fake_encoder, fake_settings):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "seed.txt").write_text("Mixi was an early Japanese social network. It lost users to Facebook.\n")
    index = build_index(docs, tmp_path / "index", settings=fake_settings, encoder=fake_encoder)
    return Library(Engine(index, fake_encoder, fake_settings))


def test_library_add_indexes_new_files_and_swaps_the_engine(library, tmp_path):
    before = library.engine
    path = tmp_path / "lanterns.txt"
    path.write_text("The Zorblax lantern festival is held every March in Quillby.\n")
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF")
    steps = []
    result = library.add([str(path), str(bad)], progress=lambda f, text: steps.append(f))
    assert [(u.name, u.status) for u in result] == [("lanterns.txt", "added"), ("bad.pdf", "refused")]
    assert result[0].passages == 1 and steps[-1] == 1.0
    assert library.engine is not before
    assert "lanterns.txt" in library.engine.index.manifest["titles"]
    assert "Added 1 passage from <code>lanterns.txt</code>" in render_uploads(result)
    answer = library.engine.ask("When is the Zorblax lantern festival held?")
    assert not answer.abstained and answer.citations[0].source == "lanterns.txt"


def test_library_add_reports_progress_while_it_embeds(library, tmp_path):
    path = tmp_path / "herons.txt"
    path.write_text("\n\n".join(f"Heron number {i} waits in the reeds of pond {i}." for i in range(600)) + "\n")
    steps = []
    library.add([str(path)], progress=lambda f, text: steps.append((f, text)))
    embedding = [(f, text) for f, text in steps if text.startswith("embedding the new text:")]
    assert len(embedding) >= 3  # one a batch of 256 new texts: the bar moves while it embeds
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and 0.2 < embedding[0][0] < embedding[-1][0] <= 0.95
    assert steps[-1] == (1.0, "done")


def test_library_add_without_new_files_keeps_the_engine(library, tmp_path):
    before = library.engine
    same = tmp_path / "seed.txt"
    same.write_text("Mixi was an early Japanese social network. It lost users to Facebook.\n")
    assert [u.status for u in library.add([str(same)])] == ["unchanged"]
    assert library.engine is before


def test_library_add_refuses_files_beyond_the_limit(library, tmp_path):
    paths = []
    for i in range(MAX_UPLOAD_FILES + 2):
        paths.append(tmp_path / f"f{i}.txt")
        paths[-1].write_text(f"Document number {i} mentions the word lantern{i}.\n")
    result = library.add([str(p) for p in paths])
    assert sum(u.status == "added" for u in result) == MAX_UPLOAD_FILES
    assert [u.detail for u in result[-2:]] == [f"only {MAX_UPLOAD_FILES} files per upload"] * 2


def test_concurrent_uploads_both_end_up_in_the_index(library, tmp_path):
    paths = [tmp_path / "one.txt", tmp_path / "two.txt"]
    for i, path in enumerate(paths):
        path.write_text(f"Upload {i} describes the festival of lights number {i}.\n")
    threads = [threading.Thread(target=library.add, args=([str(p)],)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {"one.txt", "two.txt", "seed.txt"} == set(library.engine.index.manifest["titles"])


# ---- refusing to serve a broken or stale index ----

def test_serve_refuses_a_stale_index_before_loading_the_model(seeds_index_dir):
    from qa.chat.app import serve

    (seeds_index_dir.parent / "seeds" / "extra.txt").write_text("A document the index has never seen.\n")
    with pytest.raises(ValueError, match="stale.*qa build"):
        serve(index_dir=seeds_index_dir, port=0)


def test_qa_chat_on_a_broken_index_prints_one_line_and_fails(seeds_index_dir, capsys):
    from qa.cli import main

    (seeds_index_dir / "passages.faiss").unlink()
    assert main(["chat", "--index", str(seeds_index_dir)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("qa: error: ") and "qa build" in err and err.count("\n") == 1


# ---- the /ask endpoint over HTTP (real model) ----

@pytest.mark.slow
def test_ask_endpoint_answers_through_gradio_client(real_engine):
    from gradio_client import Client

    from qa.chat.app import launch

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = launch(Library(real_engine), host="127.0.0.1", port=port)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        assert list(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == ["/ask"]
        result = client.predict("Which SNS ranks first among Japanese users?", api_name="/ask")
        assert result["abstained"] is False and "Facebook" in result["text"]
        assert result["citations"][0]["source"] == "004_b0c289f81b5cfdb1.txt"
        assert "Facebook ranks first" in result["citations"][0]["quote"]
        assert client.predict("Who won the 2010 FIFA World Cup?", api_name="/ask")["abstained"] is True
        with pytest.raises(Exception, match="question is empty"):
            client.predict("   ", api_name="/ask")
    finally:
        app.close(verbose=False)
