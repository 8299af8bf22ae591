"""HTML of the chat: quoted replies, Sources blocks, nearest passages, the About panel, uploads.

Every piece of text from a document, a file name or a user is escaped.
"""

from __future__ import annotations

import html

from qa.api import page_label
from qa.schema import Answer, Upload
from qa.text import excerpt, one_line

NEAREST_SHOWN = 3


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def render_question(question: str) -> str:
    return f'<p class="qa-question">{_esc(question)}</p>'


def render_error(message: str) -> str:
    return f'<p class="qa-error">{_esc(message)}</p>'


def render_answer(answer: Answer) -> str:
    """The reply: quoted sentences with [n] markers, what was searched, and the sources."""
    parts = []
    if answer.searched_for and answer.searched_for != answer.question:
        parts.append(f'<p class="qa-searched">Searched for: {_esc(answer.searched_for)}</p>')
    if answer.abstained:
        why = answer.note or "No sentence in the documents answers this question well enough to quote."
        parts.append(f'<p class="qa-notfound"><strong>Not in the documents.</strong> {_esc(why)}</p>')
    else:
        body = " ".join(
            f'{_esc(" ".join(s.split()))}&nbsp;<span class="qa-cite">{"".join(f"[{n}]" for n in ns)}</span>'
            for s, ns in zip(answer.sentences, sentence_markers(answer))
        )
        parts.append(f'<p class="qa-reply">{body}</p>')
    parts.append(render_nearest(answer) if answer.abstained else render_sources(answer))
    parts.append(f'<p class="qa-confidence">Confidence {answer.confidence:.2f}: the chance, as the fitted model '
                 "judges it, that the best sentence answers the question.</p>")
    return "".join(parts)  # no newlines: the chat shows raw HTML with white-space kept


def sentence_markers(answer: Answer) -> list[list[int]]:
    """The citation numbers behind each answer sentence (a quote found in several files has several)."""
    if answer.markers:
        return [list(m) for m in answer.markers]
    markers = [[] for _ in answer.sentences]  # hand-made answers carry no markers
    for c in answer.citations if markers else ():
        same = [i for i, s in enumerate(answer.sentences) if one_line(s) == one_line(c.text)]
        markers[same[0] if same else len(markers) - 1].append(c.n)
    return markers


def render_sources(answer: Answer) -> str:
    """A collapsible list of cited passages, each with its quoted sentences marked."""
    if not answer.citations:
        return ""
    hits = {h.passage.id: h for h in answer.passages}
    groups: dict[tuple, list] = {}
    for c in answer.citations:
        groups.setdefault((c.passage_id, c.source), []).append(c)
    items = []
    for (passage_id, _), cites in groups.items():
        first = cites[0]
        hit = hits.get(passage_id)
        text = hit.passage.text if hit else " ".join(c.text for c in cites)
        numbers = "".join(f"[{c.n}]" for c in cites)
        pages = ", ".join(dict.fromkeys(page_label(c.source, c.page) for c in cites if c.page is not None))
        items.append(_source_item(first.title, first.source, highlight(text, [c.text for c in cites]), numbers,
                                  pages))
    label = "Sources " + " ".join(f"[{c.n}]" for c in answer.citations)
    return f'<details class="qa-sources"><summary>{label}</summary><ol>{"".join(items)}</ol></details>'


def render_nearest(answer: Answer) -> str:
    """The closest passages of a question the documents do not answer, to help rephrase it."""
    hits = answer.passages[:NEAREST_SHOWN]
    if not hits:
        return ""
    items = "".join(_source_item(h.passage.title, h.passage.source, _esc(excerpt(h.passage.text, 320))) for h in hits)
    return (f'<details class="qa-sources" open><summary>Nearest passages ({len(hits)})</summary>'
            f'<ol>{items}</ol></details>')


def _source_item(title: str, source: str, quoted_html: str, numbers: str = "", pages: str = "") -> str:
    cite = f'<span class="qa-cite">{numbers}</span> ' if numbers else ""
    where = f' <span class="qa-page">{_esc(pages)}</span>' if pages else ""
    return (f'<li><div class="qa-source-head">{cite}<strong>{_esc(title)}</strong> '
            f'<code>{_esc(source)}</code>{where}</div>'
            f"<blockquote>{quoted_html}</blockquote></li>")


def highlight(text: str, quotes: list[str]) -> str:
    """``text`` escaped, with each quote in it wrapped in <mark>."""
    spans = []
    for quote in quotes:
        start = text.find(quote) if quote else -1
        if start >= 0 and not any(start < b and a < start + len(quote) for a, b in spans):
            spans.append((start, start + len(quote)))
    out, cursor = [], 0
    for start, end in sorted(spans):
        out += [_esc(text[cursor:start]), "<mark>", _esc(text[start:end]), "</mark>"]
        cursor = end
    out.append(_esc(text[cursor:]))
    return "".join(out)


def render_about(manifest: dict) -> str:
    """What the index holds: its documents by title and file, its size, model and build time."""
    titles = sorted(manifest.get("titles", {}).items())
    docs = "".join(f"<li>{_esc(title)} <code>{_esc(source)}</code></li>" for source, title in titles)
    skipped = "".join(f"<li>{_esc(line)}</li>" for line in manifest.get("skipped", []))
    skipped = f'<p class="qa-hint">Skipped:</p><ul class="qa-skipped">{skipped}</ul>' if skipped else ""
    return (
        f'<div class="qa-about"><p><strong>{manifest.get("documents", 0)}</strong> documents · '
        f'<strong>{manifest.get("passages", 0)}</strong> passages · '
        f'<strong>{manifest.get("sentences", 0)}</strong> sentences</p>'
        f'<p>Model: <code>{_esc(manifest.get("model", "?"))}</code><br>'
        f'Built: {_esc(str(manifest.get("built_at", "?")).replace("T", " ").replace("Z", " UTC"))}</p>'
        f"<ul>{docs}</ul>{skipped}</div>"
    )


def render_uploads(uploads: list[Upload]) -> str:
    lines = []
    for u in uploads:
        if u.status == "added":
            plural = "s" * (u.passages != 1)
            added = f"Added {u.passages} passage{plural} from <code>{_esc(u.name)}</code>."
            lines.append(f'<li class="qa-added">{added}</li>')
        elif u.status == "unchanged":
            lines.append(f"<li><code>{_esc(u.name)}</code> is {_esc(u.detail)}.</li>")
        else:
            lines.append(f'<li class="qa-refused">Refused <code>{_esc(u.name)}</code>: {_esc(u.detail)}.</li>')
    return f'<ul class="qa-uploads">{"".join(lines)}</ul>'
