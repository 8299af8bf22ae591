"""Index: build, save and load the passage store, FAISS vectors and BM25 as plain files."""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import math
import os
import re
import secrets
import shutil
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
from tqdm import tqdm

from qa import __version__
from qa.config import PRECISIONS, Settings
from qa.ingest import corpus_hash, file_digests, load_corpus
from qa.lexical import Lexical, tokenize
from qa.passages import make_passages
from qa.schema import Passage, Span

log = logging.getLogger("qa")

# 2: passages.jsonl keeps each sentence's text (and its quote, where markup makes them differ).
# 3: every file is read through a memory map: row offsets of passages.jsonl, passage vectors in
#    passages.npy, sentence rows in sentences.rows.npy, each document's passages in sources.json;
#    passages.faiss is exact below Settings.approximate_above passages, IVF above.
# 4: each document's distinct lexical terms (document_terms.npy, sorted ids into the BM25 vocabulary,
#    one run a document in sources.json's order); rows are read with os.pread, not memory maps.
FORMAT = 4
# Bump when cleaning or chunking rules change what passages a corpus yields.
PIPELINE = 9  # 9: .docx and .pptx are read; the manifest records where PDF pages and slides start
SWAP_WAIT_SECONDS = 5.0  # a reader waits this long for a live build's swap to finish
FILES = ("manifest.json", "passages.jsonl", "passages.offsets.npy", "passages.npy", "passages.faiss",
         "sentences.npy", "sentences.rows.npy", "sources.json", "idf.json", "bm25", "document_terms.npy",
         "document_terms.offsets.npy")
TERM_FILES = FILES[-2:]  # new in format 4: a format-3 index still serves a rebuild its vectors
EAGER_PASSAGES = 50_000  # up to this many, load parses every passage (and so checks every row)


class PassageStore(Sequence):
    """passages.jsonl read a row at a time (os.pread): passage i is parsed when asked for, recent ones kept.

    Holding a million parsed passages costs gigabytes; a question reads a few hundred.
    """

    def __init__(self, path: Path, offsets: np.ndarray, *, eager: bool):
        self._path = path
        self._offsets = offsets
        self._recent: dict[int, Passage] = {}
        size = int(offsets[-1])
        self._fd = _open(self, path, scattered=not eager)
        if (found := os.fstat(self._fd).st_size) != size:
            raise ValueError(f"passages.jsonl has {found} bytes, its offsets say {size}")
        self._all = [self._parse(i) for i in range(len(self))] if eager else None
        if not eager and len(self):
            self._parse(0), self._parse(len(self) - 1)  # the ends at least, so a cut file fails here

    def _parse(self, i: int) -> Passage:
        try:
            start, end = int(self._offsets[i]), int(self._offsets[i + 1])
            row = json.loads(os.pread(self._fd, end - start, start))
            if row["id"] != i:
                raise ValueError(f"row {i} holds passage {row['id']}")
            return _passage(row)
        except (ValueError, KeyError, TypeError) as exc:  # a file changed after load, or damaged past its ends
            root = self._path.parent
            raise IndexProblem(f"index at {root} is damaged (passages.jsonl: {_reason(exc)}): "
                               f"run `qa build --index {root}`") from None

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if self._all is not None:
            return self._all[i]
        i = range(len(self))[i]  # negative indices, and IndexError past the end
        found = self._recent.get(i)
        if found is None:
            if len(self._recent) >= 20_000:  # about 50 MB of parsed passages
                self._recent.clear()
            found = self._recent[i] = self._parse(i)
        return found

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and len(self) == len(other) and list(self) == list(other)

    __hash__ = None


class IndexProblem(ValueError):
    """The index cannot be used as it is; the message names the fix."""


class Rows:
    """A .npy array read with os.pread: ``rows[i]``, ``rows[a:b]`` and ``rows[ids]`` read those rows only.

    Rows read through a memory map stay mapped, and each read maps whatever the page cache holds
    around it (whole large folios on this kernel: about 1 MB a scattered row, madvise or not), so
    200 questions over a million passages showed 4-6 GB of resident file pages. ``np.asarray(rows)``
    reads the whole array.
    """

    def __init__(self, path: Path):
        self._fd = _open(self, path)
        with open(os.dup(self._fd), "rb") as file:
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}[np.lib.format.read_magic(file)]
            shape, fortran, dtype = read_header(file)
            self._start = file.tell()
        if fortran or dtype.hasobject or len(shape) not in (1, 2):
            raise ValueError(f"{path.name} is not a C-ordered 1-D or 2-D array of numbers")
        self.shape, self.dtype = tuple(shape), dtype
        self._row = dtype.itemsize * (shape[1] if len(shape) == 2 else 1)
        if os.fstat(self._fd).st_size != self._start + self._row * shape[0]:
            raise ValueError(f"{path.name} has {os.fstat(self._fd).st_size} bytes, its header says "
                             f"{self._start + self._row * shape[0]}")

    ndim = property(lambda self: len(self.shape))

    def __len__(self) -> int:
        return self.shape[0]

    def _read(self, runs: list[tuple[int, int]]) -> np.ndarray:
        """Rows ``first:first + count`` of each (first, count) in ``runs``, one after the other."""
        out = np.empty((sum(count for _, count in runs), *self.shape[1:]), dtype=self.dtype)
        view, at, fd, start, row = memoryview(out.reshape(-1).view(np.uint8)), 0, self._fd, self._start, self._row
        for first, count in runs:  # one system call a run: a question reads a few hundred
            end = at + count * row
            if end > at and os.preadv(fd, (view[at:end],), start + first * row) != end - at:
                raise ValueError(f"rows {first}:{first + count} are cut short (the file changed after load)")
            at = end
        return out

    def __getitem__(self, key):
        n = len(self)
        if isinstance(key, slice):
            first, end, step = key.indices(n)
            if step == 1:
                return self._read([(first, max(0, end - first))])
            key = np.arange(first, end, step)
        elif isinstance(key, (int, np.integer)):
            return self._read([(range(n)[key], 1)])[0]  # range: negative indices, IndexError past the end
        ids = np.asarray(key)
        if ids.dtype == bool or not np.issubdtype(ids.dtype, np.integer) or ids.ndim != 1:
            raise TypeError("rows are read by an int, a slice or a 1-D array of ints")
        ids = np.where(ids < 0, ids + n, ids).astype(np.int64)
        if len(ids) and (ids.min() < 0 or ids.max() >= n):
            raise IndexError(f"row index out of range for {n} rows")
        wanted, where = np.unique(ids, return_inverse=True)
        # One read for each run of consecutive rows (a passage's sentences are one run).
        cuts = np.flatnonzero(np.diff(wanted) != 1) + 1
        firsts, ends = wanted[np.r_[0, cuts]] if len(wanted) else wanted, np.r_[cuts, len(wanted)]
        counts = np.diff(np.r_[0, ends]) if len(wanted) else wanted
        got = self._read(list(zip(firsts.tolist(), counts.tolist())))
        return got if len(wanted) == len(ids) and (wanted == ids).all() else got[where.reshape(-1)]

    def __array__(self, dtype=None, copy=None):
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype)

    def astype(self, dtype) -> np.ndarray:
        return np.asarray(self, dtype=dtype)


class DocumentTerms(AbstractSet):
    """One document's distinct lexical terms, as the frozenset of its passages' ``tokenize`` tokens
    behaves: membership, ``question_terms & terms`` (the same set, built the same way) and iteration.

    Held as the sorted ids of the terms in the BM25 vocabulary, read from document_terms.npy;
    a term's string is looked up only when the set is iterated.
    """

    __slots__ = ("_ids", "_vocab", "_words", "_strings", "_by_prefix")

    def __init__(self, ids: np.ndarray, vocab: dict[str, int], words: Callable[[], list[str]]):
        self._ids, self._vocab, self._words, self._strings = ids, vocab, words, None
        self._by_prefix: dict[int, dict[str, list[str]]] = {}

    def __contains__(self, term) -> bool:
        i = self._vocab.get(term) if isinstance(term, str) else None
        if i is None:
            return False
        at = int(np.searchsorted(self._ids, i))
        return at < len(self._ids) and int(self._ids[at]) == i

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self):
        if self._strings is None:
            words = self._words()
            self._strings = [words[i] for i in self._ids.tolist()]
        return iter(self._strings)

    def with_prefix(self, prefix: str) -> list[str]:
        """The terms that start with ``prefix``: a look-up, the terms grouped by their first
        ``len(prefix)`` characters on first use (``qa.answer.names`` looks for a name's stem
        among a document's terms once for each of its sentences)."""
        groups = self._by_prefix.get(len(prefix))
        if groups is None:
            groups = self._by_prefix[len(prefix)] = {}
            for term in self:
                groups.setdefault(term[:len(prefix)], []).append(term)
        return groups.get(prefix, [])

    @classmethod
    def _from_iterable(cls, items):  # what the Set mixins (|, -, ^) build
        return frozenset(items)

    def __and__(self, other):
        return NotImplemented if not isinstance(other, Iterable) else frozenset(t for t in other if t in self)

    def __rand__(self, other):
        if not isinstance(other, (set, frozenset)):
            return self.__and__(other)
        # As CPython intersects two sets: the smaller one is walked, in its order, into a new set.
        if len(other) < len(self):
            return (set if isinstance(other, set) else frozenset)(t for t in other if t in self)
        return other & frozenset(self)

    def __repr__(self) -> str:
        return f"DocumentTerms({sorted(self)!r})"


@dataclass
class Index:
    """A loaded index: passages, their vectors, sentence vectors and the lexical side."""

    root: Path
    manifest: dict
    passages: Sequence[Passage]  # a PassageStore once loaded
    faiss: faiss.Index  # exact (IndexFlatIP) or approximate (IVF) search over the passage vectors
    vectors: np.ndarray | Rows  # passage vectors, row i = passage i (Rows: read on demand)
    sentence_vectors: np.ndarray | Rows  # sentences of all passages, in passage order
    sentence_rows: np.ndarray  # passage i owns rows sentence_rows[i]:sentence_rows[i + 1]
    lexical: Lexical
    sources: dict = field(default_factory=dict)  # document -> [first passage id, last + 1]
    # Document k of sources (in its order) has the term ids term_ids[term_offsets[k]:term_offsets[k + 1]];
    # None (an index of format 3 read for its vectors): the terms are tokenized on first use.
    term_ids: np.ndarray | Rows | None = None
    term_offsets: np.ndarray | None = None
    _terms: dict = field(default_factory=dict, repr=False)
    _tokens: dict = field(default_factory=dict, repr=False)
    _words: list = field(default_factory=list, repr=False)  # term id -> term, built when first needed
    _tokenized: dict = field(default_factory=dict, repr=False)

    @property
    def docs_dir(self) -> Path:
        return (self.root / self.manifest["docs_dir"]).resolve()

    def path_of(self, source: str) -> str:
        return str(self.docs_dir / source)

    def sentence_tokens(self, passage: Passage) -> list[list[str]]:
        """The passage's sentences tokenized (on first use, then kept: most of a query's tokenizing)."""
        if passage.id not in self._tokens:
            if len(self._tokens) >= 50_000:  # bounded: a long-running chat over a large index
                self._tokens.clear()
            self._tokens[passage.id] = tokenize(list(passage.texts))
        return self._tokens[passage.id]

    def sentence_vectors_of(self, passage: Passage) -> np.ndarray:
        return self.sentence_vectors[self.sentence_rows[passage.id]:self.sentence_rows[passage.id + 1]]

    def page_of(self, source: str, offset: int) -> int | None:
        return page_of(self.manifest, source, offset)

    def document_terms(self, source: str) -> DocumentTerms | frozenset[str]:
        """Every lexical term of one document: what ``tokenize`` makes of its passages' text,
        stored at build time (a set that reads like a frozenset of strings)."""
        if self.term_ids is None:
            return self.tokenized_terms(source)
        if not self._terms:  # document -> its number in sources.json
            self._terms.update((s, k) for k, s in enumerate(self.sources))
        k = self._terms.get(source)
        if k is None:
            return frozenset()
        first, end = int(self.term_offsets[k]), int(self.term_offsets[k + 1])
        return DocumentTerms(self.term_ids[first:end], self.lexical.bm25.vocab_dict, self._vocabulary)

    def _vocabulary(self) -> list[str]:
        if not self._words:
            vocab = self.lexical.bm25.vocab_dict
            words = [""] * (max(vocab.values(), default=-1) + 1)
            for term, i in vocab.items():
                words[i] = term
            self._words[:] = words
        return self._words

    def tokenized_terms(self, source: str) -> frozenset[str]:
        """Every lexical term of one document, by tokenizing its passages (an index of format 3;
        the reference the stored terms are tested against)."""
        if source not in self._tokenized:
            if len(self._tokenized) >= 2_000:
                self._tokenized.clear()
            first, end = self.sources.get(source, (0, 0))
            texts = [p.text for p in self.passages[first:end]]
            self._tokenized[source] = frozenset(t for tokens in tokenize(texts) for t in tokens)
        return self._tokenized[source]


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
    _recover(root)
    _check_target(docs_dir, root)
    target, old_store = _store_target(root, store)  # an unreachable store fails here, before any work
    # Hashed before they are read: a file saved during the build then makes the index stale
    # (check_fresh says so) instead of hashing bytes its passages never came from.
    digests = file_digests(docs_dir)
    documents, skipped = load_corpus(docs_dir, max_file_mb=settings.max_file_mb)
    passages = make_passages(documents, passage_words=settings.passage_words)
    sentences = [text for p in passages for text in p.texts]

    precision = settings.document_precision
    if precision == "auto":  # rebuilding an index keeps its precision, so its vectors are reused
        precision = _previous_precision(root) or precision
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
        passage_vectors = _sentence_means(passages, sentence_vectors)
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
    seconds = {}
    sources: dict[str, list[int]] = {}
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
        tick = time.perf_counter()
        dense, full["dense"] = dense_structure(passage_vectors, settings)
        seconds["dense"] = round(time.perf_counter() - tick, 3)
        offsets = [0]
        with (folder / "passages.jsonl").open("wb") as out:
            for p in passages:
                row = {"id": p.id, "source": p.source, "title": p.title, "start": p.start, "end": p.end,
                       "sentences": [[s.start, s.end] for s in p.sentences], "texts": p.texts,
                       # A quote is stored only where it differs from its text (markup in it).
                       "quotes": {i: q for i, (q, t) in enumerate(zip(p.quotes, p.texts)) if q != t}}
                line = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
                out.write(line)
                offsets.append(offsets[-1] + len(line))
        np.save(folder / "passages.offsets.npy", np.asarray(offsets, dtype=np.int64), allow_pickle=False)
        np.save(folder / "passages.npy", np.ascontiguousarray(passage_vectors, dtype=np.float32), allow_pickle=False)
        faiss.write_index(dense, str(folder / "passages.faiss"))
        np.save(folder / "sentences.npy", np.ascontiguousarray(sentence_vectors, dtype=np.float32),
                allow_pickle=False)
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
        full["seconds"] = seconds
        write_manifest(folder)

    write_atomically(root, write)
    if old_store and old_store != full.get("store"):
        from qa import milvus_store

        milvus_store.drop(old_store, milvus_store.target_of(old_store, root))
    return full


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


def _store_target(root: Path, store: str | None):
    """The Milvus target of a build (None: the FAISS files) and the store of the index it replaces."""
    try:
        old = _read_manifest(root).get("store") if (root / "manifest.json").exists() else None
    except (OSError, ValueError):
        old = None
    old = old if isinstance(old, dict) else None
    if store is None and old is None or store == "faiss":
        return None, old
    from qa import milvus_store

    # The recorded store as recorded (a Lite file relative to the index), not as first typed.
    target = milvus_store.parse(store) if store is not None else milvus_store.target_of(old, root)
    milvus_store.connect(target)
    return target, old


def load_index(index_dir: str | Path, *, check_corpus: bool = True, check_version: bool = True) -> Index:
    """Load and validate an index; a missing, broken or stale one raises IndexProblem."""
    root = Path(index_dir)
    _recover(root)
    fix = f"run `qa build --index {root}`"
    if not root.is_dir():
        raise IndexProblem(f"no index at {root}: run `qa build --docs FOLDER --index {root}` to index FOLDER into it")
    remote = _remote(root)
    if remote is not None:  # passages and vectors live in Milvus
        if remote.get("format") != FORMAT or (check_version and remote.get("pipeline") != PIPELINE):
            raise IndexProblem(f"index at {root} was written by another version of qa: {fix}")
        from qa import milvus_store

        index = milvus_store.load(root, remote)
        if check_corpus:
            check_fresh(index)
        return index
    missing = [name for name in FILES if not (root / name).exists()]
    if "manifest.json" in missing:
        raise IndexProblem(f"index at {root} is incomplete ({', '.join(missing)} missing): {fix}")
    try:
        manifest = _read_manifest(root)
    except (OSError, ValueError) as exc:
        raise IndexProblem(f"index at {root} has an unreadable manifest.json ({exc}): {fix}") from None
    # Before the file check: an index of an older format lacks this format's files. A rebuild
    # (check_version off) still reads format 3's vectors; its documents' terms are tokenized.
    older = not check_version and manifest.get("format") == 3
    if (manifest.get("format") != FORMAT and not older) or (check_version and manifest.get("pipeline") != PIPELINE):
        raise IndexProblem(f"index at {root} was written by another version of qa: {fix}")
    if older:
        missing = [name for name in missing if name not in TERM_FILES]
    if missing:
        raise IndexProblem(f"index at {root} is incomplete ({', '.join(missing)} missing): {fix}")
    try:
        offsets = np.load(root / "passages.offsets.npy", mmap_mode="r", allow_pickle=False)
        n = manifest.get("passages")
        if not isinstance(n, int) or offsets.shape != (n + 1,):
            raise ValueError(f"passages.offsets.npy has {offsets.shape[0] - 1} rows, the manifest {n}")
        passages = PassageStore(root / "passages.jsonl", offsets, eager=n <= EAGER_PASSAGES)
        flat = faiss.read_index(str(root / "passages.faiss"),
                                faiss.IO_FLAG_MMAP if manifest.get("dense", {}).get("kind") != "flat"
                                else faiss.IO_FLAG_MMAP_IFC)
        vectors = Rows(root / "passages.npy")
        sentence_vectors = Rows(root / "sentences.npy")
        sentence_rows = np.load(root / "sentences.rows.npy", allow_pickle=False)
        sources = json.loads((root / "sources.json").read_text(encoding="utf-8"))
        lexical = Lexical.load(root)
        term_ids = term_offsets = None
        if not older:
            term_ids = Rows(root / "document_terms.npy")
            term_offsets = np.load(root / "document_terms.offsets.npy", allow_pickle=False)
            if (term_ids.ndim != 1 or term_ids.dtype != np.int32 or term_offsets.shape != (len(sources) + 1,)
                    or (len(term_offsets) and term_offsets[-1] != len(term_ids))):
                raise ValueError("document_terms.npy does not fit sources.json")
    except Exception as exc:  # any damaged file: faiss, numpy, json and bm25s raise their own types
        raise IndexProblem(f"index at {root} is damaged ({type(exc).__name__}: {_reason(exc)}): {fix}") from None
    counts = (len(passages), flat.ntotal, lexical.n_docs, manifest.get("passages"), len(vectors),
              len(sentence_rows) - 1)
    dim = manifest.get("dimension")
    if (len(set(counts)) != 1 or flat.d != dim or vectors.shape[1:] != (dim,)
            or sentence_vectors.shape != (manifest.get("sentences"), dim)
            or (len(sentence_rows) and sentence_rows[-1] != len(sentence_vectors))):
        raise IndexProblem(f"index at {root} is inconsistent (its files disagree on sizes): {fix}")
    index = Index(
        root=root,
        manifest=manifest,
        passages=passages,
        faiss=flat,
        vectors=vectors,
        sentence_vectors=sentence_vectors,
        sentence_rows=sentence_rows,
        lexical=lexical,
        sources=sources,
        term_ids=term_ids,
        term_offsets=term_offsets,
    )
    if check_corpus:
        check_fresh(index)
    return index


def check_files(index_dir: str | Path) -> dict:
    """The manifest of the index in ``index_dir`` when all its files are there (a quick check for a
    server whose index may be deleted under it); IndexProblem when not."""
    root = Path(index_dir)
    _recover(root)
    if not root.is_dir():
        raise IndexProblem(f"no index at {root}: run `qa build --docs FOLDER --index {root}` to index FOLDER into it")
    if (remote := _remote(root)) is not None:  # its vectors and passages live in a store (Milvus)
        return remote
    missing = [name for name in FILES if not (root / name).exists()]
    if missing and "manifest.json" not in missing:
        try:
            older = _read_manifest(root).get("format") != FORMAT
        except (OSError, ValueError):
            older = False
        if older:  # an index of format 3 lacks the documents' terms
            raise IndexProblem(f"index at {root} was written by another version of qa: run `qa build --index {root}`")
    if missing:
        raise IndexProblem(f"index at {root} is incomplete ({', '.join(missing)} missing): "
                           f"run `qa build --index {root}`")
    try:
        return _read_manifest(root)
    except (OSError, ValueError) as exc:
        raise IndexProblem(f"index at {root} has an unreadable manifest.json ({exc}): run `qa build --index {root}`") \
            from None


def _remote(root: Path) -> dict | None:
    """The manifest of an index whose manifest names a store other than its own files."""
    try:
        manifest = _read_manifest(root)
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest.get("store"), dict) else None


def page_of(manifest: dict, source: str, offset: int) -> int | None:
    """The page (PDF) or slide (.pptx) of ``source`` that character ``offset`` is on; None for
    a file without pages. The manifest records where each page starts."""
    starts = manifest.get("pages", {}).get(source)
    return bisect.bisect_right(starts, offset) if starts else None


def _open(owner, path: Path, *, scattered: bool = True) -> int:
    """A read-only descriptor of ``path``, closed when ``owner`` is collected. ``scattered``: reads
    land here and there, so the kernel reads no more than asked (no readahead around each row)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    weakref.finalize(owner, os.close, fd)
    if scattered and hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    return fd


def recorded_docs(index_dir: str | Path) -> Path | None:
    """The documents folder an index was built from, as its manifest records it; ``None`` when
    there is no manifest. A manifest that cannot be read raises IndexProblem: the folder is
    then unknown, and a rebuild must be told it."""
    root = Path(index_dir)
    if not (root / "manifest.json").exists():
        return None
    try:
        return (root / _read_manifest(root)["docs_dir"]).resolve()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexProblem(f"index at {index_dir} has an unreadable manifest.json ({exc}): "
                           f"run `qa build --docs FOLDER --index {index_dir}`") from None


def check_fresh(index: Index) -> None:
    """Raise IndexProblem when the corpus folder no longer matches what was indexed."""
    docs = index.docs_dir
    if not docs.is_dir():
        log.warning("corpus folder %s is gone; answers still quote the index", docs)
        return
    digests = file_digests(docs)
    if corpus_hash(digests) == index.manifest["corpus_hash"]:
        return
    # Skipped files count as seen but not as removed: unreadable files and links have no digest.
    indexed = set(index.manifest["files"])
    seen = indexed | {s.split(":")[0] for s in index.manifest["skipped"]}
    added, removed = sorted(set(digests) - seen), sorted(indexed - set(digests))
    what = "; ".join(
        part for part in (
            f"added {', '.join(added[:3])}" if added else "",
            f"removed {', '.join(removed[:3])}" if removed else "",
        ) if part
    ) or "files changed"
    raise IndexProblem(
        f"index at {index.root} is stale ({what} in {docs}): run `qa build --docs {docs} --index {index.root}`"
    )


def _reason(exc: Exception, limit: int = 160) -> str:
    """The gist of ``exc`` on one line: faiss's "Error in <function> at <file>:<line>: " goes."""
    text = " ".join(str(exc).split())
    text = re.sub(r"^Error in .*? at \S+:\d+: ", "", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _passage(row: dict) -> Passage:
    texts = tuple(row["texts"])
    if len(texts) != len(row["sentences"]):
        raise ValueError(f"passage {row['id']} has {len(row['sentences'])} sentences but {len(texts)} texts")
    return Passage(
        id=row["id"], source=row["source"], title=row["title"], start=row["start"], end=row["end"],
        sentences=tuple(Span(s, e) for s, e in row["sentences"]), texts=texts,
        quotes=tuple(row["quotes"].get(str(i), text) for i, text in enumerate(texts)),
    )


def _key(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\0{text}".encode()).hexdigest()


def built_precision(build) -> str:
    """The precision a build's documents were embedded in, from its manifest's settings
    (indexes from before the setting: fp32)."""
    return build.get("document_precision", "fp32") if isinstance(build, dict) else "fp32"


def _vector_model(model: str, build: dict) -> str:
    """What a text's vector depends on besides the text: the model, and its weights' precision."""
    precision = built_precision(build)
    # "int8w": weight matrices only (qa.embed._quantized); vectors of the first int8 graph, which
    # quantized the attention products too, are not reused.
    return model if precision == "fp32" else f"{model}@{precision}w"


def _sentence_means(passages: list[Passage], sentence_vectors: np.ndarray) -> np.ndarray:
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
        manifest = _read_manifest(folder)
    except (OSError, ValueError):
        return (folder / "passages.jsonl").exists() and (folder / "passages.faiss").exists()
    return {"corpus_hash", "docs_dir", "model"} <= manifest.keys()


def document_encoder(encoder, precision: str):
    """The encoder that embeds documents at ``precision`` ("auto": as the encoder chooses), and
    the precision it embeds at; an encoder without precisions embeds in fp32, as it is."""
    chosen = encoder.documents(precision) if hasattr(encoder, "documents") else encoder
    return chosen, getattr(chosen, "precision", "fp32")


def _previous_precision(root: Path) -> str | None:
    """The document precision the index at ``root`` was built with, if one is there and says."""
    try:
        built = _read_manifest(root).get("settings") if (root / "manifest.json").exists() else None
    except (OSError, ValueError):
        return None
    if not isinstance(built, dict):
        return None
    precision = built_precision(built)
    return precision if precision in PRECISIONS else None


def _read_manifest(root: Path) -> dict:
    """The index's manifest.json; OSError when it cannot be read, ValueError when it is no JSON object."""
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    if not isinstance(manifest, dict):
        raise ValueError("not a JSON object")
    return manifest


def write_atomically(root: Path, write) -> None:
    """Fill a temp folder beside ``root`` (``write(folder)``), then swap it in; a kill leaves the
    old folder (an index, or ``qa train``'s model). The new folder has the old one's mode, or the
    mode any folder made there gets (mkdtemp's would be 0700: no other user could read it)."""
    root.parent.mkdir(parents=True, exist_ok=True)
    _clear_dead_builds(root)
    tmp = root.parent / f".{root.name}.building-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()  # under the umask, as any folder made there
    try:
        if root.is_dir():
            tmp.chmod(root.stat().st_mode & 0o777)
        write(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    backup = root.parent / f".{root.name}.previous"
    if root.exists():
        os.rename(root, backup)
    os.rename(tmp, root)
    shutil.rmtree(backup, ignore_errors=True)


def _recover(root: Path) -> None:
    """Finish a swap that a kill interrupted between its two renames.

    While a live build is swapping, the index is missing for an instant: wait for it
    rather than move the old one back under the build's feet.
    """
    backup = root.parent / f".{root.name}.previous"
    waited = 0.0
    while backup.is_dir() and not root.exists() and _live_build(root) and waited < SWAP_WAIT_SECONDS:
        time.sleep(0.05)
        waited += 0.05
    if backup.is_dir() and not _live_build(root):
        if root.exists():
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.rename(backup, root)


def _live_build(root: Path) -> bool:
    """Whether a running process is building ``root`` (its temp folder is there)."""
    return any(pid is not None and _alive(pid) for _, pid in _builds(root))


def _clear_dead_builds(root: Path) -> None:
    for tmp, pid in _builds(root):
        if pid is not None and not _alive(pid):
            shutil.rmtree(tmp, ignore_errors=True)


def _builds(root: Path) -> list[tuple[Path, int | None]]:
    """The temp folders of builds of ``root``, each with the id of the process that made it."""
    found = []
    for tmp in root.parent.glob(f".{root.name}.building-*"):
        pid = tmp.name.rsplit(".building-", 1)[1].split("-")[0]
        found.append((tmp, int(pid) if pid.isdigit() else None))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
