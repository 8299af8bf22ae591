"""Milvus store: where one lives, connecting to it, and writing a build into its collections (a server or Milvus Lite).

A build writes passages, their vectors, sentence vectors and BM25 terms there; ``qa.milvus_index`` reads them back
for questions. The term format both sides share (``hex_terms``, ``unhex_terms``) lives here; a passage's row is
``qa.storage.passage_row``, as in passages.jsonl."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.lexical import Lexical, tokenize
from qa.schema import Passage
from qa.storage import passage_row
from qa.text import clip

log = logging.getLogger("qa")

CONNECT_SECONDS = 5.0  # how long a build or a load waits for a Milvus server before saying so
INSERT_ROWS = 1000  # rows per insert call
MAX_TEXT = 65_535  # Milvus's longest VARCHAR, in bytes
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
        raise ValueError(f"cannot reach Milvus at {where} ({reason(exc)}): start it, or pass another --store") from None
    _clients[target.uri] = client
    return client


def close_all() -> None:
    """Close every client this process opened (their gRPC threads would otherwise outlive them)."""
    for client in _clients.values():
        try:
            client.close()
        except Exception as exc:
            log.warning("could not close a Milvus client: %s", reason(exc))
    _clients.clear()


def hex_terms(tokens: list[str]) -> str:
    """Our stemmed tokens as one word each for Milvus's "standard" analyzer (which would split
    CJK runs and punctuation its own way): each token's UTF-8 bytes in hex, behind an "x"."""
    return " ".join("x" + t.encode("utf-8").hex() for t in tokens)


def unhex_terms(terms: str) -> list[str]:
    """``hex_terms`` read back."""
    return [bytes.fromhex(t[1:]).decode("utf-8") for t in terms.split()]


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
                    reason(exc))


def _passage_row(p: Passage, vector: np.ndarray, terms: list[str], first: int) -> dict:
    row = {"id": p.id, "vector": vector.tolist(), "terms": hex_terms(terms), "source": p.source,
           "length": len(terms), "first": first, "row": json.dumps(passage_row(p), ensure_ascii=False)}
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


def reason(exc: BaseException, limit: int = 160) -> str:
    """What went wrong, in one clipped line: a MilvusException's message, else the exception's text or type."""
    return clip(str(getattr(exc, "message", None) or exc), limit) or type(exc).__name__
