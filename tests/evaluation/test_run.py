"""qa eval: the SQuAD and question-set loaders, the command on a tiny set, and the real engine's quality levels."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from qa.answer.decide import load
from qa.evaluation import metrics
from qa.evaluation.metrics import Question
from qa.evaluation.run import load_questions, load_squad, sample, squad_corpus

from conftest import shared_file

ROOT = Path(__file__).resolve().parents[2]
SEED_QUESTIONS = ROOT / "tests" / "eval" / "seed_questions.jsonl"
SQUAD_HALF = ROOT.parent / "shared" / "data" / "squad-v2.0-dev-half.json"
DEV_QUESTIONS = ROOT.parent / "shared" / "eval" / "seed_questions.jsonl"

# Quality of the engine (hybrid) on tests/eval/seed_questions.jsonl: the levels the learned
# decision reached on 2026-11-30 (R@1 0.982, R@5 1.000, MRR 0.988, answer hit 0.683 and
# sentence@1 0.571 over all answerable, citation accuracy 0.979, abstention precision 0.500 /
# recall 0.882; with documents embedded in int8 as now, answer hit 0.698 and abstention precision
# 0.517, the rest the same), set a little below. CI fails below them. They are lower than the
# 0.1 decision's on this set (answer hit 0.778, abstention 0.762 / 0.941), whose rules were
# written against these very questions; docs/evaluation.md has both, and held-out numbers.
# Raise them as the engine improves. R@1 counts the passage of the quoted sentence first, so it
# moves with the decision: fitted again on int8-embedded SQuAD indexes it is 0.947 (54 of 57),
# was 0.982 (56). The reader (qa.answer.reader, 2026-12-01) re-orders the best sentences and so
# their passages: R@1 0.930 (53 of 57) and MRR 0.962, answer hit 0.683, sentence@1 0.556, the
# abstentions unchanged; on held-out SQuAD articles it lifts answer-sentence@1 (docs/evaluation.md).
# Trained also to order each question's three (2026-12-01, held out 0.7897 -> 0.7942): R@1 0.912
# (52 of 57: q17, answered wrongly before and after, now quotes a sentence of its second
# source first), MRR 0.953, answer hit 0.698 (44 of 63, one more), the abstentions unchanged.
# With the ranker (2026-12-01, held out 0.7942 -> 0.7982; refitted on this install, so the trees
# differ too): R@1 0.947 (54 of 57), MRR 0.971, sentence@1 0.571, answer hit 0.683, the abstentions
# unchanged. A lone label no longer answers, and the reader's w 4.0, margin 6.0 (held out 0.7990):
# the seed set's outcomes unchanged.
MIN_RECALL_AT_1 = 0.91
MIN_RECALL_AT_5 = 0.97
MIN_MRR = 0.95
MIN_ANSWER_HIT_ALL = 0.65
MIN_SENTENCE_AT_1_ALL = 0.54
MIN_CITATION_ACCURACY = 0.95
MIN_ABSTAIN_PRECISION = 0.45
MIN_ABSTAIN_RECALL = 0.82
LEVELS = {
    "recall@1": MIN_RECALL_AT_1, "recall@5": MIN_RECALL_AT_5, "mrr": MIN_MRR,
    "answer_hit_all": MIN_ANSWER_HIT_ALL, "sentence@1_all": MIN_SENTENCE_AT_1_ALL,
    "citation_accuracy": MIN_CITATION_ACCURACY, "abstain_precision": MIN_ABSTAIN_PRECISION,
    "abstain_recall": MIN_ABSTAIN_RECALL,
}


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
    questions = [Question(id=str(i), question=f"question {i}?", answers=(("Paris",),), source="a.txt")
                 for i in range(50)]
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
    rows = ["hybrid", "bm25", "dense", *(["hybrid, trees alone"] if load().reader else []), "hybrid, 0.1 decision"]
    assert [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ") and "R@1 " not in line] \
        == rows
    report = json.loads((out / "report.json").read_text())
    assert set(report["retrievers"]) == set(rows)
    assert report["thresholds"]["hybrid, 0.1 decision"] == 0.74  # each decision judged at its own threshold
    assert report["decision"]["threshold"] == report["thresholds"]["hybrid"]
    assert report["dataset"]["questions"] == 5 and report["dataset"]["answerable"] == 3
    assert report["index"]["documents"] == 3 and report["index"]["full_build"]
    assert report["index"]["passages_per_second"] > 0
    for m in report["retrievers"].values():
        assert m["ranked_questions"] == 3 and len(m["recall_at"]) == metrics.RECALL_DEPTH
        assert m["recall@20"] == 1.0  # three documents: the gold one is always retrieved
    assert len((out / "outcomes.jsonl").read_text().splitlines()) == 5 * len(rows)
    for png in ("recall.png", "abstention.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    index = next((tmp_path / "cache" / "qa").glob("squad-*")) / "index" / "manifest.json"
    built = index.stat().st_mtime_ns  # not the manifest's built_at: two builds can fall in one second
    assert cli.main(["eval", "--squad", str(tiny_squad), "--out", str(out)]) == 0
    assert index.stat().st_mtime_ns == built  # the cached index was reused


def test_eval_command_wants_exactly_one_question_source(capsys):
    from qa import cli

    assert cli.main(["eval"]) == 1
    assert "--squad" in capsys.readouterr().err


# --- the real engine -----------------------------------------------------------------------

@pytest.mark.quality
def test_engine_quality_on_the_project_questions(seeds_index_dir, tmp_path):
    from qa import cli

    out = tmp_path / "out"
    assert cli.main(["eval", str(SEED_QUESTIONS), "--index", str(seeds_index_dir), "--out", str(out)]) == 0
    m = json.loads((out / "report.json").read_text())["retrievers"]["hybrid"]
    measured = {k: round(v, 3) for k, v in m.items() if isinstance(v, float)}
    for key, level in LEVELS.items():
        assert m[key] >= level, f"{key} {m[key]:.3f} fell below {level}; all measured: {measured}"


@pytest.mark.quality
def test_engine_holds_its_level_on_the_shared_dev_questions(seeds_index_dir, tmp_path):
    """The learned decision's level on the shared dev questions (2026-11-30: 16 of 18 answerable
    questions answered in full from the named source, one abstained on; 2 of the 4 unanswerable
    abstained on). The 0.1 decision, fitted to them, answered 18 and abstained on all 4."""
    from qa import cli

    shared_file(DEV_QUESTIONS)
    out = tmp_path / "out"
    assert cli.main(["eval", str(DEV_QUESTIONS), "--index", str(seeds_index_dir), "--out", str(out)]) == 0
    answerable = {q.id: q.answerable for q in load_questions(DEV_QUESTIONS)}
    outcomes = [json.loads(line) for line in (out / "outcomes.jsonl").read_text().splitlines()]
    hybrid = [o for o in outcomes if o["retriever"] == "hybrid"]
    refused = [o["id"] for o in hybrid if o["abstained"] and answerable[o["id"]]]
    assert len(refused) <= 1, f"abstained on answerable {refused}"
    kept_out = [o["id"] for o in hybrid if o["abstained"] and not answerable[o["id"]]]
    assert len(kept_out) >= 2, f"abstained on only {kept_out} of the unanswerable ones"
    right = [o for o in hybrid if answerable[o["id"]] and o["hit"] and o["cited"]]
    assert len(right) >= 0.85 * sum(answerable.values()), [o["id"] for o in hybrid if o not in right]


@pytest.mark.quality
def test_squad_sample_through_the_cli(tmp_path_factory, monkeypatch):
    from qa import cli

    shared_file(SQUAD_HALF)
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


def test_a_missing_shared_file_fails_in_ci_and_skips_elsewhere(tmp_path, monkeypatch):
    missing = tmp_path / "shared" / "eval" / "nothing.jsonl"
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="nothing.jsonl is missing.*CI must provide it"):
        shared_file(missing)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="needs ../shared"):
        shared_file(missing)
    assert shared_file(SEED_QUESTIONS) == SEED_QUESTIONS
