"""Formats: an HTML page's paragraphs and title, mapped back to its raw markup; a PDF's text layer."""

from __future__ import annotations

import html
import io
import logging
import re
from html.parser import HTMLParser

from qa.schema import REFERENCE, Span

# Elements that sit inside a line of text: a sentence runs on through them. Any other
# tag (p, li, td, h1, br, div, ...) ends a paragraph of the page.
INLINE = frozenset(
    "a abbr acronym b bdi bdo big cite code data del dfn em font i img ins kbd mark nobr q s samp small span "
    "strike strong sub sup time tt u var wbr".split()
)


def html_paragraphs(raw: str) -> tuple[list[tuple[Span, ...]], str]:
    """The text of ``raw`` as paragraphs, each the runs of raw text between its inline
    tags (offsets into ``raw``), outside script and style; and the page's <title>."""
    parser = _TextRuns(raw)
    parser.feed(raw)
    parser.close()
    paragraphs = [tuple(runs) for runs in parser.paragraphs if runs]
    return paragraphs, " ".join(parser.title.split())


class _TextRuns(HTMLParser):
    """Collects runs of raw text between tags, with their offsets, outside script/style,
    grouped into paragraphs: a tag that is not inline (see INLINE) starts a new one."""

    # Code, and the page's controls: menus, buttons and drop-downs label things, they say nothing.
    # Not <head>: its one text, the title, is read apart, and pages often leave out </head>.
    SKIP = {"script", "style", "noscript", "template", "svg", "nav", "button", "select"}

    def __init__(self, raw: str):
        super().__init__(convert_charrefs=False)
        self.raw = raw
        # HTMLParser.getpos() counts lines by "\n" alone, so a lone "\r" is no line break here.
        self.line_starts = [0] + [m.end() for m in re.finditer(r"\n", raw)]
        self.paragraphs: list[list[Span]] = [[]]
        self.skipping = 0
        self.in_title = False
        self.title = ""

    def _offset(self) -> int:
        line, col = self.getpos()
        return self.line_starts[line - 1] + col

    def _break(self, tag: str) -> None:
        if tag not in INLINE and self.paragraphs[-1]:
            self.paragraphs.append([])

    def handle_starttag(self, tag, attrs):
        self._break(tag)
        if tag == "title":
            self.in_title = True
        elif tag in self.SKIP:
            self.skipping += 1

    def handle_endtag(self, tag):
        self._break(tag)
        if tag == "title":
            self.in_title = False
        elif tag in self.SKIP and self.skipping:
            self.skipping -= 1

    def handle_data(self, data):
        if self.in_title:
            self.title += data
            return
        if self.skipping:
            return
        start = self._offset()
        # Raw text runs must be the data verbatim; the parser guarantees it with
        # convert_charrefs=False, and the check keeps that promise explicit.
        if self.raw[start:start + len(data)] == data:
            self._add(start, start + len(data))

    def handle_entityref(self, name):
        self._reference()

    def handle_charref(self, name):
        self._reference()

    def _reference(self):
        """An entity or character reference: part of the text around it, kept as written."""
        start = self._offset()
        match = REFERENCE.match(self.raw, start)
        if match is None:
            return
        if self.in_title:
            self.title += html.unescape(match.group())
        elif not self.skipping:
            self._add(start, match.end())

    def _add(self, start: int, end: int) -> None:
        runs = self.paragraphs[-1]
        # Text touching the previous run (across "&amp;" and the like) continues it.
        if runs and runs[-1].end == start:
            runs[-1] = Span(runs[-1].start, end)
        else:
            runs.append(Span(start, end))


def pdf_text(data: bytes) -> str:
    """The text layer of a PDF, page after page; citations are offsets into this string."""
    return pdf_pages(data)[0]


def pdf_pages(data: bytes) -> tuple[str, tuple[int, ...]]:
    """The text layer of a PDF and where each page starts in it (page n at ``starts[n - 1]``).

    Pages are joined by a line break, not a blank line, so that a sentence running over
    a page break stays one sentence (``text_blocks`` joins lines that stop mid-sentence).
    """
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its repair notes would drown our one line
    try:
        reader = PdfReader(io.BytesIO(data))
        # Most encrypted PDFs only restrict copying or printing: they open with an empty password.
        locked = reader.is_encrypted and not reader.decrypt("")
        pages = [] if locked else [page.extract_text() or "" for page in reader.pages]
    except Exception as exc:  # pypdf trips on a broken file with errors of any type
        raise ValueError(f"not a readable PDF ({type(exc).__name__})") from None
    if locked:
        raise ValueError("an encrypted PDF (it needs a password)")
    text = "\n".join(pages)
    if not text.strip():
        raise ValueError("no text layer in this PDF (a scan?)")
    starts, at = [], 0
    for page in pages:
        starts.append(at)
        at += len(page) + 1
    return text, tuple(starts)
