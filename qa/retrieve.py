"""Retrieve: hybrid dense + BM25 search over passages, fused into one deterministic ranking."""

from __future__ import annotations

import numpy as np

from qa.config import Settings
from qa.fusion import fuse
from qa.index import Index
from qa.schema import Hit


def search(
    index: Index,
    query_vector: np.ndarray,
    query_tokens: list[str],
    *,
    settings: Settings,
    k: int | None = None,
    mode: str = "hybrid",
) -> list[Hit]:
    """The top ``k`` passages for one query. ``mode`` is "hybrid", "dense" or "bm25"."""
    if mode not in ("hybrid", "dense", "bm25"):
        raise ValueError(f"mode must be 'hybrid', 'dense' or 'bm25', not {mode!r}")
    k = settings.k if k is None else k
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    if getattr(index, "remote", False):  # a store that searches itself (qa.milvus_index)
        return index.search(query_vector, query_tokens, settings=settings, k=k, mode=mode)
    n = len(index.passages)
    c = min(settings.candidates, n)
    lexical = index.lexical.scores(query_tokens)
    pool = []
    if mode != "bm25":
        if hasattr(index.faiss, "nprobe"):  # an approximate index: how much of it a question scans
            index.faiss.nprobe = settings.ivf_probe
        _, ids = index.faiss.search(query_vector.reshape(1, -1).astype(np.float32), c)
        pool.append(ids[0][ids[0] >= 0])
    if mode != "dense":
        top = _top(lexical, c)
        pool.append(top[lexical[top] > 0])
    candidates = np.unique(np.concatenate(pool)) if pool else np.arange(0)
    # The dense baseline is plain passage cosine; the hybrid adds the sentence signal.
    dense = dense_scores(index, query_vector, candidates, settings=settings, sentences=mode != "dense")
    lex = lexical[candidates]
    if mode == "dense":
        fused = dense
    elif mode == "bm25":
        fused = lex
    else:
        fused = fuse(dense, lex, settings=settings)
    # Ties break on passage id so the same index always answers the same way.
    order = np.lexsort((candidates, -fused))[:k]
    return [
        Hit(passage=index.passages[int(candidates[i])], score=float(fused[i]),
            dense=float(dense[i]), lexical=float(lex[i]))
        for i in order
    ]


def dense_scores(
    index: Index, query_vector: np.ndarray, ids: np.ndarray, *, settings: Settings, sentences: bool = True
) -> np.ndarray:
    """Cosine of each passage, blended with its best sentence's cosine.

    A question usually targets one sentence; a passage's mean vector dilutes that
    sentence among the others, so the best single sentence is a sharper signal.
    """
    passage = index.vectors[ids] @ query_vector
    s = settings.sentence_weight
    if not sentences or s == 0 or len(ids) == 0:
        return passage
    return (1 - s) * passage + s * best_sentences(index, query_vector, ids)


def best_sentences(index: Index, query_vector: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The best sentence cosine of each passage in ``ids``, reading only those passages' sentence rows."""
    starts, ends = index.sentence_rows[ids], index.sentence_rows[np.asarray(ids) + 1]
    lengths = ends - starts
    # Rows starts[j] .. ends[j] - 1 of every passage j, in one fancy index.
    firsts = np.cumsum(lengths) - lengths
    rows = np.repeat(starts - firsts, lengths) + np.arange(int(lengths.sum()))
    # Every passage has at least one sentence, so each reduceat slice is non-empty.
    return np.maximum.reduceat(index.sentence_vectors[rows] @ query_vector, firsts)


def _top(scores: np.ndarray, c: int) -> np.ndarray:
    if c >= len(scores):
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, c - 1)[:c]
    return part[np.argsort(-scores[part], kind="stable")]
