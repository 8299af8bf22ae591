"""Python API: ``ask()`` a question of an index; the loaded engine is reused per process."""

from __future__ import annotations

import threading
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.answer.compose import compose
from qa.answer.intent import focus
from qa.config import DEFAULT_INDEX_DIR, Settings, default_settings
from qa.embed import Encoder, document_encoder
from qa.index import Index, IndexProblem, load_index
from qa.lexical import question_tokens
from qa.retrieve import search
from qa.schema import Answer, Citation, Passage
from qa.storage import built_precision
from qa.text import replace_undecodable

MAX_QUESTION_CHARS = 2000
MAX_CACHED_NAMES = 50_000


class Engine:
    """A loaded index and its encoder: everything a question needs, loaded once."""

    def __init__(self, index: Index, encoder, settings: Settings, *, decision=None):
        if index.manifest["model"] != settings.model:
            raise IndexProblem(
                f"index at {index.root} was built with model {index.manifest['model']!r} but "
                f"{settings.model!r} is configured: run `qa build --index {index.root}`"
            )
        self.index = index
        self.encoder = encoder  # what builds embed documents with (qa.embed.document_encoder)
        # Questions are embedded as this index's documents were (int8 weights in a default build):
        # the fitted decision saw such pairs, and int8 runs a question in about half fp32's time.
        self.query_encoder, _ = document_encoder(encoder, built_precision(index.manifest.get("settings")))
        self.settings = settings
        self.decision = decision  # None: the fitted model of settings.decision_model (qa.answer.decide.load)
        self._names: dict[str, np.ndarray] = {}  # name -> vector; names recur across questions

    @classmethod
    def load(cls, index_dir: str | Path | None = None, *, settings: Settings | None = None) -> Engine:
        settings = settings or default_settings()
        index = load_index(index_dir or DEFAULT_INDEX_DIR)
        return cls(index, Encoder(settings.model, backend=settings.backend), settings)

    def encode_query(self, texts: list[str]) -> np.ndarray:
        distinct = list(dict.fromkeys(texts))  # a question that names nothing is its own focus: embedded once
        vectors = self.query_encoder.encode(distinct)
        if vectors.shape[1] != self.index.manifest["dimension"]:
            raise IndexProblem(
                f"model gives {vectors.shape[1]}-dimensional vectors but the index holds "
                f"{self.index.manifest['dimension']}: run `qa build --index {self.index.root}`"
            )
        return vectors if len(distinct) == len(texts) else vectors[[distinct.index(t) for t in texts]]

    def name_vectors(self, names: list[str]) -> np.ndarray:
        """Unit vectors of short names, each embedded once per engine (and safe across threads)."""
        found = {n: self._names.get(n) for n in names}
        new = [n for n, vector in found.items() if vector is None]
        if new:
            found.update(zip(new, self.encode_query(new)))
            if len(self._names) > MAX_CACHED_NAMES:
                self._names.clear()
            self._names.update((n, found[n]) for n in new)
        return np.stack([found[n] for n in names])

    # The evidence the answer stage reads (qa.answer.rank.Evidence): the index's, and names embedded here.
    def sentence_vectors_of(self, passage: Passage) -> np.ndarray:
        return self.index.sentence_vectors_of(passage)

    def sentence_tokens(self, passage: Passage) -> list[list[str]]:
        return self.index.sentence_tokens(passage)

    def document_terms(self, source: str) -> frozenset[str]:
        return self.index.document_terms(source)

    def idf(self, term: str) -> float:
        return self.index.lexical.term_idf(term)

    def path_of(self, source: str) -> str:
        return self.index.path_of(source)

    def ask(self, question: str, *, k: int | None = None, mode: str = "hybrid", searched_for: str = "") -> Answer:
        """Answer ``question``; ``searched_for`` (default: the question) is what gets retrieved.

        ``k`` passages come with the answer (default ``settings.k``); it never changes the
        answer, whose sentences come from the top ``settings.answer_passages`` whatever ``k``.
        """
        question = check_question(question)
        k = self.settings.k if k is None else k
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k is the number of passages to return: a whole number of at least 1, not {k!r}")
        query = searched_for or question
        vector, focus_vector = self.encode_query([query, focus(question)])
        hits = search(self.index, vector, question_tokens(query), settings=self.settings,
                      k=max(k, self.settings.answer_passages), mode=mode)
        answer = compose(question, hits, self, query_vector=vector, focus_vector=focus_vector,
                         settings=self.settings, searched_for=query, decision=self.decision)
        citations = tuple(replace(c, page=self.index.page_of(c.source, c.start)) for c in answer.citations)
        return replace(answer, text=with_pages(answer.text, citations), citations=citations,
                       passages=answer.passages[:k])


def page_label(source: str, page: int | None) -> str:
    """"p. 4" for a PDF page, "slide 4" for a .pptx slide, "" for a file without pages."""
    if page is None:
        return ""
    return f"slide {page}" if source.lower().endswith(".pptx") else f"p. {page}"


def with_pages(text: str, citations: tuple[Citation, ...]) -> str:
    """The reply's text with each source line ("[n] Title — file, ...") followed by its page."""
    labels = {f"[{c.n}] ": page_label(c.source, c.page) for c in citations}
    lines = text.split("\n")
    if "Sources:" not in lines:
        return text
    at = lines.index("Sources:")
    for i, line in enumerate(lines[at + 1:], at + 1):
        label = next((v for key, v in labels.items() if line.startswith(key)), "")
        if label:
            lines[i] = f"{line}, {label}"
    return "\n".join(lines)


def check_question(question: str) -> str:
    if not isinstance(question, str):
        raise ValueError("the question must be text")
    question = replace_undecodable(question).strip()
    if not question:
        raise ValueError("the question is empty: type a question about the documents")
    if len(question) > MAX_QUESTION_CHARS:
        raise ValueError(
            f"the question is {len(question):,} characters long; the limit is {MAX_QUESTION_CHARS:,}: ask a shorter one"
        )
    if not any(ch.isalnum() for ch in question):
        raise ValueError("the question has no words: type a question about the documents")
    return question


_lock = threading.Lock()


@lru_cache(maxsize=4)
def _engine(index_dir: str, model: str) -> Engine:
    return Engine.load(index_dir, settings=default_settings().with_(model=model))


def engine(index_dir: str | Path | None = None) -> Engine:
    """The process-wide engine for ``index_dir`` (default ``embeddings/``), loaded on first use."""
    key = str(Path(index_dir or DEFAULT_INDEX_DIR).resolve())
    with _lock:  # one load even when several chat users arrive at once
        return _engine(key, default_settings().model)


def ask(question: str, *, index_dir: str | Path | None = None, k: int | None = None) -> Answer:
    """Answer ``question`` from the index in ``index_dir`` with verbatim, cited sentences.

    >>> answer = ask("Which SNS ranks first among Japanese users?")  # doctest: +SKIP
    >>> answer.citations[0].quote                                     # doctest: +SKIP
    """
    return engine(index_dir).ask(question, k=k)

