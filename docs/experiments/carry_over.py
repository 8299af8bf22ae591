"""Experiment (not shipped): weigh each question term by how often such a term reappears in the answer.

Coverage (the share of the question's terms a sentence holds) weighs every term by its rarity
alone. Yet some words of a question are about the question, not its topic: "What kind of …",
"How many …", "What percentage …", "…, according to the article?" On SQuAD's answerable
questions "kind" reappears in the answer sentence 1 % of the times a question uses it, "percentag"
5 %, "accord" 19 %, against 78 % for "articl" (as in "Article 5") and most names. A sentence
that lacks such a word has not missed anything. This weighs each term by rarity x its carry-over,
(times it reappears in the answer sentence + A x the mean rate) / (times asked + A), counted on
SQuAD's answerable questions as written: for each question, on every article but its own.

Gathers what ``qa train`` gathers (seed 0) and the naming copies of ``context_terms.py`` (30 %
of every list asked again naming its article), with five columns beside ``FEATURES``: the
coverage columns again, terms weighed by rarity x carry-over. Fits P's trees on ``qa train``'s
folds of whole articles on the questions as written: (A) ``FEATURES``; (D) the coverage columns
replaced by the weighed ones; (E) both. Judged as ``context_terms.py`` judges. The carry-over
table of a question leaves out its own article, not its fold: the counts of the held-out fold's
other articles shape the training rows' columns (a vocabulary rate, never a label of the row).
The table is counted from ``--counts`` (rows kept by an earlier run of ``context_terms.py``, whose
texts and labels are the same), or from this run's own first gather.

    python docs/experiments/carry_over.py --counts ROWS.pkl [--rows FILE.pkl]   # 9 minutes

Outcome (2026-12-03, evaluation.md): worse. Held out, answer-sentence@1 0.7743 -> 0.7681 with the
weighed columns in place of today's, and fewer questions answered where each model refuses 0.92 of
the out-of-corpus ones (0.9558 -> 0.9512 as written, 0.8923 -> 0.8858 naming their article).
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from context_terms import compare, gather_with  # noqa: E402
from rows import load_or_gather  # noqa: E402

from qa.answer.features import FEATURES, featurize  # noqa: E402

COVERAGE = ("coverage", "window_coverage", "passage_coverage", "document_coverage", "coverage_gap")
EXTRA = tuple(f"{c}_carried" for c in COVERAGE)
PRIOR_WEIGHT = 5.0  # A: a term asked this often counts half its own rate, half the mean


class CarryOver:
    """Per article, each term's carry-over rate counted on every other article's questions."""

    def __init__(self, rows: list[dict]):
        from qa.lexical import question_tokens, tokenize

        self.asked: dict[str, Counter] = defaultdict(Counter)
        self.carried: dict[str, Counter] = defaultdict(Counter)
        for r in rows:
            if r["kind"] != "answerable" or r["id"].endswith("-ctx") or not r["labels"].any():
                continue
            terms = set(question_tokens(r["question"]))
            gold = set().union(*tokenize([t for t, hit in zip(r["texts"], r["labels"]) if hit]))
            self.asked[r["article"]].update(terms)
            self.carried[r["article"]].update(terms & gold)
        self.all_asked = sum(self.asked.values(), Counter())
        self.all_carried = sum(self.carried.values(), Counter())
        self.mean = sum(self.all_carried.values()) / max(sum(self.all_asked.values()), 1)

    def rate(self, term: str, article: str | None) -> float:
        asked, carried = self.all_asked[term], self.all_carried[term]
        if article is not None:
            asked, carried = asked - self.asked[article][term], carried - self.carried[article][term]
        return (carried + PRIOR_WEIGHT * self.mean) / (asked + PRIOR_WEIGHT)


class Weighed:
    """An index's evidence with each term's rarity times its carry-over rate for one article."""

    def __init__(self, evidence, table: CarryOver, article: str | None):
        self._evidence, self._table, self._article = evidence, table, article

    def idf(self, term: str) -> float:
        return self._evidence.idf(term) * self._table.rate(term, self._article)

    def __getattr__(self, name):
        return getattr(self._evidence, name)


def gather(out: Path, counts: Path) -> list[dict]:
    table = CarryOver(pickle.loads(counts.read_bytes()))
    print(f"carry-over table: {len(table.all_asked)} terms, mean rate {table.mean:.3f}", file=sys.stderr)
    cover = [FEATURES.index(c) for c in COVERAGE]

    def weighed(intent, cands, evidence, article):
        return featurize(intent, cands, Weighed(evidence, table, article))[:, cover]

    return gather_with(out, weighed, len(EXTRA))


def main() -> None:

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, default=Path("carry_over_rows.pkl"))
    parser.add_argument("--counts", type=Path, required=True, help="rows kept by context_terms.py")
    args = parser.parse_args()
    rows = load_or_gather(args.rows, gather, args.counts)
    n = len(FEATURES)
    cover = [FEATURES.index(c) for c in COVERAGE]
    swapped = [n + cover.index(i) if i in cover else i for i in range(n)]
    compare(rows, {"(A) FEATURES": (list(range(n)), False), "(D) coverage weighed by carry-over": (swapped, False),
                   "(E) both": (list(range(n + len(EXTRA))), False)})


if __name__ == "__main__":
    main()
