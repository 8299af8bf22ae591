"""Features: the numbers the answer decision reads for each candidate sentence, and their names."""

from __future__ import annotations

import math
import re

import numpy as np

from qa.answer.checks import CHECKS, has_own_amount
from qa.answer.intent import KINDS, Intent
from qa.answer.names import mentioned, mentions, names, words_found
from qa.answer.patterns import SUM, TIME, has_date
from qa.answer.rank import Candidate, Evidence

_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")

# One column each, in this order; the fitted model's manifest records the list and a model
# built for another list is refused.
FEATURES = (
    # meaning: cosine of the sentence (read after the one before it), of the sentence alone,
    # and to the question's focus; how far below the best candidate's cosine; its neighbours'
    "cosine", "raw_cosine", "focus_cosine", "cosine_gap", "neighbour_cosine",
    # the question's terms, weighted by rarity: share found in the sentence, with its neighbours,
    # in its passage, in its document; how far below the best candidate's share
    "coverage", "window_coverage", "passage_coverage", "document_coverage", "coverage_gap",
    # the question's names and numbers: share found in the sentence, its window, its document
    "names_sentence", "names_window", "names_document", "numbers_sentence", "numbers_document",
    # what the sentence holds, against what the question wants
    "own_amount", "has_date", "has_time", "has_sum", "new_name", "fragment", "words", "novelty", "position",
    # its passage: rank among the hits, fused score against the best hit's, cosine, BM25 against the best
    "hit_rank", "hit_score", "hit_dense", "hit_lexical",
    # the named checks (qa.answer.checks.CHECKS), 1 when one says the sentence cannot answer
    *(f"check_{name}" for name in CHECKS),
    # the question: its kind, size, names, numbers and what it asks for; the best cosine and
    # coverage any candidate reached, and the best hit's cosine
    "kind", "question_terms", "question_names", "question_numbers", "asks_amount", "asks_sum", "asks_when",
    "best_cosine", "best_coverage", "best_hit_dense",
)


def featurize(intent: Intent, cands: list[Candidate], evidence: Evidence) -> np.ndarray:
    """One row of ``FEATURES`` per candidate (float32)."""
    if not cands:
        return np.zeros((0, len(FEATURES)), dtype=np.float32)
    idf = {t: evidence.idf(t) for t in intent.terms}
    total = math.fsum(idf.values()) or 1.0

    def share(words) -> float:
        return weighted_share(idf, words, total)

    numbers = [m.group(0) for m in _DIGITS.finditer(intent.question)]
    by_passage: dict[int, list[Candidate]] = {}
    for c in cands:
        by_passage.setdefault(c.hit.passage.id, []).append(c)
    # Each sentence's answer for each word of the question's names, read once: its window's are
    # its own and its neighbours' together.
    found = {id(c): words_found(intent.names, c.words) for c in cands}
    asked_names = [n.lower() for n in intent.names]
    top_hit = max(cands[0].hit.score, 1e-9) if cands else 1.0
    top_lex = max((c.hit.lexical for c in cands), default=0.0) or 1.0
    best_cos = max(c.cosine for c in cands)
    coverage = [share(c.words) for c in cands]
    best_cov = max(coverage)
    rows = []
    doc_cache: dict[str, tuple] = {}
    passage_coverage = {i: share(set().union(*(o.words for o in siblings))) for i, siblings in by_passage.items()}
    for c, cov in zip(cands, coverage):
        source = c.hit.passage.source
        if source not in doc_cache:
            terms = evidence.document_terms(source)
            doc_cache[source] = (terms, share(terms), _found(intent.names, terms), _found(numbers, terms, exact=True))
        doc_terms, doc_cov, doc_names, doc_numbers = doc_cache[source]
        near = [o for o in by_passage[c.hit.passage.id] if abs(o.position - c.position) == 1]
        window = set(c.words).union(*(o.words for o in near))
        own = found[id(c)]
        around = {t: hit or any(found[id(o)][t] for o in near) for t, hit in own.items()}
        new_name = any(not any(_same(n.lower(), q) for q in asked_names) for n in names(c.text, first=True))
        checks = [bool(check(intent, c.text, doc_terms, evidence.name_vectors)) for check in CHECKS.values()]
        rows.append([
            c.cosine, c.raw_cosine, c.focus_cosine, best_cos - c.cosine, max((o.cosine for o in near), default=0.0),
            cov, share(window), passage_coverage[c.hit.passage.id], doc_cov, best_cov - cov,
            _share_mentioned(intent.names, own), _share_mentioned(intent.names, around), doc_names,
            _found(numbers, c.text, exact=True), doc_numbers,
            has_own_amount(intent, c.text), has_date(c.text), TIME.search(c.text), SUM.search(c.text),
            new_name, c.fragment, len(c.text.split()),
            len(c.words - intent.terms) / max(len(c.words), 1), c.position,
            c.hit_rank, c.hit.score / top_hit, c.hit.dense, c.hit.lexical / top_lex,
            *checks,
            KINDS.index(intent.kind), len(intent.terms), len(intent.names), len(numbers), intent.asks_amount,
            intent.asks_sum, intent.asks_when, best_cos, best_cov, cands[0].hit.dense,
        ])
    return np.asarray(rows, dtype=np.float32)


def weighted_share(weights: dict[str, float], words, total: float | None = None) -> float:
    """The share of ``weights``' total (``total``, when the caller has it) that the terms found in
    ``words`` carry.

    Summed exactly (``math.fsum``), so in no particular order: a plain sum follows the order of
    the question's set of terms, which changes with the process's hash seed, and moves the last
    bit: two candidates whose terms carry the same weight came out 5.6e-17 apart in
    ``coverage_gap`` in one process and equal in another, and the trees split on that."""
    total = (math.fsum(weights.values()) or 1.0) if total is None else total
    return math.fsum(w for t, w in weights.items() if t in words) / total


def _found(wanted: list[str] | tuple[str, ...], where, *, exact: bool = False) -> float:
    """Share of ``wanted`` (names, or numbers with ``exact``) found in ``where``; 1 when nothing is wanted."""
    if not wanted:
        return 1.0
    if exact:
        return sum(w in where for w in wanted) / len(wanted)
    return sum(mentions(w, where) for w in wanted) / len(wanted)


def _share_mentioned(wanted: tuple[str, ...], found: dict[str, bool]) -> float:
    """``_found(wanted, terms)`` from ``words_found(wanted, terms)``."""
    return sum(mentioned(w, found) for w in wanted) / len(wanted) if wanted else 1.0


def _same(a: str, b: str) -> bool:
    """One lower-cased name within the other."""
    return a in b or b in a
