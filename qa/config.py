"""Settings: every tunable of the pipeline in one dataclass with its default."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

__version__ = "0.1.0"  # written into every manifest; qa/__init__.py re-exports it

BUNDLED_MODEL = "all-MiniLM-L6-v2"
BACKENDS = ("auto", "onnx", "torch")  # how the model runs; "auto" is ONNX Runtime when it works
PRECISIONS = ("fp32", "int8")  # of the encoder's weights
# Of the weights a build embeds documents with: "auto" is int8 when the model runs quantized in
# ONNX Runtime (a plain transformer with mean pooling, backend not "torch"), else fp32.
DOCUMENT_PRECISIONS = ("auto", *PRECISIONS)
PASSAGE_VECTORS = ("encoded", "sentence-mean")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INDEX_DIR = PROJECT_ROOT / "embeddings"
DEFAULT_DOCS_DIR = PROJECT_ROOT / "seeds"


@dataclass(frozen=True)
class Settings:
    """Pipeline settings. Build-time ones are stored in the index manifest."""

    # Build time: changing these needs `qa build`.
    model: str = BUNDLED_MODEL  # the bundled model, or a path to a local sentence-transformers model
    passage_words: int = 120  # soft upper bound on words per passage
    max_file_mb: float = 20.0  # larger files are skipped with a warning (embedding 20 MB takes minutes)
    # The encoder's weights for documents: "int8" (weight matrices quantized: twice the speed,
    # SQuAD-half R@1 0.894 -> 0.892, docs/scaling.md), "fp32", or "auto" (int8 when the model can
    # run quantized). Questions are always encoded in fp32. The manifest records the one used.
    document_precision: str = "auto"
    # A passage's vector: "encoded" (the model reads the passage) or "sentence-mean" (the
    # word-weighted mean of its sentences' vectors: every text is embedded once).
    passage_vectors: str = "encoded"

    # Dense search: exact up to this many passages (a flat scan of 200,000 vectors takes ~15 ms
    # here, a third of a question's budget); above, an inverted file of 8-bit vectors.
    approximate_above: int = 200_000
    ivf_lists: int = 0  # inverted lists; 0: about 4 * sqrt(passages), a power of two (4,096 at a million)

    # Query time.
    # Inverted lists scanned a question (approximate indexes only): recall@20 against exact 0.992
    # at 32 of 1,024 lists, 0.999 at 64, on 200 real questions over 100,000 passages (docs/scaling.md).
    ivf_probe: int = 64
    backend: str = "auto"  # how the model runs: "onnx" (ONNX Runtime), "torch", or "auto" (onnx if it works)
    k: int = 5  # passages returned with an answer
    candidates: int = 100  # per retriever, before fusion
    fusion: str = "convex"  # "convex" (weighted scores) or "rrf" (reciprocal rank fusion)
    dense_weight: float = 0.7  # weight of the cosine in convex fusion; BM25 gets the rest
    rrf_k: int = 60
    sentence_weight: float = 0.7  # share of the best sentence's cosine in a passage's dense score
    answer_passages: int = 5  # passages whose sentences compete for the answer
    context_weight: float = 0.3  # share of the sentence before in each sentence's vector (qa.answer.rank.in_context)
    max_sentences: int = 3  # per reply; "why"/list questions get one more
    max_words: int = 80  # a sentence past the second joins only if the reply stays this short
    # A runner-up is quoted beside the best sentence only while its P is at least this share of
    # the best one's (see qa.answer.select).
    runner_up_share: float | None = None  # None: the share fitted with the model (qa train)
    # P under which the reply abstains; None: the threshold fitted with the model (its manifest).
    abstain_below: float | None = None
    decision_model: str = ""  # folder of a model fitted by `qa train`; "": the one shipped in qa/model
    # Re-read the best few sentences with the model's cross-encoder (qa.answer.reader) when it has
    # one: held-out answer-sentence@1 0.774 -> 0.794 (docs/evaluation.md). False: P's order alone.
    reader: bool = True

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}")
        if self.document_precision not in DOCUMENT_PRECISIONS:
            raise ValueError(f"document_precision must be one of {', '.join(DOCUMENT_PRECISIONS)}, "
                             f"not {self.document_precision!r}")
        if self.passage_vectors not in PASSAGE_VECTORS:
            raise ValueError(f"passage_vectors must be one of {', '.join(PASSAGE_VECTORS)}, "
                             f"not {self.passage_vectors!r}")
        if self.fusion not in ("convex", "rrf"):
            raise ValueError(f"fusion must be 'convex' or 'rrf', not {self.fusion!r}")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ValueError("dense_weight must be between 0 and 1")
        if self.k < 1 or self.candidates < 1:
            raise ValueError("k and candidates must be at least 1")

    def build_part(self) -> dict:
        """The settings an index is built with; a mismatch makes the index stale."""
        return {"model": self.model, "passage_words": self.passage_words,
                "document_precision": self.document_precision, "passage_vectors": self.passage_vectors}

    def with_(self, **changes) -> Settings:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict:
        return asdict(self)


def default_settings() -> Settings:
    """Settings with the environment overrides users need: ``QA_MODEL``, ``QA_BACKEND`` and
    ``QA_DOCUMENT_PRECISION``."""
    return Settings().with_(model=os.environ.get("QA_MODEL") or None, backend=os.environ.get("QA_BACKEND") or None,
                            document_precision=os.environ.get("QA_DOCUMENT_PRECISION") or None)


def cache_root() -> Path:
    """Where qa keeps what it can rebuild (ONNX graphs, SQuAD corpora): $XDG_CACHE_HOME/qa."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qa"
