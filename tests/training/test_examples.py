"""Examples: the user-worded questions become questions with answer spans into their article's file."""

from __future__ import annotations

import json

from qa.training.examples import USER_WORDED_SUFFIX, article_files, user_worded, user_worded_lines
from qa.training.train import DATA, SHARED_DATA

from conftest import shared_file


def test_user_worded_spans_point_at_their_answer():
    data = {"data": [{"paragraphs": [{"context": "Warsaw lies on the Vistula."},
                                     {"context": "It had 1.7 million people in 2014; 1.7 million is many."}]}]}
    lines = [{"id": "f0-000-00", "article": "f0/000", "question": "How many lived there?", "answerable": True,
              "paragraph": 1, "answer": "1.7 million"},
             {"id": "f0-000-01", "article": "f0/000", "question": "Who founded it?", "answerable": False},
             {"id": "f0-000-02", "article": "f0/000", "question": "Which river?", "answerable": True,
              "paragraph": 1, "answer": "Vistula"},  # not in its paragraph: left out
             {"id": "f0-001-00", "article": "f0/001", "question": "A cut article's", "answerable": False},
             {"id": "f1-000-00", "article": "f1/000", "question": "Another file's", "answerable": False}]
    out = user_worded(data, "f0", lines)
    text = article_files(data)["a000.txt"]
    assert [q.id for q in out] == [f"f0-000-00{USER_WORDED_SUFFIX}", f"f0-000-01{USER_WORDED_SUFFIX}"]
    assert [q.kind for q in out] == ["answerable", "unanswerable"]
    assert [text[s:e] for _, s, e in out[0].answers] == ["1.7 million", "1.7 million"]
    assert len({s for _, s, _ in out[0].answers}) == 2 and out[1].answers == ()


def test_the_shipped_user_worded_questions_are_well_formed():
    lines = user_worded_lines()
    assert len(lines) == 2048 and len({x["id"] for x in lines}) == 2048  # two rounds of 32 an article
    assert sum(x["answerable"] for x in lines) == 1536
    assert all(x["style"] in ("plain", "described", "sourced") for x in lines)
    assert all(x["answer"].strip() and x["paragraph"] >= 0 for x in lines if x["answerable"])


def test_every_user_worded_answer_stands_in_its_paragraph():
    lines = user_worded_lines()
    asked = []
    for i, name in enumerate(DATA):
        data = json.loads(shared_file(SHARED_DATA / name).read_text(encoding="utf-8"))
        asked += user_worded(data, f"f{i}", lines)
    assert len(asked) == 2048 and sum(q.kind == "answerable" for q in asked) == 1536
