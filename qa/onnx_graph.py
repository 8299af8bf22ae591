"""ONNX graph: the model's transformer exported once into the cache, checked against PyTorch,
quantized to int8, and run by ONNX Runtime without importing torch."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np

from qa.config import cache_root
from qa.swap import replace_file

log = logging.getLogger("qa")

# Texts of every length the model sees, from one word to past its 256-token window:
# the ONNX graph must give PyTorch's vectors on all of them before it is trusted.
PROBE = ["tea", "Which SNS ranks first among Japanese users?",
          "Kettles from Morioka keep water hot for an hour. " * 4, "A long passage about green tea. " * 60]


class OnnxModel:
    """The exported transformer run by ONNX Runtime, tokenized by ``tokenizers`` and mean-pooled
    here: sentence-transformers' vectors without importing torch (5 s of a cold ``qa ask``)."""

    def __init__(self, graph: Path, path: Path, max_length: int, *, quantized: bool = False):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=max_length)
        tokenizer.no_padding()  # each batch is padded here, to its own longest text
        self.tokenizer = tokenizer
        # An int8 graph quantizes its activations with one scale per run: a text's vector would
        # depend on the texts batched with it (up to 0.02 a component), so it runs text by text.
        # Then a text gets one vector, whether the build is new, incremental or on Ray. One text
        # barely keeps a second thread busy inside a run, so such a model has one single-threaded
        # session per core and runs that many texts at once: a question and its focus in 7.1 ms
        # instead of 10.4 one after the other on two threads. The vectors are the same to the bit
        # (1,501 SQuAD sentences and questions, one thread against two; and tests/test_embed.py).
        self.one_by_one = quantized
        self.sessions = [inference_session(graph, threads=1 if quantized else 0)
                         for _ in range(cores() if quantized else 1)]
        self._pool = None  # threads for the sessions after the first, started on first need
        self.graph = graph
        self.names = [i.name for i in self.sessions[0].get_inputs()]
        self.dim = 0

    @classmethod
    def cached(cls, path: Path, *, precision: str = "fp32") -> OnnxModel | None:
        """The light model when the cache holds this model's checked graph and the model is plain
        (transformer, mean pooling, normalising); ``None`` sends the caller to sentence-transformers.
        ``precision="int8"`` quantizes the checked graph on first use."""
        fp32 = onnx_graph_path(path)
        reference = fp32.with_suffix(".probe.npy")
        max_length = _plain_max_length(path)
        if max_length is None or not fp32.exists() or not reference.exists():
            return None
        graph = fp32 if precision == "fp32" else fp32.with_suffix(".int8w.onnx")  # weights only (see quantized)
        # The probe costs a quarter of a cold question (a 256-token batch): it runs once per
        # combination of graph, runtime and tokenizer versions, and a stamp file remembers it.
        stamp = graph.with_suffix(".checked.json")
        versions = {name: package_version(name) for name in ("onnxruntime", "tokenizers", "numpy")}
        try:
            if not graph.exists():
                quantized(fp32, graph)
            versions["graph"] = graph.stat().st_mtime_ns
            model = cls(graph, path, max_length, quantized=precision == "int8")
            expected = np.load(reference, allow_pickle=False)
            model.dim = int(expected.shape[1])
            if _read_json(stamp) != versions:
                got = model.encode(PROBE)
                # int8 weights move a vector by about a hundredth of cosine (0.989-0.996 for the
                # probe's texts, 0.994 on average on SQuAD's); a broken graph gives unrelated vectors.
                close = (np.allclose(got, expected, atol=1e-4) if precision == "fp32"
                         else float((got * expected).sum(axis=1).min()) > 0.95)
                if got.shape != expected.shape or not close:
                    raise ValueError("its vectors differ from the ones checked at export")
                replace_file(stamp, lambda tmp: tmp.write_text(json.dumps(versions)))
        except Exception as exc:  # the sentence-transformers path then re-checks (and re-exports) it
            log.debug("light ONNX path unusable: %s", exc)
            stamp.unlink(missing_ok=True)
            return None
        return model

    def encode(self, texts: list[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        # A question's few texts one by one: encode_batch's thread pool costs ~0.7 ms a call, 15x the work.
        batch_size = 1 if self.one_by_one else batch_size
        tokenizer = self.tokenizer
        encodings = tokenizer.encode_batch(texts) if len(texts) > 8 else [tokenizer.encode(t) for t in texts]
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(-lengths, kind="stable")  # similar lengths share a batch: little padding
        batches = [order[start:start + batch_size] for start in range(0, len(texts), batch_size)]
        rows = []  # (picked, vectors) from every lane
        counting = threading.Lock()
        from tqdm import tqdm

        with tqdm(total=len(texts), desc="embedding", unit="text", disable=not progress) as bar:
            def run(session, mine: list[np.ndarray]) -> None:
                for picked in mine:
                    rows.append((picked, self._pooled(session, [encodings[i] for i in picked])))
                    with counting:
                        bar.update(len(picked))

            lanes = min(len(self.sessions), len(batches))
            if lanes > 1:
                # Batches dealt in turn from longest to shortest: each lane gets as many tokens.
                others = [self._threads().submit(run, self.sessions[k], batches[k::lanes]) for k in range(1, lanes)]
                run(self.sessions[0], batches[0::lanes])
                for done in others:
                    done.result()
            else:
                run(self.sessions[0], batches)
        out = np.zeros((len(texts), rows[0][1].shape[1]), dtype=np.float32)
        for picked, pooled in rows:
            out[picked] = pooled
        return out

    def _threads(self):
        """The threads that run the sessions after the first (made again in a forked process,
        which inherits the pool but not its threads)."""
        if self._pool is None or self._pool[0] != os.getpid():
            from concurrent.futures import ThreadPoolExecutor

            self._pool = (os.getpid(), ThreadPoolExecutor(len(self.sessions) - 1, thread_name_prefix="qa-onnx"))
        return self._pool[1]

    def _pooled(self, session, encodings: list) -> np.ndarray:
        """The unit mean-pooled vectors of one batch of tokenized texts, padded to its longest."""
        feed = padded_feed(encodings)
        hidden = session.run(None, {n: feed[n] for n in self.names})[0]
        m = feed["attention_mask"][:, :, None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled


def inference_session(graph: Path | bytes, *, threads: int = 0):
    """An ONNX Runtime session on the CPU as ``qa`` runs every graph: quiet, with ``threads``
    intra-op threads (0: ONNX Runtime's choice, one a core) that sleep between runs. By default
    they spin for a while after each run, holding the cores that whatever runs next (another
    stage of ``ask()``, the next question's encode) then waits for: a question after the reader
    had read one took 17.0 ms against 20.6 (medians of four alternating pairs of runs, back to
    back); batches of 32 passages embed as fast either way."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(graph if isinstance(graph, bytes) else str(graph), options,
                                        providers=["CPUExecutionProvider"])


def padded_feed(encodings: list) -> dict[str, np.ndarray]:
    """A BERT graph's three inputs for ``tokenizers`` encodings (unpadded), each row padded with
    zeros to the longest: the mask is 1 over a row's own tokens, 0 over its padding."""
    width = max(len(e.ids) for e in encodings)
    feed = {name: np.zeros((len(encodings), width), dtype=np.int64)
            for name in ("input_ids", "attention_mask", "token_type_ids")}
    for row, e in enumerate(encodings):
        feed["input_ids"][row, :len(e.ids)] = e.ids
        feed["attention_mask"][row, :len(e.ids)] = e.attention_mask
        feed["token_type_ids"][row, :len(e.ids)] = e.type_ids
    return feed


def cores() -> int:
    """The cores this process may run on, at most four: a question has two texts, and each
    session holds its own copy of the graph's weights (about 60 MB)."""
    try:
        return max(1, min(4, len(os.sched_getaffinity(0))))
    except AttributeError:  # not Linux
        return max(1, min(4, os.cpu_count() or 1))


def quantized(fp32: Path, target: Path, *, weights_only: bool = True) -> None:
    """``fp32``'s graph with its weight matrices in int8, one scale per channel: twice the
    encoder's speed on this CPU. Only products with a stored weight are quantized; the attention
    products of two activations stay fp32 (quantizing them too is no faster here and moves a
    vector four times as far: mean cosine to fp32 0.955 instead of 0.994 on SQuAD text).
    ``weights_only=False`` quantizes every op ONNX Runtime can, the embedding tables too: a
    quarter of the file (the reader's, ``qa.training.reader``), where only an order is read off."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(fp32), load_external_data=False)
    weights = {t.name for t in graph.graph.initializer}
    nodes = [n.name for n in graph.graph.node if n.op_type == "MatMul" and n.input[1] in weights]
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    root.setLevel(max(level, logging.ERROR))  # its pre-processing advice, logged at the root: not for users
    try:
        which = {"op_types_to_quantize": ["MatMul"], "nodes_to_quantize": nodes} if weights_only else {}
        replace_file(target, lambda tmp: quantize_dynamic(str(fp32), str(tmp), per_channel=True,
                                                          weight_type=QuantType.QInt8, **which), suffix=".tmp.onnx")
    finally:
        root.setLevel(level)  # qa's own warnings go through the root's level too
        # It also calls logging.basicConfig: left in place, that handler would print every
        # library's debug lines (bm25s logs at DEBUG) for the rest of the process.
        root.handlers[:] = handlers


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _plain_max_length(path: Path) -> int | None:
    """The token window of a plain model (Transformer, mean Pooling, Normalize, a tokenizer.json);
    ``None`` for anything else (a Dense layer, CLS pooling, ...), which sentence-transformers runs."""
    try:
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((path / "modules.json").read_text())]
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
        config = json.loads((path / "sentence_bert_config.json").read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    if modules != ["Transformer", "Pooling", "Normalize"] or modes != {"pooling_mode_mean_tokens"}:
        return None
    if not (path / "tokenizer.json").exists() or not isinstance(config.get("max_seq_length"), int):
        return None
    return config["max_seq_length"]


def run_with_onnx(model, path: Path, *, required: bool) -> bool:
    """Swap the model's transformer for an ONNX Runtime session; False keeps PyTorch.

    ONNX Runtime encodes a question in 55–60 % of PyTorch's time on this CPU (docs/design.md;
    batches of long passages: about the same speed) and gives the same
    vectors (to 1e-6), so the index does not care which one built it. The graph is exported
    once per model into the cache; pooling and normalising stay sentence-transformers' own.
    """
    first = model[0]
    try:
        import onnxruntime  # noqa: F401  (without it, nothing is exported: PyTorch stays)

        graph = _exported(first, path)
        session = inference_session(graph)
        names = [i.name for i in session.get_inputs()]
        expected = model.encode(PROBE, normalize_embeddings=True)
        torch_forward = first.forward

        def forward(features: dict, **kwargs) -> dict:
            if kwargs or features.get("modality", "text") != "text":
                return torch_forward(features, **kwargs)
            import torch

            feed = {name: features[name].numpy().astype(np.int64) for name in names}
            features["token_embeddings"] = torch.from_numpy(session.run(None, feed)[0])
            return features

        first.forward = forward
        got = model.encode(PROBE, normalize_embeddings=True)
        if not np.allclose(got, expected, atol=1e-4):
            raise ValueError(f"its vectors differ from PyTorch's by up to {np.abs(got - expected).max():.1e}")
        _save_probe(graph.with_suffix(".probe.npy"), expected)
    except Exception as exc:  # any failure leaves the exact PyTorch path, which always works
        first.__dict__.pop("forward", None)  # the class's own forward again
        if required:
            raise ValueError(f"cannot run {path.name} with ONNX Runtime: {exc}") from exc
        log.warning("running the model with PyTorch (slower): ONNX Runtime unusable here: %s", exc)
        return False
    return True


def onnx_graph_path(path: Path) -> Path:
    """Where the cache keeps the model's exported graph (whether or not it is there yet).

    Keyed by the model files' names, sizes and times, not their bytes: hashing 90 MB of
    weights cost ~0.3 s on every start, and the probe check catches any stale graph anyway.
    The torch and transformers versions come from package metadata: importing them costs seconds.
    """
    digest = hashlib.sha256(f"{package_version('torch')} {package_version('transformers')} {path.resolve()}".encode())
    for file in sorted(path.glob("*.json")) + sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        stat = file.stat()
        digest.update(f"{file.name} {stat.st_size} {stat.st_mtime_ns}".encode())
    return cache_root() / "onnx" / f"{digest.hexdigest()[:16]}.onnx"


def package_version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def _exported(first, path: Path) -> Path:
    """The model's transformer as an ONNX file in the cache, exported on first use."""
    import torch

    graph = onnx_graph_path(path)
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

    def export(tmp: Path) -> None:
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated but needs no extra package; its tracing
            # notes are about shapes, and the graph is checked against PyTorch before use.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Hidden(), tuple(inputs[n] for n in names), str(tmp), input_names=names, output_names=["hidden"],
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "hidden"]}, opset_version=17,
                dynamo=False,
            )

    # Plain attention traces into a graph that holds for any batch and length (SDPA's
    # shape checks would be frozen at the example's shape).
    attention = bert.config._attn_implementation
    bert.config._attn_implementation = "eager"
    try:
        replace_file(graph, export)  # complete or absent: a killed export leaves no half file behind
    finally:
        bert.config._attn_implementation = attention
    return graph


def _save_probe(target: Path, vectors: np.ndarray) -> None:
    """PyTorch's vectors of the probe texts beside the graph: later processes check the light
    path against them without loading PyTorch."""
    if target.exists():
        return
    replace_file(target, lambda tmp: np.save(tmp, np.asarray(vectors, dtype=np.float32), allow_pickle=False),
                 suffix=".tmp.npy")
