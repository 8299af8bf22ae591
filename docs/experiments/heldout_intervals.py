"""How far the held-out figures could move on other questions: intervals by resampling articles.

The decision's held-out figures come from one set of SQuAD articles, and its targets are judged
on questions nobody here has seen. Out-of-corpus questions refused, for one, stands at 0.9198
against a target of 0.92: one question of 1,946. This refits P's trees on ``qa train``'s folds
of whole articles (today's columns, the questions as written), fixes the threshold by ``qa
train``'s rule, and resamples whole articles with replacement (questions of one article rise and
fall together) to give each figure a 95 % interval at that threshold.

    python docs/experiments/heldout_intervals.py --rows ROWS.pkl [--draws 2000]

``ROWS.pkl``: rows kept by ``context_terms.py``, ``carry_over.py`` or ``unknown_terms.py`` (their
naming copies are left out here).
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from context_terms import oof  # noqa: E402

from qa.answer.features import FEATURES  # noqa: E402


def figures(outcome: list[dict], threshold: float) -> dict[str, float]:
    def share(kind: str, flag) -> float:
        these = [o for o in outcome if o["kind"] == kind]
        return float(np.mean([flag(o) for o in these])) if these else float("nan")

    return {"out-of-corpus abstained on": share("out_of_corpus", lambda o: o["p"] < threshold),
            "near-miss abstained on": share("near_miss", lambda o: o["p"] < threshold),
            "SQuAD 2.0 unanswerable abstained on": share("unanswerable", lambda o: o["p"] < threshold),
            "answerable answered": share("answerable", lambda o: o["p"] >= threshold),
            "answer-sentence@1 (answerable)": share("answerable", lambda o: o["right"])}


def main() -> None:
    from qa.training.judge import choose_threshold, questions

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, required=True)
    parser.add_argument("--draws", type=int, default=2000)
    args = parser.parse_args()
    rows = pickle.loads(args.rows.read_bytes())
    for r in rows:
        r["features"] = r["features"][:, :len(FEATURES)]
    p, q = oof(rows, list(range(len(FEATURES))), False)
    outcome = [o for o, r in zip(questions(rows, q, p), rows) if not r["id"].endswith("-ctx")]
    threshold = choose_threshold(outcome)
    point = figures(outcome, threshold)
    by_article: dict[str, list[dict]] = {}
    for o in outcome:
        by_article.setdefault(o["article"], []).append(o)
    articles = sorted(by_article)
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(args.draws):
        picked = rng.choice(len(articles), len(articles), replace=True)
        draws.append(figures([o for i in picked for o in by_article[articles[i]]], threshold))
    print(f"{len(outcome)} questions as written, {len(articles)} articles; threshold {threshold:.4f} "
          f"(qa train's rule on these out-of-fold P); {args.draws} draws of whole articles\n")
    print("| held out by article | at the threshold | 95 % interval |\n|---|---|---|")
    for key, value in point.items():
        low, high = np.percentile([d[key] for d in draws], [2.5, 97.5])
        print(f"| {key} | {value:.4f} | {low:.4f}–{high:.4f} |")
    under = np.mean([d["out-of-corpus abstained on"] < 0.92 for d in draws])
    print(f"\nout-of-corpus questions refused under 0.92 in {under:.0%} of the draws")


if __name__ == "__main__":
    main()
