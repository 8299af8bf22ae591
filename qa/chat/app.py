"""Chat UI (Gradio): a thin adapter over ``Engine.ask``, with document uploads, an /ask API and the JSON API."""

import ipaddress
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from qa.api import Engine
from qa.chat.followups import search_query
from qa.chat.render import render_about, render_answer, render_error, render_question, render_uploads
from qa.chat.uploads import MAX_UPLOAD_FILES, MAX_UPLOAD_MB, Library
from qa.schema import Answer
from qa.text import clip, replace_undecodable

EXAMPLES_SHOWN = 5
EXAMPLES_TRIED = 15  # title questions asked at start-up, at most, to find the examples shown
TITLE_CHARS = 90  # a longer title is clipped in an example question
CONCURRENCY = 4  # questions answered at once; the encoder takes them in turn, the rest overlaps
REMEMBERED_TURNS = 5  # searches kept per chat session for follow-up questions


def examples(manifest: dict, *, count: int = EXAMPLES_SHOWN, answers: Callable[[str], bool] | None = None,
             tries: int = EXAMPLES_TRIED) -> list[str]:
    """Example questions about the index's own documents: one per title its build recorded,
    spread over the corpus in file order (a title asked about is answered from its document).

    With ``answers`` (question -> whether the engine answers it), only questions it answers
    are shown, of the first ``tries`` asked: an example that gets "not in the documents"
    teaches nothing.
    """
    titles = [clip(t, TITLE_CHARS).rstrip("?.!:") for _, t in sorted(manifest.get("titles", {}).items())]
    titles = [t for t in titles if t]
    step = max(1, len(titles) // count)
    asked = [f"What does “{t}” say?" for t in titles[::step] + [t for i, t in enumerate(titles) if i % step]]
    if answers is None:
        return asked[:count]
    return [q for q in asked[:tries] if answers(q)][:count]


def placeholder(manifest: dict) -> str:
    """What the empty chat says: how many documents it answers from, and how to ask."""
    n = manifest.get("documents", len(manifest.get("titles", {})))
    what = f"the {n} documents" if n != 1 else "the document"
    return (f"Ask about {what} listed on the right, or pick an example.<br>"
            "Follow-ups such as “what about China?” carry on from the previous question.")


def api_answer(answer: Answer) -> dict:
    """``answer.to_dict()`` without server file paths: meaningless to a remote caller, and
    gradio_client would take any object with a "path" for a file to download."""
    data = answer.to_dict()
    for citation in data["citations"]:
        citation.pop("path", None)
    return data


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
.qa-page { color: var(--body-text-color-subdued); white-space: nowrap; }
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


UPLOAD_HINT = (f'<p class="qa-hint">.txt, .md, .html, .pdf, .docx or .pptx files, up to {MAX_UPLOAD_MB} MB each and '
               f'{MAX_UPLOAD_FILES} at a time. They can be asked about as soon as they are indexed.</p>')


def build_app(library: Library, *, read_only: bool = False):
    """The Blocks app: chat, examples, uploads (none when ``read_only``), an About panel and the ``/ask`` endpoint."""
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
        """Answer one question from the documents; returns the answer as JSON (see docs/usage.md)."""
        try:
            return api_answer(library.engine.ask(question))
        except ValueError as exc:
            raise gr.Error(str(exc)) from None

    def answered(question: str) -> bool:
        return not library.engine.ask(question).abstained

    manifest = library.engine.index.manifest  # the examples are about the documents the chat starts with
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
                    examples=[{"text": q} for q in examples(manifest, answers=answered)],
                    placeholder=placeholder(manifest),
                )
                box = gr.Textbox(elem_id="qa-question", show_label=False, submit_btn=True, autofocus=True,
                                 placeholder="Ask a question about the documents…", max_lines=4)
            with gr.Column(scale=1, min_width=260):
                # Read-only: no panel and no upload event, so not even Gradio's own API can add a file.
                if not read_only:
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
        if not read_only:
            files.upload(upload, [files], [status, info], concurrency_limit=1, **hidden)
        app.load(about, None, [info], queue=False, **hidden)
        gr.api(ask, api_name="ask")
    return app


def launch(library: Library, *, host: str = "127.0.0.1", port: int = 7860, read_only: bool = False,
           accounts: list[tuple[str, str]] | None = None):
    """Start serving ``library`` in the background; ``app.close()`` stops it.

    The JSON API (qa.chat.http) is served first, on the FastAPI app Gradio runs; ``accounts``
    (user, password) put Gradio's login in front of the chat and require them of the API.
    """
    from qa.chat.http import api_routes

    gr = _gradio()
    app = build_app(library, read_only=read_only)
    app.queue(default_concurrency_limit=CONCURRENCY, max_size=64)
    routes = api_routes(library, read_only=read_only, accounts=accounts)
    app.launch(
        server_name=host, server_port=port, prevent_thread_lock=True, quiet=True, show_error=True,
        auth=accounts or None, auth_message="Log in to ask the documents.",
        app_kwargs={"routes": routes, "openapi_url": None},  # qa.chat.http serves its own /api/docs
        theme=gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONO_FONTS), css=CSS, footer_links=["api"],
        # A hard stop well above our own limit, so a file a little too big gets a message of its
        # own instead of Gradio rejecting the whole batch.
        max_file_size=f"{4 * MAX_UPLOAD_MB}mb", enable_monitoring=False, mcp_server=False, ssr_mode=False, pwa=False,
    )
    return app


def serve(*, index_dir: str | Path, host: str = "127.0.0.1", port: int = 7860, read_only: bool = False,
          auth: str | None = None) -> int:
    """``qa chat``: load the index (a broken or stale one raises ValueError), serve until stopped."""
    from qa.chat.http import read_accounts

    accounts = read_accounts(auth, dict(os.environ)) if auth else None
    engine = Engine.load(index_dir)
    engine.ask("warm up")  # loads the model now, and fails now if it disagrees with the index
    previous = None
    if threading.current_thread() is threading.main_thread():
        # `kill` should stop the server as cleanly as Ctrl+C does.
        previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        try:
            app = launch(Library(engine), host=host, port=port, read_only=read_only, accounts=accounts)
        except OSError:  # Gradio's own message points at its environment variables, not at `qa chat`
            raise OSError(f"cannot listen on {host}:{port} (is another server using it?): "
                          "pass --port with a free port") from None
        if warning := exposure_warning(host, port, read_only=read_only, auth=bool(accounts)):
            print(warning, file=sys.stderr, flush=True)
        print(f"qa: chat on {app.local_url} answering from {engine.index.root} (Ctrl+C stops)", flush=True)
        app.block_thread()  # returns on Ctrl+C or SIGTERM, with the server closed
        app.close(verbose=False)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def exposure_warning(host: str, port: int, *, read_only: bool, auth: bool) -> str | None:
    """One line when anyone who can reach ``host`` could add documents; None when only this machine can,
    or uploads are off, or a login guards them."""
    if read_only or auth or is_loopback(host):
        return None
    return (f"qa: warning: serving on {host}:{port} with uploads on and no login: anyone who can reach it can add "
            "documents; pass --read-only or --auth FILE")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only ("127.0.0.1", "::1", "localhost")."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: assume others can reach it


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _gradio():
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio

    return gradio
