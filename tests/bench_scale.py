"""Scaling-out measurements: Milvus Lite vs the FAISS files at N passages, and a Ray build vs a local one.

Run: python tests/bench_scale.py store --index INDEX [--passages 100000] [--queries 200]
     python tests/bench_scale.py build --docs FOLDER [--rounds 2]

``store`` grows a real index (its passages, vectors and sentence vectors) to N passages, each copy's
vectors moved by a little noise and renormalised ("synthetic from real"), writes it both as an
in-memory FAISS index and into Milvus Lite, and times the same real questions on both, interleaved:
the dense top-100 alone and the whole hybrid search (qa.retrieve.search). ``build`` starts a local
Ray cluster (2 CPUs) and alternates `qa build` and `qa build --ray` of the same folder into fresh
index folders. Medians of one run; the machine is shared, so compare rows of one run only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def grow(index, n: int, seed: int = 0):
    """``n`` passages cycled from ``index``'s, with noisy copies of its vectors."""
    rng = np.random.default_rng(seed)
    m = len(index.passages)
    passages, vectors, sentences = [], [], []
    for i in range(n):
        p = index.passages[i % m]
        passages.append(replace(p, id=i, source=f"{i // m:03d}/{p.source}"))
        vectors.append(index.vectors[p.id])
        sentences.append(index.sentence_vectors_of(p))
    vectors = np.stack(vectors)
    sentences = np.concatenate(sentences)
    for a in (vectors, sentences):
        a += rng.normal(0, 0.02, a.shape).astype(np.float32) * (np.arange(len(a)) >= m)[:, None]
        a /= np.linalg.norm(a, axis=1, keepdims=True)
    return passages, vectors.astype(np.float32), sentences.astype(np.float32)


def store(args) -> None:
    import faiss

    from qa import milvus_index, milvus_store
    from qa.config import Settings
    from qa.embed import Encoder
    from qa.index import Index, load_index
    from qa.lexical import Lexical, tokenize
    from qa.retrieve import search

    base = load_index(args.index, check_corpus=False)
    started = time.perf_counter()
    passages, vectors, sentences = grow(base, args.passages)
    lexical = Lexical.build([p.text for p in passages])
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    files = Index(root=base.root, manifest=base.manifest, passages=passages, faiss=flat, vectors=vectors,
                  sentence_vectors=sentences, sentence_rows=np.cumsum([0] + [len(p.sentences) for p in passages]),
                  lexical=lexical)
    print(f"{len(passages):,} passages, {len(sentences):,} sentences made in {time.perf_counter() - started:.1f} s",
          flush=True)
    work = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    target = milvus_store.parse(f"milvus:{work / 'bench.db'}")
    started = time.perf_counter()
    entry = milvus_store.write(target, work, work, passages=passages, passage_vectors=vectors,
                               sentence_vectors=sentences, lexical=lexical)
    written = time.perf_counter() - started
    manifest = dict(base.manifest, passages=len(passages), sentences=len(sentences), store=entry)
    (work / "manifest.json").write_text(json.dumps(manifest))
    remote = milvus_index.load(work, manifest)
    print(f"written to Milvus Lite in {written:.1f} s ({len(passages) / written:,.0f} passages/s)", flush=True)

    questions = [q["question"] for a in json.loads(Path(args.squad).read_text())["data"]
                 for p in a["paragraphs"] for q in p["qas"]][: args.queries]
    encoder = Encoder()
    qvecs, qtokens = encoder.encode(questions), tokenize(questions)
    settings = Settings()
    c = settings.candidates
    client, name = remote.client, entry["collections"]["passages"]
    times: dict[str, list[float]] = {"faiss dense top-100": [], "milvus dense top-100": [],
                                     "faiss hybrid search": [], "milvus hybrid search": []}
    same = 0
    def dense_faiss(v):
        return files.faiss.search(v.reshape(1, -1), c)

    def dense_milvus(v):
        return client.search(name, data=[v.tolist()], anns_field="vector", limit=c, search_params={"metric_type": "IP"})

    dense_faiss(qvecs[0]), dense_milvus(qvecs[0])  # warm-up
    for v, t in zip(qvecs, qtokens):
        for key, fn in (("faiss dense top-100", dense_faiss), ("milvus dense top-100", dense_milvus)):
            t0 = time.perf_counter()
            fn(v)
            times[key].append((time.perf_counter() - t0) * 1000)
        remote._passages.clear(), remote._vectors.clear(), remote._sentences.clear()  # a cold cache each query
        t0 = time.perf_counter()
        a = search(files, v, t, settings=settings, k=5)
        times["faiss hybrid search"].append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        b = search(remote, v, t, settings=settings, k=5)
        times["milvus hybrid search"].append((time.perf_counter() - t0) * 1000)
        same += [h.passage.id for h in a] == [h.passage.id for h in b]
    shutil.rmtree(work, ignore_errors=True)
    print(f"{len(questions)} SQuAD questions, top-5 identical on both for {same}")
    print(f"| search at {len(passages):,} passages | p50 ms | p90 ms |")
    print("|---|---|---|")
    for key, values in times.items():
        q = statistics.quantiles(values, n=10)
        print(f"| {key} | {statistics.median(values):.1f} | {q[8]:.1f} |")


def build(args) -> None:
    from ray_cluster import RayCluster

    cluster = RayCluster(cpus=2)
    rows = []
    try:
        for r in range(args.rounds):
            for label, extra in (("local", []), ("ray", ["--ray", cluster.address])):
                folder = Path(tempfile.mkdtemp(prefix="qa-bench-")) / "index"
                started = time.perf_counter()
                command = [sys.executable, "-m", "qa", "build", "--docs", args.docs, "--index", str(folder), *extra]
                done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
                wall = time.perf_counter() - started
                if done.returncode:
                    raise SystemExit(done.stderr)
                m = json.loads((folder / "manifest.json").read_text())
                shutil.rmtree(folder.parent, ignore_errors=True)
                rows.append((label, r, m["passages"], m["embedded"], m["build_seconds"], wall))
                print(f"{label} round {r}: {m['passages']} passages ({m['embedded']} texts) in "
                      f"{m['build_seconds']} s build, {wall:.1f} s wall", flush=True)
    finally:
        cluster.stop()
    print("| build | passages | texts embedded | build s (median) | passages/s | wall s |")
    print("|---|---|---|---|---|---|")
    for label in ("local", "ray"):
        mine = [r for r in rows if r[0] == label]
        b, w = statistics.median(r[4] for r in mine), statistics.median(r[5] for r in mine)
        print(f"| {label} | {mine[0][2]} | {mine[0][3]} | {b:.1f} | {mine[0][2] / b:.1f} | {w:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    s = sub.add_parser("store")
    s.add_argument("--index", required=True)
    s.add_argument("--squad", default=str(HERE.parent.parent / "shared/data/squad-v2.0-dev-half.json"))
    s.add_argument("--passages", type=int, default=100_000)
    s.add_argument("--queries", type=int, default=200)
    b = sub.add_parser("build")
    b.add_argument("--docs", required=True)
    b.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    store(args) if args.what == "store" else build(args)


if __name__ == "__main__":
    main()
