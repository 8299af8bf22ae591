"""Do linear scores carry over to questions worded as users word them better than P's trees?

On the held-out user-worded questions (``user_worded.py``) version 0.1's confidence, a hand-set
linear score of the cosines, coverage and passage score less a penalty when a check fires,
separates answerable from unanswerable ones a little better than the best P (AUROC 0.7105
against 0.7028, the manifest's ``user_worded`` table), though P leads on SQuAD as written. Is
that the linearity, which trees fitted to SQuAD's wording could lose, or what 0.1's rules hold?

Judged held out by article on both sets, each at the threshold ``qa train``'s rule sets on the
questions as written, without and with the vetoes it keeps, against P's trees as shipped:
- a logistic regression over P's columns (standardized), fitted per candidate on ``qa train``'s
  folds, its best candidate's score as the confidence;
- each question's best P blended with the linear model's confidence, or with 0.1's, by a
  logistic regression on the two fitted on the held-out outputs of the questions as written
  of the other folds' articles (the user-worded questions are never fitted on).

    python docs/experiments/linear_scores.py --rows ROWS.pkl [--user USER.pkl]

``ROWS.pkl`` and ``USER.pkl`` as for ``user_worded.py``; 30 s with both kept.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from context_terms import oof  # noqa: E402
from rows import load_or_gather, print_table  # noqa: E402
from user_worded import SUFFIX, gather, shares, vetoed  # noqa: E402

from qa.answer.features import FEATURES  # noqa: E402
from qa.training import train  # noqa: E402
from qa.training.judge import choose_threshold, questions  # noqa: E402


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def linear(rows: list[dict], user: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold P of a logistic regression over P's columns, per candidate, on ``qa train``'s folds
    of whole articles (never fitted on the ``user`` questions)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y, q = train._matrix(rows)
    x = x[:, :len(FEATURES)]
    groups = np.array([rows[i]["article"] for i in q])
    p = np.zeros(len(y))
    for fit, test in GroupKFold(n_splits=train.FOLDS).split(x, y, groups):
        fit = fit[~user[q[fit]]]
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        p[test] = model.fit(x[fit], y[fit].astype(int)).predict_proba(x[test])[:, 1]
    return p, q


def blended(columns: np.ndarray, rows: list[dict], user: np.ndarray) -> np.ndarray:
    """Each question's answerable-or-not probability from ``columns`` (one row a question), a logistic
    regression fitted on the questions as written of the other folds' articles."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    answerable = np.array([r["kind"] == "answerable" for r in rows], int)
    articles = np.array([r["article"] for r in rows])
    out = np.zeros(len(rows))
    for fit, test in GroupKFold(n_splits=train.FOLDS).split(columns, answerable, articles):
        fit = fit[~user[fit]]
        model = LogisticRegression().fit(columns[fit], answerable[fit])
        out[test] = model.predict_proba(columns[test])[:, 1]
    return out


def judged(rows: list[dict], outcome: list[dict], user: np.ndarray, threshold: float | None = None) -> dict:
    """AUROCs and shares on both sets, at ``threshold`` (by default the one ``qa train``'s rule sets
    on the questions as written), then with the vetoes it keeps there too (as ``ask()`` decides)."""
    from sklearn.metrics import roc_auc_score

    written = [o for o, u in zip(outcome, user) if not u]
    threshold = choose_threshold(written) if threshold is None else threshold
    out = {"threshold": round(threshold, 4)}
    for part, flag in (("as written", False), ("user-worded", True)):
        mine = [o for o, u in zip(outcome, user) if u == flag]
        for kind in ("unanswerable", "out_of_corpus", "near_miss"):
            pair = [o for o in mine if o["kind"] in ("answerable", kind)]
            if any(o["kind"] == kind for o in pair):
                out[f"{part}: AUROC {kind}"] = round(float(roc_auc_score(
                    [o["kind"] == "answerable" for o in pair], [o["p"] for o in pair])), 4)
        out.update(shares(part, mine, lambda o: o["p"] >= threshold))
    return out | vetoed(rows, outcome, threshold)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, required=True, help="rows gathered as qa train gathers them")
    parser.add_argument("--user", type=Path, default=Path("user_worded_rows.pkl"))
    args = parser.parse_args()
    rows = pickle.loads(args.rows.read_bytes()) + load_or_gather(args.user, gather)
    user = np.array([r["id"].endswith(SUFFIX) for r in rows])
    p, q = oof(rows, list(range(len(FEATURES))), False, SUFFIX)
    trees = questions(rows, q, p)
    p_linear, q_linear = linear(rows, user)
    lin = questions(rows, q_linear, p_linear)
    best_p = logit(np.array([o["p"] for o in trees]))
    rules = np.array([o["baseline"] for o in trees])

    def confidence(scores: np.ndarray) -> list[dict]:  # P's reply, another confidence
        return [{**o, "p": float(s)} for o, s in zip(trees, scores)]

    runs = {"P's trees (shipped)": trees,
            "0.1's confidence": [{**o, "p": o["baseline"], "right": o["baseline_right"]} for o in trees],
            "linear model": lin,
            "P + linear, blended": confidence(blended(np.c_[best_p, logit(np.array([o["p"] for o in lin]))],
                                                      rows, user)),
            "P + 0.1's confidence, blended": confidence(blended(np.c_[best_p, rules], rows, user))}
    results = {name: judged(rows, outcome, user) for name, outcome in runs.items()}
    # P's trees moved along their own trade-off to answer as many user-worded questions as the
    # last blend does, deciding as ask() does: the blend's gain, if any, is what lies off that line.
    goal = results["P + 0.1's confidence, blended"]["user-worded, with vetoes: answerable answered"]
    results["P's trees, threshold matched to it"] = judged(rows, trees, user, matched(trees, user, goal))
    print_table(results)


def matched(outcome: list[dict], user: np.ndarray, goal: float) -> float:
    """The highest threshold at which the best P, with ``qa train``'s vetoes, answers at least ``goal``
    of the user-worded answerable questions."""
    from qa.training.judge import _answered, choose_vetoes

    written = [o for o, u in zip(outcome, user) if not u]
    vetoes = choose_vetoes(written, choose_threshold(written))
    mine = [o for o, u in zip(outcome, user) if u and o["kind"] == "answerable"]
    for t in sorted({o["p"] for o in mine}, reverse=True):
        if np.mean([_answered(o, t, vetoes) for o in mine]) >= goal - 1e-9:
            return t
    return 0.0


if __name__ == "__main__":
    main()
