"""Lexical side: one tokenizer for everything, a bm25s index and term rarities."""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS

# The longer English list: question words and auxiliaries ("which", "did", "does") carry
# no topic, and the composer weighs a question by the topic words it covers.
STOPWORDS = list(STOPWORDS_EN_PLUS)

_local = threading.local()  # PyStemmer objects must not be shared between threads


def _stemmer() -> Stemmer.Stemmer:
    if not hasattr(_local, "stemmer"):
        _local.stemmer = Stemmer.Stemmer("english")
    return _local.stemmer


def tokenize(texts: list[str]) -> list[list[str]]:
    """Lower-cased, stop-word-free, stemmed word tokens (bm25s' own tokenizer)."""
    if not texts:
        return []
    return bm25s.tokenize(
        texts, stopwords=STOPWORDS, stemmer=_stemmer(), return_ids=False, show_progress=False
    )


def question_tokens(text: str) -> list[str]:
    """``tokenize([text])[0]``, kept for the last few texts: a question is tokenized for the
    search and again when the answer stage reads it."""
    return list(_question_tokens(text))


@lru_cache(maxsize=64)
def _question_tokens(text: str) -> tuple[str, ...]:
    return tuple(tokenize([text])[0])


class Lexical:
    """BM25 over passages plus the inverse document frequency of every term."""

    def __init__(self, bm25: bm25s.BM25, idf: dict[str, float], n_docs: int):
        self.bm25 = bm25
        self.idf = idf
        self.n_docs = n_docs
        # A query word the corpus never uses is as telling as the rarest one it does.
        self.unknown_idf = math.log(1 + (n_docs + 0.5) / 0.5)

    @classmethod
    def build(cls, texts: list[str], tokens: list[list[str]] | None = None) -> Lexical:
        """BM25 of ``texts``; ``tokens``, when given, are their ``tokenize`` output already."""
        tokens = tokenize(texts) if tokens is None else tokens
        bm25 = bm25s.BM25()
        # bm25s cannot index an empty vocabulary; a placeholder keeps tiny corpora valid.
        docs = [t or ["\u2400"] for t in tokens]
        # Term ids in sorted order, not in set order (which changes with Python's hash
        # seed): the same corpus gives the same index files, byte for byte.
        vocab = {term: i for i, term in enumerate(sorted({term for doc in docs for term in doc}))}
        bm25.index(([[vocab[term] for term in doc] for doc in docs], vocab), show_progress=False)
        df = Counter(term for doc in tokens for term in set(doc))
        n = len(texts)
        idf = {term: math.log(1 + (n - f + 0.5) / (f + 0.5)) for term, f in df.items()}
        return cls(bm25, idf, n)

    def term_idf(self, term: str) -> float:
        return self.idf.get(term, self.unknown_idf)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every passage for one tokenized query."""
        known = [t for t in query_tokens if t in self.bm25.vocab_dict]
        if not known:
            return np.zeros(self.n_docs, dtype=np.float32)
        return np.asarray(self.bm25.get_scores(known), dtype=np.float32)

    def save(self, folder: Path) -> None:
        self.bm25.save(str(folder / "bm25"), show_progress=False)
        (folder / "idf.json").write_text(json.dumps({"n_docs": self.n_docs, "idf": self.idf}, sort_keys=True))

    @classmethod
    def load(cls, folder: Path) -> Lexical:
        # Memory-mapped: a question reads the postings of its own terms only.
        bm25 = bm25s.BM25.load(str(folder / "bm25"), show_progress=False, verbosity=0, mmap=True)
        data = json.loads((folder / "idf.json").read_text())
        lexical = cls(bm25, data["idf"], data["n_docs"])
        lexical.check()
        return lexical

    def check(self) -> None:
        """Raise ValueError unless the BM25 files fit together and cover ``n_docs`` passages.

        A bm25s file from another index parses fine, then fails at query time or never.
        """
        scores, vocab = self.bm25.scores, self.bm25.vocab_dict
        indptr, indices = scores["indptr"], scores["indices"]
        if (
            scores["num_docs"] != self.n_docs
            # one column per term; bm25s may add an empty-string term without a column
            or len(indptr) - 1 not in (len(vocab), len(vocab) - 1)
            or not len(scores["data"]) == len(indices) == indptr[-1]
            # Reading every posting pages the whole index in: checked below a few million only.
            or (0 < len(indices) <= 5_000_000 and indices.max() >= self.n_docs)
        ):
            raise ValueError("the BM25 files do not fit together or do not match idf.json")
