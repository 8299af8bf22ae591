"""Fusion: one score per candidate passage from its cosine and its BM25 score (FAISS files and Milvus alike)."""

from __future__ import annotations

import numpy as np

from qa.config import Settings


def fuse(dense: np.ndarray, lexical: np.ndarray, *, settings: Settings) -> np.ndarray:
    """One score per candidate from its cosine and its BM25 score."""
    if settings.fusion == "rrf":
        return rrf(dense, lexical, k=settings.rrf_k)
    # BM25 has no fixed scale, so it is divided by the query's best; the cosine already
    # lies in [-1, 1]. A weighted sum keeps how far apart candidates are, which RRF
    # throws away (ANCHORS.md measures RRF 7 points of R@1 behind such a sum on SQuAD).
    top = float(lexical.max(initial=0.0))
    scaled = lexical / top if top > 0 else np.zeros_like(lexical)
    w = settings.dense_weight
    return (w * dense + (1 - w) * scaled).astype(np.float32)


def rrf(dense: np.ndarray, lexical: np.ndarray, *, k: int) -> np.ndarray:
    """Reciprocal rank fusion: sum of 1 / (k + rank) over the two rankings (rank from 1)."""
    fused = np.zeros(len(dense), dtype=np.float64)
    for scores in (dense, lexical):
        ranks = np.empty(len(scores), dtype=np.int64)
        ranks[np.lexsort((np.arange(len(scores)), -scores))] = np.arange(1, len(scores) + 1)
        fused += 1.0 / (k + ranks)
    return fused.astype(np.float32)
