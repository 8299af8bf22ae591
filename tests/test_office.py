"""Word, PowerPoint and PDF pages: text in reading order, exact quotes, and the page or slide of each citation."""

from __future__ import annotations

import json

import pytest

from qa.api import Engine, page_label, with_pages
from qa.build import build_index
from qa.index import load_index
from qa.ingest import load_corpus, read_pages, read_text
from qa.office import NOTES_MARK
from qa.schema import Citation

from conftest import make_docx, make_pdf, make_pptx

REPORT = [
    ("h", "Harvest report"),
    "Sencha from Shizuoka is steamed within hours of picking.",
    [["Tea", "Region", "Price"], ["Gyokuro", "Yame", "high"], ["Bancha", "Kyoto", "low"]],
    "The last paragraph follows the table.",
]
DECK = [
    {"title": "Kettles", "boxes": [("Cast iron kettles from Morioka keep water hot for an hour.", 2)]},
    {"title": "Cups", "boxes": [("The lower box is read second.", 5), ("The upper box is read first.", 2)],
     "notes": "Remind everyone that the potters of Tokoname fire red clay teapots."},
    {"title": "Ferries", "boxes": [("The night ferry from Pellmouth leaves at eleven every evening.", 2)],
     "table": [["Ferry", "Leaves"], ["Night", "23:00"]]},
]
PAGES = [
    ["Page one talks about the weather in Osaka during the rainy season."],
    ["The second page says that lanterns in Quillby are lit every March evening."],
    ["The third page says that the ghost orchid of Vennmoor blooms once every seven years."],
]


@pytest.fixture
def office(tmp_path):
    folder = tmp_path / "office"
    folder.mkdir()
    make_docx(folder / "report.docx", REPORT)
    make_pptx(folder / "deck.pptx", DECK)
    (folder / "orchids.pdf").write_bytes(make_pdf(PAGES))
    return folder


def test_docx_reads_headings_paragraphs_and_table_rows_in_order(office):
    text, pages = read_pages(office / "report.docx")
    assert pages == ()
    assert text.split("\n\n") == [
        "Harvest report", "Sencha from Shizuoka is steamed within hours of picking.",
        "Tea: Gyokuro | Region: Yame | Price: high", "Tea: Bancha | Region: Kyoto | Price: low",
        "The last paragraph follows the table.",
    ]


def test_table_rows_are_labelled_only_under_a_header_row(tmp_path):
    rows = [["Year", "Visitors"], ["2024", "1,200"], ["2025", ""]]
    make_docx(tmp_path / "a.docx", [rows, [["2024", "1,200"], ["2025", "1,400"]],
                                    [["A long first cell that reads like a sentence of content", "x"], ["y", "z"]]])
    assert read_text(tmp_path / "a.docx").split("\n\n") == [
        "Year: 2024 | Visitors: 1,200", "Year: 2025",  # an empty cell gets no label
        "2024 | 1,200", "2025 | 1,400",  # a first row of numbers names no columns
        "A long first cell that reads like a sentence of content | x", "y | z"]


def test_pptx_reads_titles_boxes_top_to_bottom_and_marked_notes_with_slide_starts(office):
    text, starts = read_pages(office / "deck.pptx")
    assert len(starts) == 3 and starts[0] == 0
    second = text[starts[1]:starts[2]].split("\n\n")
    assert second[:3] == ["Cups", "The upper box is read first.", "The lower box is read second."]
    assert second[3] == f"{NOTES_MARK} Remind everyone that the potters of Tokoname fire red clay teapots."
    assert text[starts[2]:].split("\n\n") == [
        "Ferries", "The night ferry from Pellmouth leaves at eleven every evening.", "Ferry: Night | Leaves: 23:00"]


def test_pdf_pages_start_where_each_page_text_starts(office):
    text, starts = read_pages(office / "orchids.pdf")
    assert len(starts) == 3
    for start, lines in zip(starts, PAGES):
        assert text[start:].startswith(lines[0])


@pytest.mark.parametrize("name, data, reason", [
    ("broken.docx", b"PK\x03\x04 not really a zip", "not a readable Word file"),
    ("broken.pptx", b"plain text, not a deck", "not a readable PowerPoint file"),
    # A password-protected Office file is an OLE container (the same bytes open every one).
    ("locked.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), "an encrypted or old-format Word file"),
    ("locked.pptx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), "an encrypted or old-format PowerPoint"),
])
def test_damaged_or_locked_office_files_are_skipped_and_named_once(office, caplog, name, data, reason):
    (office / name).write_bytes(data)
    documents, skipped = load_corpus(office)
    assert sorted(d.source for d in documents) == ["deck.pptx", "orchids.pdf", "report.docx"]
    assert len(skipped) == 1 and skipped[0].startswith(f"{name}: {reason}")
    assert sum(name in r.getMessage() for r in caplog.records) == 1


def test_empty_word_file_is_skipped(office):
    make_docx(office / "empty.docx", [])
    _, skipped = load_corpus(office)
    assert skipped == ["empty.docx: no text in this Word document"]


def test_citations_quote_the_file_exactly_and_carry_the_page_or_slide(office, tmp_path, fake_encoder, fake_settings):
    index = build_index(office, tmp_path / "index", settings=fake_settings, encoder=fake_encoder)
    assert index.manifest["pages"] == {"deck.pptx": list(read_pages(office / "deck.pptx")[1]),
                                       "orchids.pdf": list(read_pages(office / "orchids.pdf")[1])}
    engine = Engine(load_index(tmp_path / "index"), fake_encoder, fake_settings)
    cases = [
        ("When does the night ferry from Pellmouth leave every evening?", "deck.pptx", 3, "slide 3"),
        ("Who fire red clay teapots in Tokoname?", "deck.pptx", 2, "slide 2"),
        ("How often does the ghost orchid of Vennmoor bloom?", "orchids.pdf", 3, "p. 3"),
        ("When are lanterns in Quillby lit?", "orchids.pdf", 2, "p. 2"),
        ("How soon is sencha from Shizuoka steamed after picking?", "report.docx", None, None),
    ]
    for question, source, page, label in cases:
        answer = engine.ask(question)
        assert not answer.abstained, question
        first = answer.citations[0]
        assert (first.source, first.page) == (source, page), question
        assert read_text(office / source)[first.start:first.end] == first.quote
        assert json.loads(json.dumps(answer.to_dict()))["citations"][0]["page"] == page
        source_line = next(line for line in answer.text.splitlines() if line.startswith("[1] "))
        assert source_line.endswith(f", {label}") if label else "p. " not in source_line


def test_page_labels_follow_each_source_line_only():
    citations = (Citation(1, "a.pdf", "/a.pdf", "A", 0, 5, "quote", "quote", 1.0, 0, page=4),
                 Citation(2, "b.pptx", "/b.pptx", "B", 0, 5, "quote", "quote", 1.0, 1, page=2),
                 Citation(3, "c.txt", "/c.txt", "C", 0, 5, "quote", "quote", 1.0, 2))
    text = "Quote [1] [2] [3]\n\nSources:\n[1] A — a.pdf, characters 0–5\n[2] B — b.pptx, characters 0–5\n" \
           "[3] C — c.txt, characters 0–5"
    assert with_pages(text, citations).splitlines()[3:] == [
        "[1] A — a.pdf, characters 0–5, p. 4", "[2] B — b.pptx, characters 0–5, slide 2",
        "[3] C — c.txt, characters 0–5"]
    assert with_pages("No sources here [1] ", citations) == "No sources here [1] "
    assert page_label("x.PDF", None) == ""


def test_qa_ask_json_shows_the_page(fake_model, office, tmp_path, capsys):
    from qa.cli import main

    assert main(["build", "--docs", str(office), "--index", str(tmp_path / "ix")]) == 0
    capsys.readouterr()
    assert main(["ask", "--index", str(tmp_path / "ix"), "--json",
                 "How often does the ghost orchid of Vennmoor bloom?"]) == 0
    citation = json.loads(capsys.readouterr().out)["citations"][0]
    assert (citation["source"], citation["page"]) == ("orchids.pdf", 3)
    assert main(["ask", "--index", str(tmp_path / "ix"), "How often does the ghost orchid of Vennmoor bloom?"]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("[1] ") and "orchids.pdf" in line and line.endswith(", p. 3")
               for line in out.splitlines())
