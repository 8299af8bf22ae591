"""Index: build, save and load the passage store, FAISS vectors and BM25 as plain files."""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import math
import mmap
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
from tqdm import tqdm

from qa import __version__
from qa.config import Settings
from qa.ingest import corpus_hash, file_digests, load_corpus
from qa.lexical import Lexical, tokenize
from qa.passages import make_passages
from qa.schema import Passage, Span

log = logging.getLogger("qa")

# 2: passages.jsonl keeps each sentence's text (and its quote, where markup makes them differ).
# 3: every file is read through a memory map: row offsets of passages.jsonl, passage vectors in
#    passages.npy, sentence rows in sentences.rows.npy, each document's passages in sources.json;
#    passages.faiss is exact below Settings.approximate_above passages, IVF above.
FORMAT = 3
# Bump when cleaning or chunking rules change what passages a corpus yields.
PIPELINE = 9  # 9: .docx and .pptx are read; the manifest records where PDF pages and slides start
SWAP_WAIT_SECONDS = 5.0  # a reader waits this long for a live build's swap to finish
FILES = ("manifest.json", "passages.jsonl", "passages.offsets.npy", "passages.npy", "passages.faiss",
         "sentences.npy", "sentences.rows.npy", "sources.json", "idf.json", "bm25")
EAGER_PASSAGES = 50_000  # up to this many, load parses every passage (and so checks every row)


class PassageStore(Sequence):
    """passages.jsonl through a memory map: passage i is parsed when asked for, recent ones kept.

    Holding a million parsed passages costs gigabytes; a question reads a few hundred.
    """

    def __init__(self, path: Path, offsets: np.ndarray, *, eager: bool):
        self._path = path
        self._offsets = offsets
        self._recent: dict[int, Passage] = {}
        size = int(offsets[-1])
        with path.open("rb") as file:
            if file.seek(0, os.SEEK_END) != size:
                raise ValueError(f"passages.jsonl has {file.tell()} bytes, its offsets say {size}")
            self._map = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
            if size and hasattr(mmap, "MADV_RANDOM"):
                self._map.madvise(mmap.MADV_RANDOM)  # a question reads scattered rows
        self._all = [self._parse(i) for i in range(len(self))] if eager else None
        if not eager and len(self):
            self._parse(0), self._parse(len(self) - 1)  # the ends at least, so a cut file fails here

    def _parse(self, i: int) -> Passage:
        try:
            row = json.loads(self._map[int(self._offsets[i]):int(self._offsets[i + 1])])
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


@dataclass
class Index:
    """A loaded index: passages, their vectors, sentence vectors and the lexical side."""

    root: Path
    manifest: dict
    passages: Sequence[Passage]  # a PassageStore once loaded
    faiss: faiss.Index  # exact (IndexFlatIP) or approximate (IVF) search over the passage vectors
    vectors: np.ndarray  # passage vectors, row i = passage i (memory-mapped)
    sentence_vectors: np.ndarray  # sentences of all passages, in passage order (memory-mapped)
    sentence_rows: np.ndarray  # passage i owns rows sentence_rows[i]:sentence_rows[i + 1]
    lexical: Lexical
    sources: dict = field(default_factory=dict)  # document -> [first passage id, last + 1]
    _terms: dict = field(default_factory=dict, repr=False)
    _tokens: dict = field(default_factory=dict, repr=False)

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

    def document_terms(self, source: str) -> frozenset[str]:
        """Every lexical term of one document (computed on first use, then kept)."""
        if source not in self._terms:
            if len(self._terms) >= 2_000:
                self._terms.clear()
            first, end = self.sources.get(source, (0, 0))
            texts = [p.text for p in self.passages[first:end]]
            self._terms[source] = frozenset(t for tokens in tokenize(texts) for t in tokens)
        return self._terms[source]


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

    vector_model = _vector_model(settings.model, settings.build_part())
    cache = _cached_vectors(root, vector_model)
    encoded = settings.passage_vectors == "encoded"
    texts = ([p.text for p in passages] if encoded else []) + sentences
    doc_encoder = encoder.documents(settings.document_precision) if hasattr(encoder, "documents") else encoder
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
        lexical.save(folder)
        seconds["bm25_save"] = round(time.perf_counter() - tick, 3)
        full["seconds"] = seconds
        write_manifest(folder)

    _write_atomically(root, write)
    if old_store and old_store != full.get("store"):
        from qa import milvus_store

        milvus_store.drop(old_store, milvus_store.target_of(old_store, root))
    return full


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
    # Before the file check: an index of an older format lacks this format's files.
    if manifest.get("format") != FORMAT or (check_version and manifest.get("pipeline") != PIPELINE):
        raise IndexProblem(f"index at {root} was written by another version of qa: {fix}")
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
        vectors = _random_access(np.load(root / "passages.npy", mmap_mode="r", allow_pickle=False))
        sentence_vectors = _random_access(np.load(root / "sentences.npy", mmap_mode="r", allow_pickle=False))
        sentence_rows = np.load(root / "sentences.rows.npy", allow_pickle=False)
        sources = json.loads((root / "sources.json").read_text(encoding="utf-8"))
        lexical = Lexical.load(root)
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


def _random_access(array: np.ndarray) -> np.ndarray:
    """Tell the kernel a memory-mapped array is read a row here and there: without it, each
    1.5 KB row read pages in (and counts in the resident memory) its readahead window, and
    200 questions over a million passages touched 7.5 GB of vectors."""
    mapped = getattr(array, "_mmap", None)
    if mapped is not None and hasattr(mmap, "MADV_RANDOM"):
        mapped.madvise(mmap.MADV_RANDOM)
    return array


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


def _vector_model(model: str, build: dict) -> str:
    """What a text's vector depends on besides the text: the model, and its weights' precision."""
    precision = build.get("document_precision", "fp32") if isinstance(build, dict) else "fp32"
    return model if precision == "fp32" else f"{model}@{precision}"


def _sentence_means(passages: list[Passage], sentence_vectors: np.ndarray) -> np.ndarray:
    """Each passage's vector as the mean of its sentences' vectors, weighted by their words, unit length."""
    if not passages:
        return np.zeros((0, sentence_vectors.shape[1] if sentence_vectors.ndim == 2 else 0), dtype=np.float32)
    weights = np.array([max(1, len(t.split())) for p in passages for t in p.texts], dtype=np.float32)
    starts = np.cumsum([0] + [len(p.texts) for p in passages])[:-1]
    sums = np.add.reduceat(sentence_vectors * weights[:, None], starts, axis=0)
    return (sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def _cached_vectors(root: Path, model: str) -> dict[str, np.ndarray]:
    """Vectors of the index being replaced, by (model, text), so unchanged text is not re-embedded."""
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


def _read_manifest(root: Path) -> dict:
    """The index's manifest.json; OSError when it cannot be read, ValueError when it is no JSON object."""
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    if not isinstance(manifest, dict):
        raise ValueError("not a JSON object")
    return manifest


def _write_atomically(root: Path, write) -> None:
    """Fill a temp folder beside ``root``, then swap it in; a kill leaves the old index."""
    root.parent.mkdir(parents=True, exist_ok=True)
    _clear_dead_builds(root)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.building-{os.getpid()}-", dir=root.parent))
    try:
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
