"""Decide: the shipped model matches its manifest, the tree reader matches LightGBM, training runs."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest

from qa.answer.decide import MANIFEST_FILE, MODEL_DIR, MODEL_FILE, RANKER_FILE, READER_FILE, Trees, digest, load
from qa.answer.features import FEATURES
from qa.training.reader import judge, load_readings
from qa.training.train import SHARED_DATA


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
    assert np.array_equal(pickle.loads(pickle.dumps(trees)).margin(probe), trees.margin(probe))  # rebuilt session
    assert trees.margin(probe[:0]).shape == (0,)


def test_a_tree_of_one_leaf_adds_its_value():
    """LightGBM writes a tree without a split when no split gains: its leaf's value goes to every row."""
    trees = Trees(feature=np.array([[0, -1, -1], [-1, -1, -1]], np.int32),  # a split, then a lone leaf
                  threshold=np.array([[0.5, 0, 0], [0, 0, 0]]),
                  left=np.array([[1, 0, 0], [0, 0, 0]], np.int32), right=np.array([[2, 0, 0], [0, 0, 0]], np.int32),
                  value=np.array([[0.0, -1.0, 2.0], [0.25, 0, 0]]), depth=1)
    x = np.array([[0.0], [0.5], [0.7]])
    assert np.array_equal(trees.margin(x), [-0.75, -0.75, 2.25])  # left when at most the threshold


def _split_on(feature: int) -> Trees:
    """One tree: -1 when column ``feature`` is at most 0, +1 above."""
    return Trees(feature=np.array([[feature, -1, -1]], np.int32), threshold=np.zeros((1, 3)),
                 left=np.array([[1, 0, 0]], np.int32), right=np.array([[2, 0, 0]], np.int32),
                 value=np.array([[0.0, -1.0, 1.0]]), depth=1)


def test_the_gate_reads_only_when_the_reading_could_change_its_call():
    """The gate rises with the reading: when it answers at the lowest reading, or refuses at the
    highest, the reader is not run; otherwise its reading decides."""
    from qa.answer.decide import Gate

    first = np.zeros(len(FEATURES))
    calls = []

    def read(value):
        return lambda: calls.append(value) or value

    on_p = Gate(_split_on(0), threshold=0.0, unread=1e6)  # logit(P) alone decides
    assert on_p.answers(0.9, first, read(5.0)) == (True, 1.0) and on_p.answers(0.1, first, read(5.0)) == (False, -1.0)
    assert calls == []
    on_reading = Gate(_split_on(1), threshold=0.0, unread=1e6)
    assert on_reading.answers(0.9, first, read(2.0)) == (True, 1.0)
    assert on_reading.answers(0.9, first, read(-2.0)) == (False, -1.0)
    assert calls == [2.0, -2.0]


def test_the_trees_graph_is_built_once_and_rebuilt_when_its_cache_is_broken(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    model = load()
    x = np.random.default_rng(1).normal(size=(7, len(FEATURES)))
    want = model.trees.margin(x)
    fresh = Trees.from_dict(model.trees.to_dict())  # the same arrays, no session yet
    cached = fresh._cached_graph()
    cached.unlink(missing_ok=True)  # written by ``want`` when the shipped trees had no session yet
    assert cached.parent.parent == tmp_path / "qa"
    assert np.array_equal(fresh.margin(x), want) and cached.read_bytes() == fresh.to_onnx()
    cached.write_bytes(b"not a graph")  # a broken cache: built again, and the cache mended
    again = Trees.from_dict(model.trees.to_dict())
    assert np.array_equal(again.margin(x), want) and cached.read_bytes() == again.to_onnx()


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
    if "reader" in manifest:  # the cross-encoder: checked by its digest, judged on held-out articles too
        entry = manifest["reader"]
        assert digest(MODEL_DIR / entry["file"]) == entry["sha256"] and decision.reader is not None
        assert entry["heldout"]["sentence@1_reread"] > entry["heldout"]["sentence@1_trees"]
        if "readings" in entry:  # the held-out readings its weight and margin were chosen on give them again
            assert digest(MODEL_DIR / entry["readings"]) == entry["readings_sha256"]
            judged = judge(*load_readings(MODEL_DIR / entry["readings"]))
            assert (judged["weight"], judged["margin"]) == (entry["weight"], entry["margin"])
            assert judged["heldout"] == entry["heldout"]
    if "ranker" in manifest:  # the reply's order: checked by its digest, and shipped only with a say that paid
        entry = manifest["ranker"]
        assert digest(MODEL_DIR / entry["file"]) == entry["sha256"] and decision.ranker is not None
        assert decision.ranker_weight == entry["weight"] > 0
        assert entry["heldout"]["sentence@1_keys"] > entry["heldout"]["sentence@1_p"]


def test_an_altered_model_is_refused_with_the_fix(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(MODEL_DIR, folder)
    with (folder / MODEL_FILE).open("a") as f:
        f.write(" ")
    with pytest.raises(ValueError, match="does not match its manifest.*run `qa train`"):
        load(folder)
    if (folder / READER_FILE).exists():  # the reader's file is checked the same way
        shutil.copy(MODEL_DIR / MODEL_FILE, folder / MODEL_FILE)
        load.cache_clear()
        with (folder / READER_FILE).open("ab") as f:
            f.write(b" ")
        with pytest.raises(ValueError, match="does not match its manifest.*run `qa train`"):
            load(folder)
    if (folder / RANKER_FILE).exists():  # and the ranker's
        shutil.copy(MODEL_DIR / READER_FILE, folder / READER_FILE)
        load.cache_clear()
        with (folder / RANKER_FILE).open("a") as f:
            f.write(" ")
        with pytest.raises(ValueError, match="does not match its manifest.*run `qa train`"):
            load(folder)
    (folder / MANIFEST_FILE).unlink()
    with pytest.raises(ValueError, match="run `qa train`"):
        load(folder)


def test_the_reply_follows_the_ranker_where_it_has_a_say_and_p_stays_the_trees():
    from dataclasses import replace as swap

    from qa.answer.reader import logit

    decision = swap(load(), ranker=None, ranker_weight=0.0)
    x = np.zeros((3, len(FEATURES)), dtype=np.float32)
    p = np.array([0.7, 0.5, 0.2])
    assert np.allclose(decision.keys(p, x), logit(p))  # without a ranker: P's order
    one = Trees(feature=np.array([[0, -1, -1]], np.int32), threshold=np.array([[0.5, 0, 0]]),
                left=np.array([[1, 0, 0]], np.int32), right=np.array([[2, 0, 0]], np.int32),
                value=np.array([[0.0, 0.0, 2.0]]), depth=1)  # +2 when feature 0 exceeds 0.5
    x[1, 0] = 1.0
    ranked = swap(decision, ranker=one, ranker_weight=1.0)
    keys = ranked.keys(p, x)
    assert np.allclose(keys, logit(p) + np.array([0.0, 2.0, 0.0])) and int(np.argmax(keys)) == 1
    assert np.allclose(ranked.scores(None, [], x), decision.scores(None, [], x))  # P is the trees' alone
