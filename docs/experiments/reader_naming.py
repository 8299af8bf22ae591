"""Experiment (not shipped): does the reader read a question that names its document as it reads it as written?

Naming the document ("…, according to the article about Warsaw?") costs P six points of
answered questions held out (``context_terms.py``): P counts the question's terms in the
sentence, and the name is not there. The reader, a cross-encoder, reads the question and the
sentence together. If its reading of the first sentences falls less than P when the question
names its document, it is the signal that carries over to such questions.

On the rows ``context_terms.py`` gathered (questions as written and their naming copies): P's
trees fitted as ``qa train`` fits them, on the questions as written (out of fold, ``qa train``'s
folds of whole articles); the reader fitted as ``qa train`` fits it, on fold ``--fold``'s other
articles' answerable questions as written, exported to int8 and run as ``ask()`` runs it on the
first three sentences (by P) of every question of the fold, as written and named. Judged on the
fold: AUROC of P and of the best reading, answerable against each kind of negative, as written
and named; and the answerable questions each answers at "the bar", where it refuses 0.92 of the
out-of-corpus questions as written; then P and the readings blended by a logistic regression
fitted on half the fold's articles (questions as written) and judged on the other half.

    python docs/experiments/reader_naming.py --rows ctx_rows.pkl [--fold 0] [--readings FILE.npz]
"""

from __future__ import annotations

import argparse
import math
import pickle
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

from context_terms import OUT_OF_CORPUS_BAR, oof  # noqa: E402
from reader_abstention import fold_readings  # noqa: E402

from qa.answer.features import FEATURES  # noqa: E402

KINDS = ("unanswerable", "out_of_corpus", "near_miss")


def main() -> None:
    from sklearn.model_selection import GroupKFold

    from qa.training import reader, train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, required=True, help="the rows context_terms.py gathered")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="stop the reader's fit after N batches")
    parser.add_argument("--readings", type=Path, default=None, help="keep (or reuse) the fold's readings here")
    args = parser.parse_args()

    width = len(FEATURES)
    rows = [{**r, "features": r["features"][:, :width]} for r in pickle.loads(args.rows.read_bytes())]
    p, q = oof(rows, list(range(width)), with_copies=False)
    groups = np.array([rows[i]["article"] for i in q])
    splits = list(GroupKFold(n_splits=train.FOLDS).split(q, q, groups))
    held = set(groups[splits[args.fold][1]])

    every = reader.items(rows, q, p, kinds=("answerable", *KINDS))
    test = [e for e in every if e["article"] in held]
    fit_on = [e for e in every if e["article"] not in held and rows[e["row"]]["kind"] == "answerable"
              and not rows[e["row"]]["id"].endswith("-ctx")]
    readings = fold_readings(fit_on, test, fold=args.fold, steps=args.steps, keep=args.readings)
    judge(rows, q, p, test, readings)


def judge(rows, q, p, test, readings) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from qa.answer.reader import logit

    outcome = []
    for e, r in zip(test, readings):
        best = float(p[q == e["row"]].max())
        outcome.append({"kind": rows[e["row"]]["kind"], "article": e["article"], "named": rows[e["row"]]["id"]
                        .endswith("-ctx"), "file": e["article"].split("/")[0], "right": bool(e["labels"][0]),
                        "p": best, "reading": float(r.max()),
                        "x": [float(logit(np.array([best]))[0]), float(r[0]), float(r.max())]})
    articles = sorted({o["article"] for o in outcome})
    halves = [set(articles[0::2]), set(articles[1::2])]
    for k in (0, 1):  # the blend: fitted on one half's questions as written, scored on the other half
        fit = [o for o in outcome if o["article"] in halves[1 - k] and not o["named"]]
        lr = LogisticRegression(C=1.0, max_iter=1000).fit(np.array([o["x"] for o in fit]),
                                                          [o["kind"] == "answerable" for o in fit])
        on = [o for o in outcome if o["article"] in halves[k]]
        for o, v in zip(on, lr.predict_proba(np.array([o["x"] for o in on]))[:, 1]):
            o["blend"] = float(v)

    def bar(score: str) -> float:
        ooc = sorted(o[score] for o in outcome if o["kind"] == "out_of_corpus" and not o["named"])
        return ooc[math.ceil(OUT_OF_CORPUS_BAR * len(ooc)) - 1] + 1e-9

    scores = {"P": "p", "best reading": "reading", "P + readings (blend)": "blend"}
    cuts = {s: bar(s) for s in scores.values()}
    counts = {named: {k: sum(o["kind"] == k and o["named"] == named for o in outcome) for k in ("answerable", *KINDS)}
              for named in (False, True)}
    print(f"fold's questions: as written {counts[False]}; named {counts[True]}")
    print("| held out, one fold | " + " | ".join(f"{s}: as written / named" for s in scores) + " |")
    print("|---|" + "---|" * len(scores))
    for kind in KINDS:
        cells = []
        for s in scores.values():
            pair = []
            for named in (False, True):
                pos = [o for o in outcome if o["kind"] == "answerable" and o["named"] == named]
                neg = [o for o in outcome if o["kind"] == kind and o["named"] == named]
                if kind == "unanswerable":
                    pos = [o for o in pos if o["file"] in {n["file"] for n in neg}]
                pair.append(f"{roc_auc_score([1] * len(pos) + [0] * len(neg), [o[s] for o in pos + neg]):.4f}")
            cells.append(" / ".join(pair))
        print(f"| AUROC {kind} | " + " | ".join(cells) + " |")
    for kind in ("answerable", *KINDS):
        verb = "answered" if kind == "answerable" else "abstained on"
        cells = []
        for s in scores.values():
            pair = []
            for named in (False, True):
                mine = [o[s] >= cuts[s] for o in outcome if o["kind"] == kind and o["named"] == named]
                pair.append(f"{np.mean(mine) if kind == 'answerable' else 1 - np.mean(mine):.4f}")
            cells.append(" / ".join(pair))
        print(f"| at the bar, {kind} {verb} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
