"""Formats: the text of an HTML page as runs of its raw markup, and the text layer of a PDF."""

from __future__ import annotations

import html
import io
import logging
import re
from html.parser import HTMLParser

from qa.schema import Span

_REFERENCE = re.compile(r"&(#[xX]?[0-9a-fA-F]+|[a-zA-Z][-.a-zA-Z0-9]*);?")


def html_text_runs(raw: str) -> tuple[list[Span], str]:
    """Runs of text between the tags of ``raw`` (offsets into it), and the page's <title>."""
    parser = _TextRuns(raw)
    parser.feed(raw)
    parser.close()
    return parser.runs, " ".join(parser.title.split())


class _TextRuns(HTMLParser):
    """Collects runs of raw text between tags, with their offsets, outside script/style."""

    SKIP = {"script", "style", "noscript", "template", "svg", "head"}

    def __init__(self, raw: str):
        super().__init__(convert_charrefs=False)
        self.raw = raw
        # HTMLParser.getpos() counts lines by "\n" alone, so a lone "\r" is no line break here.
        self.line_starts = [0] + [m.end() for m in re.finditer(r"\n", raw)]
        self.runs: list[Span] = []
        self.skipping = 0
        self.in_title = False
        self.title = ""

    def _offset(self) -> int:
        line, col = self.getpos()
        return self.line_starts[line - 1] + col

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self.in_title = True
        elif tag in self.SKIP:
            self.skipping += 1

    def handle_endtag(self, tag):
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
        match = _REFERENCE.match(self.raw, start)
        if match is None:
            return
        if self.in_title:
            self.title += html.unescape(match.group())
        elif not self.skipping:
            self._add(start, match.end())

    def _add(self, start: int, end: int) -> None:
        # Text touching the previous run (across "&amp;" and the like) continues it.
        if self.runs and self.runs[-1].end == start:
            self.runs[-1] = Span(self.runs[-1].start, end)
        else:
            self.runs.append(Span(start, end))


def pdf_text(data: bytes) -> str:
    """The text layer of a PDF, page after page; citations are offsets into this string.

    Pages are joined by a line break, not a blank line, so that a sentence running over
    a page break stays one sentence (``text_blocks`` joins lines that stop mid-sentence).
    """
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its repair notes would drown our one line
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ValueError("an encrypted PDF")
        text = "\n".join(page.extract_text() or "" for page in reader.pages)
    except (PyPdfError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        # pypdf reports damaged files with whatever the broken structure made it trip on.
        raise ValueError(f"not a readable PDF ({type(exc).__name__})") from None
    if not text.strip():
        raise ValueError("no text layer in this PDF (a scan?)")
    return text
