"""Shared fixtures: a tiny inline corpus, a fake deterministic encoder, and the seeds index copied aside."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import qa.api
import qa.embed
from qa.config import Settings
from qa.lexical import tokenize

# Before grpc loads (Ray and pymilvus bring it): no fork handlers, so that a test's fork
# (subprocess with preexec_fn) does not abort in the child while Milvus's gRPC threads run.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

# What a test needs, as markers; each implies "slow", so `-m "not slow"` is the fast run.
NEEDS = ("model", "browser", "stress", "quality")


def pytest_collection_modifyitems(items):
    for item in items:
        if any(item.get_closest_marker(name) for name in NEEDS):
            item.add_marker(pytest.mark.slow)


REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
EMBEDDINGS = REPO / "embeddings"
FAKE_MODEL = "fake-hash-64"

# Scraped-blog debris around real content: escape runs, a lone "n", widget lines, a dateline.
POST_TXT = """\
Enter your email address:

ntttttttt
n
September 07, 2009

Green tea and the art of waiting

By Mariko Sato

The tea master in Uji told us that good sencha needs water at seventy degrees.
Boiling water makes the leaves bitter, so she lets the kettle rest for three
minutes before pouring.ntttttt

Most visitors rush the first cup. The second steeping is sweeter, and the third
is the one locals drink with rice crackers.

The comments to this entry are closed.
"""

NOTES_MD = """\
# Tea in Kyoto

Kyoto has more than two hundred tea houses. Many of them open only in spring.

## Matcha

Matcha is whisked, not steeped. A bamboo whisk called a chasen has about eighty
prongs, and a good one lasts a year of daily use.

- Buy matcha in small tins.
- Keep it in the fridge once opened.
"""

PAGE_HTML = """\
<!DOCTYPE html>
<html>
<head><title>Kettles &amp; Cups</title>
<script>var tracker = "SCRIPTWORD hidden analytics";</script>
<style>p { color: SCRIPTSTYLE; }</style>
</head>
<body>
<script type="text/javascript">document.write("SCRIPTWORD");</script>
<h1>Kettles &amp; Cups</h1>
<p>Cast iron kettles from Morioka keep water hot for an hour.</p>
<p>Potters in Tokoname make <b>red clay</b> teapots that soften the taste of green tea.</p>
<p>A tea cup costs about &pound;20 at the market.</p>
</body>
</html>
"""

# Latin-1 bytes that are not valid UTF-8: the decoder must fall back, not give up.
LATIN1_TXT = (
    "Café crème in Zürich\n\n"
    "The café near the lake serves crème brûlée with a smooth Darjeeling. "
    "Visitors from Genève often say the pâtisserie is the best in town, "
    "and the owner, Mr. Müller, bakes everything before seven o'clock.\n"
)


class FakeEncoder:
    """Hashed bag of stemmed words in 64 dimensions: deterministic, instant, model-free.

    Same interface as qa.embed.Encoder; it records every call so tests can check
    what a build embedded.
    """

    def __init__(self, model: str = FAKE_MODEL, *, dim: int = 64, backend: str = "auto"):
        self.model_id = model
        self.backend = backend
        self._dim = dim
        self.calls: list[list[str]] = []

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def texts(self) -> list[str]:
        return [t for call in self.calls for t in call]

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        texts = list(texts)
        self.calls.append(texts)
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, tokens in zip(out, tokenize(texts) if texts else []):
            for token in tokens:
                # hashlib, not hash(): the vectors must not change between processes.
                row[int(hashlib.md5(token.encode()).hexdigest(), 16) % self._dim] += 1.0
            if not row.any():
                row[0] = 1.0  # text without words still gets a unit vector
            row /= np.linalg.norm(row)
        return out


def make_pdf(pages: list[list[str]]) -> bytes:
    """A minimal PDF with a text layer: one list of lines a page (Helvetica, no compression)."""
    def escape(line: str) -> str:
        return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    n = len(pages)
    objects = ["<< /Type /Catalog /Pages 2 0 R >>",
               f"<< /Type /Pages /Kids [{' '.join(f'{4 + 2 * i} 0 R' for i in range(n))}] /Count {n} >>",
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for i, lines in enumerate(pages):
        content = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({escape(line)}) '" for line in lines) + " ET"
        objects += [f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {5 + 2 * i} 0 R "
                    "/Resources << /Font << /F1 3 0 R >> >> >>",
                    f"<< /Length {len(content)} >>\nstream\n{content}\nendstream"]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def make_docx(path: Path, items: list) -> Path:
    """A Word file: a str is a paragraph, ("h", text) a heading, a list of rows a table."""
    import docx

    document = docx.Document()
    for item in items:
        if isinstance(item, tuple):
            document.add_heading(item[1], level=1)
        elif isinstance(item, list):
            table = document.add_table(rows=len(item), cols=len(item[0]))
            for row, cells in zip(table.rows, item):
                for cell, text in zip(row.cells, cells):
                    cell.text = text
        else:
            document.add_paragraph(item)
    document.save(str(path))
    return path


def make_pptx(path: Path, slides: list[dict]) -> Path:
    """A PowerPoint deck: each slide a dict with "title", "boxes" (text, top inch), "table" (rows, at 6
    inches down) and "notes"."""
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    for spec in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[5])  # title only
        slide.shapes.title.text = spec.get("title", "")
        for text, top in spec.get("boxes", []):
            slide.shapes.add_textbox(Inches(1), Inches(top), Inches(8), Inches(0.8)).text_frame.text = text
        if spec.get("table"):
            rows = spec["table"]
            table = slide.shapes.add_table(len(rows), len(rows[0]), Inches(1), Inches(6), Inches(8), Inches(1)).table
            for r, cells in enumerate(rows):
                for c, text in enumerate(cells):
                    table.cell(r, c).text = text
        if spec.get("notes"):
            slide.notes_slide.notes_text_frame.text = spec["notes"]
    deck.save(str(path))
    return path


def write_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "post.txt").write_text(POST_TXT, encoding="utf-8")
    (folder / "notes.md").write_text(NOTES_MD, encoding="utf-8")
    (folder / "page.html").write_text(PAGE_HTML, encoding="utf-8")
    (folder / "latin1.txt").write_bytes(LATIN1_TXT.encode("latin-1"))
    return folder


@pytest.fixture(autouse=True)
def no_leftover_handlers():
    """cli.main() installs a stderr handler on the "qa" logger; later tests must not inherit it."""
    logger = logging.getLogger("qa")
    before = list(logger.handlers)
    yield
    logger.handlers[:] = before


@pytest.fixture
def corpus(tmp_path) -> Path:
    """A folder of four small documents (txt, md, html, Latin-1 txt) with scraping debris."""
    return write_corpus(tmp_path / "docs")


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture
def fake_settings() -> Settings:
    # The model name must equal the fake's model_id, or Engine refuses the index.
    return Settings(model=FAKE_MODEL)


@pytest.fixture
def fake_index(corpus, tmp_path, fake_encoder, fake_settings):
    """The tiny corpus indexed with the fake encoder (at tmp_path/"index")."""
    from qa.build import build_index

    return build_index(corpus, tmp_path / "index", settings=fake_settings, encoder=fake_encoder)


@pytest.fixture
def fake_engine(fake_index, fake_encoder, fake_settings):
    from qa.api import Engine

    return Engine(fake_index, fake_encoder, fake_settings)


@pytest.fixture
def fake_model(monkeypatch):
    """Make the CLI's encoder the fake one, whatever model name it is given."""
    monkeypatch.delenv("QA_MODEL", raising=False)
    monkeypatch.setattr(qa.embed, "Encoder", FakeEncoder)
    monkeypatch.setattr(qa.api, "Encoder", FakeEncoder)


def one_error_line(capsys) -> str:
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("qa: error: ")
    assert out == ""
    return lines[0]


def shared_file(path: Path) -> Path:
    """``path`` (a file of ../shared, beside the clone); missing, it fails the test in CI and skips it elsewhere."""
    if path.exists():
        return path
    message = f"{path} is missing: this test needs ../shared beside the clone"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI must provide it)")
    pytest.skip(message)


def copy_seeds_index(target: Path, *, index: bool = True) -> Path:
    """Copy seeds/ and embeddings/ side by side (the manifest finds the corpus at ../seeds); the
    index folder's path, left to the caller to fill when ``index`` is false."""
    shutil.copytree(SEEDS, target / "seeds")
    if index:
        shutil.copytree(EMBEDDINGS, target / "embeddings")
    for path in (target / "seeds").iterdir():
        path.chmod(0o644)  # the committed seeds are read-only; the copies need not be
    return target / "embeddings"


@pytest.fixture
def seeds_index_dir(tmp_path) -> Path:
    """A private copy of the committed index and its seeds; tests may do anything to it."""
    return copy_seeds_index(tmp_path)


@pytest.fixture(scope="session")
def real_engine(tmp_path_factory):
    """The real model over a session-wide copy of the committed index (slow tests only).

    A committed index that the current code no longer accepts is rebuilt in the copy
    (reusing its vectors), so these tests still run; test_index's freshness tests are
    the ones that fail for it.
    """
    import warnings

    from qa.api import Engine
    from qa.build import build_index
    from qa.embed import Encoder
    from qa.index import IndexProblem, load_index

    settings = Settings()
    index_dir = copy_seeds_index(tmp_path_factory.mktemp("seeds-index"))
    try:
        index = load_index(index_dir)
        encoder = Encoder(settings.model)
    except IndexProblem as problem:
        warnings.warn(f"rebuilding a copy of the committed index: {problem}", stacklevel=1)
        encoder = Encoder(settings.model)
        index = build_index(index_dir.parent / "seeds", index_dir, settings=settings, encoder=encoder)
    return Engine(index, encoder, settings)
