"""Storage: an index's files on disk, their format, and reading them a row at a time."""

from __future__ import annotations

import bisect
import json
import os
import re
import weakref
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path

import numpy as np

from qa.schema import Passage, Span
from qa.text import clip, one_line

# 2: passages.jsonl keeps each sentence's text (and its quote, where markup makes them differ).
# 3: every file is read through a memory map: row offsets of passages.jsonl, passage vectors in
#    passages.npy, sentence rows in sentences.rows.npy, each document's passages in sources.json;
#    passages.faiss is exact below Settings.approximate_above passages, IVF above.
# 4: each document's distinct lexical terms (document_terms.npy, sorted ids into the BM25 vocabulary,
#    one run a document in sources.json's order); rows are read with os.pread, not memory maps.
FORMAT = 4
# Bump when cleaning or chunking rules change what passages a corpus yields.
PIPELINE = 9  # 9: .docx and .pptx are read; the manifest records where PDF pages and slides start
FILES = ("manifest.json", "passages.jsonl", "passages.offsets.npy", "passages.npy", "passages.faiss",
         "sentences.npy", "sentences.rows.npy", "sources.json", "idf.json", "bm25", "document_terms.npy",
         "document_terms.offsets.npy")
TERM_FILES = FILES[-2:]  # new in format 4: a format-3 index still serves a rebuild its vectors


class IndexProblem(ValueError):
    """The index cannot be used as it is; the message names the fix."""


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
            return passage_from(i, row["source"], row)
        except (ValueError, KeyError, TypeError) as exc:  # a file changed after load, or damaged past its ends
            root = self._path.parent
            raise IndexProblem(f"index at {root} is damaged (passages.jsonl: {gist(exc)}): "
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


def page_of(manifest: dict, source: str, offset: int) -> int | None:
    """The page (PDF) or slide (.pptx) of ``source`` that character ``offset`` is on; None for
    a file without pages. The manifest records where each page starts."""
    starts = manifest.get("pages", {}).get(source)
    return bisect.bisect_right(starts, offset) if starts else None


def built_precision(build) -> str:
    """The precision a build's documents were embedded in, from its manifest's settings
    (indexes from before the setting: fp32)."""
    return build.get("document_precision", "fp32") if isinstance(build, dict) else "fp32"


def read_manifest(root: Path) -> dict:
    """The index's manifest.json; OSError when it cannot be read, ValueError when it is no JSON object."""
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    if not isinstance(manifest, dict):
        raise ValueError("not a JSON object")
    return manifest


def _open(owner, path: Path, *, scattered: bool = True) -> int:
    """A read-only descriptor of ``path``, closed when ``owner`` is collected. ``scattered``: reads
    land here and there, so the kernel reads no more than asked (no readahead around each row)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    weakref.finalize(owner, os.close, fd)
    if scattered and hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    return fd


def gist(exc: Exception, limit: int = 160) -> str:
    """The gist of ``exc`` on one line: faiss's "Error in <function> at <file>:<line>: " goes."""
    return clip(re.sub(r"^Error in .*? at \S+:\d+: ", "", one_line(str(exc))), limit)


def passage_row(p: Passage) -> dict:
    """A passage but its id and source as plain JSON: a line of passages.jsonl holds it with those
    two, a Milvus row's "row" field without them. A quote is kept only where markup makes it
    differ from its text."""
    return {"title": p.title, "start": p.start, "end": p.end, "sentences": [[s.start, s.end] for s in p.sentences],
            "texts": p.texts, "quotes": {i: q for i, (q, t) in enumerate(zip(p.quotes, p.texts)) if q != t}}


def passage_from(pid: int, source: str, row: dict) -> Passage:
    """The passage ``row`` holds (``passage_row`` read back)."""
    texts = tuple(row["texts"])
    if len(texts) != len(row["sentences"]):
        raise ValueError(f"passage {pid} has {len(row['sentences'])} sentences but {len(texts)} texts")
    return Passage(id=pid, source=source, title=row["title"], start=row["start"], end=row["end"],
                   sentences=tuple(Span(s, e) for s, e in row["sentences"]), texts=texts,
                   quotes=tuple(row["quotes"].get(str(i), text) for i, text in enumerate(texts)))


def write_passages(folder: Path, passages: Sequence[Passage]) -> None:
    """passages.jsonl, a line a passage, and passages.offsets.npy, where each line starts (and the
    last ends): what ``PassageStore`` reads a row at a time."""
    offsets = [0]
    with (folder / "passages.jsonl").open("wb") as out:
        for p in passages:
            line = json.dumps({"id": p.id, "source": p.source, **passage_row(p)}, ensure_ascii=False).encode("utf-8")
            out.write(line + b"\n")
            offsets.append(offsets[-1] + len(line) + 1)
    np.save(folder / "passages.offsets.npy", np.asarray(offsets, dtype=np.int64), allow_pickle=False)
