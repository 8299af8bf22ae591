"""Read: a cross-encoder reads the question beside each of the few best sentences and re-orders them.

The trees' P (``qa.answer.decide``) weighs overlap and similarity, which often leaves the
sentence with the fact just behind a neighbour that repeats the question's words. The reader,
MiniLM-L6 fine-tuned by ``qa train`` (``qa.training.reader``) on SQuAD and run here by ONNX
Runtime with int8 weights, reads question and sentence together. The ``top`` first in the
reply's order (its key: logit(P), plus the ranker's say when the decision has one, see
``qa.answer.decide``) are re-ordered by key + ``weight`` × the reader's logit; P itself, the
reply's confidence and whether it abstains, is the trees' alone. When the first key stands more
than ``margin`` above the runner-up's, the reader never overturned it on held-out articles, so
it is not run: most questions cost nothing extra. Weight and margin are fitted on held-out articles.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np

from qa.onnx_graph import inference_session, padded_feed

MAX_TOKENS = 128  # question and sentence together; a longer sentence is cut (the question never is)


class Reader:
    """The fine-tuned cross-encoder's int8 graph and the bundled model's tokenizer; loads on first use."""

    def __init__(self, graph: Path, tokenizer: Path, *, top: int, weight: float, margin: float):
        self.graph, self.tokenizer_file = Path(graph), Path(tokenizer)
        self.top, self.weight, self.margin = int(top), float(weight), float(margin)
        self._session = self._tokenizer = None
        self._lock = threading.Lock()  # fast tokenizers are not re-entrant; loading takes it too

    def _load(self):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.tokenizer_file))
        tokenizer.no_padding()  # padded here, to the longest pair
        tokenizer.enable_truncation(max_length=MAX_TOKENS, strategy="only_second")
        self._session = inference_session(self.graph)
        self._tokenizer = tokenizer

    def logits(self, question: str, texts: list[str]) -> np.ndarray:
        """How strongly the reader takes each text to answer ``question`` (a logit each)."""
        with self._lock:
            if self._session is None:
                self._load()
            encodings = [self._tokenizer.encode(question, text) for text in texts]
        feed = padded_feed(encodings)
        return np.asarray(self._session.run(None, feed)[0], np.float64).reshape(len(texts))

    def reorder(self, question: str, ranked: list, reading: np.ndarray | None = None) -> list:
        """``ranked`` (in the reply's order) with its ``top`` re-ordered by their keys and the reader
        together, each of them carrying its ``reading``; unchanged when the first key leads by more
        than ``margin``. ``reading``: the top's logits when they were read already (by the gate)."""
        head = ranked[: self.top]
        keys = order_keys(head)
        if settled(keys, self.margin):
            return ranked
        reading = self.logits(question, [c.text for c in head]) if reading is None else reading
        score = combined(keys, reading, self.weight)
        order = sorted(range(len(head)), key=lambda i: (-score[i], i))
        head = [replace(head[i], reading=float(reading[i])) for i in order]
        return [*head, *ranked[self.top:]]


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def order_keys(cands: list) -> np.ndarray:
    """Each candidate's key in the reply's order: its ``key``, or logit(P) when it has none."""
    return np.array([logit(c.score) if c.key is None else c.key for c in cands], np.float64)


def settled(keys: np.ndarray, margin: float) -> bool:
    """Whether the first of ``keys`` (best first) stands alone or leads the runner-up by more than
    ``margin``: then there is nothing for the reader to re-order."""
    return len(keys) < 2 or keys[0] - keys[1] > margin


def combined(keys: np.ndarray, reading: np.ndarray, weight: float) -> np.ndarray:
    """The order the re-read sentences take: key + ``weight`` x the reader's logit."""
    return np.asarray(keys, np.float64) + weight * np.asarray(reading, np.float64)
