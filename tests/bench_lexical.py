"""What BM25 costs a question, and how often tied scores straddle the candidate cut, on a kept scale index.

Run: python tests/bench_lexical.py DIR/qa-scale-N-... (a folder kept by tests/scale.py --out DIR)

Process time per question, warm (the first pass over the questions pages the matrix in and is
not counted): bm25s' scores into a dense array of every passage, and retrieve's top-candidates
pick over that array. Also the passages a question's terms reach, and the questions whose
``Settings.candidates``-th best score ties the next one: there, which tied passages enter the
pool is argpartition's choice over the whole array, so a path that scores only the postings
must still run it to give the same results.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def main() -> None:
    from qa.config import Settings
    from qa.lexical import Lexical, tokenize
    from qa.retrieve import _top

    root = Path(sys.argv[1])
    lexical = Lexical.load(root / "index")
    queries = tokenize(json.loads((root / "questions.json").read_text()))
    c = min(Settings().candidates, lexical.n_docs)
    scoring, picking, reached, tied = [], [], [], 0
    for warm in (False, True):
        for tokens in queries:
            tick = time.process_time()
            scores = lexical.scores(tokens)
            scored = time.process_time()
            top = _top(scores, c)
            top = top[scores[top] > 0]
            if warm:
                scoring.append((scored - tick) * 1000)
                picking.append((time.process_time() - scored) * 1000)
                positive = np.sort(scores[scores > 0])[::-1]
                reached.append(len(positive))
                tied += bool(len(positive) > c and positive[c - 1] == positive[c])

    def p(values: list[float]) -> str:
        return f"p50 {statistics.median(values):.2f} ms, p95 {statistics.quantiles(values, n=20)[-1]:.2f} ms"

    print(f"{lexical.n_docs:,} passages, {len(queries)} questions: get_scores {p(scoring)}; top {c} {p(picking)}; "
          f"passages a question's terms reach p50 {int(statistics.median(reached)):,}; "
          f"questions whose {c}th best score ties the next {tied}")


if __name__ == "__main__":
    main()
