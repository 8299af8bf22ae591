"""Does the reader tell a question its documents answer from one whose paragraph is missing?

P separates the user-worded answerable questions from the same questions asked of their article
without the paragraph that answers them (same-topic) with AUROC 0.899 (``same_topic_fit.py``). The
reader reads a question beside a sentence; it re-orders the replies that quote but never decides
whether to quote. This reads the three first candidates of every user-worded question (answerable,
unanswerable, out-of-corpus, near miss, same-topic) in the reply's order, with P and the ranker held
out by article as ``qa train --fit-user-worded`` fits them (no reader), and the shipped reader. That
reader was fitted on SQuAD's questions of every article, none of these: new questions about
paragraphs it has read, so its figures here may flatter it. Then, at the shipped answered share:
(1) a logistic regression over logit(P) and the best reading, fitted on four folds of whole
articles, all kinds pooled; (3) small trees over those two and the first candidate's columns,
fitted the same way, and (4) without the reading; (2) answer only when P and the best reading both clear a bar (the
best pair of bars among those that keep the answered share, chosen on these questions: an upper
bound).

    python docs/experiments/reader_same_topic.py --rows ROWS [--same-user SAME_USER.pkl]

ROWS from ``source_phrase.py --gather``; the same-topic rows as ``same_topic_fit.py`` keeps them
(gathered when missing). 2 minutes. ``--blend FILE`` writes the blend's two weights, fitted on
every question, for ``seed_out_of_corpus.py --reading FILE``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rows import fit_as_shipped, load_or_gather  # noqa: E402
from same_topic_fit import NEAR, gather_user  # noqa: E402
from source_phrase import load  # noqa: E402

KINDS = ("same_topic", "unanswerable", "near_miss", "out_of_corpus")
# (3): small trees, one row a question: logit(P), the best reading and the first candidate's columns
TREES = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 7, "min_data_in_leaf": 40,
         "deterministic": True, "force_row_wise": True, "num_threads": 2, "verbose": -1, "seed": 0}


def readings(rows: Path, same_user: Path) -> tuple[list[dict], float]:
    """Per user-worded question: its kind, article, held-out best P, whether a vetoing check fired
    on its first candidate, and the shipped reader's best logit over its first three; the threshold."""
    from qa.answer.decide import MODEL_DIR
    from qa.answer.decide import load as load_decision
    from qa.answer.features import FEATURES

    plain, user, near = load(rows)
    judged = user + near + load_or_gather(same_user, gather_user)
    report, got = fit_as_shipped(plain, judged, user + near)
    vetoes = set(report["vetoes"])
    reader = load_decision(MODEL_DIR).reader
    out = []
    for i, (r, o) in enumerate(zip(judged, got["outcome"])):
        kind = "near_miss" if r["id"].endswith(NEAR) else r["kind"]
        mine = {"kind": kind, "article": r["article"], "p": o["p"], "right": o["right"],
                "vetoed": bool(o["fired"] & vetoes)}
        at = got["q"] == i
        if not at.any():
            out.append({**mine, "read": -20.0, "first": np.full(len(FEATURES), np.nan, np.float32)})
            continue
        top = np.argsort(-got["keys"][at], kind="stable")[:3]  # the first is judge.questions' first
        out.append({**mine, "read": float(reader.logits(r["question"], [r["texts"][j] for j in top]).max()),
                    "first": r["features"][top[0]]})
    return out, report["threshold"]


def judge(out: list[dict], threshold: float, blend_out: Path | None = None) -> None:
    import lightgbm
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold

    y = np.array([o["kind"] == "answerable" for o in out])
    p = np.clip([o["p"] for o in out], 1e-6, 1 - 1e-6)
    lp = np.log(p / (1 - p))
    read = np.array([o["read"] for o in out])
    vetoed = np.array([o["vetoed"] for o in out])
    right = np.array([o["right"] for o in out])
    kind = {k: np.array([o["kind"] == k for o in out]) for k in KINDS}
    x = np.c_[lp, read]
    if blend_out:  # the blend fitted on every question, for seed_out_of_corpus.py --reading
        whole = LogisticRegression().fit(x, y)
        blend_out.write_text(json.dumps({"logit_p": float(whole.coef_[0][0]), "reading": float(whole.coef_[0][1])}))
    wide = np.c_[x, np.stack([o["first"] for o in out])]  # and the first candidate's columns
    blend, trees, unread = np.zeros(len(y)), np.zeros(len(y)), np.zeros(len(y))
    no_reading = np.delete(wide, 1, axis=1)
    for fit, held in GroupKFold(n_splits=4).split(x, y, [o["article"] for o in out]):
        blend[held] = LogisticRegression().fit(x[fit], y[fit]).decision_function(x[held])
        trees[held] = lightgbm.train(TREES, lightgbm.Dataset(wide[fit], y[fit].astype(int)), 100).predict(wide[held])
        unread[held] = lightgbm.train(TREES, lightgbm.Dataset(no_reading[fit], y[fit].astype(int)),
                                      100).predict(no_reading[held])
    print("| AUROC against the user-worded answerable | best P | best reading | logistic blend | trees | trees, no "
          "reading |\n|---|---|---|---|---|---|")
    for k in KINDS:
        at = y | kind[k]
        print(f"| {k} ({int(kind[k].sum())}) | " + " | ".join(
            str(round(roc_auc_score(y[at], s[at]), 4)) for s in (lp, read, blend, trees, unread)) + " |")
    shipped = (lp >= np.log(threshold / (1 - threshold))) & ~vetoed
    need = int(shipped[y].sum())

    def at_share(score: np.ndarray) -> np.ndarray:
        return (score >= np.sort(score[y & ~vetoed])[::-1][need - 1]) & ~vetoed

    both, best = None, -1.0
    for bar_p in np.quantile(lp[y], np.linspace(0, 0.12, 25)):
        for bar_r in np.quantile(read[y], np.linspace(0, 0.12, 25)):
            a = (lp >= bar_p) & (read >= bar_r) & ~vetoed
            if a[y].sum() >= need and (score := sum(1 - a[m].mean() for m in kind.values())) > best:
                both, best = a, score
    print("\n| at the shipped answered share | best P (shipped) | logistic blend | trees | trees, no reading | P and "
          "reading both over a bar |\n|---|---|---|---|---|---|")
    rows = {"answerable answered": lambda a: a[y].mean(),
            "answerable right and answered": lambda a: (a & right)[y].mean(),
            **{f"{k} refused": (lambda a, m=kind[k]: 1 - a[m].mean()) for k in KINDS}}
    for name, f in rows.items():
        print(f"| {name} | " + " | ".join(str(round(float(f(a)), 4)) for a in
                                          (shipped, at_share(blend), at_share(trees), at_share(unread), both)) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, required=True, help="a folder of source_phrase.py --gather")
    parser.add_argument("--same-user", type=Path, default=Path("same_topic_user_rows.pkl"))
    parser.add_argument("--blend", type=Path, help="write the logistic blend fitted on every question here (JSON)")
    args = parser.parse_args()
    judge(*readings(args.rows, args.same_user), args.blend)


if __name__ == "__main__":
    main()
