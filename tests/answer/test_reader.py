"""Read: the cross-encoder re-orders only the few best, only when P leaves room, and leaves P alone."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from qa.answer.decide import MODEL_DIR, READER_FILE, load
from qa.answer.reader import Reader, logit


@dataclass(frozen=True)
class Cand:
    text: str
    score: float
    reading: float | None = None
    key: float | None = None


class Scripted(Reader):
    """A reader whose logits are given per text: the ordering rule apart from the model."""

    def __init__(self, logits: dict[str, float], **kwargs):
        super().__init__("unused.onnx", "unused.json", **kwargs)
        self.given, self.calls = logits, 0

    def logits(self, question, texts):
        self.calls += 1
        return np.array([self.given[t] for t in texts])


def test_a_close_runner_up_that_reads_better_comes_first_with_its_p_unchanged():
    reader = Scripted({"a": -2.0, "b": 3.0, "c": 0.0}, top=3, weight=1.5, margin=2.0)
    ranked = [Cand("a", 0.50), Cand("b", 0.40), Cand("c", 0.30), Cand("d", 0.20)]
    out = reader.reorder("q?", ranked)
    # logit(P) + 1.5 x reading: b 2.09, c -0.85, a -3.0; d is past the top three: never read
    assert [c.text for c in out] == ["b", "c", "a", "d"]
    assert [c.score for c in out] == [0.40, 0.30, 0.50, 0.20]
    assert out[0].reading == 3.0 and out[3].reading is None


def test_a_clear_lead_is_not_read_at_all():
    reader = Scripted({"a": -5.0, "b": 5.0}, top=3, weight=1.5, margin=2.0)
    ranked = [Cand("a", 0.95), Cand("b", 0.10)]  # logit lead 5.1 > margin 2
    assert logit(np.array([0.95]))[0] - logit(np.array([0.10]))[0] > 2.0
    assert reader.reorder("q?", ranked) == ranked and reader.calls == 0
    assert reader.reorder("q?", ranked[:1]) == ranked[:1] and reader.calls == 0


def test_ties_keep_ps_order():
    reader = Scripted({"a": 0.0, "b": 0.0}, top=3, weight=1.0, margin=99.0)
    ranked = [Cand("a", 0.5), Cand("b", 0.5)]
    assert [c.text for c in reader.reorder("q?", ranked)] == ["a", "b"]


@pytest.mark.model
def test_the_shipped_reader_prefers_the_sentence_that_answers():
    decision = load()
    if decision.reader is None:
        pytest.skip("the shipped model has no reader")
    assert (MODEL_DIR / READER_FILE).stat().st_size <= 25 * 2**20
    question = "What severe weather did the fans brave to come to the meeting?"
    got = decision.reader.logits(question, ["About thirty fans braved a typhoon to meet me at the event.",
                                            "The meeting was held in a small cafe near the station."])
    assert got.shape == (2,) and got[0] > got[1]


def test_it_reads_in_the_replys_order_and_adds_to_its_keys():
    # The ranker put b first though a has the higher P: the reader starts from those keys.
    reader = Scripted({"a": 0.0, "b": 0.0, "c": 1.0}, top=3, weight=1.0, margin=0.5)
    ranked = [Cand("b", 0.40, key=2.0), Cand("a", 0.50, key=1.8), Cand("c", 0.30, key=0.5)]
    assert [c.text for c in reader.reorder("q?", ranked)] == ["b", "a", "c"]  # c: 0.5 + 1.0 stays last
    reader = Scripted({"a": 0.0, "b": 0.0, "c": 2.0}, top=3, weight=1.0, margin=0.5)
    assert [c.text for c in reader.reorder("q?", ranked)] == ["c", "b", "a"]  # c: 0.5 + 2.0 leads
    assert [c.text for c in reader.reorder("q?", [Cand("b", 0.4, key=3.0), *ranked[1:]])] == ["b", "a", "c"]
    assert reader.calls == 1  # a lead of 1.2 > margin 0.5: settled, not read
