"""Metrics: answer matching, ranking, abstention and threshold curves over evaluation outcomes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RECALL_DEPTH = 20  # ranks of distinct sources scored by recall@k and MRR
_ARTICLES = re.compile(r"\b(a|an|the)\b")
# SQuAD drops ASCII punctuation only; curly quotes and dashes are punctuation too.
_PUNCTUATION = re.compile(r"[^\w\s]|_")


@dataclass(frozen=True)
class Question:
    """One evaluation question; ``answers`` are groups of alternatives, every group must appear."""

    id: str
    question: str
    answers: tuple[tuple[str, ...], ...]
    source: str | None  # the file that holds the answer; None when several do or none
    answerable: bool = True
    kind: str = ""


@dataclass(frozen=True)
class Outcome:
    """What one retriever's run gave for one question, with abstention switched off."""

    question: Question
    sources: tuple[str, ...]  # distinct sources of the retrieved passages, best first
    sentences: tuple[str, ...]  # the quoted reply sentences (empty: nothing to quote)
    cited: tuple[str, ...]  # sources of the citations
    confidence: float
    seconds: float
    gate: bool | None = None  # the gate's call (``Answer.gate``): abstaining follows it instead of the threshold


def normalize(text: str, *, split: bool = False) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces.

    ``split`` turns punctuation into spaces instead of deleting it.
    """
    text = _PUNCTUATION.sub(" " if split else "", text.lower())
    return " ".join(_ARTICLES.sub(" ", text).split())


def contains(text: str, answer: str) -> bool:
    """Whether ``answer`` occurs in ``text`` as whole words, both normalised.

    Deleting punctuation keeps "1,000" equal to "1000"; splitting at it finds
    "Ad:Tech" in "Ad:Tech's" and "invitation" in "invitation-only". Either will do.
    """
    for split in (False, True):
        needle = normalize(answer, split=split)
        if needle and f" {needle} " in f" {normalize(text, split=split)} ":
            return True
    return False


def has_answer(text: str, groups: Sequence[Sequence[str]]) -> bool:
    """Every group has an alternative in ``text``; no groups means nothing to find."""
    return bool(groups) and all(any(contains(text, alt) for alt in group) for group in groups)


def distinct(items) -> tuple:
    """Items in first-seen order without repeats."""
    return tuple(dict.fromkeys(items))


def gold_rank(sources: Sequence[str], gold: str) -> int | None:
    """1-based rank of ``gold`` among ``sources`` within RECALL_DEPTH, or None."""
    for rank, source in enumerate(sources[:RECALL_DEPTH], 1):
        if source == gold:
            return rank
    return None


def ranking(ranks: Sequence[int | None]) -> dict:
    """recall@1..RECALL_DEPTH and MRR from the gold ranks of the scored questions."""
    if not ranks:
        return {"questions": 0, "recall_at": [], "mrr": None}
    found = np.array([r if r is not None else RECALL_DEPTH + 1 for r in ranks])
    recall = [float(np.mean(found <= k)) for k in range(1, RECALL_DEPTH + 1)]
    mrr = float(np.mean([1.0 / r if r is not None else 0.0 for r in ranks]))
    return {"questions": len(ranks), "recall_at": recall, "mrr": mrr}


def abstention(abstained: Sequence[bool], answerable: Sequence[bool]) -> dict:
    """Precision and recall of abstaining, where abstaining on an unanswerable question is right."""
    abstained, answerable = np.asarray(abstained, bool), np.asarray(answerable, bool)
    right = int(np.sum(abstained & ~answerable))
    return {
        "abstained": int(abstained.sum()),
        "precision": right / int(abstained.sum()) if abstained.any() else None,
        "recall": right / int((~answerable).sum()) if (~answerable).any() else None,
    }


def threshold_curve(confidence: Sequence[float], correct: Sequence[bool], answerable: Sequence[bool],
                    thresholds: Sequence[float]) -> list[dict]:
    """Per threshold: share of questions answered, share of those answered right, abstention P/R.

    ``correct`` says whether the reply would be right if given (an answer to an
    unanswerable question never is).
    """
    confidence = np.asarray(confidence, float)
    correct = np.asarray(correct, bool) & np.asarray(answerable, bool)
    points = []
    for t in thresholds:
        answered = confidence >= t
        n = int(answered.sum())
        points.append({
            "threshold": float(t),
            "answer_rate": n / len(confidence) if len(confidence) else 0.0,
            "precision": float(correct[answered].mean()) if n else None,
            **{f"abstain_{k}": v for k, v in abstention(~answered, answerable).items() if k != "abstained"},
        })
    return points


def sweep(confidence: Sequence[float], configured: float, steps: int = 100) -> list[float]:
    """Evenly spaced thresholds over the confidences seen, with the configured one included."""
    if not len(confidence):
        return [configured]
    lo, hi = float(np.min(confidence)), float(np.max(confidence))
    grid = np.linspace(lo, hi + 1e-9, steps + 1) if hi > lo else np.array([lo])
    return sorted({*map(float, grid), float(configured)})


def percentile_ms(seconds: Sequence[float], q: float) -> float | None:
    return float(np.percentile(seconds, q) * 1000) if len(seconds) else None


def _share(flags: list[bool]) -> float | None:
    return float(np.mean(flags)) if flags else None


def judge(outcome: Outcome, *, threshold: float) -> dict:
    """Per-question verdicts: abstained, answer found, found in the first sentence, gold rank."""
    q = outcome.question
    return {
        "abstained": not outcome.sentences or (outcome.confidence < threshold if outcome.gate is None
                                               else not outcome.gate),
        "hit": has_answer(" ".join(outcome.sentences), q.answers),
        "first": bool(outcome.sentences) and has_answer(outcome.sentences[0], q.answers),
        "rank": gold_rank(outcome.sources, q.source) if q.answerable and q.source else None,
        "cited": q.source in outcome.cited if q.source else None,
    }


def summarize(outcomes: Sequence[Outcome], *, threshold: float) -> dict:
    """Every metric of one retriever's outcomes, abstaining below ``threshold``."""
    qs = [o.question for o in outcomes]
    v = [judge(o, threshold=threshold) for o in outcomes]
    rows = [i for i, q in enumerate(qs) if q.answerable]
    said = [i for i in rows if not v[i]["abstained"]]  # answerable and answered
    ranked = ranking([v[i]["rank"] for i in rows if qs[i].source])
    confidence = [o.confidence for o in outcomes]
    seconds = [o.seconds for o in outcomes]
    return {
        "questions": len(outcomes),
        "answerable": len(rows),
        "recall_at": ranked["recall_at"],
        **{f"recall@{k}": ranked["recall_at"][k - 1] if ranked["recall_at"] else None for k in (1, 5, 20)},
        "mrr": ranked["mrr"],
        "ranked_questions": ranked["questions"],
        "answer_rate": 1 - sum(x["abstained"] for x in v) / len(v) if v else None,
        "answer_hit_answered": _share([v[i]["hit"] for i in said]),
        "answer_hit_all": _share([v[i]["hit"] and not v[i]["abstained"] for i in rows]),
        "answer_hit_forced": _share([v[i]["hit"] for i in rows]),  # as if it never abstained
        "sentence@1_answered": _share([v[i]["first"] for i in said]),
        "sentence@1_all": _share([v[i]["first"] and not v[i]["abstained"] for i in rows]),
        "citation_accuracy": _share([v[i]["cited"] for i in said if qs[i].source]),
        **{f"abstain_{k}": x for k, x in
           abstention([x["abstained"] for x in v], [q.answerable for q in qs]).items()},
        "latency_ms_p50": percentile_ms(seconds, 50),
        "latency_ms_p95": percentile_ms(seconds, 95),
        "mean_distinct_sources": float(np.mean([len(o.sources) for o in outcomes])) if outcomes else None,
        "curve": threshold_curve(confidence, [x["hit"] for x in v], [q.answerable for q in qs],
                                 sweep(confidence, threshold)),
    }


def by_kind(outcomes: Sequence[Outcome], *, threshold: float) -> dict:
    """Share of questions handled right per ``kind``: the answer given, or abstention when unanswerable."""
    kinds: dict[str, list[bool]] = {}
    for o in outcomes:
        if o.question.kind:
            v = judge(o, threshold=threshold)
            right = v["hit"] and not v["abstained"] if o.question.answerable else v["abstained"]
            kinds.setdefault(o.question.kind, []).append(right)
    return {kind: {"questions": len(flags), "right": float(np.mean(flags))} for kind, flags in sorted(kinds.items())}
