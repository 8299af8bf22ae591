"""Decide: the shipped model matches its manifest, the tree reader matches LightGBM, training runs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from qa import cli
from qa.decide import MANIFEST_FILE, MODEL_DIR, MODEL_FILE, Trees, digest, load
from qa.features import FEATURES
from qa.train import SHARED_DATA


def test_the_tree_reader_gives_lightgbms_probabilities():
    lightgbm = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 6))
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0.3).astype(int)
    booster = lightgbm.train({"objective": "binary", "num_leaves": 7, "verbose": -1, "deterministic": True,
                              "num_threads": 1}, lightgbm.Dataset(x, y), 40)
    trees = Trees.from_lightgbm(booster.dump_model())
    probe = rng.normal(size=(500, 6))
    assert np.allclose(trees.predict(probe), booster.predict(probe), atol=1e-9)
    assert np.allclose(Trees.from_dict(json.loads(json.dumps(trees.to_dict()))).predict(probe), trees.predict(probe))


def test_the_shipped_model_matches_its_manifest():
    manifest = json.loads((MODEL_DIR / MANIFEST_FILE).read_text())
    assert digest(MODEL_DIR / MODEL_FILE) == manifest["sha256"]
    assert tuple(manifest["features"]) == FEATURES
    assert (MODEL_DIR / MODEL_FILE).stat().st_size <= 25 * 2**20
    assert manifest["rebuild"].startswith("qa train") and manifest["articles_per_file"] is None
    assert 0.0 < manifest["threshold"] < 1.0
    assert manifest["split"].endswith("by article")
    for entry in manifest["data"]:  # fitted on the shared SQuAD files as they are
        path = SHARED_DATA / entry["file"]
        if path.exists():
            assert digest(path) == entry["sha256"], f"{path} changed since the model was fitted: run `qa train`"
    held = manifest["heldout"]
    assert held["learned"]["sentence@1"] >= held["baseline"]["sentence@1"]
    assert held["learned"]["auroc_unanswerable"] >= held["baseline"]["auroc_unanswerable"]
    decision = load()
    assert decision.threshold == manifest["threshold"] and decision.vetoes == tuple(manifest["vetoes"])


def test_an_altered_model_is_refused_with_the_fix(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(MODEL_DIR, folder)
    with (folder / MODEL_FILE).open("a") as f:
        f.write(" ")
    with pytest.raises(ValueError, match="does not match its manifest.*run `qa train`"):
        load(folder)
    (folder / MANIFEST_FILE).unlink()
    with pytest.raises(ValueError, match="run `qa train`"):
        load(folder)


@pytest.mark.slow
def test_training_runs_on_a_small_sample(tmp_path, capsys):
    if not all((SHARED_DATA / f).exists() for f in ("squad-v2.0-dev-half.json", "squad-v1.1-dev-train16.json")):
        pytest.skip(f"the SQuAD files are not in {SHARED_DATA}")
    out = tmp_path / "model"
    assert cli.main(["train", "--articles", "1", "--rounds", "20", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| sentence@1 |" in printed and "threshold" in printed
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["articles_per_file"] == 1 and manifest["rounds"] == 20
    assert manifest["examples"]["positives"] > 0
    assert {"answerable", "unanswerable", "out_of_corpus", "near_miss"} <= set(manifest["heldout"]["questions"])
    decision = load(out)
    p = decision.scores(None, [], np.zeros((3, len(FEATURES)), dtype=np.float32))
    assert p.shape == (3,) and np.all((p > 0) & (p < 1))


def test_the_runner_up_share_stops_where_extra_sentences_stop_paying():
    from qa.train import choose_runner_up

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
    from qa.train import ANSWERABLE_PER_NEGATIVE, TARGET_PRECISION, choose_threshold

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
