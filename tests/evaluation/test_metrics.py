"""Evaluation metrics on hand-made outcomes: answer matching, ranking, abstention, summaries."""

from __future__ import annotations

import pytest

from qa.evaluation import metrics
from qa.evaluation.metrics import Outcome, Question


def q(id="q", answers=(("Paris",),), source="a.txt", answerable=True) -> Question:
    return Question(id=id, question=f"question {id}?", answers=answers, source=source, answerable=answerable)


def outcome(question, *, sources=("a.txt",), sentences=("Paris is the capital.",), cited=None, confidence=0.9):
    cited = tuple(sources[:1]) if cited is None else cited
    return Outcome(question, tuple(sources), tuple(sentences), tuple(cited), confidence, 0.01)


# --- answer matching ------------------------------------------------------------------

def test_normalize_follows_squad_and_drops_unicode_punctuation():
    assert metrics.normalize("The  Eiffel-Tower, in  a City!") == "eiffeltower in city"
    assert metrics.normalize("“Social Media Year One”") == "social media year one"
    assert metrics.normalize("An apple") == "apple"
    assert metrics.normalize("Thematic") == "thematic"  # articles only as whole words


def test_contains_matches_whole_words_only():
    assert metrics.contains("about 1,000 people came", "1000")
    assert metrics.contains("a speech at Ad:Tech’s Tokyo event", "Ad:Tech")
    assert metrics.contains("the invitation-only network", "invitation")
    assert metrics.contains("13% of users", "13%")
    assert not metrics.contains("130 people", "13")
    assert not metrics.contains("anything at all", "the")  # an answer that normalises to nothing


def test_has_answer_needs_every_group_and_any_alternative():
    groups = (("Samsung",), ("LG", "LG Electronics"))
    assert metrics.has_answer("Samsung and LG Electronics lead.", groups)
    assert not metrics.has_answer("Samsung leads.", groups)
    assert metrics.has_answer("lg and SAMSUNG", groups)
    assert not metrics.has_answer("whatever", ())


# --- ranking ------------------------------------------------------------------------------

def test_recall_and_mrr_rank_distinct_sources():
    passages = ["b.txt", "b.txt", "c.txt", "b.txt", "a.txt"]
    sources = metrics.distinct(passages)
    assert sources == ("b.txt", "c.txt", "a.txt")
    assert metrics.gold_rank(sources, "a.txt") == 3  # not 5: repeats of b.txt do not count
    assert metrics.gold_rank(sources, "z.txt") is None
    result = metrics.ranking([1, 3, None, 2])
    assert result["recall_at"][0] == 0.25
    assert result["recall_at"][1] == 0.5
    assert result["recall_at"][4] == 0.75
    assert result["recall_at"][19] == 0.75
    assert result["mrr"] == pytest.approx((1 + 1 / 3 + 0 + 1 / 2) / 4)


def test_gold_beyond_the_depth_is_a_miss():
    sources = tuple(f"{i}.txt" for i in range(30))
    assert metrics.gold_rank(sources, "19.txt") == 20
    assert metrics.gold_rank(sources, "20.txt") is None


# --- abstention and the threshold curve ---------------------------------------------------

def test_abstention_precision_and_recall():
    abstained = [True, True, False, False, True]
    answerable = [False, True, False, True, False]
    result = metrics.abstention(abstained, answerable)
    assert result == {"abstained": 3, "precision": 2 / 3, "recall": 2 / 3}
    assert metrics.abstention([False, False], [True, True]) == {"abstained": 0, "precision": None, "recall": None}


def test_threshold_curve_trades_answer_rate_for_precision():
    confidence = [0.9, 0.8, 0.6, 0.4]
    correct = [True, True, False, True]
    answerable = [True, True, True, False]  # the last one is right only by abstaining
    points = metrics.threshold_curve(confidence, correct, answerable, [0.0, 0.5, 0.7, 1.0])
    assert [p["answer_rate"] for p in points] == [1.0, 0.75, 0.5, 0.0]
    assert points[0]["precision"] == 0.5  # 2 right of 4 answered: answering the last is wrong
    assert points[1]["precision"] == pytest.approx(2 / 3)
    assert points[2]["precision"] == 1.0
    assert points[3]["precision"] is None
    assert points[1]["abstain_precision"] == 1.0 and points[1]["abstain_recall"] == 1.0
    assert points[2]["abstain_precision"] == 0.5


def test_a_confidence_at_the_threshold_answers_like_the_composer():
    # compose() abstains when confidence < abstain_below, so a tie answers.
    assert metrics.threshold_curve([0.5], [True], [True], [0.5])[0]["answer_rate"] == 1.0
    assert metrics.judge(outcome(q(), confidence=0.5), threshold=0.5)["abstained"] is False
    assert metrics.judge(outcome(q(), confidence=0.49), threshold=0.5)["abstained"] is True
    assert metrics.judge(outcome(q(), sentences=(), confidence=0.9), threshold=0.5)["abstained"] is True


def test_sweep_spans_the_confidences_and_holds_the_configured_threshold():
    ts = metrics.sweep([0.2, 0.9, 0.5], 0.45, steps=10)
    assert ts[0] == pytest.approx(0.2) and ts[-1] == pytest.approx(0.9, abs=1e-6)
    assert 0.45 in ts and ts == sorted(ts)


# --- one retriever's summary ---------------------------------------------------------------

def test_summarize_splits_answered_from_all_answerable():
    outcomes = [
        outcome(q("1")),  # right, confident
        outcome(q("2"), sentences=("Lyon is big.", "Paris is the capital."), confidence=0.8),  # right in 2nd sentence
        outcome(q("3"), confidence=0.3),  # right but abstains
        outcome(q("4"), sources=("b.txt", "a.txt"), sentences=("Berlin.",), confidence=0.7),  # wrong, cites b
        outcome(q("5", answers=(), source=None, answerable=False), confidence=0.2),  # rightly abstains
        outcome(q("6", answers=(), source=None, answerable=False), confidence=0.6),  # wrongly answers
    ]
    m = metrics.summarize(outcomes, threshold=0.5)
    assert m["questions"] == 6 and m["answerable"] == 4
    assert m["recall@1"] == 0.75 and m["recall@5"] == 1.0
    assert m["mrr"] == pytest.approx((1 + 1 + 1 + 0.5) / 4)
    assert m["answer_hit_answered"] == pytest.approx(2 / 3)
    assert m["answer_hit_all"] == 0.5
    assert m["answer_hit_forced"] == 0.75
    assert m["sentence@1_answered"] == pytest.approx(1 / 3)
    assert m["sentence@1_all"] == 0.25
    assert m["citation_accuracy"] == pytest.approx(2 / 3)
    assert m["abstain_precision"] == 0.5 and m["abstain_recall"] == 0.5
    assert m["answer_rate"] == pytest.approx(4 / 6)
    at = next(p for p in m["curve"] if p["threshold"] == 0.5)
    assert at["answer_rate"] == pytest.approx(m["answer_rate"])


def test_summarize_skips_sourceless_questions_in_ranking():
    outcomes = [outcome(q("1", source=None), sources=("x.txt",)), outcome(q("2"))]
    m = metrics.summarize(outcomes, threshold=0.5)
    assert m["ranked_questions"] == 1 and m["recall@1"] == 1.0


def test_by_kind_counts_abstaining_on_unanswerable_as_right():
    kinded = [
        outcome(Question("1", "?", (("Paris",),), "a.txt", True, "name")),
        outcome(Question("2", "?", (("Lyon",),), "a.txt", True, "name")),
        outcome(Question("3", "?", (), None, False, "unanswerable"), confidence=0.1),
        outcome(q("4")),  # no kind: left out
    ]
    assert metrics.by_kind(kinded, threshold=0.5) == {
        "name": {"questions": 2, "right": 0.5}, "unanswerable": {"questions": 1, "right": 1.0}}


def test_failures_show_what_was_wanted_and_said():
    from qa.evaluation.run import failures

    text = failures([outcome(q("ok")), outcome(q("bad", answers=(("Lyon",), ("Rhone", "Rhône")))),
                     outcome(q("u", answers=(), source=None, answerable=False))], 0.5)
    assert "2 of 3" in text and "ok:" not in text
    assert "bad: wanted Lyon + Rhone/Rhône (in a.txt, retrieved at rank 1); answered at conf 0.90" in text
    assert "u: unanswerable, but answered" in text and "«Paris is the capital.»" in text
