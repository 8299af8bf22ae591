"""Rank: score every sentence of the retrieved passages as an answer to the question."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from qa.config import Settings
from qa.lexical import tokenize
from qa.schema import Hit, Span

# "How many ...?", "What percentage ...?", "In what year ...?": questions answered by a number.
_AMOUNT_QUESTION = (r"how (many|long|old|far|often)|what (percentage|percent|share|proportion|number|fraction|year|age)"
                    r"|which year|what portion")
# A sentence with a number is likelier to answer these; "how much" and "when" often want one too.
_WANTS_NUMBER = re.compile(rf"\b({_AMOUNT_QUESTION}|how (much|big|large)|when)\b", re.IGNORECASE)
# Questions about money, answered by a sum: "How much did they spend?", "What is its share price?".
# "How much" only of money: "How much success did it find?" wants a degree.
_WHAT_IS_ITS = r"what (is|was|are|were) (the|its|their|his|her|\S+'s)( \w+)? "  # "What is LinkedIn's share "
_SUM_QUESTION = (
    r"how much\b.*\b(cost|costs|spend|spends|spent|pay|pays|paid|earn|earns|earned|charge|charges|charged"
    r"|raise|raised|invest|invested|worth|revenue|sales|profit|budget)"
    rf"|{_WHAT_IS_ITS}(price|revenue|turnover|salary|budget|income|profit|valuation)"
)
_ASKS_SUM = re.compile(rf"\b({_SUM_QUESTION})\b", re.IGNORECASE)
# Questions no sentence without a number answers: those above, sums, "What is the population of
# ...?". Not "when" ("after the war").
_ASKS_AMOUNT = re.compile(rf"\b({_AMOUNT_QUESTION}|{_SUM_QUESTION}|{_WHAT_IS_ITS}population)\b", re.IGNORECASE)
# A sum names a currency ("$2 million", "40 dollars"), or the price is nothing ("Entry is free").
_FREE = re.compile(r"\b(free|gratis|no charge)\b", re.IGNORECASE)
_SUM = re.compile(
    r"[$€£¥₩]|\b(dollars?|cents?|yen|won|euros?|pounds?|francs?|marks|rupees?|yuan|pesos?|lire|guilders?"
    r"|shillings?|livres?|roubles?|rubles?|million|billion|trillion)\b",
    re.IGNORECASE,
)
# "Which firm is the source of the figures?" is answered by a credit line, "(Source: ICT Research)".
_WANTS_SOURCE = re.compile(r"\b(source|sources|according to (which|whom|what))\b", re.IGNORECASE)
_SOURCE_LINE = re.compile(r"^\W*(sources?|data|courtesy|credits?)\s*:", re.IGNORECASE)
WANTS_DATE = re.compile(r"\b(when|what (date|day)|which (date|day))\b", re.IGNORECASE)
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
# "October 29, 2008", "29 Oct 2008", "May 2010", "2008-10-29", "08.02.13": a dateline.
DATE = re.compile(
    rf"\b({_MONTH}\s+(\d{{1,2}}(st|nd|rd|th)?,?\s+)?\d{{4}}|\d{{1,2}}(st|nd|rd|th)?\s+{_MONTH},?\s+\d{{4}}"
    r"|\d{4}-\d{2}-\d{2}|\d{1,2}[./]\d{1,2}[./]\d{2,4})\b",
    re.IGNORECASE,
)
# A question that opens with "When" (not "When X happened, what ...?") and the words of a time.
_ASKS_WHEN = re.compile(r"^\W*(when|what time|what date|which date)\b(?!.*,\s*(what|which|who|how)\b)", re.IGNORECASE)
_TIME = re.compile(
    r"\d|\b(jan(uary)?|feb(ruary)?|mar(ch)?|apr(il)?|may|june?|july?|aug(ust)?|sep(t(ember)?)?|oct(ober)?"
    r"|nov(ember)?|dec(ember)?|spring|summer|autumn|fall|winter|(mon|tues|wednes|thurs|fri|satur|sun)days?|today"
    r"|yesterday|tomorrow|tonight|now|recently|ago|since|until|till|before|after|during|while|when|whenever|once"
    r"|later|earlier|then|soon|(year|month|week|day|hour|decade|era|age|period|time|season)s?|centur(y|ies)|reign"
    r"|morning|evening|night|early|late|beginning|start|end|following|prior|first|last|previous|next|anniversary)\b",
    re.IGNORECASE,
)
# "one" is left out: far more often a pronoun than a count.
_NUMBER = re.compile(
    r"\d|\b(two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|hundred|thousand|million|billion|dozen"
    r"|half|third|quarter|fifth|tenth)s?\b|\b(twent|thirt|fort|fift|sixt|sevent|eight|ninet)(y|ies)\b",
    re.IGNORECASE,
)
# An amount, for ``lacks_amount``: a number, "one" ("Voters choose one member"), "none", "a single",
# "twice", "percent", or a span of time ("for an hour").
_AMOUNT = re.compile(
    _NUMBER.pattern + r"|\b(one|none|zero|single|once|twice|percent|(second|minute|hour|day|week|month|year|decade)s?"
    r"|centur(y|ies))\b",
    re.IGNORECASE,
)
# Each amount once: a whole numeral ("12,000", "63.2") or one of the words above.
_AMOUNT_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|" + _AMOUNT.pattern, re.IGNORECASE)


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
    wants_number = bool(_WANTS_NUMBER.search(question))
    wants_date = bool(WANTS_DATE.search(question))
    wants_source = bool(_WANTS_SOURCE.search(question))
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
            if wants_number and not _NUMBER.search(text):
                score -= P_NO_NUMBER
            # A heading or byline is no answer; a dateline is, to "when", and a credit line to "which source".
            fragment = _is_fragment(text, words) and not (wants_date and DATE.search(text)
                                                          or wants_source and _SOURCE_LINE.match(text))
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


def lacks_amount(question: str, text: str) -> bool:
    """Whether ``question`` asks for an amount (see ``_ASKS_AMOUNT``) and ``text`` holds none
    but those the question names itself.

    "How much did Coca-Cola Japan spend on mobile marketing?" is not answered by a sentence on
    Coca-Cola's mobile activities that names no sum (``_SUM``), however close its meaning, nor
    by one that names "two days"; "How many Huguenots were there in France in 1685?" is not
    answered by one whose only number is 1685.
    """
    if not _ASKS_AMOUNT.search(question):
        return False
    named = {m.group(0).lower() for m in _AMOUNT_TOKEN.finditer(question)}
    own = any(m.group(0).lower() not in named for m in _AMOUNT_TOKEN.finditer(text))
    if asks_sum(question):  # "two days" is no price
        return not (own and _SUM.search(text)) and not _FREE.search(text)
    return not own


def asks_sum(question: str) -> bool:
    """Whether ``question`` asks for a sum of money ("How much did they spend?")."""
    return bool(_ASKS_SUM.search(question))


def lacks_time(question: str, text: str) -> bool:
    """Whether ``question`` asks when and ``text`` names no time: no date, no number, no word
    such as "summer", "after" or "century". "When was Twitter founded?" is not answered by
    "I even found Facebook and Twitter logos on their company websites."
    """
    return bool(_ASKS_WHEN.search(question)) and not _TIME.search(text)
