"""Training: qa train runs end to end on a small sample; the threshold and runner-up rules pick what they say."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa import cli
from qa.answer.decide import GATE_FILE, MANIFEST_FILE, digest, load
from qa.answer.features import FEATURES
from qa.training.examples import USER_WORDED
from qa.training.reader import judge, load_readings
from qa.training.train import SHARED_DATA

from conftest import shared_file


@pytest.mark.model
def test_training_runs_on_a_small_sample(tmp_path, capsys):
    for name in ("squad-v2.0-dev-half.json", "squad-v1.1-dev-train16.json"):
        shared_file(SHARED_DATA / name)
    out = tmp_path / "model"
    assert cli.main(["train", "--articles", "1", "--rounds", "20", "--reader-steps", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| sentence@1 |" in printed and "threshold" in printed
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["articles_per_file"] == 1 and manifest["rounds"] == 20
    assert manifest["environment"]["packages"]["lightgbm"]  # which libraries fitted it
    assert manifest["examples"]["positives"] > 0
    assert {"answerable", "unanswerable", "out_of_corpus", "near_miss"} <= set(manifest["heldout"]["questions"])
    # The user-worded questions of the two articles and their near misses: judged held out, never fitted on.
    user = manifest["user_worded"]
    assert user["file"] == "user_worded.jsonl" and user["sha256"] == digest(USER_WORDED) and not user["fitted"]
    assert user["heldout"]["questions"]["answerable"] == 96 and user["heldout"]["questions"]["unanswerable"] == 32
    assert 0 < user["heldout"]["questions"]["near_miss"] <= 96
    assert 0 < user["heldout"]["learned"]["answered_answerable"] <= 1
    assert manifest["examples"]["questions"] == sum(manifest["heldout"]["questions"].values())  # none fitted
    assert "their near misses (qa/training/user_worded.jsonl; never fitted on)" in printed
    assert "reader: answer-sentence@1 held out" in printed and "ranker: answer-sentence@1 held out" in printed
    assert set(manifest.get("ranker", {"weight": 0.0})) >= {"weight"}  # a ranker only when it earns a weight
    reader = manifest["reader"]
    assert reader["training"]["steps"] == 2 and reader["heldout"]["questions"] > 0
    examples, readings, fold = load_readings(out / reader["readings"])  # weight and margin can be chosen again
    assert len(examples) == reader["heldout"]["questions"] and set(fold) <= set(range(4))
    assert judge(examples, readings, fold)["weight"] == reader["weight"]
    written = (out / MANIFEST_FILE).read_text()
    assert cli.main(["train", "--rechoose-reader", "--out", str(out)]) == 0  # no training: the same choice
    assert (out / MANIFEST_FILE).read_text() == written
    # Measured again without the reader: the trees come out the same, and so does the table.
    assert cli.main(["train", "--rejudge", "--out", str(out)]) == 0
    assert json.loads((out / MANIFEST_FILE).read_text())["heldout"] == manifest["heldout"]
    changed = {**manifest, "threshold": manifest["threshold"] + 0.01}
    (out / MANIFEST_FILE).write_text(json.dumps(changed))
    capsys.readouterr()
    assert cli.main(["train", "--rejudge", "--out", str(out)]) != 0  # refused: not the model it measured
    assert "differ from the ones" in capsys.readouterr().err
    assert json.loads((out / MANIFEST_FILE).read_text()) == changed  # and nothing was written
    (out / MANIFEST_FILE).write_text(written)
    # The gate: fitted on every kind of question, the same-topic ones too, read by the fold readers,
    # and judged, but not named in the model without --with-gate; `--gate` fits it again from the
    # readers the run kept and names it.
    assert "| squad answerable (" in printed and "gate: threshold" in printed and "gate: not written" in printed
    assert "gate" not in manifest and not (out / GATE_FILE).exists()
    assert cli.main(["train", "--gate", "--out", str(out)]) == 0
    gated = json.loads((out / MANIFEST_FILE).read_text())
    gate = gated.pop("gate")
    assert gated == {**manifest, "rebuild": manifest["rebuild"] + " --with-gate"}
    assert gate["features"][:2] == ["logit_p", "best_reading"] and gate["sha256"] == digest(out / gate["file"])
    assert gate["heldout"]["gate"]["squad same_topic"]["questions"] > 0
    decision = load(out)
    assert decision.gate is not None and decision.gate.threshold == gate["threshold"]
    assert decision.reader is not None and decision.reader.logits("Who?", ["Ann did.", "It rained."]).shape == (2,)
    p = decision.scores(None, [], np.zeros((3, len(FEATURES)), dtype=np.float32))
    assert p.shape == (3,) and np.all((p > 0) & (p < 1))


@pytest.mark.model
def test_fit_user_worded_fits_the_trees_on_them_and_rejudge_fits_them_the_same(tmp_path, capsys):
    for name in ("squad-v2.0-dev-half.json", "squad-v1.1-dev-train16.json"):
        shared_file(SHARED_DATA / name)
    plain, fitted = tmp_path / "plain", tmp_path / "fitted"
    common = ["train", "--articles", "1", "--rounds", "20", "--reader-steps", "2"]
    assert cli.main([*common, "--out", str(plain)]) == 0
    assert cli.main([*common, "--fit-user-worded", "--with-gate", "--out", str(fitted)]) == 0
    assert "their near misses (qa/training/user_worded.jsonl; fitted on with the other folds' articles)" in \
        capsys.readouterr().out
    before, after = (json.loads((m / MANIFEST_FILE).read_text()) for m in (plain, fitted))
    assert after["user_worded"]["fitted"] and after["rebuild"].endswith("--fit-user-worded --with-gate")
    assert "gate" not in before and after["gate"]["sha256"] == digest(fitted / GATE_FILE)
    assert after["sha256"] != before["sha256"]  # other trees
    # The folds and the table's questions are SQuAD's either way, and so are the questions the
    # reader is judged on; it fits on the user-worded answerable ones too (96 here, 1,536 in all).
    assert after["examples"] == before["examples"] and after["split"] == before["split"]
    assert after["heldout"]["questions"] == before["heldout"]["questions"]
    assert "user_worded_questions" not in before["reader"]["training"]
    assert after["reader"]["training"]["user_worded_questions"] == 96
    assert after["reader"]["training"]["pairs"] > before["reader"]["training"]["pairs"]
    assert after["reader"]["heldout"]["questions"] == before["reader"]["heldout"]["questions"]
    written = (fitted / MANIFEST_FILE).read_text()
    assert cli.main(["train", "--rejudge", "--out", str(fitted)]) == 0  # fitted the same way again
    assert json.loads((fitted / MANIFEST_FILE).read_text()) == json.loads(written)
    gate = (fitted / after["gate"]["file"]).read_bytes()  # the fold readers it kept are found again
    assert cli.main(["train", "--gate", "--out", str(fitted)]) == 0
    assert (fitted / after["gate"]["file"]).read_bytes() == gate


def test_joined_adds_the_judged_rows_of_the_fitting_articles_only():
    from qa.training.train import _Judged

    def row(article: str, n: int) -> dict:
        return {"article": article, "features": np.full((n, len(FEATURES)), float(n), np.float32),
                "labels": np.arange(n) == 0}

    judged = _Judged([row("a", 2), row("b", 3), row("a", 1)])
    x, y, q = np.zeros((4, len(FEATURES)), np.float32), np.zeros(4, bool), np.array([0, 0, 1, 1])
    jx, jy, jq = judged.joined({"b"}, x, y, q)  # article b held out: only a's questions join
    assert jx.shape == (7, len(FEATURES)) and jq.tolist() == [0, 0, 1, 1, 2, 2, 4]
    assert jx[4:, 0].tolist() == [2.0, 2.0, 1.0] and jy.tolist() == [False] * 4 + [True, False, True]
    assert judged.joined({"a", "b"}, x, y, q)[2] is q  # every judged article held out: the fit as it was


def test_the_runner_up_share_stops_where_extra_sentences_stop_paying():
    from qa.training.judge import choose_runner_up

    # Three answerable questions, three candidates each: the answer is first; second, at 0.4 of
    # the best's P; third, at 0.01 of it (behind a runner-up at 0.5).
    p = np.array([0.9, 0.1, 0.05, 0.5, 0.2, 0.1, 0.8, 0.4, 0.008])
    labels = [np.array([True, False, False]), np.array([False, True, False]), np.array([False, False, True])]
    rows = [{"kind": "answerable", "labels": lab} for lab in labels]
    q = np.repeat(np.arange(3), 3)
    share, curve = choose_runner_up(rows, q, p, threshold=0.3)
    assert curve[0]["share"] == 0.5 and curve[0]["hit"] == round(1 / 3, 4)
    assert share == 0.4  # quoting 0.4-runner-ups finds the second answer; lower shares find nothing more
    assert choose_runner_up(rows, q, p, threshold=0.95) == (0.5, [{"share": s, "hit": 0.0, "sentences": 1.0}
                                                               for s in (0.5, 0.4, 0.3, 0.2, 0.15, 0.1, 0.07,
                                                                         0.05, 0.03, 0.02)])


def test_the_threshold_counts_negatives_at_the_stated_mix():
    from qa.training.judge import ANSWERABLE_PER_NEGATIVE, TARGET_PRECISION, choose_threshold

    assert (ANSWERABLE_PER_NEGATIVE, TARGET_PRECISION) == (2.0, 0.85)
    # 20 answerable questions at P 0.5-0.95 (and one at 0.05), 20 negatives at P 0.01-0.2.
    outcome = ([{"kind": "answerable", "p": 0.5 + i / 40} for i in range(19)] + [{"kind": "answerable", "p": 0.05}]
               + [{"kind": "out_of_corpus", "p": 0.01 * (i + 1)} for i in range(20)])
    # Each negative counts half (20 answerable to 20 negatives, stated 2 to 1). Abstaining up to
    # 0.2 takes the answerable one at 0.05 and all 20 negatives: 10 / 11 = 0.91 right; the next
    # question up is answerable: 10 / 12 = 0.83, under 0.85.
    assert abs(choose_threshold(outcome) - 0.2) < 1e-6
    # Twice as many negatives change nothing: they are weighted back to the stated mix.
    assert abs(choose_threshold([*outcome, *outcome[20:]]) - 0.2) < 1e-6
    assert choose_threshold([{"kind": "answerable", "p": 0.3}]) == 0.0


def test_the_threshold_is_raised_until_it_refuses_the_stated_share_of_out_of_corpus_questions():
    from qa.training.judge import OUT_OF_CORPUS_REFUSED, out_of_corpus_floor

    assert OUT_OF_CORPUS_REFUSED == 0.92
    # 25 out-of-corpus questions at P 0.01-0.25; refusing 0.92 of them is refusing 23.
    ooc = [{"kind": "out_of_corpus", "p": 0.01 * (i + 1), "fired": set()} for i in range(25)]
    answerable = [{"kind": "answerable", "p": 0.9, "fired": set()}]
    assert abs(out_of_corpus_floor(ooc + answerable, 0.1) - 0.23) < 1e-6  # the 23rd P, just above it
    # A threshold that already refuses enough is left alone.
    assert out_of_corpus_floor(ooc + answerable, 0.3) == 0.3
    # Vetoed questions are refused whatever their P: two of the highest vetoed, 21 more to refuse.
    ooc[24]["fired"], ooc[23]["fired"] = {"unmentioned"}, {"unmentioned"}
    assert abs(out_of_corpus_floor(ooc, 0.1, ["unmentioned"]) - 0.21) < 1e-6
    assert abs(out_of_corpus_floor(ooc, 0.1) - 0.23) < 1e-6  # not a veto the model keeps
    assert out_of_corpus_floor(answerable, 0.1) == 0.1  # none to refuse


def test_the_reader_loss_adds_each_questions_ordering_to_the_pairs():
    torch = pytest.importorskip("torch")
    from qa.training.reader import batch_loss

    labels = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0])
    pairs = torch.nn.functional.binary_cross_entropy_with_logits
    # question one: three sentences, the first right; question two: two sentences, neither right
    right_first = torch.tensor([2.0, 0.0, 0.0, 1.0, -1.0])
    right_last = torch.tensor([0.0, 0.0, 2.0, 1.0, -1.0])
    expected = pairs(right_first, labels) + (torch.logsumexp(right_first[:3], 0) - right_first[0])
    assert torch.isclose(batch_loss(right_first, labels, [3, 2]), expected)
    assert batch_loss(right_first, labels, [3, 2]) < batch_loss(right_last, labels, [3, 2])
    # with no question holding both a right and a wrong sentence, only the pairs count
    assert torch.isclose(batch_loss(right_first[3:], labels[3:], [2]), pairs(right_first[3:], labels[3:]))


def test_the_ranker_weight_is_the_one_that_picks_the_answer_sentence_most_often():
    from qa.training.judge import choose_ranker_weight

    # Two answerable questions, two candidates each: P puts the wrong one first both times; the
    # ranker's score prefers the right one by 1.0, against logit gaps of 0.4 and 1.5.
    p = np.array([0.6, 0.5, 0.8, 0.6])  # logits 0.41, 0.0; 1.39, 0.41
    ranked = np.array([0.0, 1.0, 0.0, 1.0])
    rows = [{"kind": "answerable", "labels": np.array([False, True])} for _ in range(2)]
    q = np.repeat(np.arange(2), 2)
    assert choose_ranker_weight(rows, q, p, ranked, {0, 1}) == 1.0  # both right from 1.0; ties go to the smaller
    assert choose_ranker_weight(rows, q, p, ranked, {0}) == 0.5  # the first alone needs only 0.5
    assert choose_ranker_weight(rows, q, p, -ranked, {0, 1}) == 0.0  # a ranker that misleads gets no say


class _Stopped(Exception):
    pass


def _fake_reader(monkeypatch, fits: list, stop_at: int | None = None):
    """The reader's fit, export and runtime replaced by instant fakes; ``fits`` records each fit's
    training questions; the fit numbered ``stop_at`` raises, as a killed run stops."""
    from qa.training import reader

    def fit(train, base, *, seed, steps):
        if stop_at is not None and len(fits) == stop_at:
            raise _Stopped
        fits.append(len(train))
        return "model", "tokenizer"

    class Runtime:
        def __init__(self, *args, **kwargs):
            pass

        def logits(self, question, texts):
            return np.array([len(question) + i + 0.5 for i in range(len(texts))], np.float32)

    monkeypatch.setattr(reader, "fit", fit)
    monkeypatch.setattr(reader, "export", lambda model, tokenizer, out: out)
    monkeypatch.setattr(reader, "Reader", Runtime)


def test_a_stopped_reader_starts_again_at_the_fold_it_stopped_in(tmp_path, monkeypatch):
    from qa.training.reader import cross_validate, work_folder

    examples = [{"article": f"a{i % 3}", "question": "Who?" * (i + 1), "texts": ["x", "y", "z"][: 1 + i % 3],
                 "labels": np.array([True, False, False][: 1 + i % 3])} for i in range(9)]
    folds = [{"a0"}, {"a1"}, {"a2"}]
    work = work_folder(examples, folds, "m", seed=0, steps=None)
    assert work == work_folder(examples, folds, "m", seed=0, steps=None)  # named by what the folds depend on
    assert work != work_folder(examples, folds, "m", seed=1, steps=None)
    assert work != work_folder(examples[:-1], folds, "m", seed=0, steps=None)
    work = tmp_path / work.name

    whole = []
    _fake_reader(monkeypatch, whole)
    expected = cross_validate(examples, folds, tmp_path, seed=0)  # a run without a stop, nothing kept
    assert whole == [6, 6, 6]

    first = []
    _fake_reader(monkeypatch, first, stop_at=2)
    with pytest.raises(_Stopped):
        cross_validate(examples, folds, tmp_path, seed=0, work=work)
    assert first == [6, 6] and sorted(f.name for f in work.iterdir()) == ["fold0.npz", "fold1.npz"]

    again = []
    _fake_reader(monkeypatch, again)
    readings, fold = cross_validate(examples, folds, tmp_path, seed=0, work=work)
    assert again == [6]  # only the fold the stop fell in is fitted
    assert fold.tolist() == expected[1].tolist()
    assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(readings, expected[0]))


def test_extra_examples_are_fitted_on_by_the_folds_that_hold_their_articles_in_never_read(tmp_path, monkeypatch):
    """``--fit-user-worded``'s reader: each fold also fits on the user-worded examples of the other
    folds' articles, but reads (and so judges, and chooses weight and margin on) SQuAD's alone."""
    from qa.training.reader import cross_validate, work_folder

    examples = [{"article": f"a{i % 2}", "question": "Who?", "texts": ["x"], "labels": np.ones(1, bool)}
                for i in range(4)]
    extra = [{"article": a, "question": "Who, the inventor?", "texts": ["x", "y"], "labels": np.array([True, False])}
             for a in ("a0", "a0", "a0", "a1")]
    folds = [{"a0"}, {"a1"}]
    assert work_folder(examples, folds, "m", seed=0, steps=None, extra=extra) != \
        work_folder(examples, folds, "m", seed=0, steps=None)  # other folds, kept apart
    assert work_folder(examples, folds, "m", seed=0, steps=None, extra=[]) == \
        work_folder(examples, folds, "m", seed=0, steps=None)  # and a run without any finds its folds as before
    fits = []
    _fake_reader(monkeypatch, fits)
    readings, fold = cross_validate(examples, folds, tmp_path, seed=0, extra=extra)
    assert fits == [2 + 1, 2 + 3]  # fold a0 fits on a1's one extra, fold a1 on a0's three
    assert len(readings) == len(examples) and fold.tolist() == [0, 1, 0, 1]


def test_each_folds_reader_is_kept_beside_its_readings(tmp_path, monkeypatch):
    """A fold's int8 graph stays in the work folder, so its held-out articles' other questions can
    be read later without fitting it again; without a work folder nothing is kept."""
    from qa.training import reader

    examples = [{"article": f"a{i % 2}", "question": "Who?", "texts": ["x"], "labels": np.ones(1, bool)}
                for i in range(4)]
    _fake_reader(monkeypatch, [])
    monkeypatch.setattr(reader, "export", lambda model, tokenizer, out: out.write_bytes(b"graph") and out)
    work = tmp_path / "work"
    reader.cross_validate(examples, [{"a0"}, {"a1"}], tmp_path, seed=0, work=work)
    assert sorted(f.name for f in work.iterdir()) == ["fold0.int8.onnx", "fold0.npz", "fold1.int8.onnx", "fold1.npz"]
    assert reader.fold_graph(work, 1).read_bytes() == b"graph"


def test_a_stop_in_the_readers_final_export_leaves_nothing_to_reuse(tmp_path, monkeypatch):
    """The final fit is kept in the work folder only once exported whole: a stop mid-export
    leaves no file that a run started again would take for the model."""
    from qa.training import reader, train

    work = tmp_path / "work"
    examples = [{"article": "a0", "question": "Who?", "texts": ["x"], "keys": np.zeros(1), "labels": np.ones(1, bool)}]
    monkeypatch.setattr(reader, "items", lambda rows, q, keys: examples)
    monkeypatch.setattr(reader, "work_folder", lambda *args, **kw: work)
    monkeypatch.setattr(reader, "cross_validate", lambda *args, **kw: ([np.zeros(1)], np.zeros(1, np.int64)))
    monkeypatch.setattr(reader, "judge", lambda *args: {"weight": 0.5, "margin": 1.0, "heldout": {}})
    fits = []
    monkeypatch.setattr(reader, "fit", lambda *args, **kw: fits.append(1) or ("model", "tokenizer"))

    def stopped(model, tokenizer, out):
        out.write_bytes(b"half a graph")
        raise _Stopped

    out = tmp_path / "out"
    out.mkdir()
    report = {"q": None, "keys": None, "held_out_articles": [{"a0"}], "fit_judged": False}
    monkeypatch.setattr(reader, "export", stopped)
    with pytest.raises(_Stopped):
        train.train_reader([], report, out, seed=0, steps=None)
    assert sorted(f.name for f in work.iterdir()) == []  # the half-written graph is gone

    monkeypatch.setattr(reader, "export", lambda model, tokenizer, path: path.write_bytes(b"graph") and path)
    entry, _ = train.train_reader([], report, out, seed=0, steps=None)
    assert (work / train.READER_FILE).read_bytes() == (out / train.READER_FILE).read_bytes() == b"graph"
    assert entry["weight"] == 0.5 and len(fits) == 2
    train.train_reader([], report, out, seed=0, steps=None)  # started again: the kept fit is read, not refitted
    assert len(fits) == 2


def test_a_model_folder_is_replaced_whole_and_only_on_success(tmp_path):
    from qa.swap import write_atomically
    from qa.training.train import _check_out

    def stopped(staging):
        (staging / MANIFEST_FILE).write_text("new")
        raise _Stopped

    out = tmp_path / "model"
    out.mkdir()
    out.chmod(0o750)
    (out / MANIFEST_FILE).write_text("old")
    with pytest.raises(_Stopped):
        write_atomically(out, stopped)
    assert (out / MANIFEST_FILE).read_text() == "old" and [f.name for f in tmp_path.iterdir()] == ["model"]
    write_atomically(out, lambda staging: (staging / MANIFEST_FILE).write_text("new"))
    assert (out / MANIFEST_FILE).read_text() == "new" and [f.name for f in tmp_path.iterdir()] == ["model"]
    assert out.stat().st_mode & 0o777 == 0o750  # as the folder it replaced
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds other files than a fitted model"):
        _check_out(out)
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="is a file"):
        _check_out(tmp_path / "file")


def test_abstention_recall_is_read_off_a_line_through_the_vetoed_questions_first():
    from qa.training.judge import abstention

    def o(kind, p, vetoed=False):
        return {"kind": kind, "p": p, "fired": {"unmentioned"} if vetoed else set()}

    # Vetoed: nine unanswerable questions and one answerable (P 0.5); under P 0.1, two of each;
    # above it, twenty answerable and nine unanswerable ones with a P higher still.
    outcome = ([o("unanswerable", 0.3 + i / 100, True) for i in range(9)] + [o("answerable", 0.5, True)] +
               [o("unanswerable", 0.01), o("unanswerable", 0.02), o("answerable", 0.05), o("answerable", 0.06)] +
               [o("answerable", 0.9)] * 20 + [o("unanswerable", 0.95)] * 9)
    got = abstention(outcome, "p", 0.1, ["unmentioned"])
    # The decision abstains on the ten vetoed and the four under 0.1: 11 of 14 right, 11 of the 20 found.
    assert got["abstain_precision"] == round(11 / 14, 4) and got["abstain_recall"] == round(11 / 20, 4)
    # The line: the vetoed by P (9 of 10 right), then 0.01 and 0.02 (11 of 12), then 0.05 (11 of 13: under 0.85).
    assert got["abstain_recall_at_p85"] == round(11 / 20, 4)
    # By P alone, the two under 0.05 are right, and the stretch to the vetoed ones' P is not (11 of 13).
    assert abstention(outcome, "p", 0.1, [])["abstain_recall_at_p85"] == round(2 / 20, 4)
