"""Compose: the reply to a question — quoted, cited sentences, or an abstention that says why."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from qa.answer.checks import CHECKS
from qa.answer.decide import MODEL_DIR, Decision, load
from qa.answer.features import FEATURES, featurize
from qa.answer.intent import Intent, read
from qa.answer.rank import Candidate, Evidence, candidates, quotable
from qa.answer.select import credit_lines, select
from qa.config import Settings
from qa.schema import Answer, Citation, Considered, Hit
from qa.text import excerpt, one_line

NO_ANSWER = "The documents do not answer this question."
_CHECK_COLUMN = {name: FEATURES.index(f"check_{name}") for name in CHECKS}
EXPLAINED = 5  # candidates an answer keeps, with their features, for ``qa ask --explain``


def compose(
    question: str,
    hits: list[Hit],
    evidence: Evidence,
    *,
    query_vector: np.ndarray,
    settings: Settings,
    focus_vector: np.ndarray | None = None,
    searched_for: str = "",
    decision: Decision | None = None,
) -> Answer:
    """Build the reply to ``question`` from ``hits`` (best first) and what ``evidence`` knows of them.

    Every sentence of the top passages gets P(it answers the question) from the fitted
    ``decision`` (default: the model shipped in ``qa/answer/model``); the reply quotes the best and
    close runners-up when the best P reaches the threshold (``settings.abstain_below``, or
    the one fitted with the model) and none of the model's vetoing checks fires on it. Before
    quoting, the decision's reader (``qa.answer.reader``) may re-order the few best by reading them.
    ``focus_vector`` embeds the question without its names (``qa.answer.intent.focus``).
    """
    if decision is None:
        decision = load(settings.decision_model or MODEL_DIR)
    intent = read(question)
    everything = rank(intent, hits, evidence, query_vector=query_vector, focus_vector=focus_vector,
                      settings=settings, decision=decision)
    ranked = quotable(everything)  # a byline or dateline may still be quoted (``credit_lines``)
    threshold = decision.threshold if settings.abstain_below is None else settings.abstain_below
    confidence = decision.confidence(intent, ranked) if ranked else 0.0
    answers = confidence >= threshold
    gate = None
    if ranked:  # the passage that holds the best sentence comes first (SQuAD half R@1 0.853 -> 0.894)
        hits = _first(ranked[0].hit, hits)
        reader = decision.reader if settings.reader else None
        reading = None
        if decision.gate is not None and reader is not None:
            gate, reading = _gated(question, ranked, confidence, decision.gate, reader)
            if settings.abstain_below is None:  # the gate decides, unless a threshold is set (without a reader: P's)
                answers = gate
        if answers and reader is not None:
            ranked = reader.reorder(question, ranked, reading)  # only a reply that quotes needs the reading
            hits = _first(ranked[0].hit, hits)  # the best by P then comes second
    common = dict(question=question, passages=tuple(hits), searched_for=searched_for or question,
                  considered=tuple(_considered(c) for c in ranked[:EXPLAINED]))
    if not ranked:
        return Answer(text=render_abstention(hits), abstained=True, **common)
    best = ranked[0]
    credits = credit_lines(intent, best, everything)  # "When was it published?": the dateline leads, and is checked
    lead = (credits or [best])[0]
    # The features already ran every check on the lead; only a vetoing one that fired is run
    # again, for the reason it gives.
    fired = [name for name in decision.vetoes if lead.features[_CHECK_COLUMN[name]]]
    terms = evidence.document_terms(lead.hit.passage.source) if fired else frozenset()
    reasons = {name: CHECKS[name](intent, lead.text, terms, evidence.name_vectors) for name in fired}
    vetoed = tuple(name for name, reason in reasons.items() if reason)
    note = reasons[vetoed[0]] if vetoed else ""
    common.update(confidence=confidence, vetoed_by=vetoed, note=note, gate=gate)
    if vetoed or not answers:
        return Answer(text=render_abstention(hits, note), abstained=True, **common)
    share = decision.runner_up_share if settings.runner_up_share is None else settings.runner_up_share
    chosen = select(intent, ranked, settings=settings, credits=credits, runner_up_share=share)
    citations, markers = cite(chosen, ranked, evidence)
    sentences = tuple(c.text for c in chosen)
    return Answer(text=render(sentences, markers, citations), abstained=False, sentences=sentences,
                  citations=tuple(citations), markers=tuple(tuple(m) for m in markers), **common)


def _gated(question: str, ranked: list[Candidate], confidence: float, gate, reader) -> tuple[bool, np.ndarray | None]:
    """The gate's call (``Decision.gate``) on the best P (``confidence``), the first candidate's
    features and, when it must, the reader's best logit over the first candidates; their logits, when read."""
    logits = None

    def best_reading() -> float:
        nonlocal logits
        logits = reader.logits(question, [c.text for c in ranked[: reader.top]])
        return float(logits.max())

    answers, _ = gate.answers(confidence, ranked[0].features, best_reading)
    return answers, logits


def rank(intent: Intent, hits: list[Hit], evidence: Evidence, *, query_vector: np.ndarray,
         focus_vector: np.ndarray | None, settings: Settings, decision: Decision) -> list[Candidate]:
    """The candidate sentences with their features and P, in the reply's order (``Decision.keys``;
    ties: passage, then offset)."""
    cands = candidates(intent, hits, evidence, query_vector=query_vector, focus_vector=focus_vector,
                       settings=settings)
    features = featurize(intent, cands, evidence)
    p = decision.scores(intent, cands, features)
    keys = decision.keys(p, features)
    scored = [replace(c, score=float(pi), key=float(k), features=row)
              for c, pi, k, row in zip(cands, p, keys, features)]
    scored.sort(key=lambda c: (-c.key, -c.score, c.hit.passage.id, c.span.start))  # P breaks ties of its logit
    return scored


def cite(chosen: list[Candidate], ranked: list[Candidate], evidence: Evidence) -> tuple[list[Citation], list]:
    """Numbered citations of the chosen sentences; the same sentence in other files is cited too."""
    citations, markers = [], []
    for cand in chosen:
        numbers = []
        twins = [c for c in ranked if c.text == cand.text and c.hit.passage.source != cand.hit.passage.source]
        for twin in [cand, *twins]:
            if any(c.source == twin.hit.passage.source and c.start == twin.span.start for c in citations):
                continue
            citations.append(Citation(
                n=len(citations) + 1, source=twin.hit.passage.source, path=evidence.path_of(twin.hit.passage.source),
                title=twin.hit.passage.title, start=twin.span.start, end=twin.span.end, quote=twin.quote,
                text=twin.text, score=twin.score, passage_id=twin.hit.passage.id,
            ))
            numbers.append(len(citations))
        markers.append(numbers)
    return citations, markers


def _first(hit: Hit, hits: list[Hit]) -> list[Hit]:
    return [hit, *(h for h in hits if h is not hit)]


def _considered(c: Candidate) -> Considered:
    features = {} if c.features is None else dict(zip(FEATURES, np.round(c.features.astype(float), 4).tolist()))
    return Considered(text=c.text, source=c.hit.passage.source, start=c.span.start, end=c.span.end,
                      p=c.score, features=features, reading=c.reading)


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
