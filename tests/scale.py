"""Scale benchmark: an index of N passages synthesized from real text and real embeddings.

Run: python tests/scale.py --passages 100000 [--questions 200] [--approximate-above N] [--out DIR]

Embedding a million real passages takes hours here, so the corpus is SYNTHESIZED: each passage
is a run of 2-5 consecutive real sentences (of the SQuAD half's index, or of --source INDEX) from a
random start, and each sentence's
vector is its real embedding plus Gaussian noise (cosine ~0.9 to the original), the passage's the
word-weighted mean of its sentences'. Documents of 100 passages each are written to disk, so
citations quote real files. It reports the build time of each structure, the disk size, the
resident memory after load, ask() p50/p95 over real questions (SQuAD and seed questions, encoded by
the real model) and recall@20 of the dense retriever against exact search.
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
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SQUAD = HERE.parent.parent / "shared" / "data" / "squad-v2.0-dev-half.json"
NOTE = ("synthesized corpus: runs of 2-5 consecutive real sentences from random starts, vectors = real "
        "embeddings + noise (cosine ~0.9), not a real corpus")


def source_index(path: str | None):
    """The real material: an index's passages (their sentences) and sentence vectors."""
    from qa.config import Settings
    from qa.embed import Encoder
    from qa.evaluation.run import fresh_index, squad_corpus
    from qa.index import load_index

    if path:
        return load_index(path, check_corpus=False, check_version=False)  # its texts and vectors only
    _, docs = squad_corpus(SQUAD)
    settings = Settings()
    return fresh_index(docs, docs.parent / "index", settings, Encoder(settings.model))


def questions(limit: int) -> list[str]:
    seeds = [json.loads(line)["question"] for line in (HERE / "eval" / "seed_questions.jsonl").open()]
    squad = []
    if SQUAD.exists():
        from qa.evaluation.run import load_squad

        squad = [q.question for q in load_squad(SQUAD)[0]]
    rng = np.random.default_rng(1)
    picked = [squad[i] for i in rng.choice(len(squad), size=min(len(squad), max(0, limit - len(seeds))),
                                           replace=False)] if squad else []
    return (seeds + picked)[:limit]


def synthesize(root: Path, n: int, source, *, approximate_above: int, noise: float = 0.5) -> dict:
    """Write docs/ and index/ of ``n`` synthetic passages under ``root``; the seconds of each step."""
    from qa.build import sentence_means, write_index
    from qa.config import Settings
    from qa.ingest import corpus_hash, file_digests
    from qa.lexical import Lexical, tokenize
    from qa.schema import Passage, Span

    rng = np.random.default_rng(0)
    pool = [t for p in source.passages for t in p.texts]
    pool_vectors = np.asarray(source.sentence_vectors, dtype=np.float32)
    dim = pool_vectors.shape[1]
    seconds = {}
    tick = time.perf_counter()
    # A passage is a run of 2-5 consecutive real sentences (mostly of one paragraph), as real
    # passages are: mixing sentences of unrelated articles would make every passage a blur of topics.
    counts = rng.integers(2, 6, size=n)
    firsts = rng.integers(0, len(pool) - 5, size=n)
    picks = (np.repeat(firsts - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))).astype(np.int64)
    docs = root / "docs"
    docs.mkdir(parents=True)
    passages, titles, at = [], {}, 0
    per_doc = 100  # passages a document: about 12,000 words
    for d in range(0, n, per_doc):
        source_name, raw, pos = f"doc{d // per_doc:05d}.txt", [], 0
        titles[source_name] = source_name
        for i in range(d, min(n, d + per_doc)):
            texts = tuple(pool[j] for j in picks[at:at + counts[i]])
            at += counts[i]
            spans, start = [], pos
            for t in texts:
                spans.append(Span(pos, pos + len(t)))
                raw.append(t + " ")
                pos += len(t) + 1
            raw.append("\n\n")
            passages.append(Passage(id=i, source=source_name, title=source_name, start=start, end=pos - 1,
                                    sentences=tuple(spans), texts=texts, quotes=texts))
            pos += 2
        (docs / source_name).write_text("".join(raw), encoding="utf-8")
    seconds["text"] = time.perf_counter() - tick

    tick = time.perf_counter()
    sentence_vectors = np.empty((len(picks), dim), dtype=np.float32)
    for s in range(0, len(picks), 200_000):
        chunk = pool_vectors[picks[s:s + 200_000]]
        chunk += rng.standard_normal(size=chunk.shape, dtype=np.float32) * np.float32(noise / np.sqrt(dim))
        sentence_vectors[s:s + 200_000] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    passage_vectors = sentence_means(passages, sentence_vectors)
    seconds["vectors"] = time.perf_counter() - tick

    tick = time.perf_counter()
    # A passage's tokens are its sentences' tokens (bm25s' tokenizer works word by word), so the
    # pool is tokenized once instead of every recombination.
    pool_tokens = tokenize(pool)
    tokens, at = [], 0
    for c in counts:
        tokens.append([t for j in picks[at:at + c] for t in pool_tokens[j]])
        at += c
    lexical = Lexical.build([p.text for p in passages], tokens=tokens)
    seconds["bm25"] = time.perf_counter() - tick

    settings = Settings(approximate_above=approximate_above)
    digests = file_digests(docs)
    manifest = {"documents": len(titles), "corpus_hash": corpus_hash(digests), "docs_dir": "../docs",
                "files": sorted(titles), "titles": titles, "skipped": [], "embedded": 0, "reused": 0,
                "synthetic": NOTE}
    tick = time.perf_counter()
    full = write_index(root / "index", passages, passage_vectors, sentence_vectors, lexical, settings=settings,
                       manifest=manifest)
    seconds["write"] = time.perf_counter() - tick
    seconds["dense"] = full["seconds"]["dense"]
    seconds["bm25"] += full["seconds"]["bm25_save"]
    seconds["document_terms"] = full["seconds"].get("document_terms", 0.0)  # 0: an index of format 3
    return {"seconds": {k: round(v, 1) for k, v in seconds.items()}, "dense": full["dense"]}


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def mapped_mb(folder: Path) -> dict:
    """Resident MB of this process by mapping (/proc/self/smaps): each file of ``folder`` by name,
    then other files (libraries, the model) and anonymous memory."""
    files = {os.path.realpath(Path(d) / f): os.path.relpath(Path(d) / f, folder)
             for d, _, names in os.walk(folder, followlinks=True) for f in names}
    sizes: dict[str, float] = {}
    name = "anonymous"
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split(maxsplit=5)
        if len(head) >= 5 and "-" in head[0] and len(head[1]) == 4:  # a mapping's first line
            path = head[5].strip() if len(head) == 6 else ""
            name = files.get(path, "other files" if path.startswith("/") else "anonymous")
        elif head[0] == "Rss:":
            sizes[name] = sizes.get(name, 0.0) + int(head[1]) / 1024
    return {k: round(v, 1) for k, v in sorted(sizes.items(), key=lambda kv: -kv[1]) if v >= 0.05}


def measure(index_dir: Path, qs: list[str], k: int = 20) -> dict:
    """In a fresh process: RSS after load, ask() latencies, then recall@k of dense search vs exact."""
    from qa.api import Engine
    from qa.config import Settings
    from qa.embed import Encoder
    from qa.index import load_index
    from qa.retrieve import dense_scores

    settings = Settings()
    encoder = Encoder(settings.model)
    encoder.encode(["warm-up"])
    base = rss_mb()
    started = time.perf_counter()
    index = load_index(index_dir)
    load_seconds = time.perf_counter() - started
    loaded = rss_mb()
    engine = Engine(index, encoder, settings)
    for q in qs[:5]:
        engine.ask(q)
    ms, cpu = [], []
    for q in qs:
        tick, cpu_tick = time.perf_counter(), time.process_time()
        engine.ask(q)
        ms.append((time.perf_counter() - tick) * 1000)
        cpu.append((time.process_time() - cpu_tick) * 1000)
    asked = rss_mb()
    by_mapping = mapped_mb(index_dir)
    anon, files = rss_mb("RssAnon"), rss_mb("RssFile")
    vectors = encoder.encode(qs)
    found = []
    for v in vectors:
        _, ids = index.faiss.search(v.reshape(1, -1), settings.candidates)
        ids = ids[0][ids[0] >= 0]
        scores = dense_scores(index, v, ids, settings=settings, sentences=False)
        found.append(set(ids[np.argsort(-scores, kind="stable")[:k]].tolist()))
    recalls = []
    exact_scores = np.concatenate([np.asarray(index.vectors[s:s + 100_000]) @ vectors.T
                                   for s in range(0, len(index.vectors), 100_000)])
    for j, got in enumerate(found):
        exact = set(np.argsort(-exact_scores[:, j], kind="stable")[:k].tolist())
        recalls.append(len(got & exact) / k)
    return {"load_seconds": round(load_seconds, 2), "rss_encoder_mb": round(base), "rss_loaded_mb": round(loaded),
            "rss_after_asks_mb": round(asked), "rss_after_asks_anon_mb": round(anon),
            "rss_after_asks_file_mb": round(files), "rss_after_asks_by_mapping_mb": by_mapping,
            "ask_p50_ms": round(statistics.median(ms), 1),
            "ask_p95_ms": round(statistics.quantiles(ms, n=20)[-1], 1), "questions": len(qs),
            # CPU time of all the process' threads: what the wall time would be on an idle machine, or more.
            "ask_cpu_p50_ms": round(statistics.median(cpu), 1),
            "ask_cpu_p95_ms": round(statistics.quantiles(cpu, n=20)[-1], 1),
            "load_average": round(os.getloadavg()[0], 1),
            f"recall@{k}": round(float(np.mean(recalls)), 4), "dense": index.manifest["dense"]}


def disk_mb(folder: Path) -> dict:
    sizes = {}
    for path in sorted(folder.iterdir()):
        files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
        sizes[path.name] = round(sum(f.stat().st_size for f in files) / 2**20, 1)
    sizes["total"] = round(sum(sizes.values()), 1)
    return sizes


def run(n: int, *, n_questions: int, approximate_above: int, out: Path | None, source: str | None) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"qa-scale-{n}-", dir=out))
    try:
        started = time.perf_counter()
        built = synthesize(root, n, source_index(source), approximate_above=approximate_above)
        built["total_seconds"] = round(time.perf_counter() - started, 1)
        qs = questions(n_questions)
        (root / "questions.json").write_text(json.dumps(qs))
        proc = subprocess.run([sys.executable, __file__, "--measure", str(root)], check=True, capture_output=True,
                              text=True, env=dict(os.environ, PYTHONPATH=str(HERE.parent)))
        result = {"passages": n, "note": NOTE, "build": built, "disk_mb": disk_mb(root / "index"),
                  **json.loads(proc.stdout.splitlines()[-1])}
    finally:
        if out is None:
            shutil.rmtree(root, ignore_errors=True)
    return result


def show(r: dict) -> str:
    b = r["build"]["seconds"]
    return (f"{r['passages']:>9,} passages [{r['dense']['kind']}]: build {r['build']['total_seconds']} s "
            f"(text {b['text']}, vectors {b['vectors']}, bm25 {b['bm25']}, dense {b['dense']}, write {b['write']}, "
            f"of which document terms {b.get('document_terms', 0)}); "
            f"disk {r['disk_mb']['total']} MB; RSS after load {r['rss_loaded_mb']} MB "
            f"(encoder alone {r['rss_encoder_mb']} MB; after asks {r['rss_after_asks_mb']} MB: "
            f"{r['rss_after_asks_anon_mb']} MB anonymous, {r['rss_after_asks_file_mb']} MB file pages, of the index "
            f"{ {k: v for k, v in r['rss_after_asks_by_mapping_mb'].items() if k not in ('anonymous', 'other files')} }"
            "); "
            f"ask() p50 {r['ask_p50_ms']} ms, p95 {r['ask_p95_ms']} ms (CPU time p50 {r['ask_cpu_p50_ms']} ms, "
            f"p95 {r['ask_cpu_p95_ms']} ms; load average {r['load_average']}); recall@20 vs exact {r['recall@20']}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        root = Path(sys.argv[2])
        print(json.dumps(measure(root / "index", json.loads((root / "questions.json").read_text()))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, nargs="+", default=[100_000])
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--approximate-above", type=int, default=None,
                        help="override Settings.approximate_above (0: approximate at every size)")
    parser.add_argument("--source", default=None, help="index whose sentences and vectors to recombine "
                                                       "(default: the SQuAD half's, built if missing)")
    parser.add_argument("--out", type=Path, default=None, help="keep the corpora and indexes in this folder")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from qa.config import Settings

    above = Settings().approximate_above if args.approximate_above is None else args.approximate_above
    print(NOTE, flush=True)
    for n in args.passages:
        r = run(n, n_questions=args.questions, approximate_above=above, out=args.out, source=args.source)
        print(json.dumps(r) if args.json else show(r), flush=True)


if __name__ == "__main__":
    main()
