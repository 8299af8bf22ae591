"""Baseline: version 0.1's hand-set answer decision, kept only to be measured against the learned one.

Its weights and its threshold were set by hand on the seed question sets (see CHANGELOG);
``qa train`` and ``qa eval --compare`` report it beside the fitted decision in the same run.
Nothing in the answer path calls it.
"""

from __future__ import annotations

import numpy as np

from qa.answer.features import FEATURES
from qa.answer.intent import Intent
from qa.lexical import tokenize

# Version 0.1's constants, as they were.
W_COSINE, W_COVERAGE, W_PASSAGE, W_FOCUS = 0.55, 0.45, 0.1, 0.4
P_NO_NUMBER, P_FRAGMENT, NEIGHBOUR_LIFT = 0.15, 0.2, 0.5
P_RULED_OUT, MIN_COSINE, MIN_FOCUS_TERMS = 2.0, 0.3, 2
ABSTAIN_BELOW = 0.74

_COL = {name: i for i, name in enumerate(FEATURES)}


def scores(intent: Intent, features: np.ndarray, passages: list[int], positions: list[int]) -> np.ndarray:
    """Version 0.1's score of each candidate (rows of ``features``), neighbours lifted."""
    f = features.T

    def col(name: str) -> np.ndarray:
        return f[_COL[name]].astype(np.float64)

    # 0.1 counted the question's words found elsewhere in the document at half weight.
    coverage = col("coverage") + 0.5 * (col("document_coverage") - col("coverage"))
    score = (W_COSINE * col("cosine") + W_COVERAGE * coverage + W_PASSAGE * col("hit_score")
             + W_FOCUS * (col("focus_cosine") - col("cosine")))
    score -= P_NO_NUMBER * ((intent.wants_number) & (col("own_amount") + col("numbers_sentence") == 0))
    score -= P_FRAGMENT * col("fragment")
    lifted = score.copy()
    for i in range(len(score)):
        near = [j for j in (i - 1, i + 1) if 0 <= j < len(score) and passages[j] == passages[i]
                and abs(positions[j] - positions[i]) == 1]
        best = max((score[j] for j in near), default=score[i])
        if best > score[i]:
            lifted[i] = score[i] + NEIGHBOUR_LIFT * (best - score[i])
    return lifted


def confidence(intent: Intent, features: np.ndarray, score: float) -> float:
    """Version 0.1's confidence in a candidate (its ``features`` row) given its ``score``: below 0.74 it abstained."""
    f = dict(zip(FEATURES, features.astype(float)))
    share = min(len(set(tokenize([intent.focus])[0])), MIN_FOCUS_TERMS) / MIN_FOCUS_TERMS
    value = score + f["cosine"] + share * (f["focus_cosine"] - f["cosine"])
    ruled_out = any(f[name] for name in FEATURES if name.startswith("check_")) or f["cosine"] < MIN_COSINE
    return float(value - (P_RULED_OUT if ruled_out else 0.0))


class Baseline:
    """Version 0.1's decision in the shape of ``qa.answer.decide.Decision``, for ``qa eval --compare``."""

    threshold, vetoes, manifest = ABSTAIN_BELOW, (), {"model": "version 0.1's hand-set rules"}
    runner_up_share = 0.5  # 0.1's: a runner-up within half the best score
    reader = gate = None  # 0.1 had neither

    def scores(self, intent: Intent, cands: list, features: np.ndarray) -> np.ndarray:
        if not len(features):
            return np.zeros(0)
        return scores(intent, features, [c.hit.passage.id for c in cands], [c.position for c in cands])

    def keys(self, p: np.ndarray, features: np.ndarray) -> np.ndarray:
        return p  # its scores are its order

    def confidence(self, intent: Intent, ranked: list) -> float:
        return float(confidence(intent, ranked[0].features, ranked[0].score))
