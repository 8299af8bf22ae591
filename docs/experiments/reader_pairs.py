"""Experiment (not shipped): the reader reading each pair on its own, two at a time, instead of one padded batch.

``Reader.logits`` reads a question's three sentences as one batch, padded to the longest pair,
on ONNX Runtime's two threads. Its graph is int8 throughout, so each run quantizes its
activations with one scale over the whole batch, padding included: a sentence's reading depends
on the sentences read beside it. Reading each pair alone, one single-threaded session per core
side by side (as ``qa.onnx_graph.OnnxModel`` runs the encoder), removes that and the padding.

This asks the first 1,200 questions of the SQuAD 2.0 half of an index of its first 300
paragraphs (built here, as ``tests/benchmark.py --build`` does) and keeps every question the
shipped reader re-reads (``Reader.reorder``, its margin not met). For each it prints how far the
two ways' logits lie apart and whether the first sentence after re-reading (key + weight x
reading) changes, then times both ways on the first 80, alternating, three times each.

    python docs/experiments/reader_pairs.py      # about 3 minutes
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def main() -> None:
    import onnxruntime
    from benchmark import SQUAD, squad_docs

    import qa.answer.reader as reader_module
    from qa import cli
    from qa.answer.decide import MODEL_DIR, load
    from qa.answer.reader import combined, order_keys, settled
    from qa.api import Engine
    from qa.evaluation.run import load_squad
    from qa.onnx_graph import padded_feed

    reader = load(MODEL_DIR).reader
    asked = []
    shipped = reader_module.Reader.reorder

    def keep(self, question, ranked):
        head = ranked[: self.top]
        keys = order_keys(head)
        if not settled(keys, self.margin):
            asked.append((question, [c.text for c in head], keys))
        return shipped(self, question, ranked)

    with tempfile.TemporaryDirectory(prefix="qa-pairs-") as tmp:
        docs = squad_docs(Path(tmp) / "docs", 300)
        cli.main(["build", "--docs", str(docs), "--index", str(Path(tmp) / "index")])
        engine = Engine.load(Path(tmp) / "index")
        items, _ = load_squad(SQUAD)
        reader_module.Reader.reorder = keep
        try:
            for item in items[:1200]:
                engine.ask(item.question)
        finally:
            reader_module.Reader.reorder = shipped

    reader.logits("warm-up", ["warm-up"])
    tokenizer = reader._tokenizer
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    lanes = [onnxruntime.InferenceSession(str(reader.graph), options, providers=["CPUExecutionProvider"])
             for _ in range(2)]
    pool = ThreadPoolExecutor(1)

    def batched(question: str, texts: list[str]) -> np.ndarray:
        return reader.logits(question, texts)

    def pair_by_pair(question: str, texts: list[str]) -> np.ndarray:
        encodings = [tokenizer.encode(question, t) for t in texts]
        longest = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        out = np.zeros(len(texts))

        def run(session, which):
            for i in which:
                out[i] = session.run(None, padded_feed([encodings[i]]))[0].reshape(-1)[0]

        other = pool.submit(run, lanes[1], longest[1::2])
        run(lanes[0], longest[0::2])
        other.result()
        return out

    shifts, changed = [], 0
    for question, texts, keys in asked:
        a, b = batched(question, texts), pair_by_pair(question, texts)
        shifts.append(float(np.abs(a - b).max()))
        changed += int(np.argmax(combined(keys, a, reader.weight))) != int(np.argmax(combined(keys, b, reader.weight)))
    print(f"{len(asked)} of 1,200 questions re-read (weight {reader.weight}, margin {reader.margin})")
    print(f"largest logit shift per question: median {np.median(shifts):.3f}, 90th percentile "
          f"{np.quantile(shifts, 0.9):.3f}, max {max(shifts):.3f}")
    print(f"first sentence after re-reading differs in {changed} of {len(asked)}")
    timings: dict[str, list[float]] = {"one padded batch": [], "pair by pair, two lanes": []}
    for _ in range(3):
        for label, read in (("one padded batch", batched), ("pair by pair, two lanes", pair_by_pair)):
            ms = []
            for question, texts, _ in asked[:80]:
                started = time.perf_counter()
                read(question, texts)
                ms.append((time.perf_counter() - started) * 1000)
            timings[label].append(statistics.median(ms))
    for label, runs in timings.items():
        shown = ", ".join(f"{m:.1f}" for m in runs)
        print(f"{label}: median {statistics.median(runs):.1f} ms a question (runs {shown})")


if __name__ == "__main__":
    main()
