"""Experiment (not shipped): what it costs `ask()` to read every question with the reader.

The lead left by ``reader_abstention.py`` was the reading of a reader fitted on negatives too as
one more column of P's trees. A column of P must exist before P does, so the reader would read
the first three sentences of every question. Today it reads only the questions that clear
the threshold and whose first two stand close, about a quarter of them. This times, on the
benchmark's questions (``tests/benchmark.py``), warm ``ask()`` as shipped and the reader's
reading of each question's first three candidates (``Reader.logits``, as ``reorder`` calls it).
"Every question read" is ``ask()`` plus that reading wherever ``ask()`` did not read already.
Medians over the rounds, in the same run.

    python docs/experiments/reader_cost.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from benchmark import questions, timed

    from qa.answer.decide import MODEL_DIR, load
    from qa.api import Engine
    from qa.config import default_settings

    engine = Engine.load(REPO / "embeddings", settings=default_settings())
    reader = load(MODEL_DIR).reader
    qs = questions()
    for q in qs[:10]:  # warm-up: model, index and caches loaded
        engine.ask(q)
    reader.logits(qs[0], [qs[0]])  # and the reader's session
    shipped, everyone, reading = [], [], []
    read = 0
    for _ in range(args.rounds):
        for q in qs:
            ask_ms, answer = timed(engine.ask, q)
            texts = [c.text for c in answer.considered[: reader.top]]
            read_ms = timed(reader.logits, q, texts)[0] if texts else 0.0
            already = any(c.reading is not None for c in answer.considered)
            read += already
            shipped.append(ask_ms)
            reading.append(read_ms)
            everyone.append(ask_ms if already else ask_ms + read_ms)
    print(f"{len(shipped)} warm ask() calls, {read / len(shipped):.0%} of them read by the reader as shipped")
    print(f"ask() as shipped: median {statistics.median(shipped):.1f} ms")
    print(f"the reader's reading of the first three: median {statistics.median(reading):.1f} ms")
    print(f"every question read: median {statistics.median(everyone):.1f} ms "
          f"({statistics.median(everyone) / statistics.median(shipped):.2f} times as shipped)")


if __name__ == "__main__":
    main()
