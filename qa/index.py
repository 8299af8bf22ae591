"""Index: load an index and check it is whole and fresh (qa.build writes one)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np

from qa.ingest import corpus_hash, file_digests
from qa.lexical import Lexical, tokenize
from qa.schema import Passage
from qa.storage import (
    FILES,
    FORMAT,
    PIPELINE,
    TERM_FILES,
    DocumentTerms,
    IndexProblem,
    PassageStore,
    Rows,
    gist,
    page_of,
    read_manifest,
)
from qa.swap import recover

log = logging.getLogger("qa")

EAGER_PASSAGES = 50_000  # up to this many, load parses every passage (and so checks every row)


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


def load_index(index_dir: str | Path, *, check_corpus: bool = True, check_version: bool = True) -> Index:
    """Load and validate an index; a missing, broken or stale one raises IndexProblem."""
    root = Path(index_dir)
    recover(root)
    fix = f"run `qa build --index {root}`"
    if not root.is_dir():
        raise IndexProblem(f"no index at {root}: run `qa build --docs FOLDER --index {root}` to index FOLDER into it")
    remote = _remote(root)
    if remote is not None:  # passages and vectors live in Milvus
        if remote.get("format") != FORMAT or (check_version and remote.get("pipeline") != PIPELINE):
            raise IndexProblem(f"index at {root} was written by another version of qa: {fix}")
        from qa import milvus_index

        index = milvus_index.load(root, remote)
    else:
        manifest, older = _local_manifest(root, check_version, fix)
        index = _local_index(root, manifest, older, fix)
    if check_corpus:
        check_fresh(index)
    return index


def _local_manifest(root: Path, check_version: bool, fix: str) -> tuple[dict, bool]:
    """The manifest of the index files in ``root``, once every file this version reads is there,
    and whether it is of the older format a rebuild (``check_version`` off) may still read."""
    missing = [name for name in FILES if not (root / name).exists()]
    if "manifest.json" in missing:
        raise IndexProblem(f"index at {root} is incomplete ({', '.join(missing)} missing): {fix}")
    try:
        manifest = read_manifest(root)
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
    return manifest, older


def _local_index(root: Path, manifest: dict, older: bool, fix: str) -> Index:
    """The index files in ``root`` opened (large ones mapped, not read) and checked against each other."""
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
        raise IndexProblem(f"index at {root} is damaged ({type(exc).__name__}: {gist(exc)}): {fix}") from None
    counts = (len(passages), flat.ntotal, lexical.n_docs, manifest.get("passages"), len(vectors),
              len(sentence_rows) - 1)
    dim = manifest.get("dimension")
    if (len(set(counts)) != 1 or flat.d != dim or vectors.shape[1:] != (dim,)
            or sentence_vectors.shape != (manifest.get("sentences"), dim)
            or (len(sentence_rows) and sentence_rows[-1] != len(sentence_vectors))):
        raise IndexProblem(f"index at {root} is inconsistent (its files disagree on sizes): {fix}")
    return Index(root=root, manifest=manifest, passages=passages, faiss=flat, vectors=vectors,
                 sentence_vectors=sentence_vectors, sentence_rows=sentence_rows, lexical=lexical,
                 sources=sources, term_ids=term_ids, term_offsets=term_offsets)


def check_files(index_dir: str | Path) -> dict:
    """The manifest of the index in ``index_dir`` when all its files are there (a quick check for a
    server whose index may be deleted under it); IndexProblem when not."""
    root = Path(index_dir)
    recover(root)
    if not root.is_dir():
        raise IndexProblem(f"no index at {root}: run `qa build --docs FOLDER --index {root}` to index FOLDER into it")
    try:  # read once: a server checks this before every question
        manifest, unreadable = read_manifest(root), None
    except (OSError, ValueError) as exc:
        manifest, unreadable = None, exc
    if manifest is not None and isinstance(manifest.get("store"), dict):  # vectors and passages in Milvus
        return manifest
    missing = [name for name in FILES if not (root / name).exists()]
    if missing and manifest is not None and manifest.get("format") != FORMAT:  # format 3 lacks the terms
        raise IndexProblem(f"index at {root} was written by another version of qa: run `qa build --index {root}`")
    if missing:
        raise IndexProblem(f"index at {root} is incomplete ({', '.join(missing)} missing): "
                           f"run `qa build --index {root}`")
    if manifest is None:
        raise IndexProblem(f"index at {root} has an unreadable manifest.json ({unreadable}): "
                           f"run `qa build --index {root}`")
    return manifest


def _remote(root: Path) -> dict | None:
    """The manifest of an index whose manifest names a store other than its own files."""
    try:
        manifest = read_manifest(root)
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest.get("store"), dict) else None


def recorded_docs(index_dir: str | Path) -> Path | None:
    """The documents folder an index was built from, as its manifest records it; ``None`` when
    there is no manifest. A manifest that cannot be read raises IndexProblem: the folder is
    then unknown, and a rebuild must be told it."""
    root = Path(index_dir)
    if not (root / "manifest.json").exists():
        return None
    try:
        return (root / read_manifest(root)["docs_dir"]).resolve()
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
