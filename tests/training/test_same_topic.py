"""Same-topic questions: asked of their article without the paragraph that answers them."""

from __future__ import annotations

from qa.training.examples import article_files, squad_questions
from qa.training.same_topic import taken_out, without


def _data() -> dict:
    def qa(qid: str, context: str, answer: str) -> dict:
        return {"id": qid, "question": f"Which {qid}?",
                "answers": [{"text": answer, "answer_start": context.index(answer)}]}

    paragraphs = ["Sencha is steamed in Shizuoka.", "Matcha is ground in Uji.",
                  "Gyokuro is shaded, like tencha in Uji."]
    questions = [[qa("q0", paragraphs[0], "Shizuoka")],
                 [qa("q1", paragraphs[1], "ground"), qa("q2", paragraphs[1], "Uji")], []]
    return {"data": [{"title": "Tea", "paragraphs": [{"context": c, "qas": q} for c, q in zip(paragraphs, questions)]}]}


def test_a_question_is_asked_only_where_its_paragraph_and_answer_are_gone():
    data = _data()
    asked, _ = squad_questions(data, tag="f0")
    assert [p["context"][:6] for p in without(data, 0)["data"][0]["paragraphs"]] == ["Matcha"]
    assert [p["context"][:6] for p in without(data, 1)["data"][0]["paragraphs"]] == ["Sencha", "Gyokur"]
    # Without the even paragraphs, q0's is gone; without the odd ones, q1's is, while q2's answer
    # "Uji" still stands in the third paragraph: not a question the index cannot answer.
    assert [q.id for q in taken_out(asked, data, 0, article_files(without(data, 0)))] == ["q0"]
    assert [q.id for q in taken_out(asked, data, 1, article_files(without(data, 1)))] == ["q1"]
