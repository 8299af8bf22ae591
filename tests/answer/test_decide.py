"""Decide: the shipped model matches its manifest, the tree reader matches LightGBM, training runs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from qa.answer.decide import MANIFEST_FILE, MODEL_DIR, MODEL_FILE, READER_FILE, Trees, digest, load
from qa.answer.features import FEATURES
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
    (folder / MANIFEST_FILE).unlink()
    with pytest.raises(ValueError, match="run `qa train`"):
        load(folder)
