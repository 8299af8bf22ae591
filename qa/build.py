"""Build: read a folder of documents, embed what changed, and write its index (qa.storage's files, or Milvus)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import faiss
import numpy as np
from tqdm import tqdm

from qa import __version__
from qa.config import PRECISIONS, Settings
from qa.embed import document_encoder
from qa.index import Index, load_index
from qa.ingest import corpus_hash, file_digests, load_corpus
from qa.lexical import Lexical
from qa.passages import make_passages
from qa.schema import Passage
from qa.storage import FORMAT, PIPELINE, IndexProblem, built_precision, read_manifest, write_passages
from qa.swap import recover, write_atomically


def build_index(
    docs_dir: str | Path,
    index_dir: str | Path,
    *,
    settings: Settings,
    encoder,
    progress: bool = False,
    on_embedded: Callable[[int, int], None] | None = None,
    store: str | None = None,
) -> Index:
    """Read ``docs_dir``, embed what changed, and replace ``index_dir`` atomically.

    ``progress`` shows a progress bar; ``on_embedded(done, total)`` hears of each batch of
    new texts embedded (the chat's upload progress). ``store`` is where passages and vectors
    go: "faiss" (files in ``index_dir``) or a Milvus one (qa.milvus_store.parse); by default
    where the index being replaced keeps them.
    """
    started = time.perf_counter()
    docs_dir, root = Path(docs_dir), Path(index_dir)
    recover(root)
    _check_target(docs_dir, root)
    previous = _previous_manifest(root)
    target, old_store = _store_target(root, previous, store)  # an unreachable store fails here, before any work
    # Hashed before they are read: a file saved during the build then makes the index stale
    # (check_fresh says so) instead of hashing bytes its passages never came from.
    digests = file_digests(docs_dir)
    documents, skipped = load_corpus(docs_dir, max_file_mb=settings.max_file_mb)
    passages = make_passages(documents, passage_words=settings.passage_words)
    sentences = [text for p in passages for text in p.texts]

    precision = settings.document_precision
    if precision == "auto":  # rebuilding an index keeps its precision, so its vectors are reused
        precision = _previous_precision(previous) or precision
    doc_encoder, used = document_encoder(encoder, precision)
    settings = settings.with_(document_precision=used)  # the precision used goes in the manifest
    vector_model = _vector_model(settings.model, settings.build_part())
    source = doc_encoder.vector_source() if hasattr(doc_encoder, "vector_source") else None
    cache = _cached_vectors(root, vector_model, source)
    encoded = settings.passage_vectors == "encoded"
    texts = ([p.text for p in passages] if encoded else []) + sentences
    vectors, reused = _embed(doc_encoder, texts, cache, vector_model, progress=progress, on_embedded=on_embedded)
    if encoded:
        passage_vectors, sentence_vectors = vectors[: len(passages)], vectors[len(passages):]
    else:
        sentence_vectors = vectors
        passage_vectors = sentence_means(passages, sentence_vectors)
    lexical = Lexical.build([p.text for p in passages])
    extra = {
        "documents": len(documents),
        "corpus_hash": corpus_hash(digests),
        "docs_dir": os.path.relpath(docs_dir.resolve(), root.resolve()),
        "files": sorted(d.source for d in documents),
        "titles": {d.source: d.title for d in documents},
        "pages": {d.source: list(d.pages) for d in documents if d.pages},
        "skipped": skipped,
        "embedded": len(texts) - reused,
        "reused": reused,
        **({"encoder": source} if source else {}),
    }
    write_index(root, passages, passage_vectors, sentence_vectors, lexical, settings=settings, manifest=extra,
                started=started, target=target, old_store=old_store)
    return load_index(root, check_corpus=False)


def write_index(root: Path, passages: Sequence[Passage], passage_vectors: np.ndarray, sentence_vectors: np.ndarray,
                lexical: Lexical, *, settings: Settings, manifest: dict, started: float | None = None,
                target=None, old_store: dict | None = None) -> dict:
    """Write an index of ``passages`` and their vectors into ``root``, replacing it atomically.

    ``manifest`` holds the corpus' facts (documents, corpus_hash, docs_dir, files, ...); the rest
    of the manifest (sizes, settings, the dense structure and build times) is added here.
    ``target`` is a Milvus store to write passages and vectors to instead of files (see
    ``_store_target``); ``old_store``, the store of the index replaced, is dropped once the new
    index is in place.
    """
    started = time.perf_counter() if started is None else started
    sources: dict[str, list[int]] = {}  # each document's passages: [first id, last id + 1]
    for p in passages:
        span = sources.setdefault(p.source, [p.id, p.id + 1])
        span[1] = p.id + 1
    full = {
        "format": FORMAT,
        "pipeline": PIPELINE,
        "qa_version": __version__,
        "model": settings.model,
        "dimension": int(passage_vectors.shape[1]),
        "passages": len(passages),
        "sentences": int(len(sentence_vectors)),
        **manifest,
        "settings": settings.build_part(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }

    def write_manifest(folder: Path) -> None:
        # The manifest goes last: a folder with a manifest is a complete one.
        full["build_seconds"] = round(time.perf_counter() - started, 3)
        (folder / "manifest.json").write_text(json.dumps(full, indent=2, ensure_ascii=False) + "\n")

    def write(folder: Path) -> None:
        if target is not None:  # passages and vectors go to Milvus: no FAISS structure to build
            from qa import milvus_store

            full["store"] = milvus_store.write(target, folder, root, passages=passages,
                                               passage_vectors=passage_vectors,
                                               sentence_vectors=sentence_vectors, lexical=lexical)
            try:
                write_manifest(folder)
            except BaseException:
                milvus_store.drop(full["store"], target)
                raise
            return
        full["dense"], full["seconds"] = _write_files(folder, passages, passage_vectors, sentence_vectors,
                                                      lexical, sources, settings)
        write_manifest(folder)

    write_atomically(root, write)
    if old_store and old_store != full.get("store"):
        from qa import milvus_store

        milvus_store.drop(old_store, milvus_store.target_of(old_store, root))
    return full


def _write_files(folder: Path, passages: Sequence[Passage], passage_vectors: np.ndarray,
                 sentence_vectors: np.ndarray, lexical: Lexical, sources: dict[str, list[int]],
                 settings: Settings) -> tuple[dict, dict]:
    """Every file of an index but its manifest, into ``folder``; the dense structure's facts and
    how long its slow steps took, for the manifest."""
    seconds = {}
    tick = time.perf_counter()
    dense, facts = dense_structure(passage_vectors, settings)
    seconds["dense"] = round(time.perf_counter() - tick, 3)
    write_passages(folder, passages)
    np.save(folder / "passages.npy", np.ascontiguousarray(passage_vectors, dtype=np.float32), allow_pickle=False)
    faiss.write_index(dense, str(folder / "passages.faiss"))
    np.save(folder / "sentences.npy", np.ascontiguousarray(sentence_vectors, dtype=np.float32), allow_pickle=False)
    rows = np.cumsum([0] + [len(p.sentences) for p in passages]).astype(np.int64)
    np.save(folder / "sentences.rows.npy", rows, allow_pickle=False)
    (folder / "sources.json").write_text(json.dumps(sources, ensure_ascii=False))
    tick = time.perf_counter()
    term_ids, term_offsets = document_term_ids(lexical, list(sources.values()), len(passages))
    np.save(folder / "document_terms.npy", term_ids, allow_pickle=False)
    np.save(folder / "document_terms.offsets.npy", term_offsets, allow_pickle=False)
    seconds["document_terms"] = round(time.perf_counter() - tick, 3)
    tick = time.perf_counter()
    lexical.save(folder)
    seconds["bm25_save"] = round(time.perf_counter() - tick, 3)
    return facts, seconds


def document_term_ids(lexical: Lexical, spans: list[list[int]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each document's distinct terms as sorted ids into the BM25 vocabulary, one run a document
    (int32), and where each run starts (int64, one more than ``spans``); document k holds passages
    ``spans[k][0]:spans[k][1]``. Read off BM25's matrix (a column of passages a term), which holds
    every (passage, term) that ``tokenize`` found, so no text is tokenized again."""
    owner = np.full(n, -1, dtype=np.int64)
    for k, (first, end) in enumerate(spans):
        if (owner[first:end] >= 0).any():
            raise ValueError("documents' passages overlap: each document must be one run of passages")
        owner[first:end] = k
    matrix = lexical.bm25.scores
    indptr, passages = np.asarray(matrix["indptr"], dtype=np.int64), np.asarray(matrix["indices"], dtype=np.int64)
    terms = len(indptr) - 1
    term = np.repeat(np.arange(terms, dtype=np.int64), np.diff(indptr))
    placeholder = lexical.bm25.vocab_dict.get("\u2400")  # stands in for a passage without words
    keep = (owner[passages] >= 0) & (term != (-1 if placeholder is None else placeholder))
    pairs = np.unique(owner[passages[keep]] * max(terms, 1) + term[keep])
    documents, ids = np.divmod(pairs, max(terms, 1))
    offsets = np.searchsorted(documents, np.arange(len(spans) + 1)).astype(np.int64)
    return ids.astype(np.int32), offsets


def dense_structure(vectors: np.ndarray, settings: Settings) -> tuple[faiss.Index, dict]:
    """The search structure over the passage vectors, and its facts for the manifest.

    Exact inner product (cosine on unit vectors) up to ``settings.approximate_above`` passages;
    above, an inverted file of 8-bit scalar-quantized vectors (a quarter of the vectors' size in
    RAM, a few lists scanned a question). Retrieval re-scores its candidates with the exact vectors,
    so the approximation can only miss a passage, never misrank one it found.
    """
    n, dim = vectors.shape
    if n <= settings.approximate_above:
        flat = faiss.IndexFlatIP(dim)
        for start in range(0, n, 100_000):
            flat.add(np.ascontiguousarray(vectors[start:start + 100_000], dtype=np.float32))
        return flat, {"kind": "flat", "approximate_above": settings.approximate_above}
    lists = settings.ivf_lists or 2 ** round(math.log2(4 * math.sqrt(n)))
    lists = max(1, min(lists, n // 39))  # k-means wants 39 training points a list
    quantizer = faiss.IndexFlatIP(dim)
    ivf = faiss.IndexIVFScalarQuantizer(quantizer, dim, lists, faiss.ScalarQuantizer.QT_8bit,
                                        faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(0)  # the same vectors give the same index
    sample = np.sort(rng.choice(n, size=min(n, 40 * lists), replace=False))
    ivf.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
    for start in range(0, n, 100_000):
        ivf.add(np.ascontiguousarray(vectors[start:start + 100_000], dtype=np.float32))
    ivf.nprobe = settings.ivf_probe
    return ivf, {"kind": "ivf-sq8", "approximate_above": settings.approximate_above, "lists": lists,
                 "probe": settings.ivf_probe, "trained_on": int(len(sample))}


def _previous_manifest(root: Path) -> dict:
    """The manifest of the index a build replaces; empty when there is none or it cannot be read."""
    try:
        return read_manifest(root) if (root / "manifest.json").exists() else {}
    except (OSError, ValueError):
        return {}


def _store_target(root: Path, previous: dict, store: str | None):
    """The Milvus target of a build (None: the FAISS files) and the store of the index it replaces
    (``previous``, its manifest)."""
    old = previous.get("store")
    old = old if isinstance(old, dict) else None
    if store is None and old is None or store == "faiss":
        return None, old
    from qa import milvus_store

    # The recorded store as recorded (a Lite file relative to the index), not as first typed.
    target = milvus_store.parse(store) if store is not None else milvus_store.target_of(old, root)
    milvus_store.connect(target)
    return target, old


def _previous_precision(previous: dict) -> str | None:
    """The document precision the replaced index (``previous``, its manifest) was built with, if it says."""
    built = previous.get("settings")
    if not isinstance(built, dict):
        return None
    precision = built_precision(built)
    return precision if precision in PRECISIONS else None


def _vector_model(model: str, build: dict) -> str:
    """What a text's vector depends on besides the text: the model, and its weights' precision."""
    precision = built_precision(build)
    # "int8w": weight matrices only (qa.onnx_graph.quantized); vectors of the first int8 graph, which
    # quantized the attention products too, are not reused.
    return model if precision == "fp32" else f"{model}@{precision}w"


def _key(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\0{text}".encode()).hexdigest()


def sentence_means(passages: list[Passage], sentence_vectors: np.ndarray) -> np.ndarray:
    """Each passage's vector as the mean of its sentences' vectors, weighted by their words, unit length."""
    if not passages:
        return np.zeros((0, sentence_vectors.shape[1] if sentence_vectors.ndim == 2 else 0), dtype=np.float32)
    weights = np.array([max(1, len(t.split())) for p in passages for t in p.texts], dtype=np.float32)
    starts = np.cumsum([0] + [len(p.texts) for p in passages])[:-1]
    sums = np.add.reduceat(sentence_vectors * weights[:, None], starts, axis=0)
    return (sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def _cached_vectors(root: Path, model: str, source: str | None = None) -> dict[str, np.ndarray]:
    """Vectors of the index being replaced, by (model, text), so unchanged text is not re-embedded;
    none when both it and this build know their encoder's ``source`` (``Encoder.vector_source``)
    and the two differ: an index built on another install is embedded again, not mixed."""
    try:
        # Vectors depend only on (model, text), so an index from older cleaning rules still serves.
        old = load_index(root, check_corpus=False, check_version=False)
    except IndexProblem:
        return {}
    if not isinstance(old, Index):  # vectors in Milvus are embedded again
        return {}
    built = old.manifest.get("settings", {})
    if _vector_model(old.manifest["model"], built) != model:
        return {}
    if source and old.manifest.get("encoder") and old.manifest["encoder"] != source:
        return {}
    encoded = not isinstance(built, dict) or built.get("passage_vectors", "encoded") == "encoded"
    # A passage's vector is the model's reading of its text only when it was encoded, not derived.
    cache = {_key(model, p.text): old.vectors[p.id] for p in old.passages} if encoded else {}
    for p in old.passages:
        rows = old.sentence_vectors[old.sentence_rows[p.id]:old.sentence_rows[p.id + 1]]
        cache.update((_key(model, t), v) for t, v in zip(p.texts, rows))
    return cache


def _embed(encoder, texts: list[str], cache: dict, model: str, *, progress: bool,
           on_embedded: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, int]:
    keys = [_key(model, t) for t in texts]
    # Longest first, so each batch holds texts of about one length (little padding), and the
    # time left shrinks faster than the bar.
    todo = sorted({k: t for k, t in zip(keys, texts) if k not in cache}.items(), key=lambda kt: (-len(kt[1]), kt[0]))
    with tqdm(total=len(todo), desc="embedding", unit="text", disable=not progress or not todo) as bar:
        step = getattr(encoder, "texts_per_call", 256)  # qa.distributed's takes them all at once
        for i in range(0, len(todo), step):
            chunk = todo[i:i + step]
            for (key, _), vector in zip(chunk, encoder.encode([t for _, t in chunk])):
                cache[key] = vector
            bar.update(len(chunk))
            if on_embedded:
                on_embedded(i + len(chunk), len(todo))
    fresh = {k for k, _ in todo}
    reused = sum(1 for k in keys if k not in fresh)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32), 0
    return np.stack([cache[k] for k in keys]).astype(np.float32), reused


def _check_target(docs_dir: Path, root: Path) -> None:
    """Refuse an index folder whose swap would delete what is not an index: the documents, or a
    folder of other files ("--index ~/Documents")."""
    docs, target = docs_dir.resolve(), root.resolve()
    if docs == target or target in docs.parents:
        raise IndexProblem(f"the index folder {root} holds the documents {docs_dir}, and a build replaces "
                           "the whole folder: choose another --index")
    if target.exists() and not target.is_dir():
        raise IndexProblem(f"{root} is a file, not an index folder: choose another --index")
    if target.is_dir() and not _is_index(target) and any(target.iterdir()):
        raise IndexProblem(f"{root} holds files but no qa index, and a build replaces the whole folder: "
                           "choose an empty or new folder for --index")


def _is_index(folder: Path) -> bool:
    """Whether ``folder`` holds a qa index (even a damaged or older one): its manifest says so.
    A browser extension has a manifest.json too."""
    try:
        manifest = read_manifest(folder)
    except (OSError, ValueError):
        return (folder / "passages.jsonl").exists() and (folder / "passages.faiss").exists()
    return {"corpus_hash", "docs_dir", "model"} <= manifest.keys()
