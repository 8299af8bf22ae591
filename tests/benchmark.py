"""Latency benchmark of warm ask() on the seeds, against the bare query encode as baseline.

Run: python tests/benchmark.py [--rounds 5]. Timings on shared machines are noisy, so it
interleaves the two measurements over many questions and several rounds, and reports
medians and the ratio measured in the same run (not a pass/fail unit test).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from qa.api import engine

HERE = Path(__file__).resolve().parent


def questions() -> list[str]:
    files = [HERE / "eval" / "seed_questions.jsonl", HERE.parent.parent / "shared" / "eval" / "seed_questions.jsonl"]
    return [json.loads(line)["question"] for f in files if f.exists() for line in f.open()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    eng = engine()
    qs = questions()
    for q in qs[:10]:  # warm-up: model, index and caches loaded
        eng.ask(q)
    ask_ms, encode_ms = [], []
    for _ in range(args.rounds):
        for q in qs:
            t = time.perf_counter()
            eng.encoder.encode([q])
            encode_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            eng.ask(q)
            ask_ms.append((time.perf_counter() - t) * 1000)
    ask_p50, enc_p50 = statistics.median(ask_ms), statistics.median(encode_ms)
    ask_p95 = statistics.quantiles(ask_ms, n=20)[-1]
    print(f"{len(qs)} questions x {args.rounds} rounds = {len(ask_ms)} warm ask() calls")
    print(f"ask():            median {ask_p50:.1f} ms, p95 {ask_p95:.1f} ms")
    print(f"baseline encode:  median {enc_p50:.1f} ms (one question through the model, nothing else)")
    print(f"ratio ask/encode: {ask_p50 / enc_p50:.2f}")


if __name__ == "__main__":
    main()
