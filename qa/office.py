"""Office files: the text of a Word document (.docx) and of a PowerPoint deck (.pptx), slide by slide.

Each paragraph, table row, title or text box becomes one paragraph of the text, separated
by a blank line, so that ``qa.ingest.text_blocks`` reads each as a block of its own.
Citations are offsets into the string these functions return.
"""

from __future__ import annotations

import io
import logging
import re

NOTES_MARK = "Speaker notes:"  # opens a slide's notes, so a quote from them says where it came from
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # a password-protected Office file is an OLE container, not a zip
_PARAGRAPH_BREAK = "\n\n"
_NUMBER = re.compile(r"[\d\s.,%$€£¥+-]+")
HEADER_WORDS = 6  # a longer first-row cell is content, not a column's name


def docx_text(data: bytes) -> str:
    """The text of a .docx: headings, paragraphs and table rows (see ``_table_rows``) in order."""
    document = _open(data, "Word", "docx", "Document")
    parts = []
    for item in document.iter_inner_content():  # paragraphs and tables, as they come in the body
        parts += _table_rows(item) if hasattr(item, "rows") else [item.text]
    return _join(parts, "Word document")


def pptx_pages(data: bytes) -> tuple[str, tuple[int, ...]]:
    """The text of a .pptx and where each slide starts in it (slide n starts at ``starts[n - 1]``).

    A slide reads as its title, its text boxes and tables top to bottom, left to right, then
    its speaker notes after ``NOTES_MARK``.
    """
    deck = _open(data, "PowerPoint", "pptx", "Presentation")
    text, starts = "", []
    for slide in deck.slides:
        parts = _slide_parts(slide)
        if not any(p.strip() for p in parts):
            starts.append(len(text))  # an empty slide still counts: slide numbers must match the deck's
            continue
        if text:
            text += _PARAGRAPH_BREAK
        starts.append(len(text))
        text += _PARAGRAPH_BREAK.join(p for p in parts if p.strip())
    if not text.strip():
        raise ValueError("no text in this PowerPoint deck")
    return text, tuple(starts)


def _open(data: bytes, kind: str, suffix: str, factory: str):
    if data.startswith(_OLE):
        raise ValueError(f"an encrypted or old-format {kind} file (it needs a password, or saving as .{suffix})")
    logging.getLogger("pptx").setLevel(logging.ERROR)
    try:
        if suffix == "docx":
            import docx

            return getattr(docx, factory)(io.BytesIO(data))
        import pptx

        return getattr(pptx, factory)(io.BytesIO(data))
    except Exception as exc:  # a damaged zip or XML trips the libraries with errors of any type
        raise ValueError(f"not a readable {kind} file ({type(exc).__name__})") from None


def _join(parts: list[str], kind: str) -> str:
    parts = [_clean(p) for p in parts]
    text = _PARAGRAPH_BREAK.join(p for p in parts if p.strip())
    if not text.strip():
        raise ValueError(f"no text in this {kind}")
    return text


def _clean(text: str) -> str:
    # "\v" is PowerPoint's line break inside a paragraph; a blank line inside would split the paragraph.
    lines = [line.strip() for line in text.replace("\v", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(line for line in lines if line)


def _table_rows(table) -> list[str]:
    """One line per row, cells joined by " | ". Under a header row each cell is labelled with its
    column ("Tea: Gyokuro | Price: 4,200 yen"), so that a row quoted alone still says what its
    numbers are; the header row itself is then not repeated."""
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is listed once per grid column it spans
                continue
            seen.add(id(cell._tc))
            cells.append(" ".join(cell.text.split()))
        rows.append(cells)
    if _has_header(rows):
        header = rows[0]
        return [" | ".join(f"{h}: {c}" for h, c in zip(header, cells) if c) for cells in rows[1:]]
    return [" | ".join(c for c in cells if c) for cells in rows]


def _has_header(rows: list[list[str]]) -> bool:
    """Whether the first row names the columns: short labels, none empty or a number, over rows as wide."""
    if len(rows) < 2 or len(rows[0]) < 2 or any(len(r) != len(rows[0]) for r in rows):
        return False
    return all(cell and len(cell.split()) <= HEADER_WORDS and not _NUMBER.fullmatch(cell) for cell in rows[0])


def _slide_parts(slide) -> list[str]:
    title = slide.shapes.title
    shapes = [s for s in _shapes(slide.shapes) if title is None or s.shape_id != title.shape_id]
    shapes.sort(key=lambda s: (s.top or 0, s.left or 0))
    parts = [_clean(title.text_frame.text)] if title is not None and title.has_text_frame else []
    for shape in shapes:
        if getattr(shape, "has_table", False) and shape.has_table:
            parts += _table_rows(shape.table)
        elif shape.has_text_frame:
            parts += [_clean(p.text) for p in shape.text_frame.paragraphs]
    if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
        notes = _clean(slide.notes_slide.notes_text_frame.text)
        if notes:
            parts.append(f"{NOTES_MARK} {notes}")
    return parts


def _shapes(shapes):
    """Every shape, the members of groups included."""
    from pptx.shapes.group import GroupShape

    for shape in shapes:
        if isinstance(shape, GroupShape):
            yield from _shapes(shape.shapes)
        else:
            yield shape
