"""Latency benchmark of warm ask() on the seeds, against the bare query encode and across runtimes.

Run: python tests/benchmark.py [--rounds 5] [--backend onnx|torch] [--compare]. Timings on
shared machines are noisy, so it interleaves ask() with the bare encode of the same question
over many questions and rounds, and reports medians and their ratio from the same run (not a
pass/fail unit test). --compare runs each runtime in its own process (two runtimes' thread
pools in one process slow each other down), alternating, and reports the ratio of medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def questions() -> list[str]:
    files = [HERE / "eval" / "seed_questions.jsonl", HERE.parent.parent / "shared" / "eval" / "seed_questions.jsonl"]
    return [json.loads(line)["question"] for f in files if f.exists() for line in f.open()]


def timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - started) * 1000


def measure(rounds: int, backend: str) -> dict:
    from qa.api import Engine
    from qa.config import default_settings

    engine = Engine.load(HERE.parent / "embeddings", settings=default_settings().with_(backend=backend))
    qs = questions()
    for q in qs[:10]:  # warm-up: model, index and caches loaded
        engine.ask(q)
    ask_ms, encode_ms = [], []
    for _ in range(rounds):
        for q in qs:
            encode_ms.append(timed(engine.encoder.encode, [q]))
            ask_ms.append(timed(engine.ask, q))
    return {"backend": engine.encoder.backend, "calls": len(ask_ms), "questions": len(qs),
            "ask_p50": statistics.median(ask_ms), "ask_p95": statistics.quantiles(ask_ms, n=20)[-1],
            "encode_p50": statistics.median(encode_ms)}


def show(r: dict) -> str:
    return (f"{r['backend']:5}: ask() median {r['ask_p50']:5.1f} ms, p95 {r['ask_p95']:5.1f} ms; "
            f"bare encode median {r['encode_p50']:4.1f} ms; ratio ask/encode {r['ask_p50'] / r['encode_p50']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backend", default="auto", choices=["auto", "onnx", "torch"])
    parser.add_argument("--compare", action="store_true", help="ONNX Runtime against PyTorch, two runs each")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.compare:
        result = measure(args.rounds, args.backend)
        print(json.dumps(result) if args.json else f"{result['calls']} warm ask() calls\n{show(result)}")
        return
    runs = {"onnx": [], "torch": []}
    for backend in ["onnx", "torch", "torch", "onnx"]:  # alternating: drift hits both alike
        out = subprocess.run([sys.executable, __file__, "--rounds", str(args.rounds), "--backend", backend, "--json"],
                             check=True, capture_output=True, text=True).stdout
        runs[backend].append(json.loads(out.splitlines()[-1]))
        print(show(runs[backend][-1]), flush=True)
    onnx = statistics.median(r["ask_p50"] for r in runs["onnx"])
    torch = statistics.median(r["ask_p50"] for r in runs["torch"])
    print(f"ask() median over the runs: onnx {onnx:.1f} ms, torch {torch:.1f} ms, ratio torch/onnx {torch / onnx:.2f}")


if __name__ == "__main__":
    main()
