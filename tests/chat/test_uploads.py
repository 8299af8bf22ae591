"""Uploads: safe names, copies that never overwrite, incremental re-indexing, the engine swap."""

import threading

import pytest

from qa.api import Engine
from qa.build import build_index
from qa.chat.render import render_uploads
from qa.chat.uploads import MAX_UPLOAD_FILES, MAX_UPLOAD_MB, Library, safe_name, save_upload


@pytest.mark.parametrize("name, expected", [
    ("notes.txt", "notes.txt"),
    ("../../etc/.bashrc.md", "bashrc.md"),
    ("C:\\Users\\me\\Report.HTML", "Report.html"),
    ("a<b>c.txt", "a_b_c.txt"),
])
def test_safe_name_keeps_a_plain_basename(name, expected):
    assert safe_name(name) == expected


@pytest.mark.parametrize("name", ["photo.png", "script.py", ".txt", "<>.txt", "noext"])
def test_safe_name_refuses_unsupported_or_empty_names(name):
    with pytest.raises(ValueError):
        safe_name(name)


def test_save_upload_adds_refuses_and_never_overwrites(tmp_path):
    docs, up = tmp_path / "docs", tmp_path / "up"
    docs.mkdir(), up.mkdir()
    (docs / "old.txt").write_text("Original text that is already indexed.\n")

    def upload(name: str, data: bytes):
        path = up / name
        path.write_bytes(data)
        return save_upload(path, docs)

    assert upload("new.txt", b"A fresh document about lanterns.\n").status == "added"
    assert (docs / "new.txt").read_bytes() == b"A fresh document about lanterns.\n"
    written = tmp_path / "written.txt"
    written.write_text("x")  # an upload's permissions are those of any file saved there
    assert (docs / "new.txt").stat().st_mode & 0o777 == written.stat().st_mode & 0o777
    assert upload("old.txt", b"Original text that is already indexed.\n").status == "unchanged"
    clash = upload("old.txt", b"Something else entirely.\n")
    assert clash.status == "refused" and "already in the documents" in clash.detail
    assert (docs / "old.txt").read_text() == "Original text that is already indexed.\n"
    assert "larger than" in upload("big.txt", b"x" * (MAX_UPLOAD_MB * 2**20 + 1)).detail
    assert upload("blob.txt", b"\x00\x01binary").status == "refused"
    assert upload("empty.md", b"\n\n   \n").status == "refused"
    assert upload("pic.png", b"png").status == "refused"
    assert sorted(p.name for p in docs.iterdir()) == ["new.txt", "old.txt"]  # no temp files left


@pytest.fixture
def library(tmp_path, fake_encoder, fake_settings):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "seed.txt").write_text("Mixi was an early Japanese social network. It lost users to Facebook.\n")
    index = build_index(docs, tmp_path / "index", settings=fake_settings, encoder=fake_encoder)
    return Library(Engine(index, fake_encoder, fake_settings))


def test_library_add_indexes_new_files_and_swaps_the_engine(library, tmp_path):
    before = library.engine
    path = tmp_path / "lanterns.txt"
    path.write_text("The Zorblax lantern festival is held every March in Quillby.\n")
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF")
    steps = []
    result = library.add([str(path), str(bad)], progress=lambda f, text: steps.append(f))
    assert [(u.name, u.status) for u in result] == [("lanterns.txt", "added"), ("bad.pdf", "refused")]
    assert result[0].passages == 1 and steps[-1] == 1.0
    assert library.engine is not before
    assert "lanterns.txt" in library.engine.index.manifest["titles"]
    assert "Added 1 passage from <code>lanterns.txt</code>" in render_uploads(result)
    answer = library.engine.ask("When is the Zorblax lantern festival held?")
    assert not answer.abstained and answer.citations[0].source == "lanterns.txt"


def test_library_add_reports_progress_while_it_embeds(library, tmp_path):
    path = tmp_path / "herons.txt"
    path.write_text("\n\n".join(f"Heron number {i} waits in the reeds of pond {i}." for i in range(600)) + "\n")
    steps = []
    library.add([str(path)], progress=lambda f, text: steps.append((f, text)))
    embedding = [(f, text) for f, text in steps if text.startswith("embedding the new text:")]
    assert len(embedding) >= 3  # one a batch of 256 new texts: the bar moves while it embeds
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and 0.2 < embedding[0][0] < embedding[-1][0] <= 0.95
    assert steps[-1] == (1.0, "done")


def test_library_add_without_new_files_keeps_the_engine(library, tmp_path):
    before = library.engine
    same = tmp_path / "seed.txt"
    same.write_text("Mixi was an early Japanese social network. It lost users to Facebook.\n")
    assert [u.status for u in library.add([str(same)])] == ["unchanged"]
    assert library.engine is before


def test_library_add_refuses_files_beyond_the_limit(library, tmp_path):
    paths = []
    for i in range(MAX_UPLOAD_FILES + 2):
        paths.append(tmp_path / f"f{i}.txt")
        paths[-1].write_text(f"Document number {i} mentions the word lantern{i}.\n")
    result = library.add([str(p) for p in paths])
    assert sum(u.status == "added" for u in result) == MAX_UPLOAD_FILES
    assert [u.detail for u in result[-2:]] == [f"only {MAX_UPLOAD_FILES} files per upload"] * 2


def test_concurrent_uploads_both_end_up_in_the_index(library, tmp_path):
    paths = [tmp_path / "one.txt", tmp_path / "two.txt"]
    for i, path in enumerate(paths):
        path.write_text(f"Upload {i} describes the festival of lights number {i}.\n")
    threads = [threading.Thread(target=library.add, args=([str(p)],)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {"one.txt", "two.txt", "seed.txt"} == set(library.engine.index.manifest["titles"])
