"""Experiment (not shipped): does it help the decision to know which of the question's words the corpus never uses?

A question asked of documents that lack its subject often holds words no document uses at all
(the name of a city, a person, a treaty the corpus never mentions). P's columns see the
question's terms only through the candidates: the share each sentence, window, passage and
document holds. Whether a missing term is missing from everything is left for the trees to
infer from the best coverage any candidate reached. Two question-level columns say it outright:

- ``unknown_terms``: the rarity-weighted share of the question's terms that no passage of the
  index holds;
- ``unknown_names``: the share of the question's names with a word that no passage holds.

Gathers what ``qa train`` gathers (seed 0) and the naming copies of ``context_terms.py`` with
the two columns beside ``FEATURES``; fits P's trees on ``qa train``'s folds of whole articles
on the questions as written, (A) with ``FEATURES`` and (F) with the two columns too; judged as
``context_terms.py`` judges.

    python docs/experiments/unknown_terms.py [--rows FILE.pkl]   # 4-9 minutes

Outcome (2026-12-03, evaluation.md): no gain. Held out, out-of-corpus AUROC 0.9824 -> 0.9823 and
answer-sentence@1 0.7743 -> 0.7696: the trees already read it off the best coverage and the names' columns.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from context_terms import compare, gather_with  # noqa: E402
from rows import load_or_gather  # noqa: E402

from qa.answer.features import FEATURES  # noqa: E402

EXTRA = ("unknown_terms", "unknown_names")


def extra(intent, cands, evidence) -> np.ndarray:
    from qa.lexical import tokenize

    known = evidence.index.lexical.idf  # every term some passage holds
    idf = {t: evidence.idf(t) for t in intent.terms}
    total = sum(idf.values()) or 1.0
    unknown_terms = sum(w for t, w in idf.items() if t not in known) / total
    name_terms = [t for t in tokenize(list(intent.names)) if t] if intent.names else []
    unknown_names = (sum(any(t not in known for t in n) for n in name_terms) / len(name_terms)) if name_terms else 0.0
    return np.tile(np.array([unknown_terms, unknown_names], np.float32), (len(cands), 1))


def gather(out: Path) -> list[dict]:
    return gather_with(out, lambda intent, cands, evidence, article: extra(intent, cands, evidence), len(EXTRA))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, default=Path("unknown_terms_rows.pkl"))
    args = parser.parse_args()
    rows = load_or_gather(args.rows, gather)
    n = len(FEATURES)
    compare(rows, {"(A) FEATURES": (list(range(n)), False),
                   "(F) + unknown terms and names": (list(range(n + len(EXTRA))), False)})


if __name__ == "__main__":
    main()
