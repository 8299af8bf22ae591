"""qa eval: metric functions on hand-made data, the SQuAD loader, and quality levels of the real engine."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from qa.evaluation import metrics
from qa.evaluation.metrics import Outcome, Question
from qa.evaluation.run import load_questions, load_squad, sample, squad_corpus

ROOT = Path(__file__).resolve().parent.parent
SEED_QUESTIONS = ROOT / "tests" / "eval" / "seed_questions.jsonl"
SQUAD_HALF = ROOT.parent / "shared" / "data" / "squad-v2.0-dev-half.json"
DEV_QUESTIONS = ROOT.parent / "shared" / "eval" / "seed_questions.jsonl"

# Quality of the engine (hybrid) on tests/eval/seed_questions.jsonl: the levels reached on
# 2026-11-28 (measured R@1 0.947, R@5 1.000, MRR 0.974, answer hit 0.778 and sentence@1 0.587
# over all answerable, citation accuracy 1.000, abstention precision 0.727 / recall 0.941),
# set a little below. CI fails below them. Raise them as the engine improves.
MIN_RECALL_AT_1 = 0.93
MIN_RECALL_AT_5 = 0.97
MIN_MRR = 0.95
MIN_ANSWER_HIT_ALL = 0.74
MIN_SENTENCE_AT_1_ALL = 0.55
MIN_CITATION_ACCURACY = 0.95
MIN_ABSTAIN_PRECISION = 0.68
MIN_ABSTAIN_RECALL = 0.88
LEVELS = {
    "recall@1": MIN_RECALL_AT_1, "recall@5": MIN_RECALL_AT_5, "mrr": MIN_MRR,
    "answer_hit_all": MIN_ANSWER_HIT_ALL, "sentence@1_all": MIN_SENTENCE_AT_1_ALL,
    "citation_accuracy": MIN_CITATION_ACCURACY, "abstain_precision": MIN_ABSTAIN_PRECISION,
    "abstain_recall": MIN_ABSTAIN_RECALL,
}


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


# --- loaders -----------------------------------------------------------------------------

TINY_SQUAD = {
    "version": "v2.0",
    "data": [
        {"title": "Paris", "paragraphs": [
            {"context": "Paris is the capital of France. It lies on the Seine.", "qas": [
                {"id": "p1", "question": "What is the capital of France?", "is_impossible": False,
                 "answers": [{"text": "Paris", "answer_start": 0}, {"text": "Paris", "answer_start": 0}]},
                {"id": "p2", "question": "What is the capital of Mars?", "is_impossible": True, "answers": [],
                 "plausible_answers": [{"text": "Paris", "answer_start": 0}]},
            ]},
            {"context": "The Louvre is the world's most visited museum.", "qas": [
                {"id": "p3", "question": "Which museum is the most visited?", "is_impossible": False,
                 "answers": [{"text": "The Louvre", "answer_start": 0}, {"text": "Louvre", "answer_start": 4}]},
            ]},
        ]},
        {"title": "Rivers", "paragraphs": [
            {"context": "The Nile flows north through Egypt into the Mediterranean Sea.", "qas": [
                {"id": "r1", "question": "Which way does the Nile flow?", "is_impossible": False,
                 "answers": [{"text": "north", "answer_start": 14}]},
                {"id": "r2", "question": "How long is the Amazon?", "is_impossible": True, "answers": []},
            ]},
        ]},
    ],
}


@pytest.fixture
def tiny_squad(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY_SQUAD), encoding="utf-8")
    return path


def test_squad_loader_maps_questions_to_paragraph_files(tiny_squad):
    questions, documents = load_squad(tiny_squad)
    assert sorted(documents) == ["a000_p000.txt", "a000_p001.txt", "a001_p000.txt"]
    by_id = {x.id: x for x in questions}
    assert by_id["p1"] == Question("p1", "What is the capital of France?", (("Paris",),), "a000_p000.txt", True)
    assert by_id["p3"].answers == (("The Louvre", "Louvre"),) and by_id["p3"].source == "a000_p001.txt"
    assert by_id["p2"].answerable is False and by_id["p2"].answers == () and by_id["p2"].source is None
    assert [x.answerable for x in questions] == [True, False, True, True, False]


def test_squad_corpus_writes_one_file_per_paragraph_once(tiny_squad, tmp_path):
    _, docs = squad_corpus(tiny_squad)
    digest = hashlib.sha256(tiny_squad.read_bytes()).hexdigest()[:12]
    assert docs == tmp_path / "cache" / "qa" / f"squad-{digest}" / "docs"
    assert (docs / "a001_p000.txt").read_text(encoding="utf-8") == TINY_SQUAD["data"][1]["paragraphs"][0]["context"]
    before = {p.name: p.stat().st_mtime_ns for p in docs.iterdir()}
    squad_corpus(tiny_squad)
    assert {p.name: p.stat().st_mtime_ns for p in docs.iterdir()} == before


def test_squad_loader_rejects_other_json(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"questions": []}')
    with pytest.raises(ValueError, match="SQuAD"):
        load_squad(path)


def test_question_set_loader_defaults_and_errors(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "Who?", "answers": [["A", "B"], ["C"]], "source": "x.txt"}\n\n'
                    '{"id": "u", "question": "Why?", "answers": [], "answerable": false}\n')
    first, second = load_questions(path)
    assert first == Question("line1", "Who?", (("A", "B"), ("C",)), "x.txt", True)
    assert second.id == "u" and not second.answerable and second.source is None
    path.write_text('{"question": "ok?"}\n{"answers": []}\n')
    with pytest.raises(ValueError, match="line 2"):
        load_questions(path)
    # A plain list of strings is a list of facts, one alternative each; not a list of letters.
    path.write_text('{"question": "Which SNS?", "answers": ["Facebook", ["LINE", "Line"]]}\n')
    assert load_questions(path)[0].answers == (("Facebook",), ("LINE", "Line"))
    for bad in ('[[]]', '[["LINE", 3]]', '[{"text": "LINE"}]', '"LINE"'):
        path.write_text(f'{{"question": "Which SNS?", "answers": {bad}}}\n')
        with pytest.raises(ValueError, match="line 1 .*answers must be a list of facts"):
            load_questions(path)


def test_sample_is_seeded_and_bounded():
    questions = [q(str(i)) for i in range(50)]
    assert sample(questions, 10, 0) == sample(questions, 10, 0)
    assert sample(questions, 10, 0) != sample(questions, 10, 1)
    assert sample(questions, None, 0) is questions and sample(questions, 99, 0) is questions
    with pytest.raises(ValueError):
        sample(questions, 0, 0)


# --- the whole command, fast: a tiny SQuAD file and a fake encoder ---------------------------

def test_eval_command_on_tiny_squad_writes_report_and_plots(tiny_squad, tmp_path, monkeypatch, capsys, fake_encoder):
    from qa import cli, embed

    monkeypatch.setattr(embed, "Encoder", lambda model, **_: fake_encoder)
    out = tmp_path / "out"
    assert cli.main(["eval", "--squad", str(tiny_squad), "--compare", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ") and "R@1 " not in line] \
        == ["hybrid", "bm25", "dense"]
    report = json.loads((out / "report.json").read_text())
    assert set(report["retrievers"]) == {"hybrid", "bm25", "dense"}
    assert report["dataset"]["questions"] == 5 and report["dataset"]["answerable"] == 3
    assert report["index"]["documents"] == 3 and report["index"]["full_build"]
    assert report["index"]["passages_per_second"] > 0
    for m in report["retrievers"].values():
        assert m["ranked_questions"] == 3 and len(m["recall_at"]) == metrics.RECALL_DEPTH
        assert m["recall@20"] == 1.0  # three documents: the gold one is always retrieved
    assert len((out / "outcomes.jsonl").read_text().splitlines()) == 15
    for png in ("recall.png", "abstention.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    index = next((tmp_path / "cache" / "qa").glob("squad-*")) / "index" / "manifest.json"
    built = json.loads(index.read_text())["built_at"]
    assert cli.main(["eval", "--squad", str(tiny_squad), "--out", str(out)]) == 0
    assert json.loads(index.read_text())["built_at"] == built  # the cached index was reused


def test_eval_command_wants_exactly_one_question_source(capsys):
    from qa import cli

    assert cli.main(["eval"]) == 1
    assert "--squad" in capsys.readouterr().err


# --- the real engine -----------------------------------------------------------------------

@pytest.mark.slow
def test_engine_quality_on_the_project_questions(seeds_index_dir, tmp_path):
    from qa import cli

    out = tmp_path / "out"
    assert cli.main(["eval", str(SEED_QUESTIONS), "--index", str(seeds_index_dir), "--out", str(out)]) == 0
    m = json.loads((out / "report.json").read_text())["retrievers"]["hybrid"]
    measured = {k: round(v, 3) for k, v in m.items() if isinstance(v, float)}
    for key, level in LEVELS.items():
        assert m[key] >= level, f"{key} {m[key]:.3f} fell below {level}; all measured: {measured}"


@pytest.mark.slow
def test_engine_meets_the_bar_on_the_shared_dev_questions(seeds_index_dir, tmp_path):
    """The engine issue's bar: 90 % of answerable questions fully answered from the named
    source, every unanswerable one abstained on, no answerable one."""
    from qa import cli

    if not DEV_QUESTIONS.exists():
        pytest.skip(f"{DEV_QUESTIONS} is not here")
    out = tmp_path / "out"
    assert cli.main(["eval", str(DEV_QUESTIONS), "--index", str(seeds_index_dir), "--out", str(out)]) == 0
    answerable = {q.id: q.answerable for q in load_questions(DEV_QUESTIONS)}
    outcomes = [json.loads(line) for line in (out / "outcomes.jsonl").read_text().splitlines()]
    hybrid = [o for o in outcomes if o["retriever"] == "hybrid"]
    wrong = [o["id"] for o in hybrid if o["abstained"] != (not answerable[o["id"]])]
    assert not wrong, f"abstained wrongly on {wrong}"
    right = [o for o in hybrid if answerable[o["id"]] and o["hit"] and o["cited"]]
    assert len(right) >= 0.9 * sum(answerable.values()), [o["id"] for o in hybrid if o not in right]


@pytest.mark.slow
def test_squad_sample_through_the_cli(tmp_path_factory, monkeypatch):
    from qa import cli

    if not SQUAD_HALF.exists():
        pytest.skip(f"{SQUAD_HALF} is not here")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    out = tmp_path_factory.mktemp("squad-eval")
    args = ["eval", "--squad", str(SQUAD_HALF), "--limit", "200", "--seed", "0", "--compare", "--out", str(out)]
    assert cli.main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["dataset"]["questions"] == 200
    keys = {"recall@1", "recall@5", "recall@20", "mrr", "answer_hit_answered", "answer_hit_all",
            "sentence@1_answered", "sentence@1_all", "citation_accuracy", "abstain_precision",
            "abstain_recall", "latency_ms_p50", "latency_ms_p95", "curve"}
    runs = report["retrievers"]
    assert all(keys <= set(m) for m in runs.values())
    assert runs["hybrid"]["recall@5"] >= runs["bm25"]["recall@5"]
    assert runs["hybrid"]["recall@5"] >= runs["dense"]["recall@5"]
    assert (out / "recall.png").exists() and (out / "abstention.png").exists()
