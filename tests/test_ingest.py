"""Ingest: debris is dropped, content kept, and every block is a verbatim slice of the file."""

from __future__ import annotations

import io
import logging
import os

import pytest

from qa.ingest import file_digests, load_corpus, read_text

from conftest import make_pdf


def by_source(folder):
    documents, skipped = load_corpus(folder)
    return {d.source: d for d in documents}, skipped


def block_texts(doc) -> list[str]:
    return [doc.raw[b.start:b.end] for b in doc.blocks]


def test_loads_every_supported_file(corpus):
    docs, skipped = by_source(corpus)
    assert sorted(docs) == ["latin1.txt", "notes.md", "page.html", "post.txt"]
    assert skipped == []


def test_debris_and_boilerplate_lines_are_dropped(corpus):
    docs, _ = by_source(corpus)
    blocks = block_texts(docs["post.txt"])
    joined = "\n".join(blocks)
    assert "nttt" not in joined
    assert not any(b.strip() in ("n", "t") for b in blocks)
    assert "Enter your email" not in joined
    assert "comments to this entry" not in joined


def test_content_is_kept(corpus):
    docs, _ = by_source(corpus)
    joined = " ".join(" ".join(block_texts(docs["post.txt"])).split())
    for sentence in (
        "The tea master in Uji told us that good sencha needs water at seventy degrees.",
        "Boiling water makes the leaves bitter, so she lets the kettle rest for three minutes before pouring.",
        "Most visitors rush the first cup.",
        "The second steeping is sweeter, and the third is the one locals drink with rice crackers.",
    ):
        assert sentence in joined


def test_hard_wrapped_paragraph_is_one_block(corpus):
    docs, _ = by_source(corpus)
    blocks = block_texts(docs["post.txt"])
    wrapped = [b for b in blocks if b.startswith("Most visitors")]
    assert len(wrapped) == 1 and wrapped[0].endswith("rice crackers.")
    # A line ending in debris still continues the line above it.
    assert any(b.startswith("Boiling water") and b.endswith("before pouring.") for b in blocks)


def test_markdown_heading_and_list_items_start_blocks(corpus):
    docs, _ = by_source(corpus)
    blocks = block_texts(docs["notes.md"])
    assert "# Tea in Kyoto" in blocks
    assert "## Matcha" in blocks
    assert "- Buy matcha in small tins." in blocks
    assert "- Keep it in the fridge once opened." in blocks


@pytest.mark.parametrize("source", ["post.txt", "notes.md", "page.html", "latin1.txt"])
def test_blocks_are_verbatim_ordered_trimmed_slices(corpus, source):
    docs, _ = by_source(corpus)
    doc = docs[source]
    assert doc.raw == read_text(corpus / source)
    assert doc.path == str((corpus / source).resolve())
    previous_end = 0
    for block in doc.blocks:
        text = doc.raw[block.start:block.end]
        assert previous_end <= block.start < block.end <= len(doc.raw)
        assert text == text.strip() and text
        previous_end = block.end


def test_titles(corpus):
    docs, _ = by_source(corpus)
    assert docs["post.txt"].title == "Green tea and the art of waiting"  # dateline skipped
    assert docs["notes.md"].title == "Tea in Kyoto"  # heading marks stripped
    assert docs["page.html"].title == "Kettles & Cups"  # <title>, entity decoded
    assert docs["latin1.txt"].title == "Café crème in Zürich"


def test_title_falls_back_to_file_name(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    long_line = " ".join(["word"] * 30) + "."
    (folder / "untitled-notes.txt").write_text(long_line + "\n")
    docs, _ = by_source(folder)
    assert docs["untitled-notes.txt"].title == "untitled-notes"


def test_latin1_file_decodes(corpus):
    docs, _ = by_source(corpus)
    raw = docs["latin1.txt"].raw
    assert "crème brûlée" in raw and "Genève" in raw and "Müller" in raw
    assert raw == (corpus / "latin1.txt").read_bytes().decode("latin-1")


def test_utf8_bom_is_not_text(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "bom.txt").write_bytes(b"\xef\xbb\xbfA kettle sings before it boils.\n")
    docs, _ = by_source(folder)
    assert docs["bom.txt"].raw.startswith("A kettle")


def test_bad_files_are_skipped_with_a_warning_naming_them(corpus, caplog):
    (corpus / "blob.txt").write_bytes(b"PK\x03\x04\x00\x00binary\x00stuff" * 20)
    (corpus / "empty.md").write_bytes(b"")
    (corpus / "blank.txt").write_text("\n   \n\t\n")
    (corpus / "noise.txt").write_bytes(bytes(range(128, 256)) * 20)  # no encoding reads this
    with caplog.at_level(logging.WARNING, logger="qa"):
        documents, skipped = load_corpus(corpus)
    assert sorted(d.source for d in documents) == ["latin1.txt", "notes.md", "page.html", "post.txt"]
    for name in ("blob.txt", "empty.md", "blank.txt", "noise.txt"):
        assert any(line.startswith(f"{name}:") for line in skipped), name
        assert any(name in record.getMessage() for record in caplog.records), name


def test_unsupported_and_hidden_files_are_ignored(corpus):
    (corpus / "data.csv").write_text("a,b\n1,2\n")
    (corpus / ".hidden.txt").write_text("A hidden draft.\n")
    (corpus / ".git").mkdir()
    (corpus / ".git" / "notes.txt").write_text("Git internals.\n")
    docs, skipped = by_source(corpus)
    assert sorted(docs) == ["latin1.txt", "notes.md", "page.html", "post.txt"]
    assert skipped == []


def test_subfolders_are_read_with_relative_names(corpus):
    (corpus / "more").mkdir()
    (corpus / "more" / "deep.txt").write_text("Hojicha is roasted green tea.\n")
    docs, _ = by_source(corpus)
    assert "more/deep.txt" in docs


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no readable") as info:
        load_corpus(tmp_path / "empty")
    assert "\n" not in str(info.value)


def test_folder_of_only_bad_files_is_a_clear_error(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "empty.txt").write_text("")
    with pytest.raises(ValueError, match=r"no readable .*1 skipped"):
        load_corpus(folder)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_corpus(tmp_path / "nowhere")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlink_outside_the_folder_is_not_read(corpus, tmp_path, caplog):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("SECRETWORD lives outside the corpus.\n")
    (corpus / "link.txt").symlink_to(outside / "secret.txt")
    (corpus / "inside-link.txt").symlink_to(corpus / "post.txt")
    with caplog.at_level(logging.WARNING, logger="qa"):
        documents, _ = load_corpus(corpus)
    assert "link.txt" not in {d.source for d in documents}
    assert not any("SECRETWORD" in d.raw for d in documents)
    assert any("link.txt" in r.getMessage() and "outside" in r.getMessage() for r in caplog.records)
    assert "link.txt" not in file_digests(corpus)
    assert "inside-link.txt" in {d.source for d in documents}  # a link within the folder is fine


def test_html_script_and_style_text_is_left_out(corpus):
    docs, _ = by_source(corpus)
    doc = docs["page.html"]
    joined = "\n".join(block_texts(doc))
    assert "SCRIPTWORD" not in joined and "SCRIPTSTYLE" not in joined
    assert "tracker" not in joined


def test_html_blocks_read_as_text_not_markup(corpus):
    docs, _ = by_source(corpus)
    page = docs["page.html"]
    blocks = [page.text(b) for b in page.blocks]
    assert blocks  # the page has text
    for text in blocks:
        assert "<" not in text and ">" not in text, text
    joined = " ".join(blocks)
    assert "Cast iron kettles from Morioka keep water hot for an hour." in blocks
    for word in ("Potters", "Tokoname", "red clay", "teapots", "green tea"):
        assert word in joined


def test_html_blocks_cite_markup_as_written_and_read_it_as_text(corpus):
    docs, _ = by_source(corpus)
    page = docs["page.html"]
    assert "Kettles &amp; Cups" in block_texts(page)
    assert "A tea cup costs about &pound;20 at the market." in block_texts(page)
    assert "Potters in Tokoname make <b>red clay</b> teapots that soften the taste of green tea." in block_texts(page)
    shown = [page.text(b) for b in page.blocks]
    assert "Kettles & Cups" in shown and "A tea cup costs about £20 at the market." in shown
    assert "Potters in Tokoname make red clay teapots that soften the taste of green tea." in shown


@pytest.mark.parametrize("newlines", [("\n",) * 3, ("\r\n",) * 3, ("\r",) * 3, ("\r", "\n", "\n")])
def test_html_offsets_survive_any_line_ending(tmp_path, newlines):
    folder = tmp_path / "docs"
    folder.mkdir()
    lines = ["<html><body>", "<p>First paragraph about oolong.</p>", "<p>Second paragraph about sencha.</p>"]
    page = "".join(line + end for line, end in zip(lines, newlines)) + "</body></html>"
    (folder / "page.htm").write_bytes(page.encode())
    docs, _ = by_source(folder)
    assert block_texts(docs["page.htm"]) == ["First paragraph about oolong.", "Second paragraph about sencha."]


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_html_text_wrapped_over_lines_is_one_paragraph_and_a_blank_line_ends_it(tmp_path, end):
    folder = tmp_path / "docs"
    folder.mkdir()
    page = end.join(["<html><body><div>Tea &amp; cakes", "are good.", "", "Kettles keep", "water hot.</div>",
                     "</body></html>"])
    (folder / "page.html").write_bytes(page.encode())
    docs, _ = by_source(folder)
    assert [" ".join(t.split()) for t in block_texts(docs["page.html"])] == [
        "Tea &amp; cakes are good.", "Kettles keep water hot."]


def test_html_page_that_leaves_out_its_closing_head_tag_keeps_its_text(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "page.html").write_text("<html><head><title>Tea</title><body><p>Sencha is steamed green tea.</p>")
    docs, skipped = by_source(folder)
    assert block_texts(docs["page.html"]) == ["Sencha is steamed green tea."]
    assert docs["page.html"].title == "Tea"


def test_a_short_line_that_goes_on_a_wrapped_sentence_is_no_heading(tmp_path):
    (tmp_path / "bats.txt").write_text("Bats\n\nA little brown bat is small, yet they can eat\nhundreds of mosquitoes\n"
                                       "in a single hour of hunting.\n")
    docs, _ = by_source(tmp_path)
    assert [" ".join(t.split()) for t in block_texts(docs["bats.txt"])] == [
        "Bats", "A little brown bat is small, yet they can eat hundreds of mosquitoes in a single hour of hunting."]


def test_a_title_wrapped_over_two_lines_is_one_line(tmp_path):
    (tmp_path / "ferry.txt").write_bytes(b"The captain of the island ferry is named\r\nLorenzo Vitale.\r\n\r\n"
                                         b"He sails daily.\r\n")
    docs, _ = by_source(tmp_path)
    assert docs["ferry.txt"].title == "The captain of the island ferry is named Lorenzo Vitale."


def test_each_row_of_a_markdown_table_is_a_block_of_its_own(tmp_path):
    rows = [f"| Galloway{i} | mayor of the town | elected in {1900 + i} |" for i in range(50)]
    (tmp_path / "towns.md").write_text("# Towns\n\n| Town | Office | Year |\n|---|---|---|\n" + "\n".join(rows) + "\n")
    docs, _ = by_source(tmp_path)
    assert block_texts(docs["towns.md"]) == ["# Towns", "| Town | Office | Year |", *rows]


@pytest.mark.parametrize("text, encoding", [
    ("The ticket costs €12 and the programme costs €3.", "cp1252"),  # was "Ä12", Mac Icelandic
    ("The “smart quotes” festival — held in Dunmore — costs €45 per ticket.", "cp1252"),
    ("Ein schöner Tag in Köln für über 20€.", "cp1252"),
    ("Zażółć gęślą jaźń. Cześć, jak się masz w Krakowie?", "cp1250"),
    ("Привет, как дела? Это тестовый документ о чае и кофе.", "cp1251"),
    ("東京は日本の首都です。大阪は二番目に大きい都市です。お茶が好きです。", "shift_jis"),
])
def test_legacy_encodings_decode_to_the_text_written(tmp_path, text, encoding):
    (tmp_path / "notes.txt").write_bytes((text + "\n").encode(encoding))
    assert read_text(tmp_path / "notes.txt") == text + "\n"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_files_with_a_byte_order_mark_are_read(tmp_path, encoding):
    folder = tmp_path / "docs"
    folder.mkdir()
    text = "Gyokuro is shaded for three weeks before the harvest. It costs ¥3,000."
    bom = {"utf-16": b"", "utf-16-be": "\ufeff".encode("utf-16-be"), "utf-32": b""}[encoding]
    (folder / "notes.txt").write_bytes(bom + text.encode(encoding))
    docs, skipped = by_source(folder)
    assert not skipped
    assert read_text(folder / "notes.txt") == text
    assert block_texts(docs["notes.txt"]) == [text]


def test_file_digests_change_with_content(corpus):
    before = file_digests(corpus)
    (corpus / "post.txt").write_text("A different post.\n")
    after = file_digests(corpus)
    assert before.keys() == after.keys()
    assert before["post.txt"] != after["post.txt"] and before["notes.md"] == after["notes.md"]


# ---- PDF: the text layer (pypdf) is the decoded text that citations point into ----

KETTLE_PAGES = [
    ["Cast iron kettles", "",
     "Kettles from Morioka keep water hot for an hour because the iron walls are thick and",
     "hold the heat."],
    ["A kettle that is dried over a low flame after use does not rust."],
]


def test_pdf_text_layer_becomes_a_document(tmp_path):
    (tmp_path / "kettles.pdf").write_bytes(make_pdf(KETTLE_PAGES))
    docs, skipped = by_source(tmp_path)
    doc = docs["kettles.pdf"]
    assert skipped == [] and doc.title == "Cast iron kettles"
    assert doc.raw == read_text(tmp_path / "kettles.pdf")  # what citations are checked against
    text = " ".join(" ".join(block_texts(doc)).split())
    assert "keep water hot for an hour because the iron walls are thick and hold the heat." in text
    assert "dried over a low flame after use does not rust." in text


def test_a_sentence_over_a_pdf_page_break_stays_whole(tmp_path):
    (tmp_path / "split.pdf").write_bytes(make_pdf([["Matcha is whisked with a bamboo whisk that"],
                                                   ["has about eighty prongs."]]))
    docs, _ = by_source(tmp_path)
    assert [" ".join(b.split()) for b in block_texts(docs["split.pdf"])] == [
        "Matcha is whisked with a bamboo whisk that has about eighty prongs."]


@pytest.mark.parametrize("data, reason", [
    (b"%PDF-1.4\nnot really", "not a readable PDF"),
    (b"\x00\x01\x02 binary", "not a readable PDF"),
    (None, "no text layer"),  # a valid PDF whose page has no text, like a scan
    # A filter pypdf does not know: it raises NotImplementedError, which must not stop the build.
    (make_pdf([["The moon is cheese."]]).replace(b"<< /Length", b"<< /Filter /BogusDecode /Length"),
     "not a readable PDF"),
    ("user-password", "an encrypted PDF"),
])
def test_unreadable_pdfs_are_skipped_and_named(tmp_path, caplog, data, reason):
    (tmp_path / "good.txt").write_text("Sencha is steeped at seventy degrees.\n")
    if data == "user-password":
        data = encrypted_pdf(tmp_path, user_password="secret")
    (tmp_path / "bad.pdf").write_bytes(make_pdf([[]]) if data is None else data)
    with caplog.at_level(logging.WARNING, logger="qa"):
        docs, skipped = by_source(tmp_path)
    assert sorted(docs) == ["good.txt"]
    assert len(skipped) == 1 and skipped[0].startswith("bad.pdf: " + reason)
    assert [r.getMessage() for r in caplog.records] == [f"skipped {skipped[0]}"]


def encrypted_pdf(tmp_path, *, user_password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(make_pdf(KETTLE_PAGES))).pages:
        writer.add_page(page)
    writer.encrypt(user_password=user_password, owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_pdf_that_only_restricts_copying_is_read(tmp_path):
    (tmp_path / "restricted.pdf").write_bytes(encrypted_pdf(tmp_path, user_password=""))
    docs, skipped = by_source(tmp_path)
    assert not skipped
    assert "Cast iron kettles" in docs["restricted.pdf"].raw
