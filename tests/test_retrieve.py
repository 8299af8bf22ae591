"""Retrieve: hybrid search checked against a brute-force reference computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from qa.lexical import question_tokens, tokenize
from qa.retrieve import search

QUERIES = [
    "green tea kettle",
    "How many prongs does a bamboo whisk have?",
    "café crème brûlée",
    "cast iron kettles from Morioka",
    "which steeping do locals drink with rice crackers",
    "tea",
]


@pytest.fixture
def everything(fake_settings, fake_index):
    """Settings whose candidate pools hold every passage, so fusion sees them all."""
    return fake_settings.with_(candidates=len(fake_index.passages) + 5, k=len(fake_index.passages))


def query(fake_encoder, text):
    return fake_encoder.encode([text])[0], tokenize([text])[0]


def reference_dense(index, vector, settings, *, sentences: bool) -> np.ndarray:
    """Passage cosine, blended with the best sentence's cosine when settings ask for it."""
    cosine = index.vectors.astype(np.float64) @ vector
    weight = getattr(settings, "sentence_weight", 0.0)
    if not sentences or not weight:
        return cosine
    best = np.array([
        max(float(index.sentence_vectors[row] @ vector)
            for row in range(index.sentence_rows[i], index.sentence_rows[i + 1]))
        for i in range(len(index.passages))
    ])
    return (1 - weight) * cosine + weight * best


def ranks(scores: np.ndarray) -> np.ndarray:
    """Rank from 1 of every item, best first, ties broken by id."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    out = np.empty(len(scores), dtype=np.int64)
    for rank, i in enumerate(order, 1):
        out[i] = rank
    return out


def reference(index, vector, tokens, settings, mode) -> list[tuple[int, float]]:
    bm25 = index.lexical.scores(tokens).astype(np.float64)
    if mode == "bm25":
        scores = {i: bm25[i] for i in range(len(bm25)) if bm25[i] > 0}
    elif mode == "dense":
        dense = reference_dense(index, vector, settings, sentences=False)
        scores = dict(enumerate(dense))
    elif settings.fusion == "convex":
        dense = reference_dense(index, vector, settings, sentences=True)
        top = bm25.max()
        scaled = bm25 / top if top > 0 else np.zeros_like(bm25)
        w = settings.dense_weight
        scores = dict(enumerate(w * dense + (1 - w) * scaled))
    else:
        dense = reference_dense(index, vector, settings, sentences=True)
        fused = 1.0 / (settings.rrf_k + ranks(dense)) + 1.0 / (settings.rrf_k + ranks(bm25))
        scores = dict(enumerate(fused))
    ordered = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return ordered[: settings.k]


def assert_matches(hits, expected):
    assert [h.passage.id for h in hits] == [i for i, _ in expected]
    np.testing.assert_allclose([h.score for h in hits], [s for _, s in expected], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("text", QUERIES)
@pytest.mark.parametrize("fusion", ["convex", "rrf"])
def test_hybrid_matches_brute_force(fake_index, fake_encoder, everything, text, fusion):
    settings = everything.with_(fusion=fusion)
    vector, tokens = query(fake_encoder, text)
    hits = search(fake_index, vector, tokens, settings=settings)
    assert_matches(hits, reference(fake_index, vector, tokens, settings, "hybrid"))
    assert len(hits) == len(fake_index.passages)


@pytest.mark.parametrize("text", QUERIES)
@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_convex_weights_match_brute_force(fake_index, fake_encoder, everything, text, weight):
    settings = everything.with_(dense_weight=weight)
    vector, tokens = query(fake_encoder, text)
    hits = search(fake_index, vector, tokens, settings=settings)
    assert_matches(hits, reference(fake_index, vector, tokens, settings, "hybrid"))


@pytest.mark.parametrize("text", QUERIES)
@pytest.mark.parametrize("weight", [0.0, 0.5, 1.0])
def test_sentence_weights_match_brute_force(fake_index, fake_encoder, everything, text, weight):
    settings = everything.with_(sentence_weight=weight)
    vector, tokens = query(fake_encoder, text)
    hits = search(fake_index, vector, tokens, settings=settings)
    assert_matches(hits, reference(fake_index, vector, tokens, settings, "hybrid"))


@pytest.mark.parametrize("text", QUERIES)
def test_hits_carry_both_signals(fake_index, fake_encoder, everything, text):
    vector, tokens = query(fake_encoder, text)
    bm25 = fake_index.lexical.scores(tokens)
    dense = reference_dense(fake_index, vector, everything, sentences=True)
    for hit in search(fake_index, vector, tokens, settings=everything):
        assert hit.lexical == pytest.approx(float(bm25[hit.passage.id]), rel=1e-5, abs=1e-6)
        assert hit.dense == pytest.approx(float(dense[hit.passage.id]), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("text", QUERIES)
@pytest.mark.parametrize("mode", ["dense", "bm25"])
def test_single_signal_modes_match_their_own_ranking(fake_index, fake_encoder, everything, text, mode):
    vector, tokens = query(fake_encoder, text)
    hits = search(fake_index, vector, tokens, settings=everything, mode=mode)
    assert_matches(hits, reference(fake_index, vector, tokens, everything, mode))
    assert hits  # every query above shares a word with the corpus


def test_bm25_mode_finds_nothing_for_unknown_words(fake_index, fake_encoder, everything):
    vector, tokens = query(fake_encoder, "quantum chromodynamics")
    assert search(fake_index, vector, tokens, settings=everything, mode="bm25") == []
    assert search(fake_index, vector, tokens, settings=everything)  # the dense side still answers


def test_small_candidate_pools_come_from_either_retriever(fake_index, fake_encoder, fake_settings):
    settings = fake_settings.with_(candidates=2, k=10)
    for text in QUERIES:
        vector, tokens = query(fake_encoder, text)
        hits = search(fake_index, vector, tokens, settings=settings)
        bm25 = fake_index.lexical.scores(tokens)
        _, dense_ids = fake_index.faiss.search(vector.reshape(1, -1), 2)
        lexical_ids = [i for i in sorted(range(len(bm25)), key=lambda i: (-bm25[i], i))[:2] if bm25[i] > 0]
        assert {h.passage.id for h in hits} <= set(dense_ids[0]) | set(lexical_ids)
        assert len(hits) <= 4


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_same_query_same_hits(fake_index, fake_encoder, fake_settings, mode):
    vector, tokens = query(fake_encoder, "green tea kettle")
    first = search(fake_index, vector, tokens, settings=fake_settings, mode=mode)
    second = search(fake_index, vector, tokens, settings=fake_settings, mode=mode)
    assert first == second and first


@pytest.mark.parametrize("k", [1, 2, 3])
def test_k_is_respected(fake_index, fake_encoder, fake_settings, k):
    vector, tokens = query(fake_encoder, "tea")
    assert len(search(fake_index, vector, tokens, settings=fake_settings, k=k)) == k
    assert len(search(fake_index, vector, tokens, settings=fake_settings.with_(k=k))) == k


def test_k_larger_than_the_corpus_returns_every_passage_once(fake_index, fake_encoder, fake_settings):
    vector, tokens = query(fake_encoder, "tea")
    hits = search(fake_index, vector, tokens, settings=fake_settings, k=1000)
    assert sorted(h.passage.id for h in hits) == list(range(len(fake_index.passages)))


def test_unknown_mode_is_a_value_error(fake_index, fake_encoder, fake_settings):
    vector, tokens = query(fake_encoder, "tea")
    with pytest.raises(ValueError, match="mode"):
        search(fake_index, vector, tokens, settings=fake_settings, mode="fuzzy")


def test_a_questions_kept_tokens_are_its_tokenize_and_a_copy():
    question = "Which SNS ranks first among Japanese users, and why?"
    first = question_tokens(question)
    assert first == tokenize([question])[0] == question_tokens(question)
    first.append("changed")  # a caller's list is its own: the kept tokens stay as they were
    assert question_tokens(question) == tokenize([question])[0]
