"""Rank: score every sentence of the retrieved passages as an answer to the question."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from qa.config import Settings
from qa.lexical import tokenize
from qa.rules import DATE, NUMBER, SOURCE_LINE, WANTS_DATE, WANTS_NUMBER, WANTS_SOURCE
from qa.schema import Hit, Span

# Sentence score weights, fitted on the SQuAD dev half and the seed question sets.
W_COSINE, W_COVERAGE, W_PASSAGE = 0.55, 0.45, 0.1
P_NO_NUMBER, P_FRAGMENT = 0.15, 0.2
NEIGHBOUR_LIFT = 0.5
W_FOCUS = 0.4


@dataclass(frozen=True)
class Candidate:
    """One sentence competing to be quoted, with the evidence for it."""

    hit: Hit
    span: Span
    text: str  # as the reply shows it
    quote: str  # the exact characters of the file: differs from text only by markup
    vector: np.ndarray = field(repr=False, compare=False)
    cosine: float
    coverage: float
    score: float
    words: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    fragment: bool = False  # a heading, byline or name rather than a sentence


def rank_sentences(
    question: str,
    hits: list[Hit],
    *,
    query_vector: np.ndarray,
    sentence_vectors: Callable[[Hit], np.ndarray],
    document_terms: Callable[[str], frozenset[str]],
    idf: Callable[[str], float],
    settings: Settings,
    focus_vector: np.ndarray | None = None,
    sentence_tokens: Callable[[Hit], list[list[str]]] | None = None,
) -> list[Candidate]:
    """Every sentence of the top passages, best answer first.

    A sentence scores by meaning (cosine to the question, the sentence read with the one
    before it: ``in_context``), by how much of the question's rare vocabulary it
    contains, and by its passage's rank; a question
    that asks for a number or a year wants a sentence that holds one. Question words
    found elsewhere in the sentence's document count half: a byline or a heading
    often names what the sentence itself only implies.
    """
    terms = set(tokenize([question])[0])
    total = sum(idf(t) for t in terms)
    wants_number = bool(WANTS_NUMBER.search(question))
    wants_date = bool(WANTS_DATE.search(question))
    wants_source = bool(WANTS_SOURCE.search(question))
    top = hits[0].score if hits and hits[0].score > 0 else 1.0
    out = []
    for hit in hits[: settings.answer_passages]:
        texts = hit.passage.texts
        vectors = in_context(sentence_vectors(hit), settings.context_weight)
        cosines = vectors @ query_vector
        focused = vectors @ focus_vector if focus_vector is not None else cosines
        in_document = terms & document_terms(hit.passage.source)
        for span, text, quote, vector, cosine, fcos, tokens in zip(
            hit.passage.sentences, texts, hit.passage.quotes, vectors, cosines, focused,
            sentence_tokens(hit) if sentence_tokens else tokenize(list(texts)),
        ):
            words = set(tokens)
            found = terms & words
            covered = sum(idf(t) for t in found) + 0.5 * sum(idf(t) for t in in_document - found)
            coverage = covered / total if total else 0.0
            score = (W_COSINE * float(cosine) + W_COVERAGE * coverage + W_PASSAGE * max(hit.score, 0.0) / top
                     + W_FOCUS * (float(fcos) - float(cosine)))
            if wants_number and not NUMBER.search(text):
                score -= P_NO_NUMBER
            # A heading or byline is no answer; a dateline is, to "when", and a credit line to "which source".
            fragment = _is_fragment(text, words) and not (wants_date and DATE.search(text)
                                                          or wants_source and SOURCE_LINE.match(text))
            if fragment:
                score -= P_FRAGMENT
            out.append(Candidate(hit, span, text, quote, vector, float(cosine), coverage, score, frozenset(words),
                                 fragment))
    out = _lift_neighbours(out)
    out.sort(key=lambda c: (-c.score, c.hit.passage.id, c.span.start))
    return out


def in_context(vectors: np.ndarray, weight: float) -> np.ndarray:
    """Each sentence's unit vector with ``weight`` of the one before it in the passage, renormalised.

    A sentence is read after the one before it: "It's only Facebook that is really struggling
    to get off the ground." says where only through its neighbour, "Twitter is also growing
    rapidly – some 13% of Japanese internet users already have a Twitter account." A
    passage's first sentence stays as it is.
    """
    if weight <= 0 or len(vectors) < 2:
        return vectors
    mixed = vectors.copy()
    mixed[1:] += weight * vectors[:-1]
    return mixed / np.linalg.norm(mixed, axis=1, keepdims=True)


def _lift_neighbours(candidates: list[Candidate]) -> list[Candidate]:
    """Raise each sentence part of the way toward a better-scoring neighbour.

    A question often paraphrases one sentence while the answer sits in the next or
    the previous one ("...employees of Japanese multinationals. I forget to ask 'Why?'").
    """
    lifted = []
    for i, cand in enumerate(candidates):
        neighbours = [
            other.score for other in candidates[max(i - 1, 0):i + 2]
            if other is not cand and other.hit.passage.id == cand.hit.passage.id
        ]
        best = max(neighbours, default=cand.score)
        if best > cand.score:
            cand = replace(cand, score=cand.score + NEIGHBOUR_LIFT * (best - cand.score))
        lifted.append(cand)
    return lifted


def _is_fragment(text: str, words: set[str]) -> bool:
    """Headings, bylines and names are not answers: too few words or no closing stop."""
    return len(words) < 3 or (len(text.split()) < 8 and not text.rstrip("”\"')»").endswith((".", "!", "?", "…")))
