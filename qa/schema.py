"""Records that flow between pipeline stages: documents, passages, hits, citations, answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property


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

    def text(self, span: Span) -> str:
        """What a reader sees of ``raw[span.start:span.end]`` (for markup: without its tags)."""
        return self.visible(span)[0]

    def visible(self, span: Span) -> tuple[str, Sequence[int], Sequence[int]]:
        """The text of ``span`` and, for each of its characters, where it starts and ends in ``raw``."""
        if not self.runs:
            return self.raw[span.start:span.end], range(span.start, span.end), range(span.start + 1, span.end + 1)
        from qa.formats import visible_text  # here, not at the top: formats imports this module

        return visible_text(self.raw, self.runs, span)


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
    confidence: float = 0.0

    def __str__(self) -> str:
        return self.text

    def to_dict(self) -> dict:
        """A JSON-ready view (used by ``qa ask --json`` and the API endpoint)."""
        return {
            "question": self.question,
            "searched_for": self.searched_for,
            "abstained": self.abstained,
            "confidence": round(self.confidence, 4),
            "text": self.text,
            "sentences": list(self.sentences),
            "markers": [list(m) for m in self.markers],
            "citations": [
                {
                    "n": c.n, "source": c.source, "path": c.path, "title": c.title,
                    "start": c.start, "end": c.end, "quote": c.quote, "text": c.text,
                    "score": round(c.score, 4),
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
