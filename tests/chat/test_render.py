"""Chat HTML: answers, sources, abstentions and the about panel rendered and escaped."""

import re

from qa.chat.app import api_answer
from qa.chat.render import highlight, render_about, render_answer, render_question, sentence_markers
from qa.schema import Answer, Citation, Hit, Passage, Span

EVIL = '<img src=x onerror="window.__pwned=1">'


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
