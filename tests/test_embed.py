"""Encoder: ONNX Runtime gives PyTorch's vectors, exports once into the cache, and falls back safely."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

import qa.embed
import qa.onnx_graph
import qa.text
from qa.config import Settings
from qa.embed import Encoder

from conftest import EMBEDDINGS, REPO


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


@pytest.mark.model
def test_onnx_and_torch_give_the_same_vectors():
    onnx, torch = Encoder(backend="onnx"), Encoder(backend="torch")
    texts = sample_texts()
    for batch in (texts, texts[:2], texts[-1:]):  # encode() batches, a question's one batch, a long text alone
        a, b = onnx.encode(batch), torch.encode(batch)
        assert a.shape == b.shape == (len(batch), 384)
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert (onnx.backend, torch.backend) == ("onnx", "torch")


@pytest.mark.model
def test_auto_exports_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = Encoder()
    first.encode(["tea"])
    assert first.backend == "onnx"
    # One complete graph, PyTorch's probe vectors beside it, the stamp of their check; no temp file.
    [graph] = (tmp_path / "qa" / "onnx").glob("*.onnx")
    assert sorted(p.name for p in graph.parent.iterdir()) == sorted(
        graph.with_suffix(suffix).name for suffix in (".onnx", ".probe.npy", ".checked.json"))
    made = graph.stat().st_mtime_ns
    second = Encoder()
    second.encode(["tea"])
    assert second.backend == "onnx" and graph.stat().st_mtime_ns == made


@pytest.fixture
def unchecked_cache(tmp_path, monkeypatch):
    """A cache holding the exported graph and its probe vectors, but no stamp of a check:
    the next light load runs the probe against them."""
    Encoder().encode(["tea"])  # make sure the user's cache has them
    graph = qa.onnx_graph.onnx_graph_path(qa.embed.model_path(qa.embed.BUNDLED_MODEL))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    target = qa.onnx_graph.onnx_graph_path(qa.embed.model_path(qa.embed.BUNDLED_MODEL))
    target.parent.mkdir(parents=True)
    for suffix in (".onnx", ".probe.npy"):
        shutil.copy(graph.with_suffix(suffix), target.with_suffix(suffix))
    return target


@pytest.mark.model
def test_the_light_path_gives_pytorchs_vectors_without_importing_torch(unchecked_cache):
    texts = sample_texts()
    light = Encoder()
    light.encode(["tea"])
    assert isinstance(light._model, qa.onnx_graph.OnnxModel) and unchecked_cache.with_suffix(".checked.json").exists()
    np.testing.assert_allclose(light.encode(texts), Encoder(backend="torch").encode(texts), atol=1e-5)
    # A whole `qa ask` in a fresh process: the question is encoded and answered, torch never imported.
    script = ("import sys; from qa.cli import main; code = main(['ask', 'Which SNS ranks first among Japanese users?',"
              f" '--index', {str(EMBEDDINGS)!r}]);"
              "heavy = sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules);"
              "print('HEAVY', heavy); sys.exit(code)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert "Facebook ranks first" in out and "HEAVY []" in out


@pytest.mark.model
def test_a_failing_export_falls_back_to_torch_with_one_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # nothing exported yet
    def broken(first, path):
        raise RuntimeError("no exporter here")

    monkeypatch.setattr(qa.onnx_graph, "_exported", broken)
    with caplog.at_level(logging.WARNING, logger="qa"):
        encoder = Encoder()
        vectors = encoder.encode(["tea", "green tea"])
    assert encoder.backend == "torch" and vectors.shape == (2, 384)
    assert [r.getMessage() for r in caplog.records] == [
        "running the model with PyTorch (slower): ONNX Runtime unusable here: no exporter here"]
    with pytest.raises(ValueError, match="no exporter here"):
        Encoder(backend="onnx").encode(["tea"])


@pytest.mark.model
@pytest.mark.parametrize("fault, message", [("skew", "differ from PyTorch's"), ("crash", "graph crashed")])
def test_an_export_that_misbehaves_is_not_used(unchecked_cache, monkeypatch, caplog, fault, message):
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


def test_auto_documents_stay_fp32_when_the_model_runs_in_pytorch():
    encoder = Encoder(backend="torch")
    assert encoder.documents("auto") is encoder  # int8 runs on ONNX Runtime only
    with pytest.raises(ValueError, match="document_precision must be one of auto, fp32, int8"):
        Settings(document_precision="int4")


@pytest.mark.model
def test_int8_documents_quantize_weights_only_and_stay_close_to_fp32(unchecked_cache, monkeypatch):
    import onnx

    texts = sample_texts()
    fp32 = Encoder()
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # as in a plain process: pytest's own handler would hide it
    before = (root.level, list(root.handlers))
    int8 = fp32.documents("auto")
    assert int8.precision == "int8" and fp32.documents("int8") is int8
    # The quantizer's logging.basicConfig is undone: a handler left at the root printed
    # bm25s's debug lines on every later build of the process.
    assert (root.level, list(root.handlers)) == before
    cosines = (int8.encode(texts) * fp32.encode(texts)).sum(axis=1)
    # The seeds' passages (the first 40 texts); quantizing the attention products of two
    # activations too gave a minimum of 0.93 on SQuAD paragraphs. One-token oddities move more.
    assert cosines[:40].min() > 0.985 and cosines.min() > 0.95, cosines
    # One vector per text, whatever it is batched with (activations are quantized per run).
    alone = np.stack([int8.encode([t])[0] for t in texts[:6]])
    np.testing.assert_allclose(int8.encode(texts[:6]), alone, atol=1e-6)
    ops = [n.op_type for n in onnx.load(str(unchecked_cache.with_suffix(".int8w.onnx"))).graph.node]
    assert ops.count("MatMulInteger") == 36 and ops.count("MatMul") == 12  # 6 layers x (6 weights, 2 products)


def test_an_int8_model_runs_texts_side_by_side_with_the_vectors_of_one_session(monkeypatch):
    Encoder().documents("int8").encode(["tea"])  # the quantized graph is in the cache
    path = qa.embed.model_path(qa.embed.BUNDLED_MODEL)
    monkeypatch.setattr(qa.onnx_graph, "cores", lambda: 3)
    lanes = qa.onnx_graph.OnnxModel.cached(path, precision="int8")
    assert len(lanes.sessions) == 3
    assert all(s.get_session_options().intra_op_num_threads == 1 for s in lanes.sessions)
    texts = [qa.text.replace_undecodable(t) for t in sample_texts()]  # as Encoder.encode hands them on
    side_by_side = lanes.encode(texts, progress=True)
    lanes.sessions = lanes.sessions[:1]  # every text on one session, one after the other
    alone = lanes.encode(texts)
    np.testing.assert_array_equal(side_by_side, alone)
    assert {t.name for t in threading.enumerate()} >= {"qa-onnx_0", "qa-onnx_1"}
    two = lanes.encode(texts[:2])  # a question and its focus
    np.testing.assert_array_equal(two, alone[:2])


def test_every_onnx_session_sleeps_between_runs():
    """The encoders', the reader's and the trees' sessions: a pool that spins after a run holds the
    cores the next stage wants (docs/design.md)."""
    from qa.answer.decide import MODEL_DIR, load

    encoder = Encoder()
    encoder.encode(["tea"])
    decision = load(MODEL_DIR)
    decision.reader.logits("tea?", ["Tea is green."])
    decision.trees.margin(np.zeros((1, len(decision.manifest["features"]))))
    sessions = [*encoder._load().sessions, *encoder.documents("int8")._load().sessions,
                decision.reader._session, decision.trees._session]
    for session in sessions:
        assert session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert decision.trees._session.get_session_options().intra_op_num_threads == 1
