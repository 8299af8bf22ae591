"""JSON HTTP API served beside the chat: ``POST /api/ask``, ``GET /api/health``, ``POST /api/documents``."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import shutil
import tempfile
import threading
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from qa.chat.uploads import MAX_UPLOAD_FILES, Library
from qa.index import IndexProblem, check_files

API_TITLE = "qa"
API_VERSION = "1"
API_CONCURRENCY = 4  # questions answered at once, as in the chat
API_WAIT_SECONDS = 60.0  # a request waits this long for a turn, then gets 503
MAX_BODY_BYTES = 64 * 1024  # a question is at most 2,000 characters
SUMMARY_KEYS = ("documents", "passages", "sentences", "model", "built_at", "qa_version", "pipeline", "files",
                "skipped")

# What the OpenAPI schema (/api/docs) says of the routes' errors and bodies.
ERRORS = {status: {"description": text, "content": {"application/json": {"example": {"error": text}}}}
          for status, text in ((401, "login required (HTTP Basic, or the chat's login cookie)"),
                               (403, "uploads are off on this server (--read-only)"),
                               (422, "the request is not usable: the message says why"),
                               (503, "no usable index: run `qa build`; or the server is busy"))}
ASK_BODY = {"type": "object", "required": ["question"],
            "properties": {"question": {"type": "string", "example": "Which SNS ranks first among Japanese users?"},
                           "k": {"type": "integer", "minimum": 1, "default": 5,
                                 "description": "passages returned with the answer"}}}
UPLOAD_BODY = {"type": "object",
               "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}


class Refusal(Exception):
    """A request the API answers with ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def read_accounts(spec: str, environ: dict[str, str]) -> list[tuple[str, str]]:
    """Logins from ``--auth``: a file of ``user:password`` lines, or ``env:NAME`` for an environment
    variable holding them (one a line or comma-separated)."""
    if spec.startswith("env:"):
        name = spec[4:]
        text = environ.get(name, "")
        if not text.strip():
            raise ValueError(f"--auth {spec}: the environment variable {name} is not set: set it to user:password")
        lines = text.replace(",", "\n").splitlines()
    else:
        try:
            lines = Path(spec).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ValueError(f"--auth {spec}: cannot read the credentials file ({exc.strerror or exc}): "
                             "pass a file of user:password lines or env:NAME") from None
    accounts = []
    for line in (raw.strip() for raw in lines):
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user.strip() or not password:
            raise ValueError(f"--auth {spec}: each login is user:password, one a line; fix {user.strip()!r}")
        accounts.append((user.strip(), password))
    if not accounts:
        raise ValueError(f"--auth {spec}: no user:password line in it: add one")
    return accounts


def api_routes(library: Library, *, read_only: bool = False, accounts: list[tuple[str, str]] | None = None):
    """The API's routes, to be served ahead of Gradio's (``FastAPI(routes=...)``)."""
    turns = threading.BoundedSemaphore(API_CONCURRENCY)
    logins = dict(accounts or [])
    router = APIRouter(prefix="/api", tags=["qa"])

    def guarded(request: Request, work):
        try:
            if logins and not _logged_in(request, logins):
                raise Refusal(401, "log in first: send HTTP Basic credentials (curl -u user:password)")
            return work()
        except Refusal as refusal:
            headers = {"WWW-Authenticate": 'Basic realm="qa"'} if refusal.status == 401 else None
            return JSONResponse({"error": refusal.message}, status_code=refusal.status, headers=headers)

    def index_ready() -> None:
        try:
            check_files(library.engine.index.root)
        except IndexProblem as exc:
            raise Refusal(503, str(exc)) from None

    @router.post("/ask", responses=ERRORS, summary="Answer one question with quoted, cited sentences",
                 openapi_extra={"requestBody": {"required": True,
                                                "content": {"application/json": {"schema": ASK_BODY}}}})
    async def ask(request: Request):
        """The same JSON object as `qa ask --json`: text, abstained, confidence, citations (source, path,
        start, end, quote, page) and passages."""
        body = await request.body()

        def work():
            question, k = _ask_request(body)
            index_ready()
            if not turns.acquire(timeout=API_WAIT_SECONDS):
                raise Refusal(503, "the server is busy: try again in a minute")
            try:
                answer = library.engine.ask(question, k=k)
            except IndexProblem as exc:
                raise Refusal(503, str(exc)) from None
            except ValueError as exc:
                raise Refusal(422, str(exc)) from None
            finally:
                turns.release()
            return answer.to_dict()
        return await run_in_threadpool(guarded, request, work)

    @router.get("/health", responses=ERRORS, summary="What the index holds (its manifest's summary)")
    def health(request: Request):
        def work():
            index_ready()
            manifest = library.engine.index.manifest
            return {"status": "ok", "read_only": read_only, **{k: manifest.get(k) for k in SUMMARY_KEYS}}
        return guarded(request, work)

    @router.post("/documents", responses=ERRORS, summary="Add documents (multipart field `files`) and re-index",
                 openapi_extra={"requestBody": {"content": {"multipart/form-data": {"schema": UPLOAD_BODY}}}})
    async def documents(request: Request):
        """Each file's outcome: added (with its passages), unchanged or refused (with why)."""
        if logins and not _logged_in(request, logins):
            return guarded(request, lambda: None)
        if read_only:
            return guarded(request, _refuse_uploads)
        try:
            form = await request.form(max_files=MAX_UPLOAD_FILES * 2)
        except Exception as exc:  # not multipart, or too many parts: Starlette raises its own types
            return JSONResponse({"error": f"send the files as multipart/form-data field 'files' ({exc})"},
                                status_code=422)
        uploads = [f for f in form.getlist("files") if hasattr(f, "filename")]
        if not uploads:
            return JSONResponse({"error": "no files: send them as multipart/form-data field 'files'"},
                                status_code=422)
        return await run_in_threadpool(_add, library, uploads)

    documented = [r for r in router.routes if r.include_in_schema]

    @router.get("/openapi.json", include_in_schema=False)
    def openapi():
        # Ours only: the schema FastAPI would make lists Gradio's internal routes too.
        return get_openapi(title=API_TITLE, version=API_VERSION, routes=documented,
                           description="Grounded answers from your documents: quoted sentences with citations.")

    @router.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(openapi_url="/api/openapi.json", title=f"{API_TITLE} — API")

    return router.routes


def _refuse_uploads():
    raise Refusal(403, "this server is read-only (qa chat --read-only): documents cannot be added")


def _add(library: Library, uploads) -> dict:
    with tempfile.TemporaryDirectory(prefix="qa-upload-") as tmp:
        paths = []
        for i, upload in enumerate(uploads):
            folder = Path(tmp, str(i))  # one folder each: two uploads may share a name
            folder.mkdir()
            path = folder / Path(upload.filename or "upload").name
            with path.open("wb") as out:
                shutil.copyfileobj(upload.file, out)
            paths.append(str(path))
        results = library.add(paths)
    return {"uploads": [{"name": u.name, "status": u.status, "detail": u.detail, "passages": u.passages}
                        for u in results]}


def _ask_request(body: bytes) -> tuple[str, int | None]:
    if len(body) > MAX_BODY_BYTES:
        raise Refusal(422, f"the body is {len(body):,} bytes; the limit is {MAX_BODY_BYTES:,}: ask a shorter question")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refusal(422, 'the body must be JSON: {"question": "...", "k": 5}') from None
    if not isinstance(data, dict) or "question" not in data:
        raise Refusal(422, 'the body must be a JSON object with a "question": {"question": "...", "k": 5}')
    unknown = sorted(set(data) - {"question", "k"})
    if unknown:
        raise Refusal(422, f"unknown field(s) {', '.join(unknown)}: send only question and k")
    k = data.get("k")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise Refusal(422, f"k is the number of passages to return: a whole number of at least 1, not {k!r}")
    if not isinstance(data["question"], str):
        raise Refusal(422, "the question must be text")
    return data["question"], k


def _logged_in(request, logins: dict[str, str]) -> bool:
    """HTTP Basic credentials of a known login, or the chat's login cookie (a browser that logged in)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        known = logins.get(user.strip())
        return known is not None and hmac.compare_digest(password.encode(), known.encode())
    app = request.app
    tokens = getattr(app, "tokens", {})
    cookie_id = getattr(app, "cookie_id", "")
    token = (request.cookies.get(f"access-token-{cookie_id}")
             or request.cookies.get(f"access-token-unsecure-{cookie_id}"))
    return token is not None and token in tokens
