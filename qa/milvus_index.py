"""Milvus index: a build's Milvus store loaded for questions, fetching what each one needs."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np

from qa.fusion import fuse
from qa.lexical import Lexical, tokenize
from qa.milvus_store import BM25_B, BM25_K1, connect, hex_terms, reason, target_of, unhex_terms
from qa.schema import Hit, Passage
from qa.storage import IndexProblem, gist, page_of, passage_from

QUERY_LIMIT = 16_384  # Milvus's most rows per query
CACHED_PASSAGES = 50_000  # passages (with their vectors) a loaded index keeps between questions


class MilvusIndex:
    """An index whose passages and vectors live in Milvus: the same surface ``ask()`` uses from
    ``qa.index.Index``, fetching what a question needs instead of holding the corpus in memory."""

    remote = True  # qa.retrieve.search hands the search to ``search`` below

    def __init__(self, root: Path, manifest: dict, client, lexical: Lexical):
        self.root = root
        self.manifest = manifest
        self.client = client
        self.lexical = lexical  # term rarities only (idf.json); BM25 itself runs in Milvus
        self.names = manifest["store"]["collections"]
        self.avg_length = manifest["store"]["avg_length"]
        self._passages: dict[int, Passage] = {}
        self._vectors: dict[int, np.ndarray] = {}
        self._lengths: dict[int, int] = {}
        self._firsts: dict[int, int] = {}
        self._terms_of: dict[int, list[str]] = {}
        self._sentences: dict[int, np.ndarray] = {}
        self._terms: dict[str, frozenset[str]] = {}
        self._tokens: dict[int, list[list[str]]] = {}

    @property
    def docs_dir(self) -> Path:
        return (self.root / self.manifest["docs_dir"]).resolve()

    def page_of(self, source: str, offset: int) -> int | None:
        return page_of(self.manifest, source, offset)

    def path_of(self, source: str) -> str:
        return str(self.docs_dir / source)

    @property
    def passages(self) -> list[Passage]:
        """Every passage (fetched from Milvus: for uploads and tools, not for questions)."""
        ids = list(range(self.manifest["passages"]))
        for i in range(0, len(ids), QUERY_LIMIT // 4):
            self._fetch(ids[i:i + QUERY_LIMIT // 4])
        return [self._passages[i] for i in ids]

    def sentence_tokens(self, passage: Passage) -> list[list[str]]:
        if passage.id not in self._tokens:
            self._tokens[passage.id] = tokenize(list(passage.texts))
        return self._tokens[passage.id]

    def sentence_vectors_of(self, passage: Passage) -> np.ndarray:
        self._fetch_sentences([passage.id])
        return self._sentences[passage.id]

    def document_terms(self, source: str) -> frozenset[str]:
        if source not in self._terms:
            quoted = source.replace("\\", "\\\\").replace('"', '\\"')
            rows = self.client.query(self.names["passages"], filter=f'source == "{quoted}"', output_fields=["terms"],
                                     limit=QUERY_LIMIT)
            self._terms[source] = frozenset(t for r in rows for t in unhex_terms(r["terms"]) if t != "\u2400")
        return self._terms[source]

    def search(self, query_vector: np.ndarray, query_tokens: list[str], *, settings, k: int, mode: str) -> list[Hit]:
        """qa.retrieve.search on Milvus: its exact inner-product search and its BM25 full-text search
        give the candidates; they are scored and fused exactly as on the FAISS files."""
        c = min(settings.candidates, self.manifest["passages"])
        known = [t for t in query_tokens if t in self.lexical.idf]
        pool = []
        if mode != "bm25":
            found = self.client.search(self.names["passages"], data=[query_vector.astype(np.float32).tolist()],
                                       anns_field="vector", limit=c, search_params={"metric_type": "IP"})
            pool.append([h["id"] for h in found[0]])
        if mode != "dense" and known:
            found = self.client.search(self.names["passages"], data=[hex_terms(known)], anns_field="sparse",
                                       limit=c, search_params={"metric_type": "BM25"})
            pool.append([h["id"] for h in found[0]])
        candidates = np.unique(np.concatenate([np.asarray(ids, dtype=np.int64) for ids in pool])) if pool \
            else np.arange(0)
        self._fetch(candidates.tolist())
        ids = candidates.tolist()
        dense = np.array([self._vectors[i] @ query_vector for i in ids], dtype=np.float32) if ids \
            else np.zeros(0, dtype=np.float32)
        s = settings.sentence_weight
        if mode != "dense" and s != 0 and ids:
            self._fetch_sentences(ids)
            best = np.array([np.max(self._sentences[i] @ query_vector) for i in ids], dtype=np.float32)
            dense = (1 - s) * dense + s * best
        lex = self.bm25(known, ids)
        fused = dense if mode == "dense" else lex if mode == "bm25" else fuse(dense, lex, settings=settings)
        order = np.lexsort((candidates, -fused))[:k]
        return [Hit(passage=self._passages[ids[i]], score=float(fused[i]), dense=float(dense[i]),
                    lexical=float(lex[i])) for i in order]

    def bm25(self, known: list[str], ids: list[int]) -> np.ndarray:
        """bm25s' "lucene" BM25 of the passages ``ids`` (the FAISS path's lexical scores): the same
        formula Milvus ranks with, up to its constant factor k1 + 1, which fusion divides away."""
        scores = np.zeros(len(ids), dtype=np.float32)
        for j, pid in enumerate(ids):
            counts = Counter(self._terms_of[pid])
            norm = BM25_K1 * (1 - BM25_B + BM25_B * self._lengths[pid] / self.avg_length)
            total = np.float32(0)
            for t in known:
                tf = counts.get(t, 0)
                if tf:
                    total += np.float32(self.lexical.idf[t] * tf / (tf + norm))
            scores[j] = total
        return scores

    def _fetch(self, ids: list[int]) -> None:
        todo = [int(i) for i in ids if int(i) not in self._passages]
        if not todo:
            return
        if len(self._passages) + len(todo) > CACHED_PASSAGES:  # a long-running chat: start the cache afresh
            for cache in (self._passages, self._vectors, self._lengths, self._firsts, self._terms_of,
                          self._sentences, self._tokens):
                cache.clear()
            todo = [int(i) for i in ids]
        rows = self.client.query(self.names["passages"], filter=f"id in {todo}",
                                 output_fields=["id", "vector", "terms", "source", "length", "first", "row"])
        for r in rows:
            pid = int(r["id"])
            try:
                self._passages[pid] = passage_from(pid, r["source"], json.loads(r["row"]))
            except (ValueError, KeyError, TypeError) as exc:  # as a damaged line of passages.jsonl
                raise IndexProblem(f"index at {self.root} is damaged (Milvus passage {pid}: {gist(exc)}): "
                                   f"run `qa build --index {self.root}`") from None
            self._vectors[pid] = np.asarray(r["vector"], dtype=np.float32)
            self._lengths[pid] = int(r["length"])
            self._firsts[pid] = int(r["first"])
            self._terms_of[pid] = unhex_terms(r["terms"])
        missing = set(todo) - self._passages.keys()
        if missing:
            raise IndexProblem(f"index at {self.root} names passages that Milvus does not hold "
                               f"({len(missing)}, e.g. {min(missing)}): run `qa build --index {self.root}`")

    def _fetch_sentences(self, ids: list[int]) -> None:
        todo = [int(i) for i in ids if int(i) not in self._sentences]
        if not todo:
            return
        self._fetch(todo)
        # By primary key: each passage's sentences are the rows first .. first + count - 1.
        rows = []
        keys = [self._firsts[p] + j for p in todo for j in range(len(self._passages[p].sentences))]
        for i in range(0, len(keys), QUERY_LIMIT // 2):
            rows += self.client.query(self.names["sentences"], filter=f"id in {keys[i:i + QUERY_LIMIT // 2]}",
                                      output_fields=["id", "passage", "vector"])
        found: dict[int, list] = {}
        for r in sorted(rows, key=lambda r: r["id"]):
            found.setdefault(int(r["passage"]), []).append(r["vector"])
        for pid in todo:
            self._sentences[pid] = np.asarray(found.get(pid, []), dtype=np.float32)


def load(root: Path, manifest: dict) -> MilvusIndex:
    """The index at ``root`` whose manifest names a Milvus store; IndexProblem when it is not there."""
    fix = f"run `qa build --index {root}`"
    store = manifest["store"]
    target = target_of(store, root)
    try:
        client = connect(target)
    except ValueError as exc:
        raise IndexProblem(str(exc)) from None
    try:
        data = json.loads((root / "idf.json").read_text())
        lexical = Lexical(None, data["idf"], data["n_docs"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexProblem(f"index at {root} is damaged (idf.json: {reason(exc)}): {fix}") from None
    for name in store["collections"].values():
        if not client.has_collection(name):
            raise IndexProblem(f"index at {root} names the Milvus collection {name}, which {target.shown} "
                               f"does not hold: {fix}")
        client.load_collection(name)
    counts = (manifest.get("passages"), lexical.n_docs,
              client.get_collection_stats(store["collections"]["passages"])["row_count"])
    sentences = client.get_collection_stats(store["collections"]["sentences"])["row_count"]
    if len(set(counts)) != 1 or sentences != manifest.get("sentences"):
        raise IndexProblem(f"index at {root} is inconsistent (its Milvus collections disagree on sizes): {fix}")
    if not math.isfinite(store.get("avg_length", math.nan)):
        raise IndexProblem(f"index at {root} has an unreadable manifest.json (store): {fix}")
    return MilvusIndex(root, manifest, client, lexical)
