"""Compose: the reply to a question — quoted, cited sentences, or an abstention that says why."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from qa.config import Settings
from qa.lexical import tokenize
from qa.rank import rank_sentences
from qa.rules import ruled_out
from qa.schema import Answer, Citation, Hit
from qa.select import credit_lines, select

NO_ANSWER = "The documents do not answer this question."

# The confidence reads the best sentence against the question's focus once the focus keeps this
# many topic words. One word says less ("What is KISA responsible for?" -> "What is responsible
# for?"; "Who is the founder of Forrester?" -> "Who is the founder of?"), so the focus then counts
# half and the whole question half; with none, the whole question alone.
MIN_FOCUS_TERMS = 2
# What a rule rules out (see ``ruled_out``) loses more than any confidence reaches (about 2),
# so the reply abstains at any usual threshold.
P_RULED_OUT = 2.0


def compose(
    question: str,
    hits: list[Hit],
    *,
    query_vector: np.ndarray,
    sentence_vectors: Callable[[Hit], np.ndarray],
    document_terms: Callable[[str], frozenset[str]],
    idf: Callable[[str], float],
    path_of: Callable[[str], str],
    settings: Settings,
    focus_vector: np.ndarray | None = None,
    searched_for: str = "",
    sentence_tokens: Callable[[Hit], list[list[str]]] | None = None,
    name_vectors: Callable[[list[str]], np.ndarray] | None = None,
) -> Answer:
    """Build the reply to ``question`` from ``hits`` (best first).

    The callables give each hit's sentence vectors, a term's rarity and a source's
    file path; passing them in keeps this stage free of any model or index.
    ``focus_vector`` embeds the question without its names (see ``focus``): the
    confidence asks whether the best sentence says what is asked, not just whom it names
    (fully when the focus keeps ``MIN_FOCUS_TERMS`` topic words, half with one).
    ``sentence_tokens`` gives each hit's sentences tokenized (default: tokenize them now).
    ``name_vectors`` embeds short texts (see ``qa.names.stand_in``). A best sentence that
    cannot answer the question, whatever its score, lowers the confidence by
    ``P_RULED_OUT`` and the abstention says why (see ``ruled_out``).
    """
    candidates = rank_sentences(question, hits, query_vector=query_vector, sentence_vectors=sentence_vectors,
                                document_terms=document_terms, idf=idf, settings=settings,
                                focus_vector=focus_vector, sentence_tokens=sentence_tokens)
    confidence, note, credits = 0.0, "", None
    if candidates:
        best = candidates[0]
        confidence = best.score + best.cosine
        if focus_vector is not None:
            share = min(len(set(tokenize([focus(question)])[0])), MIN_FOCUS_TERMS) / MIN_FOCUS_TERMS
            confidence += share * (float(best.vector @ focus_vector) - best.cosine)
        credits = credit_lines(question, candidates)
        note = ruled_out(question, best, credits, document_terms(best.hit.passage.source), name_vectors)
        confidence -= P_RULED_OUT if note else 0.0
    common = dict(question=question, passages=tuple(hits), searched_for=searched_for or question,
                  confidence=confidence)
    if not candidates or confidence < settings.abstain_below:
        return Answer(text=render_abstention(hits, note), abstained=True, note=note, **common)
    chosen = select(question, candidates, settings=settings, credits=credits)
    citations, markers = [], []
    for cand in chosen:
        numbers = []
        # The same sentence in other files: every source that says it is cited.
        twins = [c for c in candidates if c.text == cand.text and c.hit.passage.source != cand.hit.passage.source]
        for twin in [cand, *twins]:
            if any(c.source == twin.hit.passage.source and c.start == twin.span.start for c in citations):
                continue
            citations.append(Citation(
                n=len(citations) + 1, source=twin.hit.passage.source, path=path_of(twin.hit.passage.source),
                title=twin.hit.passage.title, start=twin.span.start, end=twin.span.end, quote=twin.quote,
                text=twin.text, score=twin.score, passage_id=twin.hit.passage.id,
            ))
            numbers.append(len(citations))
        markers.append(numbers)
    sentences = tuple(c.text for c in chosen)
    return Answer(text=render(sentences, markers, citations), abstained=False, sentences=sentences,
                  citations=tuple(citations), markers=tuple(tuple(m) for m in markers), **common)


def focus(question: str) -> str:
    """The question without its capitalised names: what is asked about them.

    "How many employees does Coca-Cola Japan have?" -> "How many employees does have?".
    Unanswerable questions often name something the documents know and ask for
    something they never say; the names alone would make any sentence look relevant.
    """
    words = question.split()
    return " ".join(w for i, w in enumerate(words) if i == 0 or not w[:1].isupper())


def render(sentences: tuple[str, ...], markers: list[list[int]], citations: list[Citation]) -> str:
    body = " ".join(f"{one_line(s)} {''.join(f'[{n}]' for n in ns)}" for s, ns in zip(sentences, markers))
    lines = [body, "", "Sources:"]
    for c in citations:
        lines.append(f"[{c.n}] {c.title} — {c.source}, characters {c.start}–{c.end}")
    return "\n".join(lines)


def render_abstention(hits: list[Hit], note: str = "") -> str:
    lines = [NO_ANSWER, note] if note else [NO_ANSWER]
    if hits:
        lines += ["", "Closest passages:"]
        for i, hit in enumerate(hits[:3], 1):
            lines.append(f"[{i}] {hit.passage.title} — {hit.passage.source}: {excerpt(hit.passage.text)}")
    return "\n".join(lines)


def one_line(text: str) -> str:
    """``text`` with every run of white space (line breaks too) made one space."""
    return " ".join(text.split())


def excerpt(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut at a word boundary to at most ``limit`` characters."""
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"

