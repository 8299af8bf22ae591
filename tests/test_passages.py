"""Passages: sentence-aligned chunks that stay inside one document and point into its raw text."""

from __future__ import annotations

import pytest

from qa.index import sentence_texts
from qa.ingest import load_corpus
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
            covered = "".join(d.raw[s.start:s.end] for s in inside)
            assert "".join(covered.split()) == "".join(d.raw[block.start:block.end].split())
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
    raw_of = {d.source: d.raw for d in documents}
    for p in make_passages(documents, passage_words=budget):
        sentences = [raw_of[p.source][s.start:s.end] for s in p.sentences]
        assert p.text == " ".join(sentences)
        assert sentence_texts(p) == sentences  # the index's inverse of the join


@pytest.mark.parametrize("budget", [5, 8, 20, 40])
def test_word_budget_is_respected(documents, budget):
    raw_of = {d.source: d.raw for d in documents}
    for p in make_passages(documents, passage_words=budget):
        words = sum(len(raw_of[p.source][s.start:s.end].split()) for s in p.sentences)
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
    spans = split_sentences(raw, Span(2, len(raw)))
    texts = [raw[s.start:s.end] for s in spans]
    assert texts and all(t == t.strip() for t in texts)
    assert "".join("".join(texts).split()) == "".join(raw[2:].split())
    assert texts[-1] == "Then he left!"


def test_sentence_texts_round_trips_odd_spacing():
    raw = "Tabs\tinside. Two  spaces inside.\nA wrapped\nline."
    d = doc("odd.txt", raw)
    for p in make_passages([d], passage_words=100):
        assert sentence_texts(p) == [raw[s.start:s.end] for s in p.sentences]


def test_no_documents_no_passages():
    assert make_passages([], passage_words=50) == []
