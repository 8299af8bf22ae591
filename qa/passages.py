"""Passages: split document blocks into sentences and pack them into sentence-aligned chunks."""

from __future__ import annotations

from collections.abc import Iterable

from sentencex import get_sentence_boundaries

from qa.schema import Document, Passage, Span

LANGUAGE = "en"


def split_sentences(raw: str, block: Span) -> list[Span]:
    """Sentences of one block as spans of ``raw``, surrounding white space trimmed."""
    text = raw[block.start:block.end]
    spans = []
    for bound in get_sentence_boundaries(LANGUAGE, text):
        start, end = bound["start_index"], bound["end_index"]
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            spans.append(Span(block.start + start, block.start + end))
    return spans


def make_passages(documents: Iterable[Document], *, passage_words: int) -> list[Passage]:
    """Pack each document's sentences into passages of about ``passage_words`` words.

    A passage never spans two documents; it prefers to end at a paragraph break once it
    holds half its budget, so passages follow the author's own structure.
    """
    passages: list[Passage] = []
    for doc in documents:
        pending: list[Span] = []
        words = 0
        for block in doc.blocks:
            if pending and words >= passage_words // 2:
                passages.append(_passage(doc, pending, len(passages)))
                pending, words = [], 0
            for sentence in split_sentences(doc.raw, block):
                n = len(doc.raw[sentence.start:sentence.end].split())
                if pending and words + n > passage_words:
                    passages.append(_passage(doc, pending, len(passages)))
                    pending, words = [], 0
                pending.append(sentence)
                words += n
        if pending:
            passages.append(_passage(doc, pending, len(passages)))
    return passages


def _passage(doc: Document, sentences: list[Span], pid: int) -> Passage:
    text = " ".join(doc.raw[s.start:s.end] for s in sentences)
    return Passage(
        id=pid,
        source=doc.source,
        title=doc.title,
        start=sentences[0].start,
        end=sentences[-1].end,
        text=text,
        sentences=tuple(sentences),
    )
