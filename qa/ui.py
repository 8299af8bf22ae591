"""Chat UI (Gradio): a thin adapter over ``Engine.ask``, document uploads and an /ask API."""

import html
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qa.api import Engine
from qa.conversation import search_query
from qa.index import build_index
from qa.ingest import SUPPORTED, read_document, replace_undecodable
from qa.schema import Answer

EXAMPLES = (
    "Which SNS ranks first among Japanese users?",
    "What share of Japanese firms won new customers through social networking in 2010?",
    "What is Mixi?",
    "What is KISA responsible for?",
    "Why don't Japanese companies use social media?",
)
MAX_UPLOAD_MB = 5
MAX_UPLOAD_FILES = 20
CONCURRENCY = 4  # questions answered at once; the encoder takes them in turn, the rest overlaps
REMEMBERED_TURNS = 5  # searches kept per chat session for follow-up questions
NEAREST_SHOWN = 3
_UNSAFE_NAME_CHARS = re.compile(r"[^\w.\- ]+")

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Upload:
    """What became of one uploaded file: ``status`` is "added", "unchanged" or "refused"."""

    name: str
    status: str
    detail: str = ""
    passages: int = 0


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
            try:
                index = build_index(docs, engine.index.root, settings=engine.settings, encoder=engine.encoder)
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


def api_answer(answer: Answer) -> dict:
    """``answer.to_dict()`` without server file paths: meaningless to a remote caller, and
    gradio_client would take any object with a "path" for a file to download."""
    data = answer.to_dict()
    for citation in data["citations"]:
        citation.pop("path", None)
    return data


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
        os.link(tmp, target)  # fails if the name was taken meanwhile
    except FileExistsError:
        raise ValueError(f"a file named {target.name} is already in the documents: rename yours") from None
    finally:
        os.unlink(tmp)


# ---- rendering: every piece of text from a document, a file name or a user is escaped ----

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
        parts.append('<p class="qa-notfound"><strong>Not in the documents.</strong> '
                     'No sentence in the documents answers this question well enough to quote.</p>')
    else:
        body = " ".join(
            f'{_esc(" ".join(s.split()))}&nbsp;<span class="qa-cite">{"".join(f"[{n}]" for n in ns)}</span>'
            for s, ns in zip(answer.sentences, sentence_markers(answer))
        )
        parts.append(f'<p class="qa-reply">{body}</p>')
    parts.append(render_nearest(answer) if answer.abstained else render_sources(answer))
    return "".join(parts)  # no newlines: the chat shows raw HTML with white-space kept


def sentence_markers(answer: Answer) -> list[list[int]]:
    """The citation numbers behind each answer sentence (a quote found in several files has several)."""
    if answer.markers:
        return [list(m) for m in answer.markers]
    markers = [[] for _ in answer.sentences]  # hand-made answers carry no markers
    for c in answer.citations if markers else ():
        same = [i for i, s in enumerate(answer.sentences) if _squash(s) == _squash(c.quote)]
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
        text = hit.passage.text if hit else " ".join(c.quote for c in cites)
        numbers = "".join(f"[{c.n}]" for c in cites)
        items.append(_source_item(first.title, first.source, highlight(text, [c.quote for c in cites]), numbers))
    label = "Sources " + " ".join(f"[{c.n}]" for c in answer.citations)
    return f'<details class="qa-sources"><summary>{label}</summary><ol>{"".join(items)}</ol></details>'


def render_nearest(answer: Answer) -> str:
    """The closest passages of a question the documents do not answer, to help rephrase it."""
    hits = answer.passages[:NEAREST_SHOWN]
    if not hits:
        return ""
    items = "".join(_source_item(h.passage.title, h.passage.source, _esc(_excerpt(h.passage.text))) for h in hits)
    return (f'<details class="qa-sources" open><summary>Nearest passages ({len(hits)})</summary>'
            f'<ol>{items}</ol></details>')


def _source_item(title: str, source: str, quoted_html: str, numbers: str = "") -> str:
    cite = f'<span class="qa-cite">{numbers}</span> ' if numbers else ""
    return (f'<li><div class="qa-source-head">{cite}<strong>{_esc(title)}</strong> <code>{_esc(source)}</code></div>'
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
    docs = "".join(
        f"<li>{_esc(title)} <code>{_esc(source)}</code></li>" for source, title in sorted(manifest.get("titles", {}).items())
    )
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
            lines.append(f'<li class="qa-added">Added {u.passages} passage{plural} from <code>{_esc(u.name)}</code>.</li>')
        elif u.status == "unchanged":
            lines.append(f"<li><code>{_esc(u.name)}</code> is {_esc(u.detail)}.</li>")
        else:
            lines.append(f'<li class="qa-refused">Refused <code>{_esc(u.name)}</code>: {_esc(u.detail)}.</li>')
    return f'<ul class="qa-uploads">{"".join(lines)}</ul>'


def _squash(text: str) -> str:
    return " ".join(text.split())


def _excerpt(text: str, limit: int = 320) -> str:
    text = _squash(text)
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


# ---- the Gradio app ----

# System fonts: the theme's bundled font has no bold, and a mix of faces looks broken.
SYSTEM_FONTS = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"]
MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]
CSS = """
.qa-reply { line-height: 1.55; margin: 0; }
.qa-cite { color: var(--color-accent); font-size: 0.85em; font-weight: 600; white-space: nowrap; }
.qa-searched { color: var(--body-text-color); opacity: 0.7; font-size: 0.85em; margin: 0 0 0.4em; }
.qa-hint { color: var(--body-text-color-subdued); font-size: 0.85em; margin: 0.2em 0; }
.qa-notfound { background: rgba(240, 160, 32, 0.14); border-left: 4px solid #f0a020; padding: 0.5em 0.75em;
  margin: 0; border-radius: 4px; }
.qa-error { color: #b42318; margin: 0; }
details.qa-sources { margin-top: 0.5em; border-top: 1px solid var(--border-color-primary); padding-top: 0.3em; }
details.qa-sources summary { cursor: pointer; font-weight: 600; font-size: 0.9em; }
details.qa-sources ol { list-style: none; padding-left: 0; margin: 0.4em 0 0; }
details.qa-sources li { margin-bottom: 0.6em; }
.qa-source-head { font-size: 0.85em; }
.qa-source-head code, .qa-about code, .qa-uploads code { font-size: 0.85em; }
details.qa-sources blockquote { margin: 0.25em 0 0; padding: 0.3em 0.7em; font-size: 0.9em;
  border-left: 3px solid var(--border-color-primary); }
details.qa-sources mark { background: #ffe58f; color: #1f1f1f; padding: 0 1px; }
.qa-about p { margin: 0 0 0.4em; }
.qa-about ul, .qa-uploads { padding-left: 1.1em; margin: 0.3em 0; font-size: 0.9em; }
.qa-about ul { max-height: 45vh; overflow-y: auto; }
.qa-refused { color: #b42318; }
"""

INTRO = (
    "# Ask your documents\n"
    "Every reply is made of sentences **quoted word for word** from the documents, numbered "
    "[1], [2]… and listed under **Sources**. Nothing is generated; when the documents do not "
    "answer, the reply says so."
)


PLACEHOLDER = ("Ask about the documents listed on the right, or pick an example.<br>"
               "Follow-ups such as “what about China?” carry on from the previous question.")
UPLOAD_HINT = (f'<p class="qa-hint">.txt, .md or .html files, up to {MAX_UPLOAD_MB} MB each and '
               f'{MAX_UPLOAD_FILES} at a time. They can be asked about as soon as they are indexed.</p>')


def build_app(library: Library):
    """The Blocks app: chat, examples, uploads, an About panel and the ``/ask`` endpoint."""
    gr = _gradio()

    def echo(question: str, history: list):
        question = replace_undecodable(question).strip()
        if not question:
            return "", history, ""
        return "", history + [{"role": "user", "content": render_question(question)}], question

    def echo_example(event: gr.SelectData, history: list):
        question = replace_undecodable(event.value["text"])
        return history + [{"role": "user", "content": render_question(question)}], question

    def reply(question: str, history: list, asked: list[str]):
        if not question:
            return history, asked
        query = search_query(question, asked)
        try:
            answer = library.engine.ask(question, searched_for=query)
        except ValueError as exc:  # an unusable question: say why, remember nothing
            return history + [{"role": "assistant", "content": render_error(str(exc))}], asked
        return (history + [{"role": "assistant", "content": render_answer(answer)}],
                (asked + [answer.searched_for])[-REMEMBERED_TURNS:])

    def upload(files: list[str] | None, progress=gr.Progress()):
        uploads = library.add(list(files or []), progress=lambda f, text: progress(f, desc=text))
        return render_uploads(uploads), about()

    def about() -> str:
        return render_about(library.engine.index.manifest)

    def ask(question: str) -> dict:
        """Answer one question from the documents; returns the answer as JSON (see the README)."""
        try:
            return api_answer(library.engine.ask(question))
        except ValueError as exc:
            raise gr.Error(str(exc)) from None

    hidden = dict(api_visibility="undocumented")
    with gr.Blocks(title="qa — ask your documents", fill_height=True) as app:
        pending, asked = gr.State(""), gr.State([])
        gr.Markdown(INTRO)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chat = gr.Chatbot(
                    elem_id="qa-chat", show_label=False, height="calc(100vh - 290px)", min_height=420, layout="bubble",
                    render_markdown=False, sanitize_html=True, latex_delimiters=[],
                    buttons=[], feedback_options=None,
                    examples=[{"text": q} for q in EXAMPLES],
                    placeholder=PLACEHOLDER,
                )
                box = gr.Textbox(elem_id="qa-question", show_label=False, submit_btn=True, autofocus=True,
                                 placeholder="Ask a question about the documents…", max_lines=4)
            with gr.Column(scale=1, min_width=260):
                with gr.Accordion("Add documents", open=True):
                    files = gr.UploadButton("Upload files", file_count="multiple", type="filepath", size="md",
                                            icon=None, elem_id="qa-upload")
                    status = gr.HTML(UPLOAD_HINT, elem_id="qa-upload-status")
                with gr.Accordion("About this index", open=True):
                    info = gr.HTML(elem_id="qa-about")
        box.submit(echo, [box, chat], [box, chat, pending], queue=False, **hidden).then(
            reply, [pending, chat, asked], [chat, asked], show_progress="minimal", **hidden)
        chat.example_select(echo_example, [chat], [chat, pending], queue=False, **hidden).then(
            reply, [pending, chat, asked], [chat, asked], show_progress="minimal", **hidden)
        chat.clear(lambda: [], None, [asked], queue=False, **hidden)
        files.upload(upload, [files], [status, info], concurrency_limit=1, **hidden)
        app.load(about, None, [info], queue=False, **hidden)
        gr.api(ask, api_name="ask")
    return app


def launch(library: Library, *, host: str = "127.0.0.1", port: int = 7860):
    """Start serving ``library`` in the background; ``app.close()`` stops it."""
    gr = _gradio()
    app = build_app(library)
    app.queue(default_concurrency_limit=CONCURRENCY, max_size=64)
    app.launch(
        server_name=host, server_port=port, prevent_thread_lock=True, quiet=True, show_error=True,
        theme=gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONO_FONTS), css=CSS, footer_links=["api"],
        # A hard stop well above our own limit, so a file a little too big gets a message of its
        # own instead of Gradio rejecting the whole batch.
        max_file_size=f"{4 * MAX_UPLOAD_MB}mb", enable_monitoring=False, mcp_server=False, ssr_mode=False, pwa=False,
    )
    return app


def serve(*, index_dir: str | Path, host: str = "127.0.0.1", port: int = 7860) -> int:
    """``qa chat``: load the index (a broken or stale one raises ValueError), serve until stopped."""
    engine = Engine.load(index_dir)
    engine.ask("warm up")  # loads the model now, and fails now if it disagrees with the index
    previous = None
    if threading.current_thread() is threading.main_thread():
        # `kill` should stop the server as cleanly as Ctrl+C does.
        previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        try:
            app = launch(Library(engine), host=host, port=port)
        except OSError:  # Gradio's own message points at its environment variables, not at `qa chat`
            raise OSError(f"cannot listen on {host}:{port} (is another server using it?): "
                          "pass --port with a free port") from None
        print(f"qa: chat on {app.local_url} answering from {engine.index.root} (Ctrl+C stops)", flush=True)
        app.block_thread()  # returns on Ctrl+C or SIGTERM, with the server closed
        app.close(verbose=False)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _gradio():
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio

    return gradio
