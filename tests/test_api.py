"""Python API: question checks, the citation offset contract, and the per-process engine cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import qa.api
from qa import Engine, IndexProblem
from qa.api import MAX_QUESTION_CHARS, check_question
from qa.build import build_index
from qa.config import Settings
from qa.ingest import read_text

from conftest import REPO, FakeEncoder, make_pdf, shared_file

FAKE_QUESTIONS = [
    "What water temperature does good sencha need?",
    "How many tea houses does Kyoto have?",
    "What do potters in Tokoname make?",
    "Where is crème brûlée served with Darjeeling?",
    "How many prongs does a bamboo whisk have?",
    "How long do cast iron kettles from Morioka keep water hot?",
    "What do locals drink with rice crackers?",
    "How much does a tea cup cost at the market?",
    "Why does boiling water make the leaves bitter?",
    "Where should matcha be kept once opened?",
]

QUESTION_FILES = [
    REPO.parent / "shared" / "eval" / "seed_questions.jsonl",
    REPO / "tests" / "eval" / "seed_questions.jsonl",
]


@pytest.mark.parametrize("question,problem", [
    ("", "empty"),
    ("   \n\t ", "empty"),
    ("x" * (MAX_QUESTION_CHARS + 1), "limit"),
    ("?!... ---", "no words"),
    (None, "text"),
])
def test_bad_questions_are_one_line_value_errors(question, problem):
    with pytest.raises(ValueError, match=problem) as info:
        check_question(question)
    assert "\n" not in str(info.value)


def test_good_questions_are_trimmed():
    assert check_question("  Why tea?\n") == "Why tea?"
    assert check_question("x" * MAX_QUESTION_CHARS) == "x" * MAX_QUESTION_CHARS


def test_bad_questions_are_refused_before_any_work(fake_engine, fake_encoder):
    calls = len(fake_encoder.calls)
    with pytest.raises(ValueError):
        fake_engine.ask("   ")
    assert len(fake_encoder.calls) == calls


def assert_offset_contract(answer) -> None:
    for c in answer.citations:
        assert read_text(c.path)[c.start:c.end] == c.quote, (answer.question, c)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_every_citation_quotes_its_file_exactly(fake_engine, mode):
    answers = [fake_engine.ask(q, mode=mode) for q in FAKE_QUESTIONS]
    for answer in answers:
        assert_offset_contract(answer)
    assert sum(len(a.citations) for a in answers) > 0  # the contract was exercised


def test_citations_point_at_corpus_files(fake_engine, corpus):
    for question in FAKE_QUESTIONS:
        for c in fake_engine.ask(question).citations:
            assert c.path == str((corpus / c.source).resolve())
            assert c.title


def test_k_and_searched_for(fake_engine):
    answer = fake_engine.ask("What do potters make?", k=2, searched_for="Tokoname red clay teapots")
    assert len(answer.passages) == 2
    assert answer.searched_for == "Tokoname red clay teapots"
    assert answer.passages[0].passage.source == "page.html"


def test_k_sets_how_many_passages_come_back_not_the_answer(fake_engine):
    for question in FAKE_QUESTIONS:
        default = fake_engine.ask(question)
        for k in (1, 2, 9):
            answer = fake_engine.ask(question, k=k)
            assert len(answer.passages) == min(k, len(fake_engine.index.passages))
            assert (answer.sentences, answer.citations, answer.confidence) == (
                default.sentences, default.citations, default.confidence)
    for k in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="at least 1"):
            fake_engine.ask("What do potters make?", k=k)


def test_engine_refuses_an_index_built_with_another_model(fake_index, fake_encoder):
    with pytest.raises(IndexProblem, match="qa build"):
        Engine(fake_index, fake_encoder, Settings(model="some-other-model"))


def test_encoder_of_another_dimension_is_refused(fake_index, fake_settings):
    engine = Engine(fake_index, FakeEncoder(dim=32), fake_settings)
    with pytest.raises(IndexProblem, match="qa build"):
        engine.ask("What is matcha?")


def test_ask_reuses_the_loaded_engine(fake_engine, tmp_path, monkeypatch):
    """The cache is keyed by folder: a second ask() must not load again."""
    loads = []

    def load(cls, index_dir=None, *, settings=None):
        loads.append(index_dir)
        return fake_engine

    monkeypatch.delenv("QA_MODEL", raising=False)
    monkeypatch.setattr(qa.api.Engine, "load", classmethod(load))
    folder = tmp_path / "cached-index"  # a folder no other test uses, so the cache starts empty
    first = qa.api.ask("What is a chasen?", index_dir=folder)
    second = qa.api.ask("How many tea houses does Kyoto have?", index_dir=folder)
    assert len(loads) == 1
    assert qa.api.engine(folder) is qa.api.engine(str(folder)) is fake_engine
    assert len(loads) == 1
    assert first.question == "What is a chasen?" and second.question.startswith("How many")


def test_engine_load_errors_are_not_cached(tmp_path, monkeypatch):
    monkeypatch.delenv("QA_MODEL", raising=False)
    for _ in range(2):
        with pytest.raises(IndexProblem, match="qa build"):
            qa.api.engine(tmp_path / "no-index-here")


# Slow: the real model over a private copy of the committed index.


def question_rows():
    rows = []
    for path in QUESTION_FILES:
        name = path.parent.parent.name  # "shared" or "tests"
        if not path.exists():
            rows.append(pytest.param(path, id=f"{name}-missing"))  # the test fails in CI, skips elsewhere
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            row = json.loads(line)
            rows.append(pytest.param(row, id=f"{name}-{row.get('id', n)}"))
    return rows


@pytest.mark.model
@pytest.mark.parametrize("row", question_rows())
def test_seed_questions_keep_the_offset_contract(real_engine, row):
    if isinstance(row, Path):
        shared_file(row)
    answer = real_engine.ask(row["question"])
    assert_offset_contract(answer)
    for c in answer.citations:
        assert " ".join(c.text.split()) in answer.text
    assert answer.abstained == (answer.citations == ())


@pytest.mark.model
def test_ask_loads_the_real_engine_once(real_engine, monkeypatch):
    monkeypatch.delenv("QA_MODEL", raising=False)
    index_dir = real_engine.index.root  # a folder only this session knows, so the cache starts empty
    loads = []
    real_load = qa.api.Engine.load.__func__

    def counting_load(cls, *args, **kwargs):
        loads.append(args)
        return real_load(cls, *args, **kwargs)

    monkeypatch.setattr(qa.api.Engine, "load", classmethod(counting_load))
    first = qa.api.ask("Which SNS ranks first among Japanese users?", index_dir=index_dir)
    second = qa.api.ask("At which conference did Josh Bernoff speak in Tokyo?", index_dir=index_dir)
    assert len(loads) == 1
    assert qa.api.engine(index_dir) is qa.api.engine(index_dir)
    assert len(loads) == 1
    assert_offset_contract(first)
    assert_offset_contract(second)


def test_a_pdf_citation_quotes_its_text_layer_exactly(corpus, tmp_path, fake_encoder, fake_settings):
    (corpus / "kettles.pdf").write_bytes(make_pdf([
        ["Cast iron kettles", "", "Kettles from Nanbu are cast in sand moulds and weigh about two kilograms."],
    ]))
    index = build_index(corpus, tmp_path / "pdf-index", settings=fake_settings, encoder=fake_encoder)
    answer = Engine(index, fake_encoder, fake_settings).ask("How much do kettles from Nanbu weigh?")
    assert [c.source for c in answer.citations][:1] == ["kettles.pdf"]
    assert_offset_contract(answer)


def test_a_sentence_across_html_tags_is_cited_whole_and_shown_without_them(fake_engine):
    answer = fake_engine.ask("What do potters in Tokoname make?")
    (cited,) = [c for c in answer.citations if "Tokoname" in c.text]
    assert cited.source == "page.html"
    assert cited.text == "Potters in Tokoname make red clay teapots that soften the taste of green tea."
    assert cited.quote == "Potters in Tokoname make <b>red clay</b> teapots that soften the taste of green tea."
    assert_offset_contract(answer)
    assert cited.text in answer.sentences and cited.text in answer.text
    assert "<b>" not in answer.text


def test_name_vectors_embed_each_name_once(fake_engine, monkeypatch):
    calls = []
    real = fake_engine.encode_query
    monkeypatch.setattr(fake_engine, "encode_query", lambda texts: calls.append(list(texts)) or real(texts))
    first = fake_engine.name_vectors(["Japan", "Korea", "Japan"])
    second = fake_engine.name_vectors(["Korea", "Seoul"])
    assert calls == [["Japan", "Korea"], ["Seoul"]]
    assert first.shape[0] == 3 and (first[0] == first[2]).all() and (first[1] == second[0]).all()


def test_a_question_that_names_nothing_is_embedded_once(fake_engine):
    calls = fake_engine.query_encoder.calls
    fake_engine.ask("What do potters make?")  # no name: the question is its own focus
    fake_engine.ask("What do potters in Tokoname make?")
    asked = [call for call in calls if call[0].startswith("What do potters")]  # not the names of sentences
    assert asked == [["What do potters make?"], ["What do potters in Tokoname make?", "What do potters in make?"]]
    vectors = fake_engine.encode_query(["green tea", "kettle", "green tea"])
    assert vectors.shape[0] == 3 and (vectors[0] == vectors[2]).all() and calls[-1] == ["green tea", "kettle"]


@pytest.mark.model
def test_a_sentence_about_another_country_is_no_answer(real_engine):
    # The Regus report gives China's and India's figures, never Korea's.
    answer = real_engine.ask("How optimistic are Korean businesses about social media bringing customer inquiries?")
    assert answer.abstained, answer.text
    assert "never mentions Korean" in answer.note and answer.note in answer.text
    asked_about_china = real_engine.ask("How optimistic are Chinese businesses about social media bringing inquiries?")
    assert not asked_about_china.abstained and "65%" in asked_about_china.text
