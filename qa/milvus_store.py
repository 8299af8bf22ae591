"""Milvus store: passages, their vectors, sentence vectors and BM25 terms in Milvus (a server or Milvus Lite)."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.fusion import fuse
from qa.lexical import Lexical, tokenize
from qa.schema import Hit, Passage, Span
from qa.storage import IndexProblem, page_of
from qa.text import clip

log = logging.getLogger("qa")

CONNECT_SECONDS = 5.0  # how long a build or a load waits for a Milvus server before saying so
INSERT_ROWS = 1000  # rows per insert call
MAX_TEXT = 65_535  # Milvus's longest VARCHAR, in bytes
QUERY_LIMIT = 16_384  # Milvus's most rows per query
CACHED_PASSAGES = 50_000  # passages (with their vectors) a loaded index keeps between questions
# bm25s' defaults (method "lucene"); Milvus is told the same, and candidates are scored with them here.
BM25_K1, BM25_B = 1.5, 0.75
USAGE = "--store takes faiss, milvus://HOST:PORT/COLLECTION (a Milvus server) or milvus:FILE.db (Milvus Lite)"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,180}")

_clients: dict[str, object] = {}  # one client per server or Lite file per process (Lite starts a server each)


@dataclass(frozen=True)
class Target:
    """Where a store lives: ``uri`` for pymilvus (http://HOST:PORT or a .db path) and a collection base name."""

    uri: str
    base: str
    shown: str  # as the user wrote it, for messages

    @property
    def lite(self) -> bool:
        return not self.uri.startswith("http")


def parse(spec: str) -> Target | None:
    """``--store`` as written: None for the FAISS files, a Target for Milvus; anything else raises ValueError."""
    if spec == "faiss":
        return None
    if spec.startswith("milvus://"):
        where, _, base = spec[len("milvus://"):].partition("/")
        host, _, port = where.rpartition(":")
        if not host or not port.isdigit() or not _NAME.fullmatch(base or ""):
            raise ValueError(f"{spec!r} is not a Milvus address like milvus://127.0.0.1:19530/qa: {USAGE}")
        return Target(uri=f"http://{host}:{port}", base=base, shown=spec)
    if spec.startswith("milvus:"):
        path = spec[len("milvus:"):]
        if not path.endswith(".db"):
            raise ValueError(f"a Milvus Lite file must end in .db, not {path!r}: {USAGE}")
        return Target(uri=str(Path(path).expanduser().resolve()), base="qa", shown=spec)
    raise ValueError(f"unknown store {spec!r}: {USAGE}")


def connect(target: Target):
    """A pymilvus client for ``target``; an unreachable server is a one-line ValueError naming it."""
    if target.uri in _clients:
        return _clients[target.uri]
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise ValueError("the Milvus store needs pymilvus and milvus-lite: pip install 'qa[milvus]'") from None
    if target.lite and not Path(target.uri).parent.is_dir():
        raise ValueError(f"no folder for the Milvus Lite file {target.uri}: create {Path(target.uri).parent} first")
    try:
        client = MilvusClient(uri=target.uri, timeout=CONNECT_SECONDS)
        client.list_collections()
    except Exception as exc:  # pymilvus raises its own types, grpc's and OSError
        where = target.uri if target.lite else target.uri.removeprefix("http://")
        raise ValueError(f"cannot reach Milvus at {where} ({_gist(exc)}): start it, or pass another --store") from None
    _clients[target.uri] = client
    return client


def close_all() -> None:
    """Close every client this process opened (their gRPC threads would otherwise outlive them)."""
    for client in _clients.values():
        try:
            client.close()
        except Exception as exc:
            log.warning("could not close a Milvus client: %s", _gist(exc))
    _clients.clear()


def hex_terms(tokens: list[str]) -> str:
    """Our stemmed tokens as one word each for Milvus's "standard" analyzer (which would split
    CJK runs and punctuation its own way): each token's UTF-8 bytes in hex, behind an "x"."""
    return " ".join("x" + t.encode("utf-8").hex() for t in tokens)


def write(target: Target, folder: Path, root: Path, *, passages: list[Passage], passage_vectors: np.ndarray,
          sentence_vectors: np.ndarray, lexical: Lexical) -> dict:
    """Write a build into new collections and ``idf.json`` into ``folder``; return the manifest's "store".

    New collections each build: the manifest names the ones it was written with, so readers of
    the old index keep theirs until the folder swap, and a failed build drops what it wrote.
    """
    from pymilvus import DataType, Function, FunctionType

    client = connect(target)
    stamp = f"{time.strftime('%Y%m%d%H%M%S', time.gmtime())}_{os.getpid()}"
    names = {"passages": f"{target.base}_{stamp}_p", "sentences": f"{target.base}_{stamp}_s"}
    dim = int(passage_vectors.shape[1])
    tokens = [t or ["\u2400"] for t in tokenize([p.text for p in passages])]  # bm25s' placeholder too
    try:
        schema = client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("terms", DataType.VARCHAR, max_length=MAX_TEXT, enable_analyzer=True,
                         analyzer_params={"tokenizer": "standard"})
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("source", DataType.VARCHAR, max_length=MAX_TEXT)
        schema.add_field("length", DataType.INT64)
        schema.add_field("first", DataType.INT64)  # the passage's first row in the sentence collection
        schema.add_field("row", DataType.VARCHAR, max_length=MAX_TEXT)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["terms"],
                                     output_field_names=["sparse"]))
        params = client.prepare_index_params()
        params.add_index("vector", index_type="FLAT", metric_type="IP")  # exact, as the FAISS files
        params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                         params={"bm25_k1": BM25_K1, "bm25_b": BM25_B})
        params.add_index("source", index_type="INVERTED")  # a document's passages (document_terms)
        client.create_collection(names["passages"], schema=schema, index_params=params)

        schema = client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("passage", DataType.INT64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        params = client.prepare_index_params()
        params.add_index("vector", index_type="FLAT", metric_type="IP")
        client.create_collection(names["sentences"], schema=schema, index_params=params)

        counts = [len(p.sentences) for p in passages]
        firsts = np.cumsum([0, *counts[:-1]]) if counts else []
        _insert(client, names["passages"], (_passage_row(p, vector, terms, int(first)) for p, vector, terms, first
                                             in zip(passages, passage_vectors, tokens, firsts)))
        owners = np.repeat(np.arange(len(passages)), counts)
        _insert(client, names["sentences"], ({"id": i, "passage": int(owner), "vector": vector.tolist()}
                                              for i, (owner, vector) in enumerate(zip(owners, sentence_vectors))))
        for name in names.values():
            client.flush(name)
    except BaseException:
        drop({"collections": names}, target)
        raise
    (folder / "idf.json").write_text(json.dumps({"n_docs": lexical.n_docs, "idf": lexical.idf}, sort_keys=True))
    uri = target.uri if not target.lite else os.path.relpath(target.uri, root.resolve())
    return {"kind": "milvus", "uri": uri, "base": target.base, "collections": names, "shown": target.shown,
            "avg_length": float(np.mean([len(t) for t in tokens])) if tokens else 0.0}


def target_of(store: dict, root: Path) -> Target:
    """The Target a manifest's "store" names (a Lite path is kept relative to the index folder)."""
    uri = store["uri"]
    if not uri.startswith("http"):
        uri = str((Path(root) / uri).resolve())
    return Target(uri=uri, base=store.get("base", "qa"), shown=store.get("shown", uri))


def drop(store: dict, target: Target) -> None:
    """Drop a store's collections (a replaced or failed build); problems are only logged."""
    try:
        client = connect(target)
        for name in store["collections"].values():
            if client.has_collection(name):
                client.drop_collection(name)
    except Exception as exc:
        log.warning("could not drop the Milvus collections %s: %s", ", ".join(store["collections"].values()),
                    _gist(exc))


def _passage_row(p: Passage, vector: np.ndarray, terms: list[str], first: int) -> dict:
    row = {"id": p.id, "vector": vector.tolist(), "terms": hex_terms(terms), "source": p.source,
           "length": len(terms), "first": first, "row": json.dumps(_row(p), ensure_ascii=False)}
    for field in ("terms", "source", "row"):
        if len(row[field].encode("utf-8")) > MAX_TEXT:
            raise ValueError(f"passage {p.id} of {p.source} is too long for a Milvus text field "
                             f"({MAX_TEXT:,} bytes): split the document, or use --store faiss")
    return row


def _insert(client, name: str, rows) -> None:
    """Insert ``rows`` (any iterable: made as they go) a thousand at a time."""
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == INSERT_ROWS:
            client.insert(name, chunk)
            chunk = []
    if chunk:
        client.insert(name, chunk)


def _row(p: Passage) -> dict:
    return {"title": p.title, "start": p.start, "end": p.end, "sentences": [[s.start, s.end] for s in p.sentences],
            "texts": p.texts, "quotes": {i: q for i, (q, t) in enumerate(zip(p.quotes, p.texts)) if q != t}}


def _passage(pid: int, source: str, row: dict) -> Passage:
    texts = tuple(row["texts"])
    return Passage(id=pid, source=source, title=row["title"], start=row["start"], end=row["end"],
                   sentences=tuple(Span(s, e) for s, e in row["sentences"]), texts=texts,
                   quotes=tuple(row["quotes"].get(str(i), text) for i, text in enumerate(texts)))


def _gist(exc: BaseException, limit: int = 160) -> str:
    return clip(str(getattr(exc, "message", None) or exc), limit) or type(exc).__name__  # MilvusException


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
            self._terms[source] = frozenset(t for r in rows for t in _unhex(r["terms"]) if t != "\u2400")
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
            self._passages[pid] = _passage(pid, r["source"], json.loads(r["row"]))
            self._vectors[pid] = np.asarray(r["vector"], dtype=np.float32)
            self._lengths[pid] = int(r["length"])
            self._firsts[pid] = int(r["first"])
            self._terms_of[pid] = _unhex(r["terms"])
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


def _unhex(terms: str) -> list[str]:
    return [bytes.fromhex(t[1:]).decode("utf-8") for t in terms.split()]


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
        raise IndexProblem(f"index at {root} is damaged (idf.json: {_gist(exc)}): {fix}") from None
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
