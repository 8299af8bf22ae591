"""Passages: sentence-aligned chunks that stay inside one document and point into its raw text."""

from __future__ import annotations

import pytest

from qa.ingest import html_blocks, load_corpus
from qa.passages import make_passages, split_sentences
from qa.schema import Document, Span


@pytest.fixture
def documents(corpus):
    return load_corpus(corpus)[0]


def doc(source: str, raw: str) -> Document:
    """A document whose blocks are its blank-line separated paragraphs."""
    blocks, start = [], 0
    for part in raw.split("\n\n"):
        if part.strip():
            left = start + len(part) - len(part.lstrip())
            blocks.append(Span(left, left + len(part.strip())))
        start += len(part) + 2
    return Document(source=source, path=f"/nowhere/{source}", title=source, raw=raw, blocks=tuple(blocks))


@pytest.mark.parametrize("budget", [8, 20, 120])
def test_passage_ids_run_in_order(documents, budget):
    passages = make_passages(documents, passage_words=budget)
    assert [p.id for p in passages] == list(range(len(passages)))


@pytest.mark.parametrize("budget", [8, 20, 120])
def test_passages_never_cross_documents(documents, budget):
    raw_of = {d.source: d.raw for d in documents}
    passages = make_passages(documents, passage_words=budget)
    sources = [p.source for p in passages]
    # One run of passages per document, in document order.
    assert [s for i, s in enumerate(sources) if i == 0 or sources[i - 1] != s] == [d.source for d in documents]
    for p in passages:
        assert p.title == next(d.title for d in documents if d.source == p.source)
        assert 0 <= p.start <= p.end <= len(raw_of[p.source])
        assert (p.start, p.end) == (p.sentences[0].start, p.sentences[-1].end)


@pytest.mark.parametrize("budget", [8, 20, 120])
def test_sentences_tile_each_block(documents, budget):
    """Every non-space character of a block lies in exactly one sentence of one passage."""
    passages = make_passages(documents, passage_words=budget)
    for d in documents:
        spans = [s for p in passages if p.source == d.source for s in p.sentences]
        assert spans == sorted(spans, key=lambda s: s.start)
        for a, b in zip(spans, spans[1:]):
            assert a.end <= b.start
        for block in d.blocks:
            inside = [s for s in spans if block.start <= s.start < block.end]
            assert all(s.end <= block.end for s in inside)
            covered = "".join(d.text(s) for s in inside)
            assert "".join(covered.split()) == "".join(d.text(block).split())
        assert all(any(b.start <= s.start and s.end <= b.end for b in d.blocks) for s in spans)


def test_sentence_spans_slice_to_sentences(documents):
    raw_of = {d.source: d.raw for d in documents}
    texts = [raw_of[p.source][s.start:s.end] for p in make_passages(documents, passage_words=120) for s in p.sentences]
    for text in texts:
        assert text and text == text.strip()
    post = [t for t in texts if "visitors" in t or "steeping" in t]
    assert post == [
        "Most visitors rush the first cup.",
        "The second steeping is sweeter, and the third\nis the one locals drink with rice crackers.",
    ]


@pytest.mark.parametrize("budget", [8, 20, 120])
def test_passage_text_is_its_sentences_joined(documents, budget):
    doc_of = {d.source: d for d in documents}
    for p in make_passages(documents, passage_words=budget):
        d = doc_of[p.source]
        assert list(p.quotes) == [d.raw[s.start:s.end] for s in p.sentences]
        assert list(p.texts) == [d.text(s) for s in p.sentences]
        assert p.text == " ".join(p.texts)


@pytest.mark.parametrize("budget", [5, 8, 20, 40])
def test_word_budget_is_respected(documents, budget):
    for p in make_passages(documents, passage_words=budget):
        words = sum(len(t.split()) for t in p.texts)
        assert words <= budget or len(p.sentences) == 1, (budget, p.text)


def test_a_sentence_longer_than_the_budget_stands_alone():
    long = "This one sentence runs on and on with far more words than the tiny budget allows it."
    d = doc("long.txt", f"Short start here.\n\n{long}\n\nShort end here.")
    passages = make_passages([d], passage_words=6)
    assert [p.text for p in passages] == ["Short start here.", long, "Short end here."]


def test_small_budget_splits_and_large_budget_packs():
    raw = "One two three. Four five six. Seven eight nine.\n\nTen eleven twelve."
    d = doc("count.txt", raw)
    assert [p.text for p in make_passages([d], passage_words=3)] == [
        "One two three.", "Four five six.", "Seven eight nine.", "Ten eleven twelve.",
    ]
    assert [p.text for p in make_passages([d], passage_words=100)] == [
        "One two three. Four five six. Seven eight nine. Ten eleven twelve.",
    ]


def test_split_sentences_offsets_point_into_raw():
    raw = "xx  Dr. Tanaka arrived at 9 a.m. on Monday.  Then he left!  "
    d = Document(source="t.txt", path="/nowhere/t.txt", title="t", raw=raw, blocks=(Span(2, len(raw)),))
    sentences = split_sentences(d, d.blocks[0])
    texts = [raw[s.start:s.end] for s, _ in sentences]
    assert texts == [text for _, text in sentences]
    assert texts and all(t == t.strip() for t in texts)
    assert "".join("".join(texts).split()) == "".join(raw[2:].split())
    assert texts[-1] == "Then he left!"


def test_a_lower_case_word_or_bracket_after_an_exclamation_mark_continues_the_sentence():
    raw = ("If Hello, world! did print, you are set. Use the vec! macro. Write let v = vec![1, 2]; to start. "
           "It works! Then stop? no.\n\n#![allow(unused)]\nfn main() {}")
    d = doc("bang.md", raw)
    assert [text for _, text in split_sentences(d, d.blocks[0])] == [
        "If Hello, world! did print, you are set.", "Use the vec! macro.", "Write let v = vec![1, 2]; to start.",
        "It works!", "Then stop? no.",
    ]
    code = d.blocks[1]
    assert [text for _, text in split_sentences(d, code)] == ["#![allow(unused)]\nfn main() {}"]


def test_a_quotation_of_several_sentences_is_split_into_them():
    raw = ("Ms Sato, CEO of Matcha Ltd, comments: \u201cWe are behind for two reasons. First, our farms are small. "
           "Second, our buyers are cautious.\u201d Then \"Yes. Fine,\" she said.")
    d = doc("press.txt", raw)
    sentences = split_sentences(d, d.blocks[0])
    assert [text for _, text in sentences] == [
        "Ms Sato, CEO of Matcha Ltd, comments: \u201cWe are behind for two reasons.",
        "First, our farms are small.",
        "Second, our buyers are cautious.\u201d",
        'Then "Yes. Fine," she said.',  # quoted sentences under four words stay together
    ]
    assert all(raw[span.start:span.end] == text for span, text in sentences)


def test_the_number_of_a_list_item_stays_with_it():
    raw = " 1. Is zlib Y2K-compliant?\n\n    Yes. It has no dates.\n\n 2. Where can I get a DLL?\n\n(3) See the site."
    d = Document(source="faq.txt", path="/nowhere/faq.txt", title="faq", raw=raw, blocks=(Span(0, len(raw)),))
    assert [text for _, text in split_sentences(d, d.blocks[0])] == [
        "1. Is zlib Y2K-compliant?", "Yes.", "It has no dates.", "2. Where can I get a DLL?", "(3) See the site.",
    ]


def test_an_abbreviation_before_a_number_or_a_lower_case_word_ends_no_sentence():
    raw = "The value of pi is approx. 3.14159. Matcha is whisked, cf. the tea ceremony. It is good."
    d = Document(source="pi.txt", path="/nowhere/pi.txt", title="pi", raw=raw, blocks=(Span(0, len(raw)),))
    assert [text for _, text in split_sentences(d, d.blocks[0])] == [
        "The value of pi is approx. 3.14159.", "Matcha is whisked, cf. the tea ceremony.", "It is good.",
    ]


def test_a_piece_without_a_letter_or_digit_ends_the_sentence_before_it():
    raw = "Thanks for reading! Corporations should learn from them. 🙂"
    d = Document(source="e.txt", path="/nowhere/e.txt", title="e", raw=raw, blocks=(Span(0, len(raw)),))
    assert [text for _, text in split_sentences(d, d.blocks[0])] == [
        "Thanks for reading!", "Corporations should learn from them. 🙂",
    ]


def test_sentence_texts_keep_odd_spacing():
    raw = "Tabs\tinside. Two  spaces inside.\nA wrapped\nline."
    d = doc("odd.txt", raw)
    for p in make_passages([d], passage_words=100):
        assert list(p.texts) == list(p.quotes) == [raw[s.start:s.end] for s in p.sentences]


def html_document(body: str) -> Document:
    raw = f"<html><body>{body}</body></html>"
    blocks, runs, _ = html_blocks(raw)
    return Document(source="p.html", path="/nowhere/p.html", title="p", raw=raw, blocks=tuple(blocks), runs=runs)


def test_a_sentence_runs_on_across_inline_tags():
    d = html_document("<p>Integer types default to <code>i32</code>. See <a href='x.html'>the\n"
                      "appendix</a> for <em>more</em>.</p><p>Next paragraph.</p>")
    (p,) = make_passages([d], passage_words=100)
    assert p.texts == ("Integer types default to i32.", "See the\nappendix for more.", "Next paragraph.")
    assert p.quotes == ("Integer types default to <code>i32</code>.",
                        "See <a href='x.html'>the\nappendix</a> for <em>more</em>.", "Next paragraph.")
    assert [d.raw[s.start:s.end] for s in p.sentences] == list(p.quotes)


def test_references_read_decoded_and_are_cited_as_written():
    d = html_document("<p>Tea &amp; cakes cost &pound;5&nbsp;each.</p>")
    (p,) = make_passages([d], passage_words=100)
    assert p.texts == ("Tea & cakes cost £5\xa0each.",)
    assert p.quotes == ("Tea &amp; cakes cost &pound;5&nbsp;each.",)


def test_a_sentence_that_starts_or_ends_in_a_reference_cites_all_of_it():
    d = html_document("<p>Sencha is green. &ldquo;Drink it,&rdquo; she said &hellip;</p>")
    (p,) = make_passages([d], passage_words=100)
    assert p.texts == ("Sencha is green.", "“Drink it,” she said …")
    assert p.quotes == ("Sencha is green.", "&ldquo;Drink it,&rdquo; she said &hellip;")


def test_menus_and_buttons_are_not_text():
    d = html_document("<nav><a href='/'>Home</a> <a href='/blog'>Blog posts</a></nav>"
                      "<button>Toggle dark theme</button><select><option>English version</option></select>"
                      "<p>Matcha is ground green tea.</p>")
    assert [d.text(b) for b in d.blocks] == ["Matcha is ground green tea."]


def test_block_tags_end_a_sentence_that_inline_tags_do_not():
    d = html_document("<ul><li>Sencha</li><li>Gyokuro is <b>shaded</b></li></ul><h2>Brewing</h2>Use cool water")
    assert [d.text(b) for b in d.blocks] == ["Sencha", "Gyokuro is shaded", "Brewing", "Use cool water"]


def test_no_documents_no_passages():
    assert make_passages([], passage_words=50) == []
