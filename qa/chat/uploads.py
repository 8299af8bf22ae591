"""Uploads: copy files into the corpus folder safely, re-index incrementally, swap the engine."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from qa.api import Engine
from qa.build import build_index
from qa.ingest import SUPPORTED, read_document
from qa.schema import Upload

MAX_UPLOAD_MB = 5
MAX_UPLOAD_FILES = 20
_UNSAFE_NAME_CHARS = re.compile(r"[^\w.\- ]+")

Progress = Callable[[float, str], None]


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it: done once, at import, not in a thread
    os.umask(mask)
    return mask


_UMASK = _read_umask()


class Library:
    """Owns the engine the chat answers from; uploads rebuild the index and swap a new one in.

    Questions read ``engine`` without waiting (a reference read is atomic); rebuilds
    take turns through the lock, so concurrent uploads cannot interleave.
    """

    def __init__(self, engine: Engine):
        self._engine = engine
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        return self._engine

    def add(self, files: list[str], *, progress: Progress = lambda fraction, text: None) -> list[Upload]:
        """Save uploaded ``files`` into the corpus folder, re-index, and answer from the result."""
        with self._lock:
            engine = self._engine
            docs = engine.index.docs_dir
            if not docs.is_dir():
                return [Upload(Path(f).name, "refused", f"the corpus folder {docs} no longer exists") for f in files]
            results = [Upload(Path(f).name, "refused", f"only {MAX_UPLOAD_FILES} files per upload")
                       for f in files[MAX_UPLOAD_FILES:]]
            progress(0.05, "saving files")
            saved = [save_upload(Path(f), docs) for f in files[:MAX_UPLOAD_FILES]]
            added = [u for u in saved if u.status == "added"]
            if not added:
                return saved + results
            progress(0.2, "embedding the new text")

            def embedded(done: int, total: int) -> None:
                progress(0.2 + 0.75 * done / total, f"embedding the new text: {done:,} of {total:,} pieces")

            try:
                index = build_index(docs, engine.index.root, settings=engine.settings, encoder=engine.encoder,
                                    on_embedded=embedded)
                fresh = Engine(index, engine.encoder, engine.settings)
            except BaseException as exc:
                for u in added:  # an unindexed file would make the index stale on the next start
                    (docs / u.name).unlink(missing_ok=True)
                if not isinstance(exc, (ValueError, OSError)):
                    raise
                return [Upload(u.name, "refused", f"indexing failed: {exc}") if u.status == "added" else u
                        for u in saved] + results
            self._engine = fresh
            progress(1.0, "done")
            counts = {}
            for p in index.passages:
                counts[p.source] = counts.get(p.source, 0) + 1
            return [Upload(u.name, u.status, u.detail, counts.get(u.name, 0)) for u in saved] + results


def safe_name(name: str) -> str:
    """A plain file name for an upload: no folders, no leading dot, a supported suffix."""
    base = re.split(r"[\\/]", name)[-1]
    base = _UNSAFE_NAME_CHARS.sub("_", base).strip(" .")
    stem, suffix = os.path.splitext(base)
    if suffix.lower() not in SUPPORTED:
        kinds = ", ".join(sorted(SUPPORTED))
        raise ValueError(f"not a supported kind of file (use {kinds})")
    if not stem.strip("_"):
        raise ValueError("the file name has no letters or digits: rename it")
    return stem[:100] + suffix.lower()


def save_upload(path: Path, docs: Path) -> Upload:
    """Copy one uploaded file into ``docs`` unless it is refused; never overwrites another file."""
    shown = path.name
    try:
        name = safe_name(shown)
        if path.stat().st_size > MAX_UPLOAD_MB * 2**20:
            raise ValueError(f"larger than {MAX_UPLOAD_MB} MB")
        if not read_document(path, name).blocks:
            raise ValueError("no readable text in it")
        target = docs / name
        if target.exists():
            if target.read_bytes() == path.read_bytes():
                return Upload(name, "unchanged", "already in the documents")
            raise ValueError(f"a different file named {name} is already in the documents: rename yours")
        _copy_new(path, target)
    except (ValueError, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return Upload(shown, "refused", reason)
    return Upload(name, "added")


def _copy_new(source: Path, target: Path) -> None:
    """Copy to a hidden temp file, then link it into place: complete or absent, never clobbering."""
    fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # as any file saved there would be, not mkstemp's private 0600
        os.link(tmp, target)  # fails if the name was taken meanwhile
    except FileExistsError:
        raise ValueError(f"a file named {target.name} is already in the documents: rename yours") from None
    finally:
        os.unlink(tmp)
