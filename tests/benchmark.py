"""Benchmarks: warm ask() latency, build speed (--build) and scale (--scale, in tests/scale.py).

Run: python tests/benchmark.py [--rounds 5] [--backend onnx|torch] [--compare]. Timings on
shared machines are noisy, so it interleaves ask() with the bare encode of the same question
over many questions and rounds, and reports medians and their ratio from the same run (not a
pass/fail unit test). --compare runs each runtime in its own process (two runtimes' thread
pools in one process slow each other down), alternating, and reports the ratio of medians.
It also times ask() with each question's vectors ready: the rest of ask(), which the code sets,
where the encode follows the machine's speed. --baseline OLD_CHECKOUT [--repeats 3] times
another checkout's qa the same way, alternating, on this checkout's index and questions.

python tests/benchmark.py --build [--paragraphs 200] [--repeats 3] [--baseline OLD_CHECKOUT]:
passages/s of a whole first build (`build_index`, encoder loaded beforehand) and of the bare
encoder on the texts the build embeds (sentence-transformers fp32, ONNX int8), each run in
its own process, alternating, medians; --baseline builds with another checkout's qa as well.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def questions() -> list[str]:
    files = [HERE / "eval" / "seed_questions.jsonl", HERE.parent.parent / "shared" / "eval" / "seed_questions.jsonl"]
    return [json.loads(line)["question"] for f in files if f.exists() for line in f.open()]


def timed(fn, *args) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn(*args)
    return (time.perf_counter() - started) * 1000, result


def measure(rounds: int, backend: str) -> dict:
    from qa.api import Engine
    from qa.config import default_settings

    engine = Engine.load(HERE.parent / "embeddings", settings=default_settings().with_(backend=backend))
    qs = questions()
    for q in qs[:10]:  # warm-up: model, index and caches loaded
        engine.ask(q)
    ask_ms, encode_ms, unread_ms = [], [], []
    for _ in range(rounds):
        for q in qs:
            # The yardstick of the machine's speed, as in every earlier run: one question through the
            # configured backend's fp32 encoder (ask() embeds it as the index's documents were).
            encode_ms.append(timed(engine.encoder.encode, [q])[0])
            ms, answer = timed(engine.ask, q)
            ask_ms.append(ms)
            # The reader re-reads only questions whose best sentences stand close (qa.answer.reader),
            # and costs several times the rest of ask(): its share moves the median most.
            if all(c.reading is None for c in answer.considered):
                unread_ms.append(ms)
    rest_ms = rest_of_ask(engine, qs, rounds)
    return {"backend": engine.encoder.backend, "calls": len(ask_ms), "questions": len(qs),
            "ask_p50": statistics.median(ask_ms), "ask_p95": statistics.quantiles(ask_ms, n=20)[-1],
            "encode_p50": statistics.median(encode_ms), "reader_share": 1 - len(unread_ms) / len(ask_ms),
            "unread_p50": statistics.median(unread_ms) if unread_ms else float("nan"),
            "rest_p50": statistics.median(rest_ms)}


def rest_of_ask(engine, qs: list[str], rounds: int) -> list[float]:
    """ask() with each question's vectors computed beforehand: the time of everything but the
    encode, which follows the machine's speed far more than the code's (how two versions of the
    answer stage compare on a shared machine)."""
    ready: dict[tuple[str, ...], object] = {}
    encode = engine.encode_query

    def encode_once(texts: list[str]):
        key = tuple(texts)
        if key not in ready:
            ready[key] = encode(texts)
        return ready[key]

    engine.encode_query = encode_once  # this engine's last use
    for q in qs:
        engine.ask(q)
    return [timed(engine.ask, q)[0] for _ in range(rounds) for q in qs]


def show(r: dict) -> str:
    return (f"{r['backend']:5}: ask() median {r['ask_p50']:5.1f} ms, p95 {r['ask_p95']:5.1f} ms; "
            f"bare encode median {r['encode_p50']:4.1f} ms; ratio ask/encode {r['ask_p50'] / r['encode_p50']:.2f}; "
            f"re-read by the reader {r['reader_share']:.0%}, median of the others {r['unread_p50']:.1f} ms; "
            f"with the question's vectors ready {r['rest_p50']:.1f} ms")


SQUAD = HERE.parent.parent / "shared" / "data" / "squad-v2.0-dev-half.json"


def squad_docs(folder: Path, paragraphs: int) -> Path:
    """The first ``paragraphs`` paragraphs of the SQuAD half, one .txt file each."""
    from qa.evaluation.run import load_squad

    _, documents = load_squad(SQUAD)
    folder.mkdir(parents=True, exist_ok=True)
    for name in sorted(documents)[:paragraphs]:
        (folder / name).write_text(documents[name], encoding="utf-8")
    return folder


def build_worker(kind: str, docs: Path, work: Path) -> dict:
    """One timed run in this process: a whole build, or the bare encoder on the build's texts.

    ``kind`` is "build", "build:SETTING=VALUE,..." (settings changed for this build), "st-fp32" or
    "onnx-int8"."""
    from qa.build import build_index
    from qa.config import Settings
    from qa.embed import Encoder
    from qa.ingest import load_corpus
    from qa.passages import make_passages

    kind, _, changes = kind.partition(":")
    settings = Settings().with_(**dict(kv.split("=") for kv in changes.split(",") if kv))
    passages = make_passages(load_corpus(docs, max_file_mb=settings.max_file_mb)[0],
                             passage_words=settings.passage_words)
    # What the previous build embedded: every passage and every sentence, once each.
    texts = sorted({p.text for p in passages} | {t for p in passages for t in p.texts})
    if kind == "build":
        encoder = Encoder(settings.model)
        encoder.encode(["warm-up"])
        started = time.perf_counter()
        index = build_index(docs, work / "index", settings=settings, encoder=encoder)
        seconds = time.perf_counter() - started
        return {"kind": kind, "passages": len(index.passages), "texts": index.manifest["embedded"],
                "seconds": seconds, "settings": index.manifest["settings"]}
    if kind == "st-fp32":
        encoder = Encoder(settings.model, backend="torch")
    else:
        encoder = Encoder(settings.model, precision="int8")
    encoder.encode(["warm-up"])
    started = time.perf_counter()
    encoder.encode(texts)
    return {"kind": kind, "passages": len(passages), "texts": len(texts), "seconds": time.perf_counter() - started}


def build_benchmark(args) -> None:
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp:
        docs = squad_docs(Path(tmp) / "docs", args.paragraphs)
        kinds = [("build", None), ("st-fp32", None), ("onnx-int8", None)]
        kinds[1:1] = [(f"build:{v}", None) for v in args.variant]
        if args.baseline:
            kinds.insert(1, ("build", args.baseline))
        for repeat in range(args.repeats):
            for kind, checkout in kinds if repeat % 2 == 0 else kinds[::-1]:  # alternating: drift hits all alike
                work = Path(tempfile.mkdtemp(dir=tmp))
                env = dict(os.environ, PYTHONPATH=str(Path(checkout).resolve()) if checkout else str(HERE.parent))
                out = subprocess.run([sys.executable, __file__, "--worker", kind, str(docs), str(work)], env=env,
                                     check=True, capture_output=True, text=True).stdout
                result = json.loads(out.splitlines()[-1])
                label = f"{kind} ({'baseline ' + checkout if checkout else 'this checkout'})" \
                    if kind.startswith("build") else f"bare encoder {kind}"
                runs.setdefault(label, []).append(result)
                print(f"  {label}: {result['passages']} passages, {result['texts']} texts embedded, "
                      f"{result['seconds']:.1f} s", flush=True)
    print(f"\n{args.paragraphs} SQuAD paragraphs, {args.repeats} runs each, medians:")
    rates = {}
    for label, results in runs.items():
        rates[label] = statistics.median(r["passages"] / r["seconds"] for r in results)
        print(f"{label:48} {rates[label]:7.1f} passages/s")
    mine = rates["build (this checkout)"]
    for label, rate in rates.items():
        if label != "build (this checkout)":
            print(f"qa build (this checkout) / {label}: {mine / rate:.2f}x")


def measured_apart(rounds: int, backend: str, **env: str) -> dict:
    """``measure`` in a process of its own (``env`` added to its environment): its result."""
    out = subprocess.run([sys.executable, __file__, "--rounds", str(rounds), "--backend", backend, "--json"],
                         env=dict(os.environ, **env), check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def compare_checkouts(args) -> None:
    """Warm ask() of this checkout against ``--baseline``'s qa, each run in its own process on this
    checkout's index and questions, alternating, ``--repeats`` runs each; medians and their ratios."""
    runs: dict[str, list[dict]] = {"this checkout": [], "baseline": []}
    order = ["this checkout", "baseline"]
    for repeat in range(args.repeats):
        for label in order if repeat % 2 == 0 else order[::-1]:  # alternating: drift hits both alike
            path = str(HERE.parent if label == "this checkout" else Path(args.baseline).resolve())
            runs[label].append(measured_apart(args.rounds, args.backend, PYTHONPATH=path))
            print(f"{label:13} {show(runs[label][-1])}", flush=True)
    mine, base = ({key: statistics.median(r[key] for r in runs[label]) for key in ("ask_p50", "rest_p50")}
                  for label in order)
    print(f"medians of {args.repeats} runs: ask() {mine['ask_p50']:.1f} ms against {base['ask_p50']:.1f} "
          f"(ratio {mine['ask_p50'] / base['ask_p50']:.2f}); with the question's vectors ready "
          f"{mine['rest_p50']:.1f} ms against {base['rest_p50']:.1f} (ratio {mine['rest_p50'] / base['rest_p50']:.2f})")


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        print(json.dumps(build_worker(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backend", default="auto", choices=["auto", "onnx", "torch"])
    parser.add_argument("--compare", action="store_true", help="ONNX Runtime against PyTorch, two runs each")
    parser.add_argument("--build", action="store_true", help="passages/s of qa build and of the bare encoder")
    parser.add_argument("--paragraphs", type=int, default=200, help="--build: SQuAD paragraphs to index")
    parser.add_argument("--repeats", type=int, default=3, help="--build, --baseline: runs of each")
    parser.add_argument("--baseline", default=None,
                        help="another checkout of qa: ask() (or with --build, qa build) timed with it too")
    parser.add_argument("--variant", action="append", default=[],
                        help="--build: also build with these settings, e.g. document_precision=int8")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        build_benchmark(args)
        return
    if args.baseline:
        compare_checkouts(args)
        return
    if not args.compare:
        result = measure(args.rounds, args.backend)
        print(json.dumps(result) if args.json else f"{result['calls']} warm ask() calls\n{show(result)}")
        return
    runs = {"onnx": [], "torch": []}
    for backend in ["onnx", "torch", "torch", "onnx"]:  # alternating: drift hits both alike
        runs[backend].append(measured_apart(args.rounds, backend))
        print(show(runs[backend][-1]), flush=True)
    onnx = statistics.median(r["ask_p50"] for r in runs["onnx"])
    torch = statistics.median(r["ask_p50"] for r in runs["torch"])
    print(f"ask() median over the runs: onnx {onnx:.1f} ms, torch {torch:.1f} ms, ratio torch/onnx {torch / onnx:.2f}")


if __name__ == "__main__":
    main()
