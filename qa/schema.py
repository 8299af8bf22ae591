"""Records that flow between pipeline stages: documents, passages, hits, citations, answers."""

from __future__ import annotations

import bisect
import html
import math
import re
from dataclasses import dataclass
from functools import cached_property

# A character reference in markup: "&amp;", "&#233;", "&#xe9;" (the ";" is optional in HTML).
REFERENCE = re.compile(r"&(#[xX]?[0-9a-fA-F]+|[a-zA-Z][-.a-zA-Z0-9]*);?")


@dataclass(frozen=True)
class Span:
    """A run of characters of a source file: ``raw[start:end]``."""

    start: int
    end: int


@dataclass(frozen=True)
class Document:
    """One source file after cleaning.

    ``raw`` is the file's decoded text; ``blocks`` are the spans of ``raw`` that
    survived cleaning (paragraphs, in order). Every later offset points into ``raw``.
    An HTML page also has ``runs``: the spans of ``raw`` between its tags, the only
    characters it shows; a block then runs on across inline tags such as <a> or <code>.
    """

    source: str  # file name relative to the corpus folder: the document's identity
    path: str
    title: str
    raw: str
    blocks: tuple[Span, ...]
    runs: tuple[Span, ...] = ()
    pages: tuple[int, ...] = ()  # where page (PDF) or slide (.pptx) n starts in ``raw``: pages[n - 1]

    def text(self, span: Span) -> str:
        """What a reader sees of ``raw[span.start:span.end]`` (for markup: without its tags)."""
        return self.visible(span).text

    def visible(self, span: Span) -> Visible:
        """The text of ``span``, with the way back from each of its characters to ``raw``."""
        if not self.runs:
            return Visible(self.raw[span.start:span.end], ((0, span.start, span.end, True),))
        return visible_text(self.raw, self.runs, span)


@dataclass(frozen=True)
class Visible:
    """A text read off a raw file, and where each of its characters came from.

    ``pieces`` are ``(offset in text, raw start, raw end, verbatim)`` in text order: a
    verbatim piece is ``raw[start:end]`` character for character; any other (a decoded
    "&amp;") stands for all of its raw characters at once. Pieces, not one offset per
    character, so that a page of many megabytes maps back in little memory.
    """

    text: str
    pieces: tuple[tuple[int, int, int, bool], ...]

    def raw_span(self, start: int, end: int) -> Span:
        """The raw characters behind ``text[start:end]`` (``end > start``)."""
        return Span(self._raw(start, first=True), self._raw(end - 1, first=False))

    def _raw(self, i: int, *, first: bool) -> int:
        at, raw_start, raw_end, verbatim = self.pieces[bisect.bisect_right(self.pieces, (i, math.inf)) - 1]
        if verbatim:
            return raw_start + i - at + (0 if first else 1)
        return raw_start if first else raw_end


def visible_text(raw: str, runs: tuple[Span, ...], span: Span) -> Visible:
    """What a browser shows of ``raw[span.start:span.end]``: the text of the runs inside it,
    tags left out and character references decoded ("&amp;" -> "&"), mapped back to ``raw``."""
    parts: list[str] = []
    pieces: list[tuple[int, int, int, bool]] = []
    length = 0

    def add(text: str, start: int, end: int, verbatim: bool) -> None:
        nonlocal length
        if text:
            parts.append(text)
            pieces.append((length, start, end, verbatim))
            length += len(text)

    for run in runs[bisect.bisect_right(runs, span.start, key=lambda r: r.end):]:
        if run.start >= span.end:
            break
        lo, hi = max(run.start, span.start), min(run.end, span.end)
        at = lo
        for match in REFERENCE.finditer(raw, lo, hi):
            add(raw[at:match.start()], at, match.start(), True)
            add(html.unescape(match.group()), match.start(), match.end(), False)
            at = match.end()
        add(raw[at:hi], at, hi, True)
    return Visible("".join(parts), tuple(pieces))


@dataclass(frozen=True)
class Passage:
    """A sentence-aligned chunk of one document.

    Sentence i is ``raw[sentences[i].start:sentences[i].end] == quotes[i]``, the exact
    characters cited, and reads as ``texts[i]``; the two differ only where the sentence
    runs across markup (an HTML tag, "&amp;").
    """

    id: int
    source: str
    title: str
    start: int
    end: int
    sentences: tuple[Span, ...]
    texts: tuple[str, ...]
    quotes: tuple[str, ...]

    @cached_property
    def text(self) -> str:
        """The sentences' texts joined by single spaces: what is embedded and searched."""
        return " ".join(self.texts)


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its fused score and the two scores it came from."""

    passage: Passage
    score: float
    dense: float
    lexical: float


@dataclass(frozen=True)
class Citation:
    """Where an answer sentence came from: ``file text[start:end] == quote``.

    ``text`` is the sentence as the reply shows it: the quote itself, or for a web page
    the quote without its tags.
    """

    n: int
    source: str
    path: str
    title: str
    start: int
    end: int
    quote: str
    text: str
    score: float
    passage_id: int
    page: int | None = None  # the PDF page or .pptx slide ``start`` is on, counted from 1


@dataclass(frozen=True)
class Considered:
    """A sentence the answer stage weighed: its place, P(it answers) and the features behind P."""

    text: str
    source: str
    start: int
    end: int
    p: float
    features: dict[str, float]
    reading: float | None = None  # the reader's logit, when it re-read this sentence


@dataclass(frozen=True)
class Answer:
    """The reply to one question, with the evidence behind it."""

    question: str
    text: str
    abstained: bool
    sentences: tuple[str, ...] = ()
    citations: tuple[Citation, ...] = ()
    markers: tuple[tuple[int, ...], ...] = ()  # citation numbers after each sentence
    passages: tuple[Hit, ...] = ()
    searched_for: str = ""
    confidence: float = 0.0  # P(the best sentence answers the question), from the fitted decision
    gate: bool | None = None  # the gate's call, answer or not (``qa.answer.decide.Gate``); None: no gate ran
    note: str = ""  # why it abstained, when a check can say ("The closest sentence names Japan; ...")
    vetoed_by: tuple[str, ...] = ()  # the named checks (qa.answer.checks.CHECKS) that turned the best sentence down
    considered: tuple[Considered, ...] = ()  # the best candidates, for `qa ask --explain`

    def __str__(self) -> str:
        return self.text

    def to_dict(self) -> dict:
        """A JSON-ready view (used by ``qa ask --json`` and the API endpoint)."""
        return {
            "question": self.question,
            "searched_for": self.searched_for,
            "abstained": self.abstained,
            "confidence": round(self.confidence, 4),
            "gate": self.gate,
            "note": self.note,
            "vetoed_by": list(self.vetoed_by),
            "text": self.text,
            "sentences": list(self.sentences),
            "markers": [list(m) for m in self.markers],
            "citations": [
                {
                    "n": c.n, "source": c.source, "path": c.path, "title": c.title,
                    "start": c.start, "end": c.end, "quote": c.quote, "text": c.text,
                    "page": c.page, "score": round(c.score, 4),
                }
                for c in self.citations
            ],
            "passages": [
                {
                    "source": h.passage.source, "title": h.passage.title,
                    "start": h.passage.start, "end": h.passage.end,
                    "text": h.passage.text, "score": round(h.score, 4),
                    "dense": round(h.dense, 4), "lexical": round(h.lexical, 4),
                }
                for h in self.passages
            ],
        }


@dataclass(frozen=True)
class Upload:
    """What became of one file uploaded to the chat: ``status`` is "added", "unchanged" or "refused"."""

    name: str
    status: str
    detail: str = ""
    passages: int = 0
