"""Passages: split document blocks into sentences and pack them into sentence-aligned chunks."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sentencex import get_sentence_boundaries

from qa.schema import Document, Passage, Span

LANGUAGE = "en"
_LIST_NUMBER = re.compile(r"\(?\d{1,3}[.)]")
# An abbreviation before a number or a lower-case word ends no sentence: "pi is approx. 3.14".
_ABBREVIATION = re.compile(r"\b(approx|ca|cf|vs|e\.g|i\.e|incl|esp|fig|no|nos|vol|pp?|est|resp)\.$", re.IGNORECASE)
MIN_QUOTED_WORDS = 4  # a quoted sentence this long may stand alone
# A quotation: curly or guillemet pairs, or straight double quotes within one line.
_QUOTATION = re.compile(r'“[^“”]*”|«[^«»]*»|"[^"\n]*"')


def split_sentences(doc: Document, block: Span) -> list[tuple[Span, str]]:
    """Sentences of one block: each as a span of ``doc.raw`` and the text it reads as.

    The block's visible text is what gets split (for a web page: without its tags), and
    each sentence maps back to the raw characters it came from, white space trimmed.
    """
    visible = doc.visible(block)
    text = visible.text
    bounds: list[tuple[int, int]] = []
    for start, end in _pieces(text):
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end <= start:
            continue
        # A piece without a letter or digit ("🙂" after a closing stop) is no sentence: it ends the last.
        if bounds and (_continues(text, bounds[-1], start) or not any(ch.isalnum() for ch in text[start:end])):
            bounds[-1] = (bounds[-1][0], end)
        else:
            bounds.append((start, end))
    return [(visible.raw_span(a, b), text[a:b]) for a, b in bounds]


def _continues(text: str, previous: tuple[int, int], start: int) -> bool:
    """Whether the piece at ``start`` goes on the sentence ``previous`` rather than a new one.

    An exclamation or question mark followed by a lower-case word ends no sentence ("If
    Hello, world! did print", "the vec! macro"), nor does code's "vec![1, 2]"; and the
    number of a list item belongs to the item ("2. Where can I get a DLL?"); nor does an
    abbreviation before a number or a lower-case word ("approx. 3.14", "cf. the manual").
    """
    last = text[previous[1] - 1]
    return bool(
        (text[start].islower() and last in "!?")
        or (text[start] in "([{" and last == "!")
        or _LIST_NUMBER.fullmatch(text, *previous)
        or ((text[start].islower() or text[start].isdigit()) and _ABBREVIATION.search(text, *previous))
    )


def _pieces(text: str) -> list[tuple[int, int]]:
    """sentencex's sentences of ``text``, with quotations of several sentences split up.

    sentencex never ends a sentence inside quotation marks, so a press release's quoted
    paragraph ("..., comments: “We are behind for three reasons. First, ... Third, ...”")
    would be one sentence of 150 words: too long to quote, too diluted to embed. Each
    sentence of such a quotation is a sentence of its own; short exclamations ("Yes.
    Fine,") stay together.
    """
    pieces = []
    for bound in get_sentence_boundaries(LANGUAGE, text):
        start, end = bound["start_index"], bound["end_index"]
        cuts = []
        for quotation in _QUOTATION.finditer(text, start, end):
            inner = quotation.start() + 1
            quoted = [(inner + b["start_index"], inner + b["end_index"])
                      for b in get_sentence_boundaries(LANGUAGE, text[inner:quotation.end() - 1])]
            cuts += [a_end for (a_start, a_end), (b_start, b_end) in zip(quoted, quoted[1:])
                     if _words(text, a_start, a_end) >= MIN_QUOTED_WORDS <= _words(text, b_start, b_end)]
        for cut in cuts:
            pieces.append((start, cut))
            start = cut
        pieces.append((start, end))
    return pieces


def make_passages(documents: Iterable[Document], *, passage_words: int) -> list[Passage]:
    """Pack each document's sentences into passages of about ``passage_words`` words.

    A passage never spans two documents; it prefers to end at a paragraph break once it
    holds half its budget, so passages follow the author's own structure.
    """
    passages: list[Passage] = []
    for doc in documents:
        pending: list[tuple[Span, str]] = []
        words = 0
        for block in doc.blocks:
            if pending and words >= passage_words // 2:
                passages.append(_passage(doc, pending, len(passages)))
                pending, words = [], 0
            for sentence in split_sentences(doc, block):
                n = len(sentence[1].split())
                if pending and words + n > passage_words:
                    passages.append(_passage(doc, pending, len(passages)))
                    pending, words = [], 0
                pending.append(sentence)
                words += n
        if pending:
            passages.append(_passage(doc, pending, len(passages)))
    return passages


def _passage(doc: Document, sentences: list[tuple[Span, str]], pid: int) -> Passage:
    spans = tuple(span for span, _ in sentences)
    return Passage(
        id=pid,
        source=doc.source,
        title=doc.title,
        start=spans[0].start,
        end=spans[-1].end,
        sentences=spans,
        texts=tuple(text for _, text in sentences),
        quotes=tuple(doc.raw[s.start:s.end] for s in spans),
    )


def _words(text: str, start: int, end: int) -> int:
    return len(text[start:end].split())
