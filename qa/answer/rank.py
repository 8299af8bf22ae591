"""Rank: every sentence of the top passages as a candidate answer, with the evidence for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from qa.answer.intent import Intent
from qa.answer.patterns import debris, is_label
from qa.config import Settings
from qa.schema import Hit, Passage, Span


class Evidence(Protocol):
    """What the answer stage reads besides the hits: an ``Index`` (and its ``Engine``) provide it."""

    def sentence_vectors_of(self, passage: Passage) -> np.ndarray: ...  # unit vectors, one per sentence
    def sentence_tokens(self, passage: Passage) -> list[list[str]]: ...  # lexical terms, one list per sentence
    def document_terms(self, source: str) -> frozenset[str]: ...  # every lexical term of one document
    def idf(self, term: str) -> float: ...  # a term's rarity in the corpus
    def path_of(self, source: str) -> str: ...  # the file a source names
    def name_vectors(self, names: list[str]) -> np.ndarray: ...  # unit vectors of short names


@dataclass(frozen=True)
class Candidate:
    """One sentence competing to be quoted, with the evidence for it."""

    hit: Hit
    span: Span
    text: str  # as the reply shows it
    quote: str  # the exact characters of the file: differs from text only by markup
    vector: np.ndarray = field(repr=False, compare=False)  # read with the sentence before it (``in_context``)
    cosine: float  # to the question
    focus_cosine: float  # to the question's focus (its words without the names)
    raw_cosine: float  # the sentence alone, to the question
    words: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    position: int = 0  # the sentence's place in its passage
    hit_rank: int = 0  # its passage's place among the hits
    fragment: bool = False  # a heading, byline or name rather than a sentence
    label: bool = False  # a short line that is no sentence at all (``qa.answer.patterns.is_label``): never the answer
    score: float = 0.0  # P(this sentence answers the question), set by ``qa.answer.decide``
    key: float | None = None  # the reply's order: logit(P) + the ranker's say (``Decision.keys``); None: logit(P)
    features: np.ndarray | None = field(default=None, repr=False, compare=False)
    reading: float | None = None  # the reader's logit, when it re-read this one (``qa.answer.reader``)


def candidates(intent: Intent, hits: list[Hit], evidence: Evidence, *, query_vector: np.ndarray,
               focus_vector: np.ndarray | None, settings: Settings) -> list[Candidate]:
    """The sentences of the top ``settings.answer_passages`` hits, in passage order.

    A link or label in a list of them (``qa.answer.patterns.debris``) is no candidate.
    """
    out = []
    for rank, hit in enumerate(hits[: settings.answer_passages]):
        raw = evidence.sentence_vectors_of(hit.passage)
        vectors = in_context(raw, settings.context_weight)
        cosines = vectors @ query_vector
        focused = vectors @ focus_vector if focus_vector is not None else cosines
        alone = raw @ query_vector
        texts = list(hit.passage.texts)
        skip = debris(texts)
        for i, (span, text, quote, tokens) in enumerate(zip(hit.passage.sentences, texts, hit.passage.quotes,
                                                            evidence.sentence_tokens(hit.passage))):
            if skip[i]:
                continue
            words = frozenset(tokens)
            out.append(Candidate(hit, span, text, quote, vectors[i], float(cosines[i]), float(focused[i]),
                                 float(alone[i]), words, i, rank, is_fragment(text, words), is_label(text)))
    return out


def quotable(cands: list[Candidate]) -> list[Candidate]:
    """``cands`` without the lone labels ("Beef Recipes" between two comments, "[citation needed]"):
    scored with the rest, never the answer nor the reply's confidence. Held out, SQuAD's 2,452
    labels among the candidates hold 1 answer and lead no reply (docs/design.md, Debris)."""
    return [c for c in cands if not c.label]


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


def is_fragment(text: str, words: frozenset[str] | set[str]) -> bool:
    """Headings, bylines and names are not answers: too few words or no closing stop."""
    return len(words) < 3 or (len(text.split()) < 8 and not text.rstrip("”\"')»").endswith((".", "!", "?", "…")))
