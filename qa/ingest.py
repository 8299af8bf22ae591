"""Ingest: files in a folder -> clean documents whose blocks point into the raw text."""

from __future__ import annotations

import codecs
import hashlib
import logging
import os
import re
from dataclasses import replace
from pathlib import Path

from qa.config import Settings
from qa.formats import html_paragraphs, pdf_pages
from qa.office import docx_text, pptx_pages
from qa.schema import Document, Span, visible_text

log = logging.getLogger("qa")

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
OFFICE_SUFFIXES = {".docx", ".pptx"}
HEADING_WORDS = 6
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES | OFFICE_SUFFIXES

# Scraped blog pages carry widget and comment boilerplate; a line that is all of one of
# these is not content. Each pattern matches a whole stripped line, case-insensitively.
BOILERPLATE = [
    r"enter your email address:?",
    r"delivered by feedburner",
    r"subscribe( to)?( (this|our) (blog|newsletter)| via (e-?mail|rss))?[.:!]?",
    r"about this blog",
    r".{0,40}['’]s tweet stream",
    r"[•*\-]?\s*more tweets",
    r"«.*\|\s*main\s*\|.*»?",
    r"trackback url for this entry:?",
    r"listed below are links to weblogs that reference.*",
    r"(the )?comments (to this entry )?are closed\.?",
    r"(leave a (comment|reply)|share this:?|like this:?|related posts:?)",
    r"©.*",
]
_BOILERPLATE = re.compile("|".join(f"(?:{p})" for p in BOILERPLATE), re.IGNORECASE)

# Literal "\n" and "\t" escapes lost their backslash in scraping and left runs such as
# "ntttttttt" glued to lines; four or more n/t letters in a row is no English word.
_ESCAPE_RUN = re.compile(r"^[nt]{4,}|[nt]{4,}$")
_ESCAPE_ONLY = re.compile(r"[nt]{1,3}")
_LIST_OR_HEADING = re.compile(r"\s*(#{1,6}\s|[-*•]\s|\d+[.)]\s|\|)")  # "|" opens a Markdown table row
_DATELINE = re.compile(
    r"^(\w+day,\s*)?(\w+\s+\d{1,2},\s*\d{4}|\d{1,2}\s+\w+\s+\d{4}|\d{4}-\d\d-\d\d)$", re.IGNORECASE
)


WESTERN_MARGIN = 0.1  # how much more chaos a Windows-1252 reading may show and still win (see decode)


def decode(data: bytes) -> str:
    """Bytes of a source file -> its text. Citations are offsets into this string."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if wide := _wide_unicode(data):
        return data.decode(wide)  # the codec drops the byte-order mark, as utf-8-sig does
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes
    from charset_normalizer.utils import is_multi_byte_encoding

    results = from_bytes(data)
    best = results.best()
    if best is None:
        raise ValueError("not text in any encoding charset-normalizer knows")
    # Short Western text reads about as well in a dozen single-byte code pages: "costs €12"
    # is "costs Ä12" in Mac Icelandic, "crème" is "crčme" in cp1250, and "€" or "—" even
    # counts as a little more chaos than a letter. Windows-1252 is by far the commonest of
    # them (the web reads Latin-1 as it), so it wins whenever it reads almost as well.
    if not is_multi_byte_encoding(best.encoding) and any(
            "cp1252" in m.could_be_from_charset and m.chaos <= best.chaos + WESTERN_MARGIN for m in results):
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:  # a byte cp1252 leaves undefined: not Western after all
            pass
    return str(best)


def _wide_unicode(data: bytes) -> str | None:
    """"utf-32" or "utf-16" when ``data`` opens with that encoding's byte-order mark (Notepad's
    "Unicode", PowerShell's output), else None. UTF-32's little-endian mark begins like UTF-16's."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def read_text(path: str | Path) -> str:
    """The decoded text of a source file, exactly as ingest saw it (a PDF's: its text layer;
    a Word or PowerPoint file's: its paragraphs, see qa.office)."""
    return read_pages(path)[0]


def read_pages(path: str | Path) -> tuple[str, tuple[int, ...]]:
    """``read_text(path)`` and where each page (PDF) or slide (.pptx) starts in it; no pages elsewhere."""
    data = Path(path).read_bytes()
    suffix = Path(path).suffix.lower()
    if suffix in PDF_SUFFIXES:
        return pdf_pages(data)
    if suffix == ".pptx":
        return pptx_pages(data)
    if suffix == ".docx":
        return docx_text(data), ()
    if b"\x00" in data[:8192] and not _wide_unicode(data):  # UTF-16 and UTF-32 text is full of NULs
        raise ValueError("binary file (NUL bytes)")
    return decode(data), ()


def scan(folder: Path) -> tuple[list[Path], list[str]]:
    """Supported files below ``folder``, sorted, and one line per link or folder left out.

    Following a link out of the folder would index files the user never chose; a broken
    or looping link leads nowhere (Python 3.11 reports a loop as RuntimeError, not OSError).
    A subfolder that cannot be listed is named, not silently passed over.
    """
    root = folder.resolve()
    refused = []

    def unlisted(error: OSError) -> None:
        name = Path(error.filename).relative_to(folder).as_posix()
        refused.append(f"{name}/: {error.strerror or error}")

    paths = []
    for top, dirs, names in os.walk(folder, onerror=unlisted):  # links to folders are not entered
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        paths += [Path(top, n) for n in names + [d for d in dirs if os.path.islink(os.path.join(top, d))]
                  if not n.startswith(".")]
    found = []
    for path in sorted(paths):
        if path.suffix.lower() not in SUPPORTED:
            continue
        name = path.relative_to(folder)
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            refused.append(f"{name.as_posix()}: a broken or looping link")
            continue
        if not real.is_relative_to(root):
            refused.append(f"{name.as_posix()}: it links outside the corpus folder")
        elif real.is_file():
            found.append(path)
    return found, sorted(refused)


def file_digests(folder: str | Path) -> dict[str, str]:
    """sha256 of every supported file, by name relative to ``folder``: the corpus identity."""
    folder = Path(folder)
    digests = {}
    for path in scan(folder)[0]:
        try:
            digests[path.relative_to(folder).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            continue  # unreadable files are skipped by the build too
    return digests


def corpus_hash(digests: dict[str, str]) -> str:
    joined = "\n".join(f"{name}\t{digest}" for name, digest in sorted(digests.items()))
    return hashlib.sha256(joined.encode()).hexdigest()


def load_corpus(folder: str | Path, *, max_file_mb: float = Settings.max_file_mb) -> tuple[list[Document], list[str]]:
    """Read every supported file; returns the documents and one line per skipped file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"corpus folder {folder} does not exist: pass --docs DIR with your documents")
    files, skipped = scan(folder)
    for line in skipped:  # logged here only: freshness checks scan on every load
        log.warning("skipped %s", line)
    documents = []
    for path in files:
        source = path.relative_to(folder).as_posix()
        try:
            if path.stat().st_size > max_file_mb * 2**20:
                raise ValueError(f"larger than {max_file_mb:g} MB")
            document = read_document(path, source)
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            skipped.append(f"{source}: {reason}")
            log.warning("skipped %s: %s", source, reason)
            continue
        if not document.blocks:
            skipped.append(f"{source}: no text")
            log.warning("skipped %s: no text", source)
            continue
        documents.append(document)
    if not documents:
        raise ValueError(
            f"no readable .txt/.md/.html/.pdf/.docx/.pptx documents in {folder}"
            + (f" ({len(skipped)} skipped)" if skipped else "")
            + ": add documents or pass --docs DIR"
        )
    return documents, skipped


def read_document(path: Path, source: str) -> Document:
    raw, pages = read_pages(path)
    runs: tuple[Span, ...] = ()
    if path.suffix.lower() in HTML_SUFFIXES:
        blocks, runs, title = html_blocks(raw)
    else:
        blocks, title = text_blocks(raw), ""
    document = Document(source=source, path=str(path.resolve()), title=title, raw=raw, blocks=tuple(blocks),
                        runs=runs, pages=pages)
    # A title read off the text needs the document's blocks as a reader sees them.
    return document if title else replace(document, title=guess_title(document) or Path(source).stem)


def text_blocks(raw: str) -> list[Span]:
    """Paragraphs of plain text or Markdown as spans of ``raw``, debris lines left out.

    A line continues the previous one when that one stopped mid-sentence (hard-wrapped
    text); headings, list items and lines whose start was cut by debris always start a block.
    """
    blocks: list[Span] = []
    joinable = False
    for start, end in _lines(raw):
        span = _content_span(raw, start, end)
        if span is None:
            joinable = False
            continue
        line = raw[span[0]:span[1]]
        # Debris stands for a lost line break: cut at the start, the line begins a block;
        # cut at the end, the next line does.
        stripped = _strip(raw, start, end)
        structural = bool(_LIST_OR_HEADING.match(line)) or span[0] != stripped[0]
        joined = joinable and not structural
        if joined:
            blocks[-1] = Span(blocks[-1].start, span[1])
        else:
            blocks.append(Span(*span))
        joinable = (
            not structural
            and span[1] == stripped[1]
            and not line.endswith((".", "!", "?", ":", ";", "…", '"', "”"))
            # A short unpunctuated line is a heading, not a wrap, unless it goes on a wrapped
            # sentence ("... they can eat / hundreds of mosquitoes / in a single hour.").
            and (joined or len(line.split()) > HEADING_WORDS)
        )
    return blocks


def guess_title(document: Document) -> str:
    """The first short block that is not a dateline, without Markdown heading marks."""
    for block in document.blocks[:8]:
        text = " ".join(document.text(block).lstrip().lstrip("#").split())  # one line, however wrapped
        if text and len(text.split()) <= 14 and not _DATELINE.match(text):
            return text
    return ""


def _lines(raw: str):
    start = 0
    for match in re.finditer(r"\r\n|\r|\n", raw):
        yield start, match.start()
        start = match.end()
    yield start, len(raw)


def _strip(raw: str, start: int, end: int) -> tuple[int, int]:
    while start < end and raw[start].isspace():
        start += 1
    while end > start and raw[end - 1].isspace():
        end -= 1
    return start, end


def _content_span(raw: str, start: int, end: int) -> tuple[int, int] | None:
    """The part of one line worth keeping, or None for blank, debris and boilerplate lines."""
    start, end = _strip(raw, start, end)
    line = raw[start:end]
    for match in _ESCAPE_RUN.finditer(line):
        if match.start() == 0:
            start += match.end()
        else:
            end -= len(line) - match.start()
            break
    start, end = _strip(raw, start, end)
    return None if _is_debris(raw[start:end]) else (start, end)


def _is_debris(line: str) -> bool:
    """Blank, escape leftovers, widget boilerplate, or no word at all."""
    return (not line or bool(_ESCAPE_ONLY.fullmatch(line)) or bool(_BOILERPLATE.fullmatch(line))
            or not any(ch.isalnum() for ch in line))


def html_blocks(raw: str) -> tuple[list[Span], tuple[Span, ...], str]:
    """The paragraphs of an HTML page as blocks, the runs of text between its tags, and
    its <title>. A block runs on across inline tags (<a>, <code>, <em>...) and ends at a
    blank line or any other tag; it is cited as written, tags and references included."""
    paragraphs, title = html_paragraphs(raw)
    blocks = []
    for runs in paragraphs:
        for piece in _blank_line_pieces(raw, runs):
            visible = visible_text(raw, runs, piece)
            text = visible.text
            if _is_debris(text.strip()):
                continue
            blocks.append(visible.raw_span(len(text) - len(text.lstrip()), len(text.rstrip())))
    return blocks, tuple(run for runs in paragraphs for run in runs), title


# A line end, then one or more lines of nothing but spaces. Atomic: "\r\n" is one line end, never two.
_BLANK_LINES = re.compile(r"(?>\r\n|\r|\n)(?:[^\S\r\n]*(?>\r\n|\r|\n))+")


def _blank_line_pieces(raw: str, runs: tuple[Span, ...]):
    """The spans of one paragraph's runs between blank lines (a page without <p> tags
    often separates its paragraphs by blank lines alone)."""
    start = runs[0].start
    for run in runs:
        for match in _BLANK_LINES.finditer(raw, run.start, run.end):
            yield Span(start, match.start())
            start = match.end()
    yield Span(start, runs[-1].end)
