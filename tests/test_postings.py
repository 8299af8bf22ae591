"""BM25 over the query terms' postings: the same scores and the same search as the dense array it replaced."""

from __future__ import annotations

import numpy as np
import pytest

from qa.lexical import Lexical, tokenize
from qa.retrieve import dense_scores, fuse, search

WORDS = "tea kettle whisk bamboo iron cast rice cracker green leaf water steep cup pot clay glaze".split()


def texts(n: int, seed: int) -> list[str]:
    """``n`` passages of a 16-word vocabulary, a third of them copies of others: many tied scores."""
    rng = np.random.default_rng(seed)
    out = [" ".join(rng.choice(WORDS, size=rng.integers(1, 9))) for _ in range(n)]
    for i in rng.choice(n, size=n // 3, replace=False):
        out[i] = out[rng.integers(n)]
    return out


def random_query(rng) -> list[str]:
    words = list(rng.choice(WORDS + ["absent"], size=rng.integers(1, 6)))  # repeats and unknown words too
    return tokenize([" ".join(words)])[0]


def test_term_scores_equal_the_dense_array_bit_for_bit():
    lexical = Lexical.build(texts(600, 0))
    rng = np.random.default_rng(1)
    for _ in range(200):
        tokens = random_query(rng)
        dense = lexical.scores(tokens)
        ids, scores = lexical.term_scores(tokens)
        assert scores.dtype == np.float32 and np.all(np.diff(ids) > 0)
        np.testing.assert_array_equal(np.flatnonzero(dense), ids)
        assert dense[ids].tobytes() == scores.tobytes()  # not close: the same float32 bits
    assert lexical.term_scores([]) == (pytest.approx(np.zeros(0)), pytest.approx(np.zeros(0)))
    ids, scores = lexical.term_scores(["absent"])
    assert len(ids) == len(scores) == 0


def old_top(scores: np.ndarray, c: int) -> np.ndarray:
    """The retriever's pick before the postings: the top ``c`` of a dense array of every passage."""
    if c >= len(scores):
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, c - 1)[:c]
    return part[np.argsort(-scores[part], kind="stable")]


def old_search(index, vector, tokens, *, settings, k, mode):
    """qa.retrieve.search as it was, scoring BM25 into a dense array of every passage."""
    c = min(settings.candidates, len(index.passages))
    lexical = index.lexical.scores(tokens)
    pool = []
    if mode != "bm25":
        _, ids = index.faiss.search(vector.reshape(1, -1).astype(np.float32), c)
        pool.append(ids[0][ids[0] >= 0])
    if mode != "dense":
        picked = old_top(lexical, c)
        pool.append(picked[lexical[picked] > 0])
    candidates = np.unique(np.concatenate(pool))
    dense = dense_scores(index, vector, candidates, settings=settings, sentences=mode != "dense")
    lex = lexical[candidates]
    fused = dense if mode == "dense" else lex if mode == "bm25" else fuse(dense, lex, settings=settings)
    order = np.lexsort((candidates, -fused))[:k]
    return [(int(candidates[i]), float(fused[i]), float(dense[i]), float(lex[i])) for i in order]


@pytest.fixture
def tied_index(tmp_path, fake_encoder, fake_settings):
    from qa.index import build_index

    docs = tmp_path / "docs"
    docs.mkdir()
    body = texts(300, 2)
    for d in range(0, len(body), 30):  # ten documents of 30 paragraphs
        (docs / f"doc{d // 30}.txt").write_text("\n\n".join(t.capitalize() + "." for t in body[d:d + 30]) + "\n")
    return build_index(docs, tmp_path / "index", settings=fake_settings, encoder=fake_encoder)


def test_search_over_postings_gives_the_old_results(tied_index, fake_encoder, fake_settings):
    """Same ids, order and float32 scores as the dense path, also where tied scores straddle the
    c-th place (there the dense array is rebuilt so that argpartition picks as it did)."""
    rng = np.random.default_rng(3)
    n = len(tied_index.passages)
    straddled = 0
    for trial in range(600):
        tokens = random_query(rng)
        vector = fake_encoder.encode([" ".join(tokens) or "tea"])[0]
        settings = fake_settings.with_(candidates=int(rng.choice([2, 3, 5, 10, 40, n + 5])))
        mode = ("hybrid", "bm25", "dense")[trial % 3]
        new = [(h.passage.id, h.score, h.dense, h.lexical)
               for h in search(tied_index, vector, tokens, settings=settings, k=20, mode=mode)]
        assert new == old_search(tied_index, vector, tokens, settings=settings, k=20, mode=mode)
        ranked = np.sort(tied_index.lexical.term_scores(tokens)[1])[::-1]
        c = min(settings.candidates, n)
        straddled += len(ranked) > c and ranked[c - 1] == ranked[c]
    assert straddled >= 5  # the rebuilt dense array was exercised


def test_ties_at_the_cth_place_are_picked_as_argpartition_did():
    """On heavily tied scores argpartition's pick is not the lowest ids; the postings path keeps it."""
    from qa.retrieve import _top_positive

    rng = np.random.default_rng(4)
    for n in (50, 1_000, 30_000):
        dense = np.zeros(n, dtype=np.float32)
        ids = np.sort(rng.choice(n, size=n // 2, replace=False))
        dense[ids] = rng.integers(1, 4, size=len(ids))
        for c in (1, 7, 20):
            old = old_top(dense, c)
            assert sorted(_top_positive(ids, dense[ids], c, n)) == sorted(old[dense[old] > 0])
