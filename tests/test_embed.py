"""Encoder: ONNX Runtime gives PyTorch's vectors, exports once into the cache, and falls back safely."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

import qa.embed
from qa.config import Settings
from qa.embed import Encoder

from conftest import EMBEDDINGS


def test_unknown_backends_are_refused():
    with pytest.raises(ValueError, match="backend"):
        Encoder(backend="tensorflow")
    with pytest.raises(ValueError, match="backend"):
        Settings(backend="tensorflow")


# Slow: the real model.

def sample_texts() -> list[str]:
    passages = [" ".join(json.loads(line)["texts"]) for line in (EMBEDDINGS / "passages.jsonl").open(encoding="utf-8")]
    odd = ["x", "🍵", "京都には茶屋がいくつありますか？", "What is matcha? \udcff", "tea " * 400]
    return passages[:40] + odd


@pytest.mark.slow
def test_onnx_and_torch_give_the_same_vectors():
    onnx, torch = Encoder(backend="onnx"), Encoder(backend="torch")
    texts = sample_texts()
    for batch in (texts, texts[:2], texts[-1:]):  # encode() batches, a question's one batch, a long text alone
        a, b = onnx.encode(batch), torch.encode(batch)
        assert a.shape == b.shape == (len(batch), 384)
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert (onnx.backend, torch.backend) == ("onnx", "torch")


@pytest.mark.slow
def test_auto_exports_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = Encoder()
    first.encode(["tea"])
    assert first.backend == "onnx"
    [graph] = (tmp_path / "qa" / "onnx").iterdir()  # one complete file, no temp file left
    assert graph.suffix == ".onnx"
    made = graph.stat().st_mtime_ns
    second = Encoder()
    second.encode(["tea"])
    assert second.backend == "onnx" and graph.stat().st_mtime_ns == made


@pytest.mark.slow
def test_a_failing_export_falls_back_to_torch_with_one_warning(monkeypatch, caplog):
    def broken(first, path):
        raise RuntimeError("no exporter here")

    monkeypatch.setattr(qa.embed, "_exported", broken)
    with caplog.at_level(logging.WARNING, logger="qa"):
        encoder = Encoder()
        vectors = encoder.encode(["tea", "green tea"])
    assert encoder.backend == "torch" and vectors.shape == (2, 384)
    assert [r.getMessage() for r in caplog.records] == [
        "running the model with PyTorch (slower): ONNX Runtime unusable here: no exporter here"]
    with pytest.raises(ValueError, match="no exporter here"):
        Encoder(backend="onnx").encode(["tea"])


@pytest.mark.slow
@pytest.mark.parametrize("fault, message", [("skew", "differ from PyTorch's"), ("crash", "graph crashed")])
def test_an_export_that_misbehaves_is_not_used(monkeypatch, caplog, fault, message):
    import onnxruntime

    class Faulty(onnxruntime.InferenceSession):  # a graph that computes something else, or fails
        def run(self, *args, **kwargs):
            if fault == "crash":
                raise RuntimeError("graph crashed")
            return [out + 1.0 for out in super().run(*args, **kwargs)]

    monkeypatch.setattr(onnxruntime, "InferenceSession", Faulty)
    with caplog.at_level(logging.WARNING, logger="qa"):
        encoder = Encoder()
        vectors = encoder.encode(["tea", "green tea"])
    assert encoder.backend == "torch" and message in caplog.text
    np.testing.assert_allclose(vectors, Encoder(backend="torch").encode(["tea", "green tea"]), atol=1e-6)
